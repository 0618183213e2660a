"""Batch-norm statistics for SDFA's fast path, as ``nn.BatchNorm2d`` forms them."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["bn_stats"]


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
    momentum = 0.0
    update = bn.training and bn.track_running_stats
    if update:
        bn.num_batches_tracked.add_(1)  # type: ignore[union-attr,operator]
        momentum = bn.momentum if bn.momentum is not None else 1.0 / float(bn.num_batches_tracked)
    if len(ys) == 1:
        running = (bn.running_mean, bn.running_var) if update else (None, None)
        mean, var = torch.batch_norm_update_stats(ys[0], running[0], running[1], momentum)
        return mean, torch.rsqrt(var.double() + bn.eps).to(dtype)
    n = 0
    mean64 = m2 = torch.zeros(ys[0].shape[1], dtype=torch.float64, device=ys[0].device)
    for yc in ys:
        m_c, v_c = torch.batch_norm_update_stats(yc, None, None, 0.0)  # biased variance, BN's own kernel
        n_c = yc.numel() // yc.shape[1]
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
