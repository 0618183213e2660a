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
    "pipelayer_closed_form", "flowshop_makespan", "sdfa_single_batch_closed_form",
]

TICK_S = 1e-12


def to_ticks(seconds: float) -> int:
    """Round a duration in seconds to whole ticks (ps)."""
    return int(round(seconds / TICK_S))


@dataclass(slots=True)
class Task:
    """One stage of the dataflow: ``phase`` of ``layer`` for ``sample`` (time step ``t``, -1 = all)."""

    resource: str
    duration: int
    deps: tuple[int, ...]
    key: tuple
    phase: str
    layer: int = -1
    sample: int = -1
    batch: int = -1
    t: int = -1


@dataclass
class Schedule:
    tasks: list[Task]
    start: np.ndarray  # int64 ticks
    end: np.ndarray

    @property
    def makespan(self) -> int:
        return int(self.end.max()) if len(self.end) else 0

    def busy(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for task in self.tasks:
            out[task.resource] = out.get(task.resource, 0) + task.duration
        return out


def run_des(tasks: Sequence[Task]) -> Schedule:
    """Event-driven list scheduling of ``tasks`` (see module docstring). Raises on a cycle."""
    n = len(tasks)
    remaining = [len(t.deps) for t in tasks]
    dependents: list[list[int]] = [[] for _ in range(n)]
    for i, t in enumerate(tasks):
        for d in t.deps:
            dependents[d].append(i)
    start = np.full(n, -1, dtype=np.int64)
    end = np.full(n, -1, dtype=np.int64)
    ready: dict[str, list] = {}
    busy: dict[str, bool] = {}
    events: list[tuple[int, int]] = []  # (time, task id) completions

    def make_ready(i: int) -> None:
        heapq.heappush(ready.setdefault(tasks[i].resource, []), (tasks[i].key, i))

    def dispatch(res: str, now: int) -> None:
        if busy.get(res):
            return
        q = ready.get(res)
        if not q:
            return
        _, i = heapq.heappop(q)
        start[i] = now
        end[i] = now + tasks[i].duration
        busy[res] = True
        heapq.heappush(events, (int(end[i]), i))

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
            _, i = heapq.heappop(events)
            done += 1
            res = tasks[i].resource
            busy[res] = False
            touched.add(res)
            for j in dependents[i]:
                remaining[j] -= 1
                if remaining[j] == 0:
                    make_ready(j)
                    touched.add(tasks[j].resource)
        for res in sorted(touched):
            dispatch(res, now)
    if done != n:
        raise RuntimeError(f"schedule has a dependency cycle: {n - done} of {n} tasks never ran")
    return Schedule(list(tasks), start, end)


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
