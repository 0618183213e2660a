"""Batch-norm statistics for SDFA's fast path, as ``nn.BatchNorm2d`` forms them."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["bn_stats", "chunk_moments", "start_stats", "combine_moments"]


def bn_stats(bn: nn.BatchNorm2d, ys: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """``(mean, 1/sigma)`` that ``bn`` normalises the images ``cat(ys)`` with, updating its
    running statistics as the module's forward does (batch statistics in training mode).

    One chunk: ``torch.batch_norm_update_stats``, the kernel ``F.batch_norm`` uses (running
    statistics bit-equal to the module's). Several chunks: each chunk's mean and biased
    variance (the same kernel, no running statistics), combined in float64 with Chan et al.'s
    pairwise update ``M2 = M2_a + M2_b + delta^2 n_a n_b / n`` and the module's running-statistics
    rule (``(1 - m) r + m stat``, unbiased variance), equal to the module's up to rounding.
    ``1/sigma = 1/sqrt(var + eps)`` in double as the CPU kernel does.
    """
    dtype = ys[0].dtype
    if not (bn.training or bn.running_mean is None):
        invstd = torch.rsqrt(bn.running_var.double() + bn.eps).to(dtype)  # type: ignore[union-attr]
        return bn.running_mean, invstd  # type: ignore[return-value]
    momentum, update = start_stats(bn)
    if len(ys) == 1:
        running = (bn.running_mean, bn.running_var) if update else (None, None)
        mean, var = torch.batch_norm_update_stats(ys[0], running[0], running[1], momentum)
        return mean, torch.rsqrt(var.double() + bn.eps).to(dtype)
    return combine_moments(bn, [chunk_moments(yc) for yc in ys], momentum, update, dtype)


def chunk_moments(yc: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, int]:
    """``(mean, biased variance, count)`` per channel of one chunk of images (BN's own kernel)."""
    m_c, v_c = torch.batch_norm_update_stats(yc, None, None, 0.0)
    return m_c, v_c, yc.numel() // yc.shape[1]


def start_stats(bn: nn.BatchNorm2d) -> tuple[float, bool]:
    """``(momentum, update)`` for one forward of ``bn`` in training mode, counting the batch."""
    update = bool(bn.training and bn.track_running_stats)
    momentum = 0.0
    if update:
        bn.num_batches_tracked.add_(1)  # type: ignore[union-attr,operator]
        momentum = bn.momentum if bn.momentum is not None else 1.0 / float(bn.num_batches_tracked)
    return momentum, update


def combine_moments(bn: nn.BatchNorm2d, moments: list[tuple[torch.Tensor, torch.Tensor, int]], momentum: float,
                    update: bool, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """``(mean, 1/sigma)`` of all chunks from their :func:`chunk_moments` (Chan et al.'s pairwise
    update in float64), updating ``bn``'s running statistics when ``update``."""
    n = 0
    mean64 = m2 = torch.zeros(moments[0][0].shape[0], dtype=torch.float64, device=moments[0][0].device)
    for m_c, v_c, n_c in moments:
        delta = m_c.double() - mean64
        n_new = n + n_c
        mean64 = mean64 + delta * (n_c / n_new)
        m2 = m2 + v_c.double() * n_c + delta * delta * (n * n_c / n_new)
        n = n_new
    var64 = m2 / n
    if update:
        rm, rv = bn.running_mean, bn.running_var
        rm.copy_((1 - momentum) * rm.double() + momentum * mean64)  # type: ignore[union-attr]
        rv.copy_((1 - momentum) * rv.double() + momentum * var64 * (n / max(n - 1, 1)))  # type: ignore[union-attr]
    return mean64.to(dtype), torch.rsqrt(var64 + bn.eps).to(dtype)
