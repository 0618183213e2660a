"""Refusals: a configuration the cost model cannot stand behind is rejected, naming the key.

* choices outside their list; non-finite numbers; negative costs, latencies, areas, powers
  (only ``adc.energy_j``/``adc.area_um2`` take the sentinel -1, "from the resolution table");
  sizes, widths and rates that must be positive; rates outside [0, 1];
* crossbar sizes outside 32..256 rows and columns: the cited read latencies and energies are
  for such arrays (ISAAC 128, SpikeSim 64, PUMA's tables 32..256); beyond them IR drop and
  wire delay, which the model does not have, dominate;
* ADC resolutions the cited scaling does not cover (4..10 bits, :mod:`pipesdfa.hw.adc`) when
  the energy or area comes from the table, more than 16 bits in any case, and fewer bits than a
  column's partial sum needs (unless ``adc.allow_truncation``);
* device facts the device model rejects, and cell precision beyond the device's levels;
* a chip too small for its own tile.
"""

from __future__ import annotations

import math

from pipesdfa.util.errors import UserError
from pipesdfa.hw import adc as adc_table
from pipesdfa.hw.config.keys import flatten
from pipesdfa.hw.config.tree import HwParams, device_from_section

__all__ = ["validate", "CHOICES", "XBAR_RANGE"]

CHOICES: dict[str, tuple[str, ...]] = {
    "update.scheme": ("serial", "outer-product"),
    "mapping.feedback": ("shared", "per-layer"),
    "mapping.conv_scheme": ("im2col", "kernel-split"),
    "pipeline.batch_dependency": ("stale-1", "strict"),
    "gradient.operand": ("auto", "error", "activation"),
    "gradient.technology": ("rram", "sram"),
    "buffer.sizing": ("per-tile", "per-value"),
}
#: keys that must be strictly positive (divisors, sizes, widths).
_POSITIVE = {
    "crossbar.rows", "crossbar.cols", "crossbar.cell_bits", "crossbar.read_latency_s", "crossbar.cell_area_um2",
    "adc.bits", "adc.sample_rate_hz", "digital.clock_hz", "digital.lanes", "buffer.access_bits",
    "interconnect.flit_bits", "precision.weight_bits", "precision.error_bits", "precision.membrane_bits",
    "mapping.max_replication", "dram.bandwidth_bits_per_s", "update.serial_latency_s", "update.outer_latency_s",
    "chip.crossbars_per_group", "chip.adcs_per_group", "chip.groups_per_tile", "chip.tiles_per_chip",
    "chip.power_budget_w", "gradient.arrays_per_weight_array", "mapping.feedback_copies",
}
_SENTINEL = {"adc.energy_j", "adc.area_um2"}
_RATES = {"activity.input_rate", "activity.layer_rate", "precision.error_bit_density"}
XBAR_RANGE = (32, 256)


def validate(p: HwParams, where: str = "hardware config") -> None:
    """Raise :class:`UserError` naming the first key whose value the model cannot use."""
    for key, v in flatten(p).items():
        if key in CHOICES:
            if v not in CHOICES[key]:
                raise UserError(f"{where}: {key} = {v!r}; expected one of: {', '.join(CHOICES[key])}")
            continue
        if isinstance(v, (bool, str)):
            continue
        if not math.isfinite(float(v)):
            raise UserError(f"{where}: {key} = {v!r}; expected a finite number")
        if key in _SENTINEL:
            if v < 0 and v != -1:
                raise UserError(f"{where}: {key} = {v!r}; expected a value >= 0, or -1 for the ADC resolution table")
            continue
        if key in _POSITIVE and not v > 0:
            raise UserError(f"{where}: {key} = {v!r}; expected a positive value")
        if v < 0:
            raise UserError(f"{where}: {key} = {v!r}; expected a value >= 0 (costs, times and sizes cannot be negative)")
        if key in _RATES and v > 1:
            raise UserError(f"{where}: {key} = {v!r}; expected a rate in [0, 1]")
    _check_device(p, where)
    _check_crossbar(p, where)
    _check_adc(p, where)
    if p.chip_area_mm2 <= 0 or p.tile_area_um2 <= 0:
        raise UserError(f"{where}: chip composition gives a chip of {p.chip_area_mm2:.3g} mm^2; check chip.*")


def _check_device(p: HwParams, where: str) -> None:
    try:
        dev = device_from_section(p.device)
    except UserError as exc:
        raise UserError(f"{where}: device.{_device_key(str(exc))}: {exc}") from None
    max_bits = int(math.floor(math.log2(dev.levels)))
    if p.crossbar.cell_bits > max_bits:
        raise UserError(f"{where}: crossbar.cell_bits = {p.crossbar.cell_bits} but device {dev.name!r} has "
                        f"device.levels = {dev.levels} (at most {max_bits} bits per cell)")
    if p.mapping.feedback_cell_bits > max_bits:
        raise UserError(f"{where}: mapping.feedback_cell_bits = {p.mapping.feedback_cell_bits} exceeds the "
                        f"device's {max_bits} bits per cell")


def _device_key(message: str) -> str:
    from pipesdfa.hw.config.tree import DEVICE_KEYS

    for k in sorted(DEVICE_KEYS, key=len, reverse=True):
        if k in message:
            return k
    return "preset"


def _check_crossbar(p: HwParams, where: str) -> None:
    lo, hi = XBAR_RANGE
    for key in ("rows", "cols"):
        v = getattr(p.crossbar, key)
        if not lo <= v <= hi:
            raise UserError(f"{where}: crossbar.{key} = {v}; the cited read latencies and energies hold for "
                            f"{lo}..{hi}-line arrays (IR drop and wire delay beyond are not modelled)")


def _check_adc(p: HwParams, where: str) -> None:
    a = p.adc
    lo, hi = adc_table.ADC_TABLE_BITS
    if a.bits > 16:
        raise UserError(f"{where}: adc.bits = {a.bits}; expected at most 16 (no SAR ADC model beyond)")
    if (a.energy_j < 0 or a.area_um2 < 0) and not lo <= a.bits <= hi:
        raise UserError(f"{where}: adc.bits = {a.bits} is outside the cited ADC scaling ({lo}..{hi} bits); "
                        "give adc.energy_j and adc.area_um2 explicitly")
    need = adc_table.required_bits(p.crossbar.rows, p.crossbar.cell_bits)
    if a.bits < need and not a.allow_truncation:
        raise UserError(f"{where}: adc.bits = {a.bits} but a column of {p.crossbar.rows} rows of "
                        f"{p.crossbar.cell_bits}-bit cells needs {need} bits (ISAAC's partial-sum precision); "
                        "raise adc.bits, or set adc.allow_truncation=true to accept truncated partial sums")
