"""ADC facts: energy and area per resolution, and the resolution a crossbar column needs.

Energy and area by resolution (32 nm SAR ADC at about 1.2 GS/s): ISAAC's 8-bit ADC
(Shafiee et al., ISCA 2016, Table 6: 2 mW per ADC, 1200 um^2, after Kull et al., ISSCC 2013)
and its scaled versions for 4 to 10 bits after Saberi et al. (IEEE TCAS-I 2011), as tabulated
in the Accelergy/hwcomponents ISAAC ADC model. Outside 4..10 bits there is no cited point, so
the tree refuses such resolutions unless the energy and area are given explicitly.

Partial-sum precision (ISAAC, section IV): a column summing ``R`` rows of ``w``-bit cells
driven by ``v``-bit inputs produces values up to ``R (2^v - 1)(2^w - 1)``, i.e.
``A = log2(R) + v + w`` bits when ``v > 1`` and ``w > 1`` and ``A = log2(R) + v + w - 1``
otherwise; ISAAC's flipped weight encoding saves one more bit. :func:`required_bits` returns
that ``A`` (with the encoding) for 1-bit spike inputs.
"""

from __future__ import annotations

import math

__all__ = ["ADC_TABLE", "ADC_TABLE_BITS", "adc_energy_j", "adc_area_um2", "required_bits"]

#: bits -> (energy per conversion J, area um^2).
ADC_TABLE: dict[int, tuple[float, float]] = {
    4: (0.79e-12, 361.04),
    5: (0.99e-12, 476.91),
    6: (1.20e-12, 626.91),
    7: (1.42e-12, 845.18),
    8: (1.67e-12, 1200.0),
    9: (1.969078145e-12, 1827.911647),
    10: (2.379022742e-12, 3002.008032),
}
ADC_TABLE_BITS: tuple[int, int] = (min(ADC_TABLE), max(ADC_TABLE))


def adc_energy_j(bits: int) -> float:
    """Energy of one conversion at ``bits`` of resolution (J); ``bits`` must be in the table."""
    return ADC_TABLE[bits][0]


def adc_area_um2(bits: int) -> float:
    """Area of one ADC at ``bits`` of resolution (um^2); ``bits`` must be in the table."""
    return ADC_TABLE[bits][1]


def required_bits(rows: int, cell_bits: int, input_bits: int = 1, flipped_encoding: bool = True) -> int:
    """Bits a column's partial sum needs (ISAAC's ``A``; see the module docstring).

    ``rows=128, cell_bits=2, input_bits=1`` gives 8 (ISAAC's 8-bit ADC);
    ``rows=128, cell_bits=4`` gives 10.
    """
    a = math.ceil(math.log2(rows)) + input_bits + cell_bits
    if input_bits == 1 or cell_bits == 1:
        a -= 1
    if flipped_encoding:
        a -= 1
    return max(1, a)
