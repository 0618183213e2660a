"""Silicon: groups, tiles and chips a mapping needs, its area, static power, and the largest
replication an area budget admits.

A mapping's arrays are packed layer by layer into groups of ``chip.crossbars_per_group``
crossbars (weight arrays and their copies, gradient arrays, feedback arrays each in their own
groups); groups share tiles (``chip.groups_per_tile``), tiles share chips
(``chip.tiles_per_chip``). PipeLayer's transposed-read periphery (row-side ADCs on every group
of weight arrays read transposed) adds ``chip.adcs_per_group`` ADCs to those groups, counted as
group-area equivalents.

Area with ``buffer.sizing = "per-tile"``: ``chips x chip_area`` (each chip brings its tiles'
eDRAM and its I/O; :attr:`HwParams.chip_area_mm2`). With ``"per-value"`` (SpikeSim's memory
model): ``tiles x tile_area + stored values x membrane_bits x area per bit``. Static power:
the leakage of the tiles in use (``chip.power_gating``; else of every tile of the chips),
:attr:`HwParams.static_power_per_tile_w` each.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipesdfa.util.errors import UserError
from pipesdfa.hw.mapping import ModelMap
from pipesdfa.hw.config.tree import HwParams
from pipesdfa.hw.placement import map_layers
from pipesdfa.zoo.workloads import ResolvedLayer

__all__ = ["Silicon", "silicon", "fit_replication", "value_memory_um2", "budget_chips"]


def _ceil(a: float, b: float) -> int:
    return int(-(-a // b))


@dataclass(frozen=True)
class Silicon:
    groups: int
    transpose_groups: int
    tiles: int
    chips: int
    area_mm2: float
    buffer_bits: int
    static_power_w: float

    def to_dict(self) -> dict:
        return {"groups": self.groups, "transpose_periphery_groups": self.transpose_groups, "tiles": self.tiles,
                "chips": self.chips, "area_mm2": self.area_mm2, "buffer_bytes": self.buffer_bits / 8,
                "static_power_w": self.static_power_w}


def value_memory_um2(m: ModelMap, p: HwParams) -> float:
    """One stored value (``precision.membrane_bits``) per input and per neuron of every layer."""
    values = sum(l.n_in + l.n_neurons for l in m.layers)
    return values * p.precision.membrane_bits * p.buffer.area_um2_per_kb / 8192


def silicon(m: ModelMap, p: HwParams, min_chips: int = 1) -> Silicon:
    """Groups, tiles, chips, area, on-chip buffer and static power of mapping ``m``."""
    c = p.chip
    per = c.crossbars_per_group
    weight_groups = sum(_ceil(l.crossbars, per) for l in m.layers)
    groups = (weight_groups + sum(_ceil(l.t_crossbars, per) for l in m.layers)
              + sum(_ceil(l.gradient_arrays, per) for l in m.layers)
              + (_ceil(m.feedback.crossbars, per) if m.feedback else 0))
    t_groups = weight_groups if m.transpose_periphery else 0
    extra = t_groups * c.adcs_per_group * p.adc.unit_area_um2() / p.group_area_um2  # row-side ADCs
    tiles = _ceil(groups + extra, c.groups_per_tile)
    if p.buffer.sizing == "per-value":
        area = (tiles * p.tile_area_um2 + value_memory_um2(m, p)) * 1e-6
        chips = max(min_chips, _ceil(tiles, c.tiles_per_chip))
        buffer_bits = sum(l.n_in + l.n_neurons for l in m.layers) * p.precision.membrane_bits
    else:
        chips = max(min_chips, _ceil(tiles, c.tiles_per_chip))
        area = chips * p.chip_area_mm2
        buffer_bits = chips * p.buffer_bits_per_chip
    powered = tiles if c.power_gating else chips * c.tiles_per_chip
    return Silicon(groups, t_groups, tiles, chips, area, buffer_bits, powered * p.static_power_per_tile_w)


def budget_chips(p: HwParams) -> int:
    """Whole chips an ``area.budget_mm2`` holds (0 = no budget)."""
    if p.area.budget_mm2 <= 0:
        return 0
    return int(p.area.budget_mm2 // p.chip_area_mm2)


def fit_replication(layers: list[ResolvedLayer], p: HwParams, arch: str, rows_c: int) -> int:
    """The largest ``r_max`` whose mapping fits the chips of ``area.budget_mm2``.

    Chips needed grow with ``r_max`` (replication never shrinks when ``r_max`` grows), so a
    bisection over ``1 .. E x max positions`` finds it (PipeLayer's transposed copies balance
    ``E`` read passes per position). Raises :class:`UserError` when even one
    copy per layer does not fit.
    """
    n = budget_chips(p)
    if n < 1:
        raise UserError(f"area.budget_mm2 = {p.area.budget_mm2:g} is smaller than one chip "
                        f"({p.chip_area_mm2:.4g} mm^2)")

    def chips(r: int) -> int:
        return silicon(map_layers(layers, p, arch, rows_c, max_replication=r), p).chips

    if chips(1) > n:
        raise UserError(f"area.budget_mm2 = {p.area.budget_mm2:g} holds {n} chip(s); {arch} needs "
                        f"{chips(1)} for this model even without replication")
    lo, hi = 1, max(l.positions for l in layers) * p.precision.error_bits  # transposed copies balance E passes
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if chips(mid) <= n:
            lo = mid
        else:
            hi = mid - 1
    return lo
