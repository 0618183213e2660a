"""Precision of a dense layer's matrix products: ``fp32`` or ``bf16`` operands.

``bf16`` (the CPU's bfloat16 dot products, AVX512-BF16/AMX where present; tensor cores on CUDA)
runs the three products of a dense layer ``Y = X W^T + b`` on bfloat16 operands, accumulated in
float32 inside the product::

    forward          Y  = bf16(X) bf16(W)^T + b     -> rounded to bfloat16, returned as float32
    input gradient   dX = bf16(G) bf16(W)           -> float32
    weight gradient  dW = bf16(G)^T bf16(X)         -> float32 (the master weights stay float32)

Spikes (0/1) and event counts up to 256 are exact in bfloat16, so ``bf16(X)`` loses nothing on
a spiking layer's input; ``W`` and ``G`` are rounded to 8 significant bits (relative error at most
``2^-9``), and so is each product's output (PyTorch's CPU products have no float32 output for
bfloat16 operands). The membrane potential, the neuron's recurrence, the optimiser state and
the master weights stay float32. ``fp32``: float32 throughout (the default).
"""

from __future__ import annotations

import torch

from pipesdfa.util.errors import UserError

__all__ = ["PRECISIONS", "DEFAULT_PRECISION", "check_precision", "bf16_linear"]

PRECISIONS = ("fp32", "bf16")
DEFAULT_PRECISION = "fp32"


def check_precision(precision: str, what: str = "precision") -> str:
    """``precision`` if it is one of :data:`PRECISIONS`, else a :class:`UserError` naming ``what``."""
    if precision not in PRECISIONS:
        raise UserError(f"{what} {precision!r} unknown; expected one of: {', '.join(PRECISIONS)}")
    return precision


class _Bf16Linear(torch.autograd.Function):
    """``X W^T + b`` on bfloat16 operands (module docstring); float32 in, float32 out."""

    @staticmethod
    def forward(ctx, x2d, weight, bias):  # type: ignore[override]
        x16, w16 = x2d.detach().bfloat16(), weight.detach().bfloat16()
        y = (x16 @ w16.t()).float()
        if bias is not None:
            y.add_(bias)
        ctx.save_for_backward(x16, w16)
        ctx.has_bias = bias is not None
        return y

    @staticmethod
    def backward(ctx, g):  # type: ignore[override]
        x16, w16 = ctx.saved_tensors
        g16 = g.bfloat16()
        gx = (g16 @ w16).float() if ctx.needs_input_grad[0] else None
        gw = (g16.t() @ x16).float() if ctx.needs_input_grad[1] else None
        gb = g.sum(0) if ctx.has_bias and ctx.needs_input_grad[2] else None
        return gx, gw, gb


def bf16_linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """``F.linear(x, weight, bias)`` for float32 ``x [..., n_in]`` with the products on bfloat16
    operands (differentiable; the gradients float32, see the module docstring)."""
    lead = x.shape[:-1]
    y = _Bf16Linear.apply(x.reshape(-1, x.shape[-1]), weight, bias)
    return y.reshape(*lead, weight.shape[0])
