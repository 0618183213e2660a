"""Discrete-event scheduling of stage graphs over single-server resources, plus closed forms.

Time is an integer number of *ticks* (1 tick = 1 ps, :data:`TICK_S`), so equal paths give
equal times and the scheduler can be compared with closed forms exactly.

Scheduler semantics (:func:`run_des`): each task needs one resource for ``duration`` ticks and
may start once all its dependencies have finished. A free resource starts, among its ready
tasks, the one with the smallest priority ``key`` (non-preemptive list scheduling). All
completions at one instant are processed before any resource picks its next task, so the
result does not depend on event order.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

__all__ = [
    "TICK_S", "to_ticks", "Task", "Schedule", "run_des",
    "pipelayer_closed_form", "flowshop_makespan", "sdfa_single_batch_closed_form", "pipelayer_wavefront_closed_form",
]

TICK_S = 1e-12


def to_ticks(seconds: float) -> int:
    """Round a duration in seconds to whole ticks (ps)."""
    return int(round(seconds / TICK_S))


@dataclass(slots=True)
class Task:
    """One stage of the dataflow: ``phase`` of ``layer`` for ``sample`` (time step ``t``, -1 = all).

    Two extensions of a plain task (both optional):

    * ``reserve_next``: when this task ends, its resource is reserved for that task (it waits
      idle for it rather than start anything else) -- a sample's time steps on one layer are
      never interleaved with other work;
    * a *chain* (``steps > 0``): ``steps`` consecutive steps of ``step`` ticks on one resource,
      step ``t`` starting at ``max(end of step t-1, end of step t of chain `up`)``; the chain
      holds its resource from its first step to its last. ``deps`` gate the first step, and the
      chain becomes ready when step 0 of ``up`` has ended. ``duration`` must be
      ``steps * step`` (the work). A chain is exactly the same schedule as ``steps`` tasks
      linked by ``reserve_next`` (tests check this), with ``steps`` times fewer events.
    """

    resource: str
    duration: int
    deps: tuple[int, ...]
    key: tuple
    phase: str
    layer: int = -1
    sample: int = -1
    batch: int = -1
    t: int = -1
    reserve_next: int = -1
    steps: int = 0
    step: int = 0
    up: int = -1


@dataclass
class Schedule:
    tasks: list[Task]
    start: np.ndarray  # int64 ticks
    end: np.ndarray
    step_ends: dict[int, list[int]] = field(default_factory=dict)  # chains: end of every step

    @property
    def makespan(self) -> int:
        return int(self.end.max()) if len(self.end) else 0

    def busy(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for task in self.tasks:
            out[task.resource] = out.get(task.resource, 0) + task.duration
        return out

    def spans(self, i: int) -> list[tuple[int, int]]:
        """``(start, duration)`` of the work of task ``i`` (every step of a chain)."""
        t = self.tasks[i]
        if t.steps:
            return [(e - t.step, t.step) for e in self.step_ends[i]]
        return [(int(self.start[i]), t.duration)]


def run_des(tasks: Sequence[Task]) -> Schedule:
    """Event-driven list scheduling of ``tasks`` (see module docstring). Raises on a cycle.

    Resources are numbered and the event loop binds its helpers locally: a design search runs
    this thousands of times (the schedule is the same as a plain reading of the rules gives)."""
    n = len(tasks)
    res_id: dict[str, int] = {}
    res_of = [res_id.setdefault(t.resource, len(res_id)) for t in tasks]
    names = sorted(res_id, key=res_id.__getitem__)
    order = sorted(range(len(names)), key=names.__getitem__)  # dispatch in resource-name order
    rank = [0] * len(names)
    for r, i in enumerate(order):
        rank[i] = r
    remaining = [0] * n
    dependents: list[list[int]] = [[] for _ in range(n)]
    up_dependents: list[list[int]] = [[] for _ in range(n)]
    for i, t in enumerate(tasks):
        remaining[i] = len(t.deps) + (1 if t.up >= 0 else 0)
        for d in t.deps:
            dependents[d].append(i)
        if t.up >= 0:
            up_dependents[t.up].append(i)
    start = [-1] * n
    end = [-1] * n
    step_ends: dict[int, list[int]] = {}
    nres = len(names)
    ready: list[list] = [[] for _ in range(nres)]
    is_ready = [False] * n
    started = [False] * n
    busy = [False] * nres
    reserved = [-1] * nres
    events: list[tuple[int, int, int]] = []  # (time, kind 0 = completion / 1 = chain step 0 done, task)
    push, pop = heapq.heappush, heapq.heappop

    def begin(i: int, now: int) -> None:
        t = tasks[i]
        started[i] = True
        start[i] = now
        if t.steps:
            up = step_ends[t.up] if t.up >= 0 else None
            e = now
            ends = []
            step = t.step
            if up is None:
                ends = [now + step * (k + 1) for k in range(t.steps)]
                e = ends[-1]
            else:
                for k in range(t.steps):
                    u = up[k]
                    if u > e:
                        e = u
                    e += step
                    ends.append(e)
            step_ends[i] = ends
            end[i] = e
            if up_dependents[i]:
                push(events, (ends[0], 1, i))
        else:
            e = end[i] = now + t.duration
        busy[res_of[i]] = True
        push(events, (e, 0, i))

    def dispatch(r: int, now: int) -> None:
        if busy[r]:
            return
        j = reserved[r]
        if j >= 0:
            if is_ready[j]:
                reserved[r] = -1
                begin(j, now)
            return
        q = ready[r]
        while q and started[q[0][1]]:
            pop(q)  # started through a reservation
        if q:
            begin(pop(q)[1], now)

    for i in range(n):
        if remaining[i] == 0:
            is_ready[i] = True
            push(ready[res_of[i]], (tasks[i].key, i))
    for r in order:
        if ready[r]:
            dispatch(r, 0)
    done = 0
    while events:
        now = events[0][0]
        touched: set[int] = set()
        while events and events[0][0] == now:
            _, kind, i = pop(events)
            if kind == 1:
                deps = up_dependents[i]
            else:
                done += 1
                r = res_of[i]
                busy[r] = False
                nxt = tasks[i].reserve_next
                if nxt >= 0:
                    reserved[r] = nxt
                touched.add(rank[r])
                deps = dependents[i]
            for j in deps:
                remaining[j] -= 1
                if remaining[j] == 0:
                    is_ready[j] = True
                    rj = res_of[j]
                    push(ready[rj], (tasks[j].key, j))
                    touched.add(rank[rj])
        for rk in sorted(touched):
            dispatch(order[rk], now)
    if done != n:
        raise RuntimeError(f"schedule has a dependency cycle: {n - done} of {n} tasks never ran")
    return Schedule(list(tasks), np.array(start, dtype=np.int64), np.array(end, dtype=np.int64), step_ends)


# ------------------------------------------------------------------------- closed forms

def pipelayer_closed_form(n_samples: int, batch: int, layers: int, cycle: int) -> int:
    """PipeLayer's published cycle count with every stage and the update one ``cycle`` long:
    ``(N/B) (2L + B + 1)`` cycles (Song et al., HPCA 2017), for ``N`` a multiple of ``B``."""
    assert n_samples % batch == 0
    return (n_samples // batch) * (2 * layers + batch + 1) * cycle


def flowshop_makespan(stages: int, jobs: int, duration: int) -> int:
    """``jobs`` unit jobs through ``stages`` in-order machines of equal ``duration``:
    ``(stages + jobs - 1) * duration`` (fill, then one job per duration)."""
    return (stages + jobs - 1) * duration


def sdfa_single_batch_closed_form(L: int, T: int, B: int, f: int, e: int, fb: int, g: int, u: int) -> int:
    """One PipeSDFA batch with balanced layers (forward ``f`` per layer and time step, error
    ``e``, feedback ``fb``, gradient ``g`` per layer and sample, update ``u``), valid when
    ``e, fb <= max(g, T f)``:

    ``(L + T - 1) f + e + fb + g + (B - 1) max(g, T f) + u``

    -- the first sample leaves the time-step pipeline after ``(L + T - 1) f``, later ones every
    ``T f``; gradients queue on each layer's gradient arrays at ``max(g, T f)`` per sample.
    """
    return (L + T - 1) * f + e + fb + g + (B - 1) * max(g, T * f) + u


def pipelayer_wavefront_closed_form(L: int, T: int, f: int, e: int, b: int, g: int, u: int) -> int:
    """One sample on the time-step-pipelined PipeLayer (``L >= 2``, balanced layers): forward
    ``(L + T - 1) f`` (flow shop), error ``e``, then the reverse-time wavefront -- ``B_l`` step
    ``t`` after ``B_{l+1}`` step ``t`` and its own step ``t + 1`` -- reaches layer 1 after
    ``(L - 2) b`` and layer 0's gradient, fed by ``B_1``, ends
    ``(L - 1) b + g + (T - 1) max(b, g)`` after the error; then the update ``u``:

    ``(L + T - 1) f + e + (L - 1) b + g + (T - 1) max(b, g) + u``.
    """
    return (L + T - 1) * f + e + (L - 1) * b + g + (T - 1) * max(b, g) + u
