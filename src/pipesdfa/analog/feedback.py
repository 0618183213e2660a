"""SDFA feedback matrix sampled from a simulated RRAM crossbar's device stochasticity.

PipeSDFA stores the fixed random feedback matrix ``B`` in its own 1T1R crossbar and takes its
values from the devices' intrinsic variation (Ren et al., ICCAD 2025, overview figure;
docs/paper.md section 4). We simulate that: every differential pair of a ``[rows, cols]`` crossbar
is programmed to the same target (weight 0, both devices to mid-range) with identical pulses;
what differs between entries is only what the devices add -- cycle-to-cycle programming noise
(``c2c_sigma sqrt(n)``), device-to-device range and nonlinearity variation, stuck-at faults.
The read-out ``G+ - G-`` is then standardised with one global gain (its sample mean and std),
which the periphery can apply as a scale on the projected error.

:func:`gaussianity` compares the measured distribution with the N(0, 1) ideal.
"""

from __future__ import annotations

import math

import torch

from pipesdfa.analog.config import AnalogConfig
from pipesdfa.analog.crossbar import Crossbar
from pipesdfa.util.errors import UserError
from pipesdfa.hw.config.device import DeviceParams, get_device_preset
from pipesdfa.learning.feedback import register_sampler

__all__ = ["rram_feedback", "rram_sampler", "refill_with_rram", "program_matrices", "gaussianity", "normal_cdf"]


def rram_feedback(rows: int, cols: int, device: DeviceParams | None = None, seed: int = 0) -> torch.Tensor:
    """A ``[rows, cols]`` feedback matrix read from a crossbar programmed to all-zero weights,
    standardised to zero mean and unit variance (one global offset and gain)."""
    device = device or get_device_preset("neurosim-default")
    xbar = Crossbar(rows, cols, device, AnalogConfig(update_scheme="dual", program_noise=True), w_max=1.0, seed=seed)
    xbar.program(torch.zeros(rows, cols))
    raw = xbar.weights().double()
    std = float(raw.std().item()) if raw.numel() > 1 else 0.0
    if not std > 0:
        raise UserError(f"device {device.name!r} has no stochasticity to sample a feedback matrix from "
                        "(c2c_sigma, d2d_sigma, d2d_nl_sigma and the stuck-at fractions are all 0)")
    return ((raw - raw.mean()) / std).float()


def rram_sampler(shape: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
    """SDFA feedback sampler (``--distribution rram``): :func:`rram_feedback` on the default
    device preset, seeded from ``generator``; ``shape`` is ``(rows, cols)``."""
    seed = int(torch.randint(0, 2 ** 31 - 1, (1,), generator=generator).item())
    rows, cols = shape
    return rram_feedback(rows, cols, seed=seed)


register_sampler("rram", rram_sampler)  # SDFA's distribution="rram" (learning/ imports no device model)


def refill_with_rram(feedback: torch.nn.Module, device: DeviceParams, seed: int) -> None:
    """Resample every feedback matrix buffer of ``feedback`` from crossbars of ``device``
    (used by ``--hardware rram --distribution rram``, so the feedback array is the same device)."""
    for i, (name, buf) in enumerate(list(feedback.named_buffers(recurse=False))):
        rows, cols = buf.shape
        new = rram_feedback(rows, cols, device, seed=seed * 7919 + i).to(buf.device, buf.dtype)
        setattr(feedback, name, new)


def program_matrices(matrices: list[torch.Tensor], device: DeviceParams, seed: int) -> list[torch.Tensor]:
    """Given feedback matrices (``aligned``) as a crossbar of ``device`` holds them: each one
    programmed (write-verify with programming noise, range ``w_max = max |B|``) and read back."""
    out = []
    for i, m in enumerate(matrices):
        rows, cols = m.shape
        w_max = float(m.abs().max()) or 1.0
        xbar = Crossbar(rows, cols, device, AnalogConfig(update_scheme="dual", program_noise=True), w_max=w_max,
                        seed=seed * 7919 + i)
        xbar.program(m)
        out.append(xbar.weights().to(m.device, m.dtype))
    return out


def normal_cdf(x: torch.Tensor) -> torch.Tensor:
    """Standard normal CDF ``Phi(x) = (1 + erf(x / sqrt 2)) / 2``."""
    return 0.5 * (1.0 + torch.erf(x / math.sqrt(2.0)))


def _kolmogorov_pvalue(d: float, n: int) -> float:
    """Asymptotic p-value of the one-sample KS statistic ``d`` for ``n`` samples
    (Stephens' correction, ``lambda = (sqrt n + 0.12 + 0.11 / sqrt n) d``,
    ``Q(lambda) = 2 sum_k (-1)^(k-1) exp(-2 k^2 lambda^2)``)."""
    lam = (math.sqrt(n) + 0.12 + 0.11 / math.sqrt(n)) * d
    if lam < 0.2:
        return 1.0
    total = sum((-1) ** (k - 1) * math.exp(-2.0 * k * k * lam * lam) for k in range(1, 101))
    return float(min(1.0, max(0.0, 2.0 * total)))


def gaussianity(samples: torch.Tensor) -> dict[str, float]:
    """Distribution statistics of ``samples`` against N(0, 1).

    Returns ``mean``, ``std``, ``skewness``, ``excess_kurtosis`` (both 0 for a Gaussian),
    ``ks_statistic`` (``sup |F_n - Phi|`` of the standardised samples), ``ks_pvalue`` and ``n``.
    """
    x = samples.detach().double().flatten()
    n = x.numel()
    if n < 2:
        raise ValueError("gaussianity needs at least 2 samples")
    mean, std = x.mean(), x.std()
    z = (x - mean) / std
    skew = float((z ** 3).mean().item())
    kurt = float((z ** 4).mean().item() - 3.0)
    zs, _ = torch.sort(z)
    cdf = normal_cdf(zs)
    i = torch.arange(1, n + 1, dtype=torch.float64)
    d = float(torch.maximum(i / n - cdf, cdf - (i - 1) / n).max().item())
    return {"n": n, "mean": float(mean.item()), "std": float(std.item()), "skewness": skew,
            "excess_kurtosis": kurt, "ks_statistic": d, "ks_pvalue": _kolmogorov_pvalue(d, n)}
