"""A simulated RRAM crossbar holding one signed weight matrix in differential pairs.

State: for every weight ``W[j, i]`` (output ``j``, input ``i``) two devices ``G+`` and ``G-``,
kept as normalised conductances ``u = (G - G_min_d) / (G_max_d - G_min_d)`` of each device
``d`` (its own range under device-to-device variation). The weight the circuit computes with is

    ``W = w_max (G+ - G-) / (G_max - G_min)``

with the nominal range ``G_max - G_min`` of :class:`~pipesdfa.hw.config.device.DeviceParams` (the
periphery does not know each device's own range).

Reads (:meth:`Crossbar.mvm`): input ``x`` drives the rows as voltages ``V = x V_read``; column
``j`` collects ``I_j = sum_i V_i (G+_ji - G-_ji)`` (Ohm + Kirchhoff), with per-device read noise
``V G (1 + sigma xi)``; the column output is scaled back to weight units,
``y_j = I_j w_max / (V_read (G_max - G_min))``, and optionally ADC-quantised per tile.

Writes (:meth:`Crossbar.update`): a desired update ``dW`` becomes a signed pulse count per
weight, ``n = Q(dW / dw)`` with the nominal weight step per pulse ``dw``; the pulses go
through the device model (:func:`~pipesdfa.analog.physics.apply_pulses`), never as float adds, and
the crossbar counts them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterable

import torch

from pipesdfa.analog.config import AnalogConfig
from pipesdfa.analog.physics import apply_pulses, ltp_curve, quantise_to_levels
from pipesdfa.hw.config.device import DeviceParams

__all__ = ["Crossbar", "PulseStats", "adc_quantise", "round_pulses", "tiled_read"]


@dataclass
class PulseStats:
    """Pulse counters of one crossbar (both devices of every pair).

    ``ltp``/``ltd``: potentiation/depression pulses applied; ``writes``: device writes (a device
    receiving at least one pulse in an update); ``updates``: calls to :meth:`Crossbar.update`;
    ``clipped``: pulse counts limited to ``P`` in one update.
    """

    ltp: int = 0
    ltd: int = 0
    writes: int = 0
    updates: int = 0
    clipped: int = 0
    programming_pulses: int = 0

    @property
    def total(self) -> int:
        return self.ltp + self.ltd

    def to_dict(self) -> dict[str, int]:
        return {"ltp": self.ltp, "ltd": self.ltd, "total": self.total, "writes": self.writes,
                "updates": self.updates, "clipped": self.clipped, "programming_pulses": self.programming_pulses}


def adc_quantise(y: torch.Tensor, bits: int, full_scale: float) -> torch.Tensor:
    """Uniform mid-tread ADC over ``[-full_scale, full_scale)`` with ``2^bits`` codes.

    ``q = clip(round(y / step), -2^(b-1), 2^(b-1) - 1) * step`` with
    ``step = 2 full_scale / 2^bits`` (zero is a code, so an idle column reads exactly 0);
    ``bits = 0`` returns ``y`` unchanged.
    """
    if bits <= 0:
        return y
    step = 2.0 * full_scale / (2 ** bits)
    code = torch.clamp(torch.round(y / step), -(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
    return code * step


def round_pulses(v: torch.Tensor, rounding: str, generator: torch.Generator | None = None) -> torch.Tensor:
    """Pulse counts from real-valued ``v = dW / dw``: ``"stochastic"`` ``floor(v + U)``,
    otherwise round half away from zero (NeuroSim's truncation at 0.5)."""
    if rounding == "stochastic":
        noise = torch.rand(v.shape, generator=generator, dtype=v.dtype, device=v.device)
        return torch.floor(v + noise)
    return torch.sign(v) * torch.floor(torch.abs(v) + 0.5)


def tiled_read(
    chunks: Iterable[tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]],
    op: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    xbar: "Crossbar",
    read_noise: bool = True,
) -> torch.Tensor:
    """Sum of the ADC-quantised outputs of crossbar tiles ``(x_t, W_t, G2_t)``.

    Each tile reads ``y_t = op(x_t, W_t)`` plus read noise with the exact variance of the
    independent per-device noise ``V G (1 + sigma xi)``:
    ``Var(y_t) = sigma^2 op(x_t^2, G2_t)`` with ``G2 = (s G+)^2 + (s G-)^2``; then
    ``y_t`` is ADC-quantised (``config.adc_bits``, ``config.adc_range``) and the tiles are
    added digitally.
    """
    sigma = xbar.device.read_noise_sigma if read_noise else 0.0
    out = None
    for xs, ws, g_sq in chunks:
        y = op(xs, ws)
        if sigma > 0 and g_sq is not None:
            std = torch.sqrt(torch.clamp(op(xs * xs, g_sq), min=0.0))
            y = y + sigma * std * torch.randn(y.shape, generator=xbar.gen, dtype=y.dtype)
        y = adc_quantise(y, xbar.config.adc_bits, xbar.config.adc_range)
        out = y if out is None else out + y
    if out is None:
        raise ValueError("tiled_read needs at least one tile")
    return out


@dataclass
class _Devices:
    """Per-device constants drawn once (device-to-device variation, stuck-at faults)."""

    g_min: torch.Tensor       # siemens
    g_max: torch.Tensor       # siemens
    nu_ltp: torch.Tensor
    nu_ltd: torch.Tensor
    stuck: torch.Tensor       # 0 free, +1 stuck at G_max, -1 stuck at G_min


def _draw_devices(shape: tuple[int, ...], dev: DeviceParams, gen: torch.Generator) -> _Devices:
    def normal() -> torch.Tensor:
        return torch.randn(shape, generator=gen, dtype=torch.float32)

    g_min = torch.full(shape, dev.g_min_s, dtype=torch.float32)
    g_max = torch.full(shape, dev.g_max_s, dtype=torch.float32)
    if dev.d2d_sigma > 0:
        g_min = torch.clamp(g_min * (1 + dev.d2d_sigma * normal()), min=0.0)
        g_max = g_max * (1 + dev.d2d_sigma * normal())
        # A device keeps a positive window: never below 1% of the nominal window.
        g_max = torch.maximum(g_max, g_min + 0.01 * (dev.g_max_s - dev.g_min_s))
    nu_ltp = torch.full(shape, float(dev.nu_ltp))
    nu_ltd = torch.full(shape, float(dev.nu_ltd))
    if dev.d2d_nl_sigma > 0:
        nu_ltp = torch.clamp(nu_ltp + dev.d2d_nl_sigma * normal(), min=0.0)
        nu_ltd = torch.clamp(nu_ltd + dev.d2d_nl_sigma * normal(), min=0.0)
    stuck = torch.zeros(shape, dtype=torch.int8)
    if dev.stuck_on_fraction > 0 or dev.stuck_off_fraction > 0:
        r = torch.rand(shape, generator=gen)
        stuck[r < dev.stuck_on_fraction] = 1
        stuck[(r >= dev.stuck_on_fraction) & (r < dev.stuck_on_fraction + dev.stuck_off_fraction)] = -1
    return _Devices(g_min, g_max, nu_ltp, nu_ltd, stuck)


@dataclass
class Crossbar:
    """Differential-pair crossbar for a weight matrix of shape ``[n_out, n_in]``."""

    n_out: int
    n_in: int
    device: DeviceParams
    config: AnalogConfig
    w_max: float
    seed: int = 0
    stats: PulseStats = field(default_factory=PulseStats)

    def __post_init__(self) -> None:
        if not self.w_max > 0:
            raise ValueError(f"w_max must be > 0, got {self.w_max}")
        self.gen = torch.Generator().manual_seed(int(self.seed))
        shape = (self.n_out, self.n_in)
        self.pos = _draw_devices(shape, self.device, self.gen)
        self.neg = _draw_devices(shape, self.device, self.gen)
        self.u_pos = torch.zeros(shape)
        self.u_neg = torch.zeros(shape)
        self.residual = torch.zeros(shape)  # digital accumulator for rounding="accumulate"
        self._apply_stuck()

    # ------------------------------------------------------------------ geometry and scales
    @property
    def p_max(self) -> int:
        return self.device.levels - 1

    @property
    def pulse_step(self) -> float:
        """Nominal weight change of one pulse (one pair of pulses for ``"dual"``)."""
        pairs = 2.0 if self.config.update_scheme == "dual" else 1.0
        return pairs * self.w_max / self.p_max

    @property
    def g_range_nominal(self) -> float:
        return self.device.g_max_s - self.device.g_min_s

    def conductances(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(G+, G-)`` in siemens."""
        gp = self.pos.g_min + (self.pos.g_max - self.pos.g_min) * self.u_pos
        gn = self.neg.g_min + (self.neg.g_max - self.neg.g_min) * self.u_neg
        return gp, gn

    def weights(self) -> torch.Tensor:
        """``W = w_max (G+ - G-) / (G_max - G_min)`` (nominal range), shape ``[n_out, n_in]``."""
        gp, gn = self.conductances()
        return (gp - gn) * (self.w_max / self.g_range_nominal)

    def _apply_stuck(self) -> None:
        for devs, u in ((self.pos, self.u_pos), (self.neg, self.u_neg)):
            u[devs.stuck == 1] = 1.0
            u[devs.stuck == -1] = 0.0

    # ------------------------------------------------------------------ programming
    def program(self, w_target: torch.Tensor) -> None:
        """Program target weights (write-verify from ``G_min`` with LTP pulses).

        ``u+ = 1/2 + w / (2 w_max)``, ``u- = 1/2 - w / (2 w_max)`` for ``"dual"``;
        ``u+ = 1/2 + w / w_max``, ``u- = 1/2`` for ``"single"``; each target is quantised to
        the device's levels (:func:`~pipesdfa.analog.physics.quantise_to_levels`), with write noise
        when ``config.program_noise``.
        """
        w = torch.clamp(w_target.detach().float().reshape(self.n_out, self.n_in) / self.w_max, -1.0, 1.0)
        if self.config.update_scheme == "dual":
            targets = (0.5 + 0.5 * w, 0.5 - 0.5 * w)
        else:
            targets = (torch.clamp(0.5 + w, 0.0, 1.0), torch.full_like(w, 0.5))
        for devs, target, name in ((self.pos, targets[0], "u_pos"), (self.neg, targets[1], "u_neg")):
            u, n = quantise_to_levels(target, self.device.levels, devs.nu_ltp)
            if self.config.program_noise and self.device.c2c_sigma > 0:
                noise = torch.randn(u.shape, generator=self.gen)
                u = torch.clamp(u + self.device.c2c_sigma * torch.sqrt(n) * noise, 0.0, 1.0)
            setattr(self, name, u.float())
            self.stats.programming_pulses += int(n.sum().item())
        self.residual.zero_()
        self._apply_stuck()

    # ------------------------------------------------------------------ reads
    def mvm(self, x: torch.Tensor, read_noise: bool = True) -> torch.Tensor:
        """Column outputs ``y = x W^T`` read from the devices, ``x``: ``[..., n_in]`` -> ``[..., n_out]``.

        Tiles of ``config.tile_rows`` rows are read separately and each tile's output is
        ADC-quantised (``config.adc_bits``) before the digital sum (:func:`tiled_read`).
        """
        w, g_sq = self.read_tensors(x.dtype, read_noise)
        rows = self.config.tile_rows
        chunks = ((x[..., a:b], w[:, a:b], None if g_sq is None else g_sq[:, a:b])
                  for a, b in ((s, min(s + rows, self.n_in)) for s in range(0, self.n_in, rows)))
        return tiled_read(chunks, lambda xs, ws: xs @ ws.T, self, read_noise)

    def read_tensors(self, dtype: torch.dtype, read_noise: bool = True) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(W, (s G+)^2 + (s G-)^2)`` in weight units for a read; the second is ``None``
        without read noise. ``s = w_max / (G_max - G_min)``."""
        w = self.weights().to(dtype)
        if not (read_noise and self.device.read_noise_sigma > 0):
            return w, None
        gp, gn = self.conductances()
        s = self.w_max / self.g_range_nominal
        return w, ((gp * s) ** 2 + (gn * s) ** 2).to(dtype)

    # ------------------------------------------------------------------ writes
    def pulses_for(self, delta_w: torch.Tensor) -> torch.Tensor:
        """Signed pulse count per weight for a desired update ``dW`` (``|n| <= P``)."""
        v = delta_w.detach().float().reshape(self.n_out, self.n_in) / self.pulse_step
        if self.config.rounding == "accumulate":
            v = v + self.residual
            n = round_pulses(v, "nearest")
            self.residual = v - n
        else:
            n = round_pulses(v, self.config.rounding, self.gen)
        clipped = torch.abs(n) > self.p_max
        self.stats.clipped += int(clipped.sum().item())
        return torch.clamp(n, -self.p_max, self.p_max)

    def apply(self, n: torch.Tensor) -> None:
        """Send ``n`` pulses per weight: ``"dual"``: ``+n`` on ``G+`` and ``-n`` on ``G-``;
        ``"single"``: ``+n`` on ``G+`` only. Stuck devices ignore their pulses."""
        n = n.reshape(self.n_out, self.n_in).float()
        writes = [(self.pos, "u_pos", n)]
        if self.config.update_scheme == "dual":
            writes.append((self.neg, "u_neg", -n))
        for devs, name, pulses in writes:
            pulses = torch.where(devs.stuck != 0, torch.zeros_like(pulses), pulses)
            u = getattr(self, name)
            new = apply_pulses(u, pulses, self.device.levels, devs.nu_ltp, devs.nu_ltd,
                               self.device.c2c_sigma, generator=self.gen)
            setattr(self, name, new)
            self.stats.ltp += int(torch.clamp(pulses, min=0).sum().item())
            self.stats.ltd += int(torch.clamp(-pulses, min=0).sum().item())
            self.stats.writes += int((pulses != 0).sum().item())
        self.stats.updates += 1

    def update(self, delta_w: torch.Tensor) -> torch.Tensor:
        """Apply a desired update ``dW`` as pulse counts; returns the counts."""
        n = self.pulses_for(delta_w)
        self.apply(n)
        return n

    def outer_product_update(self, x: torch.Tensor, delta: torch.Tensor, lr: float) -> torch.Tensor:
        """Hardware-style SGD update ``dW = -lr delta^T x`` (rows driven by ``x [B, n_in]``,
        columns by ``delta [B, n_out]``), applied as pulses in one parallel write."""
        return self.update(-lr * delta.detach().float().T @ x.detach().float())

    # ------------------------------------------------------------------ checkpoints
    def state(self) -> dict[str, Any]:
        """Everything that changes during training (conductances, accumulator, RNG, counters)."""
        return {"u_pos": self.u_pos.clone(), "u_neg": self.u_neg.clone(), "residual": self.residual.clone(),
                "rng": self.gen.get_state(), "stats": asdict(self.stats)}

    def load_state(self, state: dict[str, Any]) -> None:
        for key in ("u_pos", "u_neg", "residual"):
            value = state[key]
            if tuple(value.shape) != (self.n_out, self.n_in):
                raise ValueError(f"crossbar state {key} has shape {tuple(value.shape)}, expected {(self.n_out, self.n_in)}")
            setattr(self, key, value.clone().float())
        self.gen.set_state(state["rng"])
        self.stats = PulseStats(**state["stats"])


def ideal_curve_levels(device: DeviceParams) -> torch.Tensor:
    """The ``levels`` normalised conductances reachable by LTP pulses from ``G_min``."""
    x = torch.arange(device.levels, dtype=torch.float64) / (device.levels - 1)
    return ltp_curve(x, device.nu_ltp)
