"""Training time of many batches: the full discrete-event run, or its exact steady-state fast path.

Fast path: the stage graph is a max-plus linear system driven by identical batches, so after a
transient every batch adds the same increment ``D`` to the finishing time. We simulate a prefix
of ``m`` full batches (plus the final partial batch, if any) and look at the *start* times of
the batches (which, the scheduler being causal and samples issued in order, are the same in the
prefix and in the full run). Once their increments repeat with a cycle ``c <= 4`` (three
times, in integer ticks; usually ``c = 1``) the state at a batch start is periodic, so the tail
after the last batch starts is the same in the prefix and in the full run, and
``makespan(n) = makespan(prefix) + (n_full - m) / c * (one cycle of increments)``, with ``m``
chosen so that ``c`` divides ``n_full - m``. Periodic starts alone do not prove a periodic state
(a queue may still grow behind them), so the rule is accepted only when it also predicts,
exactly, the makespan of a second prefix two cycles longer; otherwise the prefix doubles
and in the end the full run is used. If no steady state shows within
the prefix, the prefix is doubled, and in the end the full run is used. Tests check the fast
path against the full run.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pipesdfa.hw.archs import get_arch
from pipesdfa.hw.dataflow import StageTimes
from pipesdfa.hw.mapping import ModelMap
from pipesdfa.hw.config.tree import HwParams
from pipesdfa.hw.schedule import TICK_S, Schedule, Task, run_des

__all__ = ["TimingResult", "simulate_time", "batch_sizes", "buffer_profile", "build_batches"]


@dataclass
class TimingResult:
    makespan_ticks: int
    batches: int
    period_ticks: int | None  # steady-state increment per batch (None: not reached / full run)
    fast_path: bool
    busy_ticks: dict[str, int]  # per resource over the whole run (extrapolated)
    peak_buffer_bits: int
    max_in_flight: int
    prefix: Schedule = field(repr=False)  # the simulated prefix (Gantt, buffer profile)

    @property
    def time_s(self) -> float:
        return self.makespan_ticks * TICK_S


def batch_sizes(samples: int, batch: int) -> list[int]:
    full, rem = divmod(samples, batch)
    return [batch] * full + ([rem] if rem else [])


def build_batches(m: ModelMap, p: HwParams, st: StageTimes, sizes: list[int], K: int = 0,
                  fine: bool = False) -> list[Task]:
    """The task graph of consecutive batches on ``m``'s architecture (``K`` samples in flight, 0 = no limit)."""
    return get_arch(m.arch).build_batches(m, p, st, sizes, K, fine)


def buffer_profile(s: Schedule, m: ModelMap, p: HwParams, T: int,
                   bits: list[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Step function of buffer occupancy (bits) over time: ``(times, occupancy_after)``;
    ``bits`` per layer and sample (default: everything the architecture stores)."""
    bits = bits if bits is not None else get_arch(m.arch).stored_bits(m, p, T)
    alloc: dict[tuple[int, int], int] = {}
    free: dict[tuple[int, int], int] = {}
    for idx, task in enumerate(s.tasks):
        if task.sample < 0 or task.layer < 0:
            continue
        key = (task.sample, task.layer)
        if task.phase == "forward":
            alloc[key] = min(alloc.get(key, 1 << 62), int(s.start[idx]))
        elif task.phase in ("gradient", "backward"):
            free[key] = max(free.get(key, 0), int(s.end[idx]))
    ev: list[tuple[int, int]] = []
    for key, t0 in alloc.items():
        ev.append((t0, bits[key[1]]))
        ev.append((free.get(key, t0), -bits[key[1]]))
    if not ev:
        return np.zeros(1, dtype=np.int64), np.zeros(1, dtype=np.int64)
    ev.sort(key=lambda x: (x[0], x[1]))  # frees before allocations at the same instant
    times = np.array([e[0] for e in ev], dtype=np.int64)
    occ = np.cumsum([e[1] for e in ev])
    return times, occ


def _batch_starts(s: Schedule, n_batches: int) -> list[int]:
    """Start of each batch's first task. The scheduler is causal and samples are issued in
    order, so these do not depend on how many batches follow (unlike batch end times)."""
    starts = [1 << 62] * n_batches
    for idx, task in enumerate(s.tasks):
        if 0 <= task.batch < n_batches:
            starts[task.batch] = min(starts[task.batch], int(s.start[idx]))
    return starts


def _cycle(inc: np.ndarray, max_c: int = 4) -> int:
    """Smallest ``c <= max_c`` with the last ``3c`` increments ``c``-periodic (0: none)."""
    for c in range(1, max_c + 1):
        if len(inc) >= 3 * c and all(inc[-1 - j] == inc[-1 - j - c] == inc[-1 - j - 2 * c] for j in range(c)):
            return c
    return 0


def simulate_time(m: ModelMap, p: HwParams, st: StageTimes, samples: int, batch: int, *,
                  K: int = 0, fast: bool = True, prefix_batches: int = 4,
                  onchip_bits: list[int] | None = None) -> TimingResult:
    """Time to train ``samples`` samples in batches of ``batch`` on mapping ``m`` with at most
    ``K`` samples in flight (0 = no limit); ``onchip_bits`` per layer feed the buffer profile."""
    sizes = batch_sizes(samples, batch)
    n_full = samples // batch
    partial = len(sizes) > n_full

    def full_run() -> TimingResult:
        s = run_des(build_batches(m, p, st, sizes, K))
        times, occ = buffer_profile(s, m, p, st.T, onchip_bits)
        return TimingResult(s.makespan, len(sizes), None, False, s.busy(), int(occ.max(initial=0)), K, s)

    if not fast or n_full <= prefix_batches + 1:
        return full_run()
    mfull = prefix_batches
    prev: tuple[int, int, list[int], int] | None = None  # (m, c, cycle, makespan) of a smaller prefix
    while mfull < n_full:
        pre_sizes = [batch] * mfull + ([sizes[-1]] if partial else [])
        s = run_des(build_batches(m, p, st, pre_sizes, K))
        inc = np.diff(np.array(_batch_starts(s, len(pre_sizes)), dtype=np.int64))
        c = _cycle(inc)
        if not c:
            prev = None
            mfull *= 2
            continue
        if (n_full - mfull) % c:
            mfull += (n_full - mfull) % c  # align the prefix with the cycle
            continue
        cyc = [int(x) for x in inc[-c:]]
        same = prev is not None and prev[1] == c and prev[2] == cyc and (mfull - prev[0]) % c == 0
        if same and s.makespan != prev[3] + (mfull - prev[0]) // c * sum(cyc):
            prev = None  # periodic starts, but something still accumulates behind them: look further out
            mfull *= 2
            continue
        if same:
            extra = n_full - mfull
            shift = (extra // c) * sum(cyc)
            D = sum(cyc) // c if sum(cyc) % c == 0 else None
            busy = s.busy()
            # each extra batch repeats a steady-state full batch's work on every resource
            per_batch: dict[str, int] = {}
            for task in s.tasks:
                if task.batch == mfull - 1:
                    per_batch[task.resource] = per_batch.get(task.resource, 0) + task.duration
            for r, v in per_batch.items():
                busy[r] = busy.get(r, 0) + extra * v
            times, occ = buffer_profile(s, m, p, st.T, onchip_bits)
            return TimingResult(s.makespan + shift, len(sizes), D, True, busy, int(occ.max(initial=0)), K, s)
        prev = (mfull, c, cyc, s.makespan)
        mfull += 2 * c  # a second, longer prefix, aligned with the cycle
    return full_run()
