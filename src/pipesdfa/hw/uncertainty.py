"""The uncertain constants, the values the literature gives them, and the ratio ranges they span.

Each :class:`Factor` is one assumption with the alternative values a source supports; the sweep
changes one factor at a time on top of a configuration (PipeLayer as published) and the range
of a ratio is ``[min, max]`` over every point and the configuration itself.

Write energy and latency per 128x128 crossbar (weight updates and the gradient unit's writes):

* PANTHER's encoding of PipeLayer's serial write (default): 113 nJ, 475 ns;
* PipeLayer's own per-spike write, 3.91 nJ and 50.88 ns, read as one spike per row: 128 rows
  = 500 nJ, 6.51 us;
* NeuroSim's device pulses: one 50 ns pulse per cell at ``V_w^2 / R_on`` (the default device,
  2 V): 16,384 x 0.83 pJ = 13.7 nJ, rows written one after the other = 6.4 us.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from pipesdfa.hw.config import HwConfig

__all__ = ["Factor", "factors", "ratio_range"]


@dataclass(frozen=True)
class Factor:
    name: str
    source: str
    points: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


def factors(cfg: HwConfig) -> list[Factor]:
    """The documented sweep for ``cfg`` (values that equal the configuration are left out)."""
    p = cfg.params
    d = p.device_params
    pulse_j = p.update.write_voltage_v ** 2 / d.r_on_ohm * d.write_pulse_s
    out = [
        Factor("write energy and latency", "PipeLayer per-spike write (per row); NeuroSim device pulses", [
            ("PipeLayer 3.91 nJ x 128 rows", {"update.serial_energy_j": 128 * 3.91e-9,
                                              "update.serial_latency_s": 128 * 50.88e-9}),
            ("NeuroSim pulses", {"update.serial_energy_j": 128 * 128 * pulse_j,
                                 "update.serial_latency_s": 128 * d.write_pulse_s}),
        ]),
        Factor("update scheme", "PANTHER: parallel outer-product update", [
            ("outer-product", {"update.scheme": "outer-product"})]),
        Factor("gradient unit", "PipeLayer (errors written) / NeuroSim V2.1 (activations written, SRAM)", [
            ("errors written", {"gradient.operand": "error"}),
            ("activations written", {"gradient.operand": "activation"}),
            ("SRAM arrays", {"gradient.technology": "sram"}),
        ]),
        Factor("error bits", "8-bit errors (WAGE, the training wrapper of DNN+NeuroSim V2.1)", [
            ("8", {"precision.error_bits": 8})]),
        Factor("off-chip memory", "NeuroSim V2.1 DRAM.cpp: GDDR5 4.288e12 b/s, 14 pJ/bit", [
            ("GDDR5", {"dram.bandwidth_bits_per_s": 4.288e12, "dram.energy_per_bit_j": 14e-12})]),
        Factor("on-chip buffer", "half and twice ISAAC's 64 KB eDRAM per tile", [
            ("32 KB/tile", {"buffer.capacity_bytes_per_tile": p.buffer.capacity_bytes_per_tile // 2}),
            ("128 KB/tile", {"buffer.capacity_bytes_per_tile": p.buffer.capacity_bytes_per_tile * 2}),
        ]),
        Factor("static power", "ADC leakage power-gated when idle (lower bound)", [
            ("no leakage", {"adc.leakage_w": 0.0})]),
        Factor("spike activity", "half and twice the default 10 % rates", [
            ("rates x0.5", {"activity.input_rate": p.activity.input_rate / 2, "activity.layer_rate": p.activity.layer_rate / 2}),
            ("rates x2", {"activity.input_rate": min(1.0, p.activity.input_rate * 2),
                          "activity.layer_rate": min(1.0, p.activity.layer_rate * 2)}),
        ]),
        Factor("batch dependency", "sequential SGD semantics on PipeSDFA", [
            ("strict", {"pipeline.batch_dependency": "strict"})]),
    ]
    if p.adc.bits - 2 >= 4:
        out.append(Factor("ADC resolution", "two bits fewer, partial sums truncated (NeuroSim's sense amplifiers)", [
            (f"{p.adc.bits - 2} bits", {"adc.bits": p.adc.bits - 2, "adc.allow_truncation": True})]))
    from pipesdfa.hw.config.keys import flatten

    current = flatten(p)
    kept = []
    for f in out:
        pts = [(lab, ch) for lab, ch in f.points if any(current[k] != v for k, v in ch.items())]
        if pts:
            kept.append(Factor(f.name, f.source, pts))
    return kept


def ratio_range(point: Mapping[str, float], sweep: list[Mapping[str, Any]], key: str) -> list[float]:
    """``[min, max]`` of ``key`` over the configuration's own value and every sweep point."""
    vals = [point[key]] + [s[key] for s in sweep if s.get(key) is not None]
    return [min(vals), max(vals)]


def sweep(workload: str, cfg: HwConfig, compare_fn: Callable[..., Mapping[str, Any]],
          progress: Callable[[], None] | None = None, **kw: Any) -> list[dict[str, Any]]:
    """One point per factor value: ``{"factor", "value", "time_ratio", "energy_ratio"}``."""
    out = []
    for f in factors(cfg):
        for label, changes in f.points:
            r = compare_fn(workload, cfg.with_overrides(changes, f"sweep {f.name}"), **kw)
            out.append({"factor": f.name, "value": label, "source": f.source, "overrides": changes,
                        "time_ratio": r["time_ratio"], "energy_ratio": r["energy_ratio"]})
            if progress:
                progress()
    return out
