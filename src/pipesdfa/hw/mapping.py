"""Map the trainer's layers (:func:`pipesdfa.zoo.workloads.resolve`) onto RRAM crossbars.

For a weight layer with ``fan_in`` rows and ``C_out`` output channels, weights of
``weight_bits`` are bit-sliced over ``k = ceil(weight_bits / cell_bits)`` adjacent cells:

* ``im2col`` (default): row tiles ``R = ceil(fan_in / rows)``, column tiles
  ``C = ceil(C_out k / cols)``; every read converts ``R C_out k`` columns (each row tile's
  partial sums, shift-added);
* ``kernel-split`` (SpikeSim's PEs): one crossbar per kernel offset, ``R = K^2 ceil(C_in / rows)``;
  the column currents of a PE's ``K^2`` arrays add before conversion, so a read converts
  ``ceil(C_in / rows) C_out k`` columns;
* one copy of the layer occupies ``R C`` crossbars; ``r`` copies (replication) process ``r``
  output positions of a convolution at once, so a time step takes ``ceil(positions / r)``
  read cycles.

Replication balances the pipeline: the slowest layer gets ``r_max`` copies (``s* = max_l
ceil(P_l / r_max)`` cycles per time step) and every other layer just enough copies to reach
``s*``. ``r_max`` is ``mapping.max_replication``, or under an area budget the largest value
whose design fits it (:func:`pipesdfa.hw.area.fit_replication`).

Each architecture adds what it needs (:mod:`pipesdfa.hw.archs`): PipeSDFA its feedback
arrays, PipeLayer a transposed weight copy (replicated on its own, balanced for its ``E``-pass
work: ``r^T_l = min(r_max, ceil(E P_l / s*))``) or the transposed-read periphery. Both keep
gradient arrays (``gradient.arrays_per_weight_array`` per weight array) for the weight-gradient
unit (:mod:`pipesdfa.hw.gradient`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from pipesdfa.hw.config.tree import HwParams
from pipesdfa.zoo.workloads import ResolvedLayer

__all__ = ["LayerMap", "FeedbackMap", "ModelMap", "layer_map", "replication_plan", "feedback_map"]


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


@dataclass(frozen=True)
class LayerMap:
    """One weight layer on crossbars (``crossbars`` count every copy)."""

    index: int
    kind: str
    fan_in: int
    in_channels: int
    out_channels: int
    positions: int
    n_in: int
    n_neurons: int
    n_out: int
    weights: int
    cells_per_weight: int
    row_tiles: int
    col_tiles: int
    replication: int
    steps_per_timestep: int  # read cycles per time step: ceil(positions / replication)
    conversions_per_read: int  # columns converted per read of one copy
    transpose_conversions_per_read: int  # rows converted per transposed read of one copy
    gradient_arrays: int  # arrays of the weight-gradient unit
    t_replication: int = 0  # copies of a separate transposed copy (0: none)

    @property
    def crossbars_per_copy(self) -> int:
        return self.row_tiles * self.col_tiles

    @property
    def crossbars(self) -> int:
        """Forward weight arrays, every copy."""
        return self.crossbars_per_copy * self.replication

    @property
    def t_crossbars(self) -> int:
        """Arrays of the separate transposed copy, every copy."""
        return self.crossbars_per_copy * self.t_replication

    def t_cycles_per_timestep(self, error_bits: int) -> int:
        """Transposed read cycles per time step: ``ceil(P E / r^T)`` -- the ``E`` bit-planes of the
        errors of ``P`` positions spread over the ``r^T`` copies read transposed (the transposed
        copies, else the forward ones), their results shift-added."""
        return -(-(self.positions * error_bits) // (self.t_replication or self.replication))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["crossbars"] = self.crossbars
        d["t_crossbars"] = self.t_crossbars
        return d


@dataclass(frozen=True)
class FeedbackMap:
    """The SDFA random matrix: ``rows`` (= classes x vote) by ``cols`` (sum of slices) values."""

    rows: int
    cols: int
    crossbars: int  # every copy
    conversions: int  # columns converted per read
    copies: int = 1  # copies sharing the E bit-serial passes of one projection


@dataclass(frozen=True)
class ModelMap:
    """Layers on crossbars for one architecture; ``transpose_periphery``: the forward weight
    arrays carry row-side ADCs for transposed reads."""

    arch: str
    layers: tuple[LayerMap, ...]
    feedback: FeedbackMap | None
    cycle_s: float
    transpose_periphery: bool = False

    @property
    def weight_crossbars(self) -> int:
        """Weight arrays, every copy (a separate transposed copy included)."""
        return sum(l.crossbars + l.t_crossbars for l in self.layers)

    @property
    def gradient_crossbars(self) -> int:
        return sum(l.gradient_arrays for l in self.layers)

    @property
    def feedback_crossbars(self) -> int:
        return self.feedback.crossbars if self.feedback else 0

    @property
    def total_crossbars(self) -> int:
        """Weight arrays (all copies) + gradient arrays + feedback arrays."""
        return self.weight_crossbars + self.gradient_crossbars + self.feedback_crossbars


def layer_map(l: ResolvedLayer, p: HwParams, replication: int, t_replication: int = 0,
               training: bool = True) -> LayerMap:
    k = p.cells_per_weight
    rows, cols = p.crossbar.rows, p.crossbar.cols
    c_t = _ceil(l.out_channels * k, cols)
    if p.mapping.conv_scheme == "kernel-split":
        sum_tiles = _ceil(l.in_channels, rows)  # row tiles whose currents are converted separately
        r_t = l.kernel * l.kernel * sum_tiles
    else:
        sum_tiles = r_t = _ceil(l.fan_in, rows)
    crossbars = r_t * c_t * replication
    return LayerMap(
        index=l.index, kind=l.kind, fan_in=l.fan_in, in_channels=l.in_channels, out_channels=l.out_channels,
        positions=l.positions, n_in=l.n_in, n_neurons=l.n_neurons, n_out=l.n_out, weights=l.weights,
        cells_per_weight=k, row_tiles=r_t, col_tiles=c_t, replication=replication,
        steps_per_timestep=_ceil(l.positions, replication),
        conversions_per_read=sum_tiles * l.out_channels * k,
        transpose_conversions_per_read=c_t * l.fan_in,
        gradient_arrays=max(1, math.ceil(crossbars * p.gradient.arrays_per_weight_array)) if training else 0,
        t_replication=t_replication,
    )


def replication_plan(layers: list[ResolvedLayer], max_replication: int, work: list[int] | None = None) -> list[int]:
    """Copies per layer: ``s* = max_l ceil(P_l / r_max)``, ``r_l = min(r_max, ceil(w_l P_l / s*))``
    with ``w_l`` the layer's read passes per position relative to the forward (default 1)."""
    target = max(_ceil(l.positions, max_replication) for l in layers)
    w = work or [1] * len(layers)
    return [min(max_replication, _ceil(wl * l.positions, target)) for l, wl in zip(layers, w)]


def feedback_map(layers: list[ResolvedLayer], p: HwParams, rows_c: int) -> FeedbackMap | None:
    """SDFA's feedback arrays: ``rows_c`` (classes x vote) rows, one value per cell unless
    ``mapping.feedback_cell_bits`` slices it; shared (``max n_l`` columns) or per layer."""
    if len(layers) < 2:
        return None
    hidden = [l.n_out for l in layers[:-1]]
    fb_bits = p.mapping.feedback_cell_bits
    fcells = max(1, _ceil(p.precision.weight_bits, fb_bits)) if fb_bits else 1
    rows, cols = p.crossbar.rows, p.crossbar.cols
    if p.mapping.feedback == "shared":
        width = max(hidden) * fcells
        xb = _ceil(rows_c, rows) * _ceil(width, cols)
    else:
        width = sum(hidden) * fcells
        xb = sum(_ceil(rows_c, rows) * _ceil(h * fcells, cols) for h in hidden)
    n = p.mapping.feedback_copies
    return FeedbackMap(rows=rows_c, cols=width, crossbars=xb * n, conversions=_ceil(rows_c, rows) * width, copies=n)
