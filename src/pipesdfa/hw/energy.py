"""Energy: operation counts times per-operation costs, by phase x component x layer.

Shared by both machines, per sample (``T`` time steps, layer with ``P`` positions, ``X = R C``
crossbars per copy, input spike rate ``r``):

* forward: ``T P X`` reads (``read_energy_cycle_j``), ``T P r fan_in C`` active rows
  (``read_energy_row_j`` + DAC), ``T P conversions_per_read`` conversions (ADC + shift-add),
  ``T n_neurons`` neuron updates; buffer: input spikes read, spikes and membranes written;
  interconnect: ``T n_out`` spike bits;
* error formation: ``T n_neurons`` digital products (surrogate x incoming error);
* weight gradient (:mod:`pipesdfa.hw.gradient`): cells written (serial write energy per cell,
  or SRAM energy per bit), array reads, active rows, conversions, one shift-add per conversion;
  the stored state read back; the on-chip share of the ``dW`` accumulators read and written;
* output error: ``4 n_out`` digital ops;
* the machine's own stages (:meth:`Architecture.sample_energy`): PipeLayer's transposed reads,
  PipeSDFA's feedback MVM;
* DRAM: every bit moved (:class:`~pipesdfa.hw.memory.MemoryPlan`) x ``dram.energy_per_bit_j``.

Per batch: the update writes every weight array (and copy) at the scheme's per-crossbar energy,
or, when a training run reports update pulses, ``pulses x cells x V^2 / R_on t_pulse``; the
DRAM part of the accumulators is read once. Static: the powered tiles' leakage x time
(:func:`pipesdfa.hw.area.silicon`).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Protocol

from pipesdfa.hw.activity import Activity
from pipesdfa.hw.dataflow import update_crossbars
from pipesdfa.hw.gradient import GradientCost
from pipesdfa.hw.mapping import ModelMap
from pipesdfa.hw.memory import MemoryPlan
from pipesdfa.hw.config.tree import HwParams

__all__ = ["Ledger", "per_sample_ledger", "update_ledger", "energy_ledger", "add_buffer", "add_noc", "PHASES"]

PHASES = ("forward", "error", "backward", "feedback", "gradient", "update", "buffer", "interconnect", "dram",
          "static")


@dataclass
class Ledger:
    """Energy entries ``(phase, component, layer) -> joules``; layer -1 = not per layer."""

    entries: dict[tuple[str, str, int], float] = field(default_factory=lambda: defaultdict(float))

    def add(self, phase: str, component: str, layer: int, joules: float) -> None:
        if joules:
            self.entries[(phase, component, layer)] += joules

    def scaled(self, k: float) -> "Ledger":
        out = Ledger()
        for key, v in self.entries.items():
            out.entries[key] = v * k
        return out

    def merge(self, other: "Ledger") -> None:
        for key, v in other.entries.items():
            self.entries[key] += v

    @property
    def total(self) -> float:
        return float(sum(self.entries.values()))

    def by(self, axis: int) -> dict[str, float]:
        out: dict[str, float] = defaultdict(float)
        for key, v in self.entries.items():
            out[str(key[axis])] += v
        return dict(sorted(out.items(), key=lambda kv: -kv[1]))

    def to_dict(self) -> dict[str, Any]:
        return {
            "phase": self.by(0),
            "component": self.by(1),
            "layer": self.by(2),
            "entries": [{"phase": k[0], "component": k[1], "layer": k[2], "energy_j": v}
                        for k, v in sorted(self.entries.items())],
        }


def add_buffer(led: Ledger, layer: int, bits: float, p: HwParams) -> None:
    led.add("buffer", "buffer", layer, bits / p.buffer.access_bits * p.buffer.access_energy_j)


def add_noc(led: Ledger, layer: int, bits: float, p: HwParams) -> None:
    led.add("interconnect", "router", layer, bits / p.interconnect.flit_bits * p.interconnect.flit_energy_j)


class SampleEnergy(Protocol):
    """What an architecture adds to a sample's ledger (:class:`pipesdfa.hw.archs.Architecture`)."""

    def sample_energy(self, led: "Ledger", m: ModelMap, p: HwParams, act: Activity, T: int) -> None: ...


def per_sample_ledger(m: ModelMap, p: HwParams, act: Activity, T: int, grads: list[GradientCost],
                      plan: MemoryPlan | None = None, *, arch: SampleEnergy) -> Ledger:
    """Energy of one training sample (everything but the per-batch update and static power);
    ``arch`` (the architecture ``m`` was mapped for) adds its own phases (backward or feedback)."""
    led = Ledger()
    xb, per = p.crossbar, p.periphery
    adc_j = p.adc.conversion_energy_j()
    mb = p.precision.membrane_bits
    cell_j = p.gradient.sram_write_energy_per_bit_j if p.gradient.technology == "sram" else p.cell_write_energy_j
    for l, g in zip(m.layers, grads):
        i, r = l.index, act.in_rate(l.index)
        reads = T * l.positions * l.crossbars_per_copy
        rows = T * l.positions * r * l.fan_in * l.col_tiles
        conv = T * l.positions * l.conversions_per_read
        led.add("forward", "crossbar", i, reads * xb.read_energy_cycle_j + rows * xb.read_energy_row_j)
        led.add("forward", "dac", i, rows * per.dac_energy_j)
        led.add("forward", "adc", i, conv * adc_j)
        led.add("forward", "shift_add", i, conv * per.shift_add_energy_j)
        led.add("forward", "neuron", i, T * l.n_neurons * per.neuron_energy_j)
        add_buffer(led, i, T * (l.n_in + l.n_out + l.n_neurons * mb), p)
        add_noc(led, i, T * l.n_out, p)
        led.add("gradient", "digital", i, T * l.n_neurons * p.digital.op_energy_j)  # surrogate x error
        led.add("gradient", "write", i, g.bits_written * cell_j if p.gradient.technology == "sram"
                else g.cells_written * cell_j)
        led.add("gradient", "crossbar", i, g.reads * xb.read_energy_cycle_j + g.active_rows * xb.read_energy_row_j)
        led.add("gradient", "dac", i, g.active_rows * per.dac_energy_j)
        led.add("gradient", "adc", i, g.conversions * adc_j)
        led.add("gradient", "shift_add", i, g.conversions * per.shift_add_energy_j)
        add_buffer(led, i, T * (l.n_in + l.n_neurons * mb), p)  # stored state read back
    if plan is not None:
        for l, b, b_dram in zip(m.layers, plan.dw_bits, plan.dw_dram_bits):
            add_buffer(led, l.index, 2 * (b - b_dram), p)  # on-chip accumulators read and written
        led.add("dram", "dram", -1, plan.dram_bits_per_sample * p.dram.energy_per_bit_j)
    last = m.layers[-1]
    led.add("error", "digital", last.index, 4 * last.n_out * p.digital.op_energy_j)
    arch.sample_energy(led, m, p, act, T)
    return led


def update_ledger(m: ModelMap, p: HwParams, plan: MemoryPlan | None = None) -> Ledger:
    """Energy of one batch's weight update (and of reading DRAM-resident accumulators)."""
    led = Ledger()
    for l, n in zip(m.layers, update_crossbars(m)):
        led.add("update", "write", l.index, n * p.write_energy_j)
    if plan is not None:
        led.add("dram", "dram", -1, plan.dram_bits_per_batch * p.dram.energy_per_bit_j)
    return led


def energy_ledger(m: ModelMap, p: HwParams, act: Activity, T: int, samples: int, batches: int, time_s: float,
                  epochs_fraction: float, grads: list[GradientCost], plan: MemoryPlan | None = None,
                  static_power_w: float = 0.0, *, arch: SampleEnergy) -> Ledger:
    """Total energy of training ``samples`` samples in ``batches`` batches taking ``time_s``.

    ``epochs_fraction`` = samples / samples-per-epoch scales reported pulse counts.
    """
    led = per_sample_ledger(m, p, act, T, grads, plan, arch=arch).scaled(samples)
    upd = update_ledger(m, p, plan)
    if act.pulses_per_weight_per_epoch is not None:
        for l, n in zip(m.layers, update_crossbars(m)):
            cells = l.weights * l.cells_per_weight * (l.replication + l.t_replication)  # every copy
            led.add("update", "write", l.index,
                    act.pulses_per_weight_per_epoch * epochs_fraction * cells * p.pulse_energy_j)
        upd = Ledger(defaultdict(float, {k: v for k, v in upd.entries.items() if k[0] != "update"}))
    led.merge(upd.scaled(batches))
    led.add("static", "static", -1, static_power_w * time_s)
    return led
