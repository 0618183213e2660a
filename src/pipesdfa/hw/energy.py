"""Energy and area: operation counts times per-operation costs, by phase x component x layer.

Counts per sample (``T`` time steps, layer ``l`` with ``P`` positions, ``X`` crossbars per copy,
``R``/``C`` row/column tiles, input spike rate ``r``, ``E`` error bits of density ``d``):

* forward: ``T P X`` crossbar reads (``read_energy_cycle_j`` each), ``T P r fan_in C`` active
  rows (``read_energy_row_j`` + ``dac_energy_j`` each), ``T P R C_out k`` conversions (ADC +
  shift-add), ``T n_neurons`` neuron updates; buffer: input spikes read, output spikes and
  ``membrane_bits`` per neuron written; interconnect: ``T n_out`` spike bits;
* output error: ``n_out`` digital ops;
* PipeLayer backward (layers >= 1): ``E`` times a transposed pass (``T P X E`` reads,
  ``T P E d C_out k R`` active columns, ``T P E C fan_in`` conversions); errors ``T n_neurons E`` bits written and read; ``T n_in E`` bits
  sent back; every PipeLayer array access (forward, backward, gradient) is multiplied by
  ``pipelayer_array_factor``;
* PipeSDFA feedback: one ``E``-bit pass over the feedback arrays per sample; projected errors
  (``n_out E`` bits per hidden layer) written and broadcast;
* gradient (both): an ``E``-bit pass over gradient arrays shaped like the layer
  (``T P X E`` reads, ``T P E d fan_in C`` rows, ``T P E R C_out k`` conversions), ``T n_neurons``
  surrogate multiplies, stored activations read back;
* update per batch: crossbars written x ``update_energy_j`` (or, when a training run reports
  pulses, ``pulses x weights x cells x copies x V^2/R_on t_pulse``);
* static: ``static_power_w`` x time.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from pipesdfa.hw.activity import Activity
from pipesdfa.hw.dataflow import update_crossbars
from pipesdfa.hw.mapping import ModelMap
from pipesdfa.hw.params import HwParams

__all__ = ["Ledger", "energy_ledger", "area_mm2", "chips_needed"]

PHASES = ("forward", "error", "backward", "feedback", "gradient", "update", "buffer", "interconnect", "static")


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


def _buffer(led: Ledger, layer: int, bits: float, p: HwParams) -> None:
    led.add("buffer", "buffer", layer, bits / p.buffer.access_bits * p.buffer.access_energy_j)


def _noc(led: Ledger, layer: int, bits: float, p: HwParams) -> None:
    led.add("interconnect", "router", layer, bits / p.interconnect.flit_bits * p.interconnect.flit_energy_j)


def per_sample_ledger(m: ModelMap, p: HwParams, act: Activity, T: int) -> Ledger:
    """Energy of one training sample (everything but the per-batch update and static power)."""
    led = Ledger()
    xb, per = p.crossbar, p.periphery
    adc_j = p.adc.conversion_energy_j()
    E, d, mb = p.precision.error_bits, p.precision.error_bit_density, p.precision.membrane_bits
    tf = per.pipelayer_array_factor if m.arch == "pipelayer" else 1.0
    for l in m.layers:
        i, r = l.index, act.in_rate(l.index)
        reads = T * l.positions * l.crossbars_per_copy
        rows = T * l.positions * r * l.fan_in * l.col_tiles
        conv = T * l.positions * l.conversions_per_read
        led.add("forward", "crossbar", i, tf * reads * xb.read_energy_cycle_j + rows * xb.read_energy_row_j)
        led.add("forward", "dac", i, tf * rows * per.dac_energy_j)
        led.add("forward", "adc", i, tf * conv * adc_j)
        led.add("forward", "shift_add", i, tf * conv * per.shift_add_energy_j)
        led.add("forward", "neuron", i, T * l.n_neurons * per.neuron_energy_j)
        _buffer(led, i, T * (l.n_in + l.n_out + l.n_neurons * mb), p)
        _noc(led, i, T * l.n_out, p)
        # gradient: an E-bit pass over gradient arrays shaped like the layer
        g_rows = T * l.positions * E * d * l.fan_in * l.col_tiles
        led.add("gradient", "crossbar", i, tf * reads * E * xb.read_energy_cycle_j + g_rows * xb.read_energy_row_j)
        led.add("gradient", "dac", i, tf * g_rows * per.dac_energy_j)
        led.add("gradient", "adc", i, tf * conv * E * adc_j)
        led.add("gradient", "shift_add", i, tf * conv * E * per.shift_add_energy_j)
        led.add("gradient", "digital", i, T * l.n_neurons * p.digital.op_energy_j)
        _buffer(led, i, T * (l.n_in + l.n_neurons * mb), p)
        if m.arch == "pipelayer":
            _buffer(led, i, 2 * T * l.n_neurons * E, p)  # errors written, read back
            if i > 0:
                b_cols = T * l.positions * E * d * l.out_channels * l.cells_per_weight * l.row_tiles
                b_conv = T * l.positions * E * l.transpose_conversions_per_read
                led.add("backward", "crossbar", i, tf * (reads * E * xb.read_energy_cycle_j + b_cols * xb.read_energy_row_j))
                led.add("backward", "dac", i, tf * b_cols * per.dac_energy_j)
                led.add("backward", "adc", i, tf * b_conv * adc_j)
                led.add("backward", "shift_add", i, tf * b_conv * per.shift_add_energy_j)
                led.add("backward", "digital", i, T * l.n_in * p.digital.op_energy_j)
                _noc(led, i, T * l.n_in * E, p)
    last = m.layers[-1]
    led.add("error", "digital", last.index, 4 * last.n_out * p.digital.op_energy_j)
    if m.feedback is not None:
        fbm = m.feedback
        led.add("feedback", "crossbar", -1, E * (fbm.crossbars * xb.read_energy_cycle_j + d * fbm.rows * xb.read_energy_row_j * max(1, -(-fbm.cols // xb.cols))))
        led.add("feedback", "dac", -1, E * d * fbm.rows * per.dac_energy_j)
        led.add("feedback", "adc", -1, E * fbm.conversions * adc_j)
        led.add("feedback", "shift_add", -1, E * fbm.conversions * per.shift_add_energy_j)
        for l in m.layers[:-1]:
            _buffer(led, l.index, 2 * l.n_out * E, p)
            _noc(led, l.index, l.n_out * E, p)
    return led


def update_ledger(m: ModelMap, p: HwParams) -> Ledger:
    """Energy of one batch's weight update."""
    led = Ledger()
    for l, n in zip(m.layers, update_crossbars(m, p)):
        led.add("update", "write", l.index, n * p.update_energy_j)
    return led


def energy_ledger(m: ModelMap, p: HwParams, act: Activity, T: int, samples: int, batches: int,
                  time_s: float, epochs_fraction: float) -> Ledger:
    """Total energy of training ``samples`` samples in ``batches`` batches taking ``time_s``.

    ``epochs_fraction`` = samples / samples-per-epoch scales reported pulse counts.
    """
    led = per_sample_ledger(m, p, act, T).scaled(samples)
    if act.pulses_per_weight_per_epoch is not None:
        for l, n in zip(m.layers, update_crossbars(m, p)):
            copies = l.replication * (n // l.crossbars)  # replicas, and PipeLayer's transposed copy
            cells = l.weights * l.cells_per_weight * copies
            led.add("update", "write", l.index,
                    act.pulses_per_weight_per_epoch * epochs_fraction * cells * p.pulse_energy_j)
    else:
        led.merge(update_ledger(m, p).scaled(batches))
    led.add("static", "static", -1, p.chip.static_power_w * time_s)
    return led


def compute_area_mm2(m: ModelMap, p: HwParams) -> float:
    per_xbar = p.crossbar_area_um2 + p.adc.per_crossbar * p.adc.area_um2
    area = m.total_crossbars * per_xbar
    if m.arch == "pipelayer":
        if p.pipeline.pipelayer_shared_transpose:
            area += m.weight_crossbars * p.adc.per_crossbar * p.adc.area_um2  # row-side ADCs
        else:
            area += m.weight_crossbars * per_xbar  # the transposed copy
    return area * 1e-6


def _buffer_area_per_chip_mm2(p: HwParams) -> float:
    return p.buffer.capacity_bytes / 1024 * p.buffer.area_um2_per_kb * 1e-6


def chips_needed(m: ModelMap, p: HwParams) -> int:
    usable = p.chip.area_mm2 - _buffer_area_per_chip_mm2(p)
    if usable <= 0:
        return max(1, -(-int(compute_area_mm2(m, p) * 1e6) // int(p.chip.area_mm2 * 1e6)))
    return max(1, int(-(-compute_area_mm2(m, p) // usable)))


def area_mm2(m: ModelMap, p: HwParams) -> float:
    """Crossbars (weights, gradients, feedback) with their ADCs, plus the buffers of all chips."""
    return compute_area_mm2(m, p) + chips_needed(m, p) * _buffer_area_per_chip_mm2(p)
