"""Map the trainer's layers (:func:`pipesdfa.workloads.resolve`) onto RRAM crossbars.

For a weight layer with ``fan_in`` rows and ``C_out`` output channels, weights of
``weight_bits`` are bit-sliced over ``k = ceil(weight_bits / cell_bits)`` adjacent cells:

* row tiles ``R = ceil(fan_in / rows)``, column tiles ``C = ceil(C_out * k / cols)``;
* one copy of the layer occupies ``R * C`` crossbars; ``r`` copies (replication) process
  ``r`` output positions of a convolution at once, so one time step takes
  ``ceil(positions / r)`` read cycles;
* each read cycle converts ``R * C_out * k`` columns (every row tile's partial sums, shift-added).

Replication balances the pipeline: the slowest layer gets ``max_replication`` copies
(``s* = max_l ceil(positions_l / max_replication)`` cycles per time step) and every other layer
just enough copies to reach ``s*`` (``r_l = ceil(positions_l / s*)``).

PipeSDFA adds the random feedback matrix ``B`` (``C x n_max``, or ``C x n_l`` per layer), one
cell per value, read once per sample with the ``error_bits``-bit error fed bit-serially.
Both architectures keep *gradient arrays* of the same shape as the weights (PipeLayer's
morphable subarrays) in which the weight gradient is accumulated.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from pipesdfa.hw.params import HwParams
from pipesdfa.workloads import ResolvedLayer

__all__ = ["LayerMap", "FeedbackMap", "ModelMap", "map_layers", "ARCHS"]

ARCHS: tuple[str, ...] = ("pipelayer", "pipesdfa")


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


@dataclass(frozen=True)
class LayerMap:
    """One weight layer on crossbars (all counts per layer, ``crossbars`` include copies)."""

    index: int
    kind: str
    fan_in: int
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
    conversions_per_read: int  # columns converted per read (all row tiles, one copy)
    transpose_conversions_per_read: int  # rows converted per transposed read (one copy)

    @property
    def crossbars_per_copy(self) -> int:
        return self.row_tiles * self.col_tiles

    @property
    def crossbars(self) -> int:
        return self.crossbars_per_copy * self.replication

    @property
    def reads_per_timestep(self) -> int:
        """Crossbar read operations per sample and time step: positions x crossbars per copy."""
        return self.positions * self.crossbars_per_copy

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["crossbars"] = self.crossbars
        return d


@dataclass(frozen=True)
class FeedbackMap:
    """The SDFA random matrix: ``rows`` (= classes x vote) by ``cols`` (sum of slices) values."""

    rows: int
    cols: int
    crossbars: int
    conversions: int  # columns converted per read


@dataclass(frozen=True)
class ModelMap:
    arch: str
    layers: tuple[LayerMap, ...]
    feedback: FeedbackMap | None
    cycle_s: float

    @property
    def weight_crossbars(self) -> int:
        return sum(l.crossbars for l in self.layers)

    @property
    def total_crossbars(self) -> int:
        """Weight arrays + gradient arrays (same shape) + feedback arrays."""
        fb = self.feedback.crossbars if self.feedback else 0
        return 2 * self.weight_crossbars + fb


def _layer_map(l: ResolvedLayer, p: HwParams, replication: int) -> LayerMap:
    k = p.cells_per_weight
    rows, cols = p.crossbar.rows, p.crossbar.cols
    r_t = _ceil(l.fan_in, rows)
    c_t = _ceil(l.out_channels * k, cols)
    return LayerMap(
        index=l.index, kind=l.kind, fan_in=l.fan_in, out_channels=l.out_channels, positions=l.positions,
        n_in=l.n_in, n_neurons=l.n_neurons, n_out=l.n_out, weights=l.weights, cells_per_weight=k,
        row_tiles=r_t, col_tiles=c_t, replication=replication,
        steps_per_timestep=_ceil(l.positions, replication),
        conversions_per_read=r_t * l.out_channels * k,
        transpose_conversions_per_read=c_t * l.fan_in,
    )


def replication_plan(layers: list[ResolvedLayer], max_replication: int) -> list[int]:
    """Copies per layer: ``s* = max_l ceil(P_l / r_max)``, ``r_l = ceil(P_l / s*)`` (<= r_max)."""
    target = max(_ceil(l.positions, max_replication) for l in layers)
    return [min(max_replication, _ceil(l.positions, target)) for l in layers]


def map_layers(layers: list[ResolvedLayer], p: HwParams, arch: str, num_classes_x_vote: int | None = None) -> ModelMap:
    """Map ``layers`` for ``arch`` (``"pipelayer"`` or ``"pipesdfa"``)."""
    if arch not in ARCHS:
        from pipesdfa.errors import UserError

        raise UserError(f"unknown architecture {arch!r}; expected one of: {', '.join(ARCHS)}")
    reps = replication_plan(layers, p.mapping.max_replication)
    maps = tuple(_layer_map(l, p, r) for l, r in zip(layers, reps))
    fb = None
    if arch == "pipesdfa" and len(layers) > 1:
        c = num_classes_x_vote if num_classes_x_vote is not None else layers[-1].out_channels
        hidden = [l.n_out for l in layers[:-1]]
        fcells = max(1, -(-p.precision.weight_bits // p.mapping.feedback_cell_bits)) if p.mapping.feedback_cell_bits else 1
        rows, cols = p.crossbar.rows, p.crossbar.cols
        if p.mapping.feedback == "shared":
            width = max(hidden) * fcells
            xb = _ceil(c, rows) * _ceil(width, cols)
        else:
            width = sum(hidden) * fcells
            xb = sum(_ceil(c, rows) * _ceil(h * fcells, cols) for h in hidden)
        fb = FeedbackMap(rows=c, cols=width, crossbars=xb, conversions=_ceil(c, rows) * width)
    return ModelMap(arch, maps, fb, p.cycle_s)
