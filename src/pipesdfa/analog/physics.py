"""RRAM device physics on torch tensors: update curves, pulse writes, write-verify, noise.

The device's facts (:class:`pipesdfa.hw.config.device.DeviceParams` and its presets) stay in the
torch-free hardware package; the equations that act on tensors live here.

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

from typing import Any

import torch

__all__ = [
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
