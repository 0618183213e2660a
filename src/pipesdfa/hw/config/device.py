"""RRAM device parameters and presets: the one source of truth for the device's facts.

Both the device-aware training (:mod:`pipesdfa.analog`) and the hardware cost simulator read
device facts from here (conductance range, number of levels, pulse width and voltages), so the
accuracy we report for a configuration and its cost describe the same device.

Units are in the field names: ``_ohm``, ``_s`` (seconds), ``_v`` (volts), ``_j`` (joules).
Conductances are in siemens. Noise amplitudes are dimensionless (fractions, see each field).

The device *model* (update curves, pulses, noise) on torch tensors lives in
:mod:`pipesdfa.analog.physics`; this module is pure data (no torch), so the hardware cost engine
imports it without torch.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from pipesdfa.util.errors import UserError

__all__ = [
    "DeviceParams",
    "DEVICE_PRESETS",
    "get_device_preset",
    "neurosim_nu",
]

@dataclass(frozen=True)
class DeviceParams:
    """Static description of one RRAM cell and its non-idealities.

    ``r_on_ohm``/``r_off_ohm``: low/high resistance state (``G_max = 1/R_on``,
    ``G_min = 1/R_off``); ``levels``: distinguishable conductance levels (>= 2), i.e.
    ``levels - 1`` identical pulses take the device from ``G_min`` to ``G_max``;
    ``write_pulse_s``: width of one programming pulse; ``read_voltage_v``: read voltage on
    the word line; ``source``: citation.

    Non-idealities (all dimensionless, module docstring for the equations):
    ``nu_ltp``/``nu_ltd``: nonlinearity ``P / A`` of the potentiation/depression curve
    (0 = linear; NeuroSim's nonlinearity labels convert with :func:`neurosim_nu`);
    ``c2c_sigma``: cycle-to-cycle write noise per ``sqrt(pulse)``, as a fraction of
    ``G_max - G_min``; ``d2d_sigma``: relative device-to-device spread of ``G_max`` and
    ``G_min``; ``d2d_nl_sigma``: device-to-device spread of ``nu``; ``read_noise_sigma``:
    relative read noise per read; ``stuck_on_fraction``/``stuck_off_fraction``: fractions of
    devices stuck at ``G_max``/``G_min``.
    """

    name: str = "neurosim-default"
    r_on_ohm: float = 240e3
    r_off_ohm: float = 24e6
    levels: int = 60
    write_pulse_s: float = 50e-9
    read_voltage_v: float = 0.5
    source: str = "DNN+NeuroSim V2.1 default RRAM (Peng et al., IEDM 2019; docs/paper.md section 5)"
    # Defaults of the DNN+NeuroSim V2.1 training wrapper (Training_pytorch/train.py):
    # nonlinearity labels LTP 1.75 / LTD 1.46, cycle-to-cycle variation 0.003, no d2d variation.
    nu_ltp: float = 1.4243
    nu_ltd: float = 1.1783
    c2c_sigma: float = 0.003
    d2d_sigma: float = 0.0
    d2d_nl_sigma: float = 0.0
    read_noise_sigma: float = 0.0
    stuck_on_fraction: float = 0.0
    stuck_off_fraction: float = 0.0

    def __post_init__(self) -> None:
        where = f"device {self.name!r}"
        if isinstance(self.levels, bool) or not isinstance(self.levels, int):
            raise UserError(f"{where}: levels must be an integer >= 2, got {self.levels!r}")
        if not self.levels >= 2:
            raise UserError(f"{where}: levels must be >= 2, got {self.levels}")
        if not self.r_on_ohm > 0:
            raise UserError(f"{where}: r_on_ohm must be > 0 (conductance 1/r_on_ohm cannot be negative), got {self.r_on_ohm}")
        if not self.r_off_ohm > self.r_on_ohm:
            raise UserError(f"{where}: r_off_ohm ({self.r_off_ohm}) must exceed r_on_ohm ({self.r_on_ohm})")
        if not self.write_pulse_s > 0:
            raise UserError(f"{where}: write_pulse_s must be > 0, got {self.write_pulse_s}")
        if not self.read_voltage_v > 0:
            raise UserError(f"{where}: read_voltage_v must be > 0, got {self.read_voltage_v}")
        for key in ("nu_ltp", "nu_ltd", "c2c_sigma", "d2d_sigma", "d2d_nl_sigma", "read_noise_sigma"):
            value = getattr(self, key)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise UserError(f"{where}: {key} must be a finite number >= 0, got {value!r}")
        for key in ("stuck_on_fraction", "stuck_off_fraction"):
            value = getattr(self, key)
            if not (isinstance(value, (int, float)) and 0 <= value <= 1):
                raise UserError(f"{where}: {key} must be in [0, 1], got {value!r}")
        if self.stuck_on_fraction + self.stuck_off_fraction > 1:
            raise UserError(f"{where}: stuck_on_fraction + stuck_off_fraction must be <= 1, "
                            f"got {self.stuck_on_fraction + self.stuck_off_fraction}")

    @property
    def g_max_s(self) -> float:
        """Largest conductance ``1 / R_on`` in siemens."""
        return 1.0 / self.r_on_ohm

    @property
    def g_min_s(self) -> float:
        """Smallest conductance ``1 / R_off`` in siemens."""
        return 1.0 / self.r_off_ohm

    @property
    def pulses_full_range(self) -> int:
        """``P = levels - 1``: identical pulses from ``G_min`` to ``G_max``."""
        return self.levels - 1

    def with_(self, **changes: Any) -> "DeviceParams":
        known = {f.name for f in fields(self)}
        for k in changes:
            if k not in known:
                raise UserError(f"unknown device parameter {k!r}; expected one of: {', '.join(sorted(known))}")
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def neurosim_nu(normalised_a: float) -> float:
    """Our nonlinearity ``nu = P / A`` from NeuroSim's normalised ``A / P``.

    NeuroSim quotes a device's nonlinearity as a label (e.g. 2.4 for Ag:a-Si LTP) and maps it
    to ``A / P`` with its published table (``Documents/Nonlinearity-NormA.htm`` in
    MLP+NeuroSim V3.0 / DNN+NeuroSim V2.1); ``nu`` is the reciprocal of that table entry.
    """
    if not normalised_a > 0:
        raise UserError(f"normalised A must be > 0, got {normalised_a}")
    return 1.0 / normalised_a


# Presets. Nonlinearity labels -> normalised A from the NeuroSim table cited in neurosim_nu;
# device numbers as tabulated for MLP+NeuroSim (Chen, Peng, Yu, IEEE TCAD 2018; Chen & Yu,
# IEEE Design & Test 2019), with the original device papers in `source`.
DEVICE_PRESETS: dict[str, DeviceParams] = {
    "neurosim-default": DeviceParams(),
    "taox-hfox": DeviceParams(
        name="taox-hfox",
        r_on_ohm=100e3, r_off_ohm=1e6, levels=128,
        nu_ltp=round(neurosim_nu(31.5668), 5),   # label 0.04
        nu_ltd=round(neurosim_nu(1.997332), 5),  # label -0.63
        c2c_sigma=0.037,
        source=("TaOx/HfOx RRAM (W. Wu et al., VLSI 2018) as tabulated for MLP+NeuroSim: "
                "G 1e-6..1e-5 S, 128 levels, NL 0.04/-0.63, C2C 3.7% (Chen & Yu, IEEE D&T 2019)"),
    ),
    "ag-a-si": DeviceParams(
        name="ag-a-si",
        r_on_ohm=26e6, r_off_ohm=325e6, levels=97,
        nu_ltp=round(neurosim_nu(0.499181), 5),  # label 2.4
        nu_ltd=round(neurosim_nu(0.200303), 5),  # label -4.88
        c2c_sigma=0.035,
        source=("Ag:a-Si memristor (S. H. Jo et al., Nano Letters 2010) as tabulated for "
                "MLP+NeuroSim: G 3.08e-9..3.85e-8 S, 97 LTP levels (100 LTD), NL 2.4/-4.88, "
                "C2C 3.5% (Chen, Peng, Yu, IEEE TCAD 2018)"),
    ),
    "alox-hfo2": DeviceParams(
        name="alox-hfo2",
        r_on_ohm=16.9e3, r_off_ohm=74.6e3, levels=40,
        nu_ltp=round(neurosim_nu(0.629249), 5),  # label 1.94
        nu_ltd=round(neurosim_nu(2.063266), 5),  # label -0.61
        c2c_sigma=0.05,
        source=("AlOx/HfO2 RRAM (J. Woo et al., IEEE EDL 2016) as tabulated for MLP+NeuroSim: "
                "G 1.34e-5..5.92e-5 S, 40 levels, NL 1.94/-0.61, C2C 5% (Chen & Yu, IEEE D&T 2019)"),
    ),
}


def get_device_preset(name: str) -> DeviceParams:
    try:
        return DEVICE_PRESETS[name]
    except KeyError:
        raise UserError(f"unknown device preset {name!r}; expected one of: {', '.join(DEVICE_PRESETS)}") from None
