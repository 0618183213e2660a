"""Stage durations of one training sample, and the pieces of task graphs both machines share.

Stage durations in ticks (``t_c`` = one crossbar read cycle, ``s_l`` = read cycles per time
step of layer ``l`` after replication, ``E`` error bits fed bit-serially, ``T`` time steps):

* forward, one time step: ``f_l = s_l t_c`` (spike inputs are one bit: one cycle per read);
* transposed (backward) read, one time step: ``b_l = ceil(P_l E / r^T_l) t_c`` (none for layer 0;
  PipeLayer): the ``E`` bit-planes of ``P_l`` positions over the ``r^T_l`` copies read transposed;
* weight gradient: ``G_l`` of the gradient unit (:mod:`pipesdfa.hw.gradient`), ``g_l = G_l / T``
  per time step;
* output error: ``e = ceil(n_out / lanes)`` digital cycles; feedback MVM ``fb = E t_c`` (PipeSDFA);
* update of layer ``l``: all layers' weight arrays (every copy) share the chips' write-power
  budget, so each layer's update takes ``ceil(sum_l n_l / W) t_write`` with ``W`` crossbars
  written at once (:meth:`HwParams.parallel_writes`); when several layers update at once they
  then draw at most the budget;
* DRAM transfers (:mod:`pipesdfa.hw.memory`): ``bits / bandwidth`` on the one ``dram`` resource.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipesdfa.hw.gradient import GradientCost
from pipesdfa.hw.mapping import ModelMap
from pipesdfa.hw.memory import MemoryPlan
from pipesdfa.hw.config.tree import HwParams
from pipesdfa.hw.schedule import Task, to_ticks

__all__ = ["StageTimes", "stage_times", "Graph", "update_crossbars", "DRAM"]

DRAM = "dram"


@dataclass(frozen=True)
class StageTimes:
    """Per-layer stage durations in ticks (see the module docstring); DRAM ticks per sample
    (``inp``, ``spill`` per layer each way, ``dw`` read-add-write per layer) and per batch
    (``dw_read`` per layer, before the update)."""

    f: tuple[int, ...]
    b: tuple[int, ...]
    g: tuple[int, ...]
    u: tuple[int, ...]
    e: int
    fb: int
    T: int
    inp: int = 0
    spill: tuple[int, ...] = ()
    dw: tuple[int, ...] = ()
    dw_read: tuple[int, ...] = ()

    def dram_spill(self, l: int) -> int:
        return self.spill[l] if self.spill else 0

    def dram_dw(self, l: int) -> int:
        return self.dw[l] if self.dw else 0

    def dram_dw_read(self, l: int) -> int:
        return self.dw_read[l] if self.dw_read else 0


def update_crossbars(m: ModelMap) -> list[int]:
    """Crossbars the update of each layer writes (every copy, PipeLayer's transposed copy too)."""
    return [l.crossbars + l.t_crossbars for l in m.layers]


def stage_times(m: ModelMap, p: HwParams, T: int, grads: list[GradientCost], chips: int = 1,
                plan: MemoryPlan | None = None) -> StageTimes:
    tc = m.cycle_s
    E = p.precision.error_bits
    f = tuple(to_ticks(l.steps_per_timestep * tc) for l in m.layers)
    b = tuple(0 if i == 0 else to_ticks(l.t_cycles_per_timestep(E) * tc) for i, l in enumerate(m.layers))
    g = tuple(-(-to_ticks(gc.time_s) // T) for gc in grads)
    total = sum(update_crossbars(m))
    waves = -(-total // p.parallel_writes(chips))
    u = tuple(to_ticks(waves * p.write_latency_s) for _ in m.layers)
    e = to_ticks(-(-m.layers[-1].n_out // p.digital.lanes) / p.digital.clock_hz)
    fb = to_ticks(-(-E // m.feedback.copies) * tc) if m.feedback is not None else 0
    if plan is None:
        return StageTimes(f, b, g, u, e, fb, T)
    bw = p.dram.bandwidth_bits_per_s
    return StageTimes(f, b, g, u, e, fb, T, inp=to_ticks(plan.input_bits / bw),
                      spill=tuple(to_ticks(s / bw) for s in plan.spill_bits),
                      dw=tuple(to_ticks(2 * s / bw) for s in plan.dw_dram_bits),
                      dw_read=tuple(to_ticks(s / bw) for s in plan.dw_dram_bits))


class Graph:
    """A growing task list with the DRAM helpers both machines use; ``add`` returns an index."""

    def __init__(self, st: StageTimes) -> None:
        self.tasks: list[Task] = []
        self.st = st
        self.last_dw: dict[int, int] = {}  # layer -> previous sample's dW read-add-write

    def add(self, t: Task) -> int:
        self.tasks.append(t)
        return len(self.tasks) - 1

    def load_input(self, deps: list[int], i: int, k: int) -> list[int]:
        """The sample's input frames from DRAM; returns the deps of its first forward task."""
        if not self.st.inp:
            return deps
        return [self.add(Task(DRAM, self.st.inp, tuple(deps), (i, 0, 0), "dram", -1, i, k))]

    def spill_out(self, fwd: int, l: int, i: int, k: int) -> int:
        """Write layer ``l``'s spilled state after its forward task; -1 when nothing spills."""
        d = self.st.dram_spill(l)
        return self.add(Task(DRAM, d, (fwd,), (i, 1, l), "dram", l, i, k)) if d else -1

    def spill_in(self, out: int, start: int, l: int, i: int, k: int) -> list[int]:
        """Read it back once ``start`` (the sample's backward or feedback) has ended."""
        if out < 0:
            return []
        return [self.add(Task(DRAM, self.st.dram_spill(l), (out, start), (i, 2, -l), "dram", l, i, k))]

    def accumulate(self, grad: int, l: int, i: int, k: int) -> int:
        """Read-add-write the DRAM part of layer ``l``'s dW accumulators after a gradient."""
        d = self.st.dram_dw(l)
        if not d:
            return grad
        deps = (grad,) + ((self.last_dw[l],) if l in self.last_dw else ())
        t = self.add(Task(DRAM, d, deps, (i, 3, l), "dram", l, i, k))
        self.last_dw[l] = t
        return t

    def read_accumulators(self, deps: list[int], l: int, sample: int, k: int) -> list[int]:
        """The update reads layer ``l``'s accumulators from DRAM first."""
        d = self.st.dram_dw_read(l)
        if not d:
            return deps
        return [self.add(Task(DRAM, d, tuple(deps), (sample, 4, l), "dram", l, -1, k))]
