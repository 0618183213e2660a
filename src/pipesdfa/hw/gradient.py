"""The weight-gradient unit: ``dW = X^T D`` of one sample and layer on gradient arrays.

Per sample, layer ``l`` has ``Q = T P`` rows of operands (time steps x output positions): the
input spikes ``X`` (``Q x fan_in``, binary, density ``r``) and the errors ``D`` (``Q x C_out``,
``E`` bits, bit density ``d``). Both published ReRAM training designs compute ``dW`` with array
MVMs after writing one operand into the gradient arrays:

* ``"error"`` (PipeLayer's morphable subarrays): ``D`` is written, ``k_E = ceil(E / c)`` cells of
  ``c`` bits per value; every column of ``X`` is applied once as a binary input vector.
  ``a_r = ceil(Q / rows)`` x ``a_c = ceil(C_out k_E / cols)`` operand tiles, ``fan_in`` reads per
  tile, ``fan_in a_r C_out k_E`` conversions, ``fan_in Q r a_c`` active rows;
* ``"activation"`` (DNN+NeuroSim V2.1's weight-gradient unit): ``X`` is written, one cell per
  spike; every column of ``D`` is applied bit-serially. ``a_c = ceil(fan_in / cols)``,
  ``C_out E`` reads per tile, ``C_out E a_r fan_in`` conversions, ``C_out E Q d a_c`` active rows.

Each tile is written row by row (``min(rows, Q)`` rows of ``t_row``) then read (``t_c`` per read);
the layer's ``n_g`` gradient arrays take tiles in waves, and when there are more arrays than
tiles each tile is written into ``c = floor(n_g / tiles)`` arrays that share its reads:
``time = ceil(a_r a_c / n_g) x (min(rows, Q) t_row + ceil(reads per tile / c) x t_c)``, with
``c`` times the cells written. Cells written cost the serial write energy per
cell (``technology = "rram"``, ``t_row`` = serial write time / 128 rows) or the SRAM write energy
per bit (``"sram"``, one row per digital clock). ``operand = "auto"`` takes per layer the faster
orientation (a mapping choice legal on both machines). Partial ``dW`` sums are accumulated
digitally (one shift-add per conversion) into ``dW`` accumulators (:mod:`pipesdfa.hw.memory`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from pipesdfa.hw.mapping import LayerMap
from pipesdfa.hw.config.tree import HwParams

__all__ = ["GradientCost", "gradient_cost", "layer_gradient"]


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


@dataclass(frozen=True)
class GradientCost:
    """One sample's weight gradient of one layer (counts per sample, ``time_s`` on its arrays)."""

    operand: str
    cells_written: int
    bits_written: int
    tiles: int
    reads: int
    conversions: int
    active_rows: float
    time_s: float
    copies: int = 1  # copies of each operand tile (written into otherwise idle gradient arrays)

    def to_dict(self) -> dict:
        return asdict(self)


def gradient_cost(l: LayerMap, p: HwParams, T: int, in_rate: float, operand: str) -> GradientCost:
    """Counts and time of ``operand`` orientation (``"error"`` or ``"activation"``)."""
    rows, cols = p.crossbar.rows, p.crossbar.cols
    E, d = p.precision.error_bits, p.precision.error_bit_density
    sram = p.gradient.technology == "sram"
    c = 1 if sram else p.crossbar.cell_bits
    Q = T * l.positions
    a_r = _ceil(Q, rows)
    if operand == "error":
        k_e = _ceil(E, c)
        a_c = _ceil(l.out_channels * k_e, cols)
        cells = Q * l.out_channels * k_e
        reads_per_tile = l.fan_in
        conversions = l.fan_in * a_r * l.out_channels * k_e
        active = l.fan_in * Q * in_rate * a_c
    elif operand == "activation":
        a_c = _ceil(l.fan_in, cols)
        cells = Q * l.fan_in
        reads_per_tile = l.out_channels * E
        conversions = l.out_channels * E * a_r * l.fan_in
        active = l.out_channels * E * Q * d * a_c
    else:
        raise ValueError(f"gradient operand {operand!r}")
    tiles = a_r * a_c
    t_row = 1.0 / p.digital.clock_hz if sram else p.row_write_latency_s
    n_g = max(1, l.gradient_arrays)
    waves = _ceil(tiles, n_g)
    rep = max(1, n_g // tiles)  # idle arrays hold copies of a tile and share its reads
    time_s = waves * (min(rows, Q) * t_row + _ceil(reads_per_tile, rep) * p.cycle_s)
    return GradientCost(operand, cells * rep, cells * c * rep, tiles, tiles * reads_per_tile, conversions, active,
                        time_s, rep)


def layer_gradient(l: LayerMap, p: HwParams, T: int, in_rate: float) -> GradientCost:
    """The configured orientation, or for ``"auto"`` the faster one (ties: fewer cells written)."""
    if p.gradient.operand != "auto":
        return gradient_cost(l, p, T, in_rate, p.gradient.operand)
    opts = [gradient_cost(l, p, T, in_rate, o) for o in ("error", "activation")]
    return min(opts, key=lambda g: (g.time_s, g.cells_written))
