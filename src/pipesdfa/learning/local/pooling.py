"""Max-pooling of binary spikes in SDFA's fast path: the routing mask and its transpose.

For a non-overlapping ``k x k`` max-pool, PyTorch's backward sends each output's gradient to
the first maximum of its window. With ``M[t]`` = 1 at that position (else 0), the injected
error's path back through the pool and the surrogate is ``pool^T(r) * g'[t] = up(r) * (M[t]
g'[t])`` with ``up`` the nearest upsampling: storing ``M g'`` instead of ``g'`` makes the
backward need neither spikes nor indices.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["pool_window", "pool_and_route", "upsample"]


def pool_window(pool: nn.Module) -> int | None:
    """Window size of a non-overlapping square max-pool (kernel = stride, no padding, dilation
    or ceil mode), else ``None`` (a pool the fast path does not know)."""
    if not isinstance(pool, nn.MaxPool2d):
        return None

    def one(v) -> int | None:
        if isinstance(v, (tuple, list)):
            return int(v[0]) if len(set(v)) == 1 else None
        return int(v)

    k = one(pool.kernel_size)
    stride = one(pool.stride) if pool.stride is not None else k
    if k is None or stride != k or one(pool.padding) != 0 or one(pool.dilation) != 1 or pool.ceil_mode:
        return None
    return k


def pool_and_route(pool: nn.Module | None, s: torch.Tensor, sg: torch.Tensor) -> torch.Tensor:
    """Max-pool spikes ``s [n, B, C, H, W]`` and multiply ``sg`` (same shape) in place by the
    routing mask ``M`` (1 at the index the max-pool picked in each window, else 0)."""
    if pool is None:
        return s
    k = pool_window(pool)
    assert k is not None
    nt, B = s.shape[:2]
    flat = s.reshape(nt * B, *s.shape[2:])
    out, idx = torch.nn.functional.max_pool2d(flat, k, k, return_indices=True)
    C = flat.shape[1]
    mask = torch.zeros((nt * B * C, flat.shape[2] * flat.shape[3]), dtype=sg.dtype, device=sg.device)
    mask.scatter_(1, idx.reshape(nt * B * C, -1), 1.0)
    sg.mul_(mask.reshape(sg.shape))
    return out.reshape(nt, B, *out.shape[1:])


def upsample(r: torch.Tensor, k: int, neurons: tuple[int, ...]) -> torch.Tensor:
    """``r [N, C, Hp, Wp] -> [N, C, H, W]``: each value repeated over its ``k x k`` window;
    rows/columns the pooling dropped (``H`` not a multiple of ``k``) get 0."""
    N, C, hp, wp = r.shape
    up = r[:, :, :, None, :, None].expand(N, C, hp, k, wp, k).reshape(N, C, hp * k, wp * k)
    H, W = neurons[1], neurons[2]
    if (H, W) != (hp * k, wp * k):
        up = torch.nn.functional.pad(up, (0, W - wp * k, 0, H - hp * k))
    return up
