"""Analog Linear and Conv2d layers: forward reads an RRAM crossbar, updates are pulse counts.

The layers subclass ``nn.Linear`` / ``nn.Conv2d`` (no bias) so models, learning rules and the
optimiser treat them as the digital ops they replace. Their ``weight`` parameter always holds
the weights the crossbar currently stores (decoded from the conductances); it is what autograd
differentiates and what the optimiser steps. The optimiser's step is then taken back by
:meth:`AnalogMixin.commit`: ``dW = weight - W_stored`` is sent to the crossbar as pulse counts
through the device model, and ``weight`` is reset to what the devices actually hold.

Forward: ``y = op(x, W)`` where the value is the crossbar read (read noise, ADC per tile) and
the gradient is that of the ideal op with the stored weights (straight-through estimator):
``y = op(x, W) + stopgrad(read(x) - op(x, W))``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from pipesdfa.analog.config import AnalogConfig
from pipesdfa.analog.crossbar import Crossbar, tiled_read
from pipesdfa.hw.config.device import DeviceParams

__all__ = ["AnalogMixin", "AnalogLinear", "AnalogConv2d", "w_max_for"]


def w_max_for(weight: torch.Tensor, config: AnalogConfig) -> float:
    """Weight range of a layer: ``w_max = w_max_factor * max|W_init|`` (> 0)."""
    peak = float(weight.detach().abs().max().item()) if weight.numel() else 0.0
    return config.w_max_factor * (peak if peak > 0 else 1.0)


class AnalogMixin:
    """Shared crossbar plumbing of the analog layers."""

    crossbar: Crossbar
    weight: nn.Parameter

    def _init_crossbar(self, source_weight: torch.Tensor, device: DeviceParams, config: AnalogConfig, seed: int) -> None:
        n_out = source_weight.shape[0]
        n_in = source_weight[0].numel()
        self.crossbar = Crossbar(n_out, n_in, device, config, w_max_for(source_weight, config), seed=seed)
        self.crossbar.program(source_weight.detach().reshape(n_out, n_in))
        self._sync()

    def _sync(self) -> None:
        with torch.no_grad():
            self.weight.copy_(self.crossbar.weights().reshape(self.weight.shape).to(self.weight.dtype))

    @property
    def is_ideal_read(self) -> bool:
        """True when a read equals the ideal op exactly (no ADC, no read noise)."""
        return self.crossbar.config.adc_bits == 0 and self.crossbar.device.read_noise_sigma == 0

    @torch.no_grad()
    def commit(self) -> torch.Tensor:
        """Turn the optimiser's change of ``weight`` into pulses; returns the pulse counts."""
        stored = self.crossbar.weights().reshape(self.weight.shape)
        n = self.crossbar.update(self.weight.detach().float() - stored)
        self._sync()
        return n


class AnalogLinear(AnalogMixin, nn.Linear):
    """``nn.Linear`` (no bias) whose weights live on a simulated crossbar."""

    def __init__(self, source: nn.Linear, device: DeviceParams, config: AnalogConfig, seed: int = 0) -> None:
        if source.bias is not None:
            raise ValueError("analog layers map weights only; the source layer must have no bias")
        nn.Linear.__init__(self, source.in_features, source.out_features, bias=False)
        self._init_crossbar(source.weight, device, config, seed)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ideal = F.linear(x, self.weight)
        if self.is_ideal_read:
            return ideal
        with torch.no_grad():
            read = self.crossbar.mvm(x.detach())
        return ideal + (read - ideal).detach()


class AnalogConv2d(AnalogMixin, nn.Conv2d):
    """``nn.Conv2d`` (no bias, groups=1) whose ``C_out x (C_in k k)`` weights live on a crossbar.

    A crossbar tile holds ``floor(tile_rows / (k k))`` input channels (at least one), so a
    tile's partial sum is one ADC conversion; inputs may be ``[N, C, H, W]`` or ``[T, B, C, H, W]``.
    """

    def __init__(self, source: nn.Conv2d, device: DeviceParams, config: AnalogConfig, seed: int = 0) -> None:
        if source.bias is not None or source.groups != 1:
            raise ValueError("analog conv layers need bias=False and groups=1")
        nn.Conv2d.__init__(self, source.in_channels, source.out_channels, source.kernel_size,
                           stride=source.stride, padding=source.padding, dilation=source.dilation,
                           bias=False, padding_mode=source.padding_mode)
        self._init_crossbar(source.weight, device, config, seed)

    def _conv(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(x, w, None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lead = x.shape[:-3]
        x4 = x.reshape(-1, *x.shape[-3:]) if x.dim() != 4 else x
        ideal = self._conv(x4, self.weight)
        if not self.is_ideal_read:
            with torch.no_grad():
                read = self._read(x4.detach())
            ideal = ideal + (read - ideal).detach()
        return ideal.reshape(*lead, *ideal.shape[-3:]) if x.dim() != 4 else ideal

    def _read(self, x: torch.Tensor) -> torch.Tensor:
        w, g_sq = self.crossbar.read_tensors(x.dtype)
        w = w.reshape(self.weight.shape)
        g_sq = None if g_sq is None else g_sq.reshape(self.weight.shape)
        kk = self.kernel_size[0] * self.kernel_size[1]
        per_tile = max(1, self.crossbar.config.tile_rows // kk)
        chunks = ((x[:, a:a + per_tile], w[:, a:a + per_tile], None if g_sq is None else g_sq[:, a:a + per_tile])
                  for a in range(0, self.in_channels, per_tile))
        return tiled_read(chunks, self._conv, self.crossbar)
