"""RRAM device parameters and the device model: the one source of truth for the device.

Both the device-aware training (:mod:`pipesdfa.analog`) and the hardware cost simulator read
device facts from here (conductance range, number of levels, pulse width and voltages), so the
accuracy we report for a configuration and its cost describe the same device.

Units are in the field names: ``_ohm``, ``_s`` (seconds), ``_v`` (volts), ``_j`` (joules).
Conductances are in siemens. Noise amplitudes are dimensionless (fractions, see each field).

Device model (the NeuroSim exponential model; P.-Y. Chen, X. Peng, S. Yu, "NeuroSim: A
circuit-level macro model for benchmarking neuro-inspired architectures in online learning",
IEEE TCAD 37(12), 2018; the same model drives DNN+NeuroSim V2, X. Peng et al., IEEE TCAD 2020):

* A device has ``P = levels - 1`` identical pulses between its smallest and largest
  conductance; the normalised pulse position is ``x = p / P`` in ``[0, 1]`` and the
  normalised conductance is ``u = (G - G_min) / (G_max - G_min)`` in ``[0, 1]``.
* Potentiation (LTP, weight increase), with nonlinearity ``nu_p = P / A_p``::

      u = f(x; nu_p),   f(x; nu) = (1 - exp(-nu x)) / (1 - exp(-nu)),   f(x; 0) = x

  which is NeuroSim's ``G = B (1 - exp(-p / A)) + G_min`` with ``B = dG / (1 - exp(-P / A))``.
* Depression (LTD, weight decrease), with its own ``nu_d``::

      u = 1 - f(1 - x; nu_d)

  i.e. NeuroSim's ``G = -B (1 - exp((p - P) / A)) + G_max``. Both curves saturate: the first
  pulses from ``G_min`` (LTP) or from ``G_max`` (LTD) give the largest steps. ``nu_p != nu_d``
  makes the update asymmetric.
* A write of ``n`` pulses (``n > 0`` LTP, ``n < 0`` LTD) moves the position along the curve
  of its own direction: ``x' = clip(f^-1(u) + n / P, 0, 1)``, then adds cycle-to-cycle noise
  that grows with the pulse count (NeuroSim's ``sigmaCtoC * sqrt(|numPulse|)``)::

      u' = clip(u(x') + c2c_sigma * sqrt(|n|) * xi, 0, 1),   xi ~ N(0, 1)

* Device-to-device variation: each device draws its own range
  ``G_max_i = G_max (1 + d2d_sigma xi)``, ``G_min_i = G_min (1 + d2d_sigma xi')`` and its own
  nonlinearities ``nu_i = max(0, nu + d2d_nl_sigma xi'')`` (NeuroSim varies the nonlinearity
  per device; we also vary the range, after its ``conductanceRangeVar`` option).
* Read noise (NeuroSim ``sigmaReadNoise``): ``I = V G (1 + read_noise_sigma xi)`` per read.
* Stuck-at faults: a fraction ``stuck_on_fraction`` of the devices is stuck at ``G_max_i``
  (SA1, stuck in the low-resistance state), ``stuck_off_fraction`` at ``G_min_i`` (SA0);
  writes do not change them.

The pure functions below implement these equations on torch tensors (broadcasting), so the
analog layers and the tests share them.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import torch

from pipesdfa.util.errors import UserError

__all__ = [
    "DeviceParams",
    "DEVICE_PRESETS",
    "get_device_preset",
    "neurosim_nu",
    "saturating_curve",
    "inverse_saturating_curve",
    "ltp_curve",
    "ltd_curve",
    "ltp_position",
    "ltd_position",
    "apply_pulses",
    "quantise_to_levels",
    "write_noise_sigma",
]

# Below this nonlinearity the curves are evaluated as straight lines (relative error of the
# exponential form is then below ~1e-6, and the closed form would lose precision).
_NU_LINEAR = 1e-6


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


# ----------------------------------------------------------------------------- pure curves

def _t(x: Any) -> torch.Tensor:
    return x if isinstance(x, torch.Tensor) else torch.as_tensor(x, dtype=torch.float64)


def _pair(x: Any, nu: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """``x`` and ``nu`` as tensors of one dtype/device (``x`` decides when it is a tensor)."""
    x = _t(x)
    return x, torch.as_tensor(nu, dtype=x.dtype, device=x.device)


def saturating_curve(x: Any, nu: Any) -> torch.Tensor:
    """``f(x; nu) = (1 - exp(-nu x)) / (1 - exp(-nu))``, ``f(x; 0) = x`` (``x`` in [0, 1])."""
    x, nu = _pair(x, nu)
    safe = torch.clamp(nu, min=_NU_LINEAR)
    curved = torch.expm1(-safe * x) / torch.expm1(-safe)
    linear = nu < _NU_LINEAR
    if not bool(linear.any()):
        return curved
    return torch.where(linear, x.expand_as(curved), curved)


def inverse_saturating_curve(y: Any, nu: Any) -> torch.Tensor:
    """``f^-1(y; nu) = -ln(1 - y (1 - exp(-nu))) / nu``, ``f^-1(y; 0) = y`` (``y`` in [0, 1])."""
    y, nu = _pair(y, nu)
    safe = torch.clamp(nu, min=_NU_LINEAR)
    curved = -torch.log1p(y * torch.expm1(-safe)) / safe
    linear = nu < _NU_LINEAR
    if not bool(linear.any()):
        return curved
    return torch.where(linear, y.expand_as(curved), curved)


def ltp_curve(x: Any, nu_ltp: Any) -> torch.Tensor:
    """Normalised conductance on the potentiation curve at position ``x``: ``u = f(x; nu_p)``."""
    return saturating_curve(x, nu_ltp)


def ltd_curve(x: Any, nu_ltd: Any) -> torch.Tensor:
    """Normalised conductance on the depression curve at position ``x``: ``u = 1 - f(1 - x; nu_d)``."""
    return 1.0 - saturating_curve(1.0 - _t(x), nu_ltd)


def ltp_position(u: Any, nu_ltp: Any) -> torch.Tensor:
    """Position ``x`` on the potentiation curve with normalised conductance ``u``."""
    return inverse_saturating_curve(torch.clamp(_t(u), 0.0, 1.0), nu_ltp)


def ltd_position(u: Any, nu_ltd: Any) -> torch.Tensor:
    """Position ``x`` on the depression curve with normalised conductance ``u``."""
    return 1.0 - inverse_saturating_curve(torch.clamp(1.0 - _t(u), 0.0, 1.0), nu_ltd)


def write_noise_sigma(pulses: Any, c2c_sigma: float) -> torch.Tensor:
    """Std of the cycle-to-cycle write noise of a write of ``pulses`` pulses, in units of
    ``G_max - G_min``: ``c2c_sigma * sqrt(|n|)`` (0 for ``n = 0``)."""
    return c2c_sigma * torch.sqrt(torch.abs(_t(pulses)))


def apply_pulses(
    u: torch.Tensor,
    pulses: torch.Tensor,
    levels: int,
    nu_ltp: Any,
    nu_ltd: Any,
    c2c_sigma: float = 0.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Normalised conductance after a write of ``pulses`` (signed integer counts) per device.

    ``n > 0``: ``x = f^-1(u; nu_p) + n / P``, ``u' = f(min(x, 1); nu_p)``;
    ``n < 0``: ``x = 1 - f^-1(1 - u; nu_d) + n / P``, ``u' = 1 - f(1 - max(x, 0); nu_d)``;
    then ``u' += c2c_sigma sqrt(|n|) xi`` and ``u'`` is clipped to [0, 1]. Devices with
    ``n = 0`` are unchanged. ``P = levels - 1``.
    """
    p_max = float(levels - 1)
    pulses = pulses.to(u.dtype)
    step = pulses / p_max
    up = ltp_curve(torch.clamp(ltp_position(u, nu_ltp) + step, 0.0, 1.0), nu_ltp)
    down = ltd_curve(torch.clamp(ltd_position(u, nu_ltd) + step, 0.0, 1.0), nu_ltd)
    new = torch.where(pulses > 0, up, torch.where(pulses < 0, down, u))
    if c2c_sigma > 0:
        noise = torch.randn(u.shape, generator=generator, dtype=u.dtype, device=u.device)
        new = new + write_noise_sigma(pulses, c2c_sigma) * noise
    return torch.clamp(new, 0.0, 1.0)


def quantise_to_levels(u_target: torch.Tensor, levels: int, nu_ltp: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Program a target normalised conductance from ``G_min`` with LTP pulses (write-verify).

    Returns ``(u, n)``: the level whose pulse count is nearest the target's position on the
    potentiation curve, ``n = round(P f^-1(u_target; nu_p))``, and ``u = f(n / P; nu_p)``.
    """
    p_max = levels - 1
    n = torch.round(ltp_position(u_target, nu_ltp) * p_max)
    return ltp_curve(n / p_max, nu_ltp), n
