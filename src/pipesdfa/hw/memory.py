"""Where training state lives: on-chip buffers first, off-chip DRAM for the rest.

Per sample, layer ``l`` keeps ``s_l`` bits from its forward pass until its gradient is done
(the architecture says what: :meth:`pipesdfa.hw.archs.base.Architecture.stored_bits`). Per
batch, every layer keeps ``dW`` accumulators of ``weights x (weight_bits + ceil(log2 B))`` bits
(DNN+NeuroSim V2.1's accumulation precision). With ``K`` samples in flight and an on-chip
capacity ``C`` (:func:`pipesdfa.hw.area.silicon`):

* each sample may keep ``min(S, C / K)`` bits on chip (``S = sum_l s_l``); the rest spills
  to DRAM, first layer first (its state is needed last, or, in PipeSDFA, no earlier than any
  other's): written after the layer's forward pass, read back before its gradient;
* the capacity left over, ``C - K min(S, C / K)``, holds ``dW`` accumulators; the part that
  does not fit lives in DRAM and every sample's partial ``dW`` is read, added and written back
  there (NeuroSim V2.1's "weight gradient sent to DRAM and grabbed back to be accumulated across
  the batch"), and the update reads it once per batch;
* input frames are read from DRAM once per sample (``dram.load_inputs``).

The engine tries several ``K`` and keeps the fastest (:mod:`pipesdfa.hw.engine`), so the
number of samples in flight is limited by bandwidth, never capped at one for free.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pipesdfa.hw.mapping import ModelMap
from pipesdfa.hw.config.tree import HwParams

__all__ = ["MemoryPlan", "plan_memory", "dw_bits"]


@dataclass(frozen=True)
class MemoryPlan:
    """Samples in flight and the DRAM traffic that follows (bits; per sample unless noted)."""

    K: int  # samples in flight (>= 1)
    capacity_bits: int
    state_bits: tuple[int, ...]  # per layer
    spill_bits: tuple[int, ...]  # per layer: written after forward, read before gradient
    dw_bits: tuple[int, ...]  # per layer: accumulator size
    dw_dram_fraction: float  # share of every layer's accumulator in DRAM
    input_bits: int

    @property
    def dw_dram_bits(self) -> tuple[int, ...]:
        return tuple(int(math.ceil(b * self.dw_dram_fraction)) for b in self.dw_bits)

    @property
    def dram_bits_per_sample(self) -> int:
        """Inputs + spilled state written and read + dW partials read and written."""
        return self.input_bits + 2 * sum(self.spill_bits) + 2 * sum(self.dw_dram_bits)

    @property
    def dram_bits_per_batch(self) -> int:
        """The update reads the DRAM part of the accumulators once per batch."""
        return sum(self.dw_dram_bits)

    @property
    def onchip_bits_per_sample(self) -> int:
        return sum(self.state_bits) - sum(self.spill_bits)

    def to_dict(self) -> dict:
        return {"max_in_flight": self.K, "capacity_bytes": self.capacity_bits / 8,
                "state_bytes_per_sample": sum(self.state_bits) / 8,
                "spill_bytes_per_sample": sum(self.spill_bits) / 8,
                "dw_accumulator_bytes": sum(self.dw_bits) / 8, "dw_dram_fraction": self.dw_dram_fraction,
                "dram_bytes_per_sample": self.dram_bits_per_sample / 8,
                "dram_bytes_per_batch": self.dram_bits_per_batch / 8}


def dw_bits(m: ModelMap, p: HwParams, batch: int) -> tuple[int, ...]:
    acc = p.precision.weight_bits + max(0, math.ceil(math.log2(max(1, batch))))
    return tuple(l.weights * acc for l in m.layers)


def plan_memory(m: ModelMap, p: HwParams, state_bits: list[int], batch: int, capacity_bits: int,
                K: int, input_bits: int) -> MemoryPlan:
    """The plan for ``K >= 1`` samples in flight."""
    S = sum(state_bits)
    dws = dw_bits(m, p, batch)
    share = min(S, capacity_bits // K)
    spill = []
    excess = S - share
    for s in state_bits:  # first layer first
        take = min(s, max(0, excess))
        spill.append(int(take))
        excess -= take
    left = max(0, capacity_bits - K * share)
    total_dw = sum(dws)
    frac = 0.0 if total_dw == 0 else max(0.0, 1.0 - left / total_dw)
    inputs = input_bits if p.dram.load_inputs else 0
    return MemoryPlan(K, capacity_bits, tuple(state_bits), tuple(spill), dws, frac, inputs)
