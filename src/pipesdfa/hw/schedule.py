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
    """Event-driven list scheduling of ``tasks`` (see module docstring). Raises on a cycle."""
    n = len(tasks)
    remaining = [len(t.deps) + (1 if t.up >= 0 else 0) for t in tasks]
    dependents: list[list[int]] = [[] for _ in range(n)]
    up_dependents: list[list[int]] = [[] for _ in range(n)]
    for i, t in enumerate(tasks):
        for d in t.deps:
            dependents[d].append(i)
        if t.up >= 0:
            up_dependents[t.up].append(i)
    start = np.full(n, -1, dtype=np.int64)
    end = np.full(n, -1, dtype=np.int64)
    step_ends: dict[int, list[int]] = {}
    ready: dict[str, list] = {}
    is_ready = [False] * n
    started = [False] * n
    busy: dict[str, bool] = {}
    reserved: dict[str, int] = {}
    events: list[tuple[int, int, int]] = []  # (time, kind 0 = completion / 1 = chain step 0 done, task)

    def make_ready(i: int) -> None:
        is_ready[i] = True
        heapq.heappush(ready.setdefault(tasks[i].resource, []), (tasks[i].key, i))

    def begin(i: int, now: int) -> None:
        t = tasks[i]
        started[i] = True
        start[i] = now
        if t.steps:
            up = step_ends[t.up] if t.up >= 0 else None
            e = now
            ends = []
            for k in range(t.steps):
                if up is not None and up[k] > e:
                    e = up[k]
                e += t.step
                ends.append(e)
            step_ends[i] = ends
            end[i] = e
            if up_dependents[i]:
                heapq.heappush(events, (ends[0], 1, i))
        else:
            end[i] = now + t.duration
        busy[t.resource] = True
        heapq.heappush(events, (int(end[i]), 0, i))

    def dispatch(res: str, now: int) -> None:
        if busy.get(res):
            return
        if res in reserved:
            j = reserved[res]
            if is_ready[j]:
                del reserved[res]
                begin(j, now)
            return
        q = ready.get(res)
        while q and started[q[0][1]]:
            heapq.heappop(q)  # started through a reservation
        if q:
            begin(heapq.heappop(q)[1], now)

    def satisfy(j: int, touched: set[str]) -> None:
        remaining[j] -= 1
        if remaining[j] == 0:
            make_ready(j)
            touched.add(tasks[j].resource)

    for i in range(n):
        if remaining[i] == 0:
            make_ready(i)
    for res in list(ready):
        dispatch(res, 0)
    done = 0
    while events:
        now = events[0][0]
        touched: set[str] = set()
        while events and events[0][0] == now:
            _, kind, i = heapq.heappop(events)
            if kind == 1:
                for j in up_dependents[i]:
                    satisfy(j, touched)
                continue
            done += 1
            res = tasks[i].resource
            busy[res] = False
            if tasks[i].reserve_next >= 0:
                reserved[res] = tasks[i].reserve_next
            touched.add(res)
            for j in dependents[i]:
                satisfy(j, touched)
        for res in sorted(touched):
            dispatch(res, now)
    if done != n:
        raise RuntimeError(f"schedule has a dependency cycle: {n - done} of {n} tasks never ran")
    return Schedule(list(tasks), start, end, step_ends)


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
