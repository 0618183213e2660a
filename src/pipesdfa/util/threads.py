"""The thread policy: how many threads torch uses for a run (``--threads N|auto``).

``auto`` (the default of ``train``, ``demo``, ``reproduce`` and the benchmarks) takes

    threads = max(1, min(free_cores, floor(work / WORK_PER_THREAD)))

* ``free_cores``: the cores this process may use (its CPU affinity, capped by a cgroup CPU
  quota and by ``OMP_NUM_THREADS`` when that is set) minus the cores other processes keep
  busy, measured from ``/proc/stat`` over :data:`SAMPLE_SECONDS` (busy time of the CPUs in
  our affinity set, less this process's own CPU time), rounded down. Without ``/proc/stat``
  the 1-minute load average stands in for the busy cores.
* ``work``: multiply-accumulates of one training step's forward pass,
  ``T * batch * sum_l macs_l`` (:func:`step_macs`). A step below :data:`WORK_PER_THREAD`
  per extra thread runs on one thread: its matrix products are too small for a second
  thread to pay for its synchronisation.

Why: torch starts as many threads as there are cores. Beside busy processes its worker
threads wait for each other at every barrier while the scheduler runs someone else, and a
step can take many times longer than on one thread (issue 14 measured 49.8 s against 1.0 s
for the demo's BPTT run under load). ``benchmarks/threads.py`` measures the policy against
fixed counts, alone and beside two busy processes (docs/performance.md).

The choice is made once, when a run starts; torch's float sums depend on the thread count
(BPTT weights after two digits-mlp epochs differ by up to 6e-8 between 1 and 2 threads), so a
run records the count it used and a resumed run keeps it (``config.yaml``: ``threads``).
"""

from __future__ import annotations

import math
import os
import resource
import time
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["ThreadChoice", "choose_threads", "apply_threads", "parse_threads", "add_threads_arg", "cpu_budget",
           "busy_cores", "step_macs", "WORK_PER_THREAD", "SAMPLE_SECONDS"]

#: Forward multiply-accumulates per training step that one more thread needs to be worth it.
WORK_PER_THREAD = 200e6
#: How long :func:`busy_cores` watches the CPUs.
SAMPLE_SECONDS = 0.25


@dataclass(frozen=True)
class ThreadChoice:
    """The resolved thread count and why (recorded in ``metrics.json`` under ``runtime``)."""

    threads: int
    requested: str
    budget: int
    busy: float | None
    work_macs: float | None
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_threads(value: Any) -> int | str:
    """``"auto"`` or a positive int (from a flag or a config file); ``ValueError`` otherwise."""
    if isinstance(value, bool):
        raise ValueError(f"expected 'auto' or a positive integer, got {value!r}")
    if isinstance(value, str):
        if value == "auto":
            return "auto"
        try:
            value = int(value)
        except ValueError:
            raise ValueError(f"expected 'auto' or a positive integer, got {value!r}") from None
    if not isinstance(value, int) or value < 1:
        raise ValueError(f"expected 'auto' or a positive integer, got {value!r}")
    return value


def add_threads_arg(p) -> None:
    """``--threads N|auto`` on an argparse parser."""
    import argparse

    def parse(text: str) -> int | str:
        try:
            return parse_threads(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    p.add_argument("--threads", type=parse, default=None, metavar="N|auto",
                   help="torch threads: a number, or auto (default): the cores free right now, one thread "
                        "for small steps (docs/performance.md)")


def cpu_budget() -> int:
    """Cores this process may use: its affinity set, capped by a cgroup v2 CPU quota and by
    ``OMP_NUM_THREADS`` when set."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    try:
        quota, period = open("/sys/fs/cgroup/cpu.max").read().split()[:2]
        if quota != "max":
            n = min(n, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    env = os.environ.get("OMP_NUM_THREADS", "").strip()
    if env.isdigit() and int(env) >= 1:
        n = min(n, int(env))
    return max(1, n)


def _cpu_times(cpus: set[int] | None) -> tuple[float, float] | None:
    """``(busy, total)`` jiffies over ``cpus`` (all when None) from ``/proc/stat``."""
    try:
        lines = open("/proc/stat").read().splitlines()
    except OSError:
        return None
    busy = total = 0.0
    for line in lines:
        name, *vals = line.split()
        if not name.startswith("cpu") or name == "cpu":
            continue
        if cpus is not None and int(name[3:]) not in cpus:
            continue
        v = [float(x) for x in vals[:8]]
        idle = v[3] + (v[4] if len(v) > 4 else 0.0)  # idle + iowait
        total += sum(v)
        busy += sum(v) - idle
    return (busy, total) if total else None


def _own_cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def busy_cores(seconds: float = SAMPLE_SECONDS) -> float | None:
    """Cores kept busy by *other* processes, watched for ``seconds`` (``None`` if unknown)."""
    try:
        cpus: set[int] | None = set(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = None
    a, own_a, t_a = _cpu_times(cpus), _own_cpu_seconds(), time.monotonic()
    if a is None:
        try:
            return float(os.getloadavg()[0])
        except (AttributeError, OSError):
            return None
    time.sleep(seconds)
    b, own_b, t_b = _cpu_times(cpus), _own_cpu_seconds(), time.monotonic()
    if b is None or b[1] <= a[1]:
        return None
    n = len(cpus) if cpus else (os.cpu_count() or 1)
    busy = (b[0] - a[0]) / (b[1] - a[1]) * n  # cores busy, averaged over the window
    own = (own_b - own_a) / max(t_b - t_a, 1e-9)
    return max(0.0, busy - own)


def step_macs(layers, T: int, batch: int) -> float:
    """Forward multiply-accumulates of one step: ``T * batch * sum_l macs_l`` (``layers``:
    :class:`~pipesdfa.zoo.workloads.ResolvedLayer` s)."""
    return float(T) * float(batch) * float(sum(l.macs for l in layers))


def choose_threads(requested: int | str = "auto", work_macs: float | None = None,
                   busy: float | None = None, budget: int | None = None) -> ThreadChoice:
    """The thread count for ``requested`` (see the module docstring). ``busy`` and ``budget``
    are measured when not given (tests pass them)."""
    requested = parse_threads(requested)
    if requested != "auto":
        return ThreadChoice(int(requested), str(requested), budget or 0, busy, work_macs, "explicit")
    budget = cpu_budget() if budget is None else budget
    if budget <= 1:
        return ThreadChoice(1, "auto", budget, busy, work_macs, "one core available")
    busy = busy_cores() if busy is None else busy
    free = budget if busy is None else int(math.floor(budget - busy + 0.25))
    by_work = budget if work_macs is None else int(work_macs // WORK_PER_THREAD)
    n = max(1, min(budget, free, by_work))
    if n == 1 and free <= 1:
        reason = f"{max(free, 0)} of {budget} cores free"
    elif n == 1:
        reason = f"small step ({work_macs:.3g} MACs < {2 * WORK_PER_THREAD:.3g} for two threads)"
    else:
        reason = f"{free} of {budget} cores free, step of {work_macs:.3g} MACs" if work_macs else f"{free} free"
    return ThreadChoice(n, "auto", budget, busy, work_macs, reason)


def apply_threads(requested: int | str | None = "auto", work_macs: float | None = None) -> ThreadChoice:
    """Choose (:func:`choose_threads`) and set torch's intra-op thread count."""
    import torch

    choice = choose_threads("auto" if requested is None else requested, work_macs)
    if torch.get_num_threads() != choice.threads:
        torch.set_num_threads(choice.threads)
    return choice
