"""What a block keeps between its graph-free forward pass and its weight gradient.

* its input ``S_in`` (spikes of the block below, packed 8 to a byte by
  :func:`pipesdfa.snn.kernels.bits.pack_bits`; the network input, or the output of a block that
  runs through autograd, is kept as given and not copied);
* the surrogate derivative ``g'[t] = g'(H[t] - V_th)`` in ``store`` precision (``half`` =
  float16, the default, gradients within ~1e-3 relative of the autograd reference's; ``float``
  = the model's dtype, the reference's gradients up to summation order); for a max-pooled
  block already multiplied by the pooling's routing mask (:mod:`.pooling`);
* ``temporal="local"`` only: the recurrence factor ``k A[t]`` (:mod:`pipesdfa.snn.kernels.common`);
* batch-norm only: the normalised pre-activation ``x_hat`` and ``1/sigma`` per channel.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from pipesdfa.snn.dynamics import NeuronParams
from pipesdfa.snn.kernels.bits import unpack_bits
from pipesdfa.snn.kernels.common import Coeffs, recurrence_factor
from pipesdfa.snn.surrogates import surrogate_grad_

__all__ = ["STORES", "DEFAULT_STORE", "GROUP_ELEMENTS", "LocalState", "store_dtype", "times", "surrogate_state",
           "accumulate", "time_slice"]

STORES = ("float", "half")
#: Default ``store``: the compact state (float16 ``g'``, bfloat16 weight-gradient products).
DEFAULT_STORE = "half"
#: Elements per group of time steps whose surrogate derivatives are formed at once
#: (CUDA: few kernel launches; CPU: temporaries that stay in cache).
GROUP_ELEMENTS = {"cuda": 1 << 22, "cpu": 1 << 18}


@dataclass
class LocalState:
    """What one block keeps between its forward pass and its weight gradient."""

    s_in: torch.Tensor  # [T, B, ...] input as given, or [T, B, ceil(n_in/8)] packed input spikes
    sg: torch.Tensor  # [T, B, ...neurons] g'(H - V_th) (routed through max-pooling)
    ka: torch.Tensor | None  # [T-1, B, ...neurons] k A[t], temporal="local" only
    xhat: torch.Tensor | None  # [T*B, C, H, W] batch-norm only
    invstd: torch.Tensor | None  # [C]
    out_shape: tuple[int, ...]  # pooled output shape [T, B, ...]
    half: bool  # weight-gradient products in bfloat16
    in_shape: tuple[int, ...] = ()  # [T, B, ...] of the block input (to unpack s_in)
    packed: bool = False
    in_density: float | None = None  # estimated nonzero fraction of the input (dense blocks)

    def input(self, dtype: torch.dtype, t0: int = 0, t1: int | None = None) -> torch.Tensor:
        """Block input of steps ``t0 .. t1`` in ``dtype`` (unpacked if packed)."""
        x = self.s_in[t0:t1]
        if not self.packed:
            return x.to(dtype)
        return unpack_bits(x, math.prod(self.in_shape[2:]), dtype).reshape(x.shape[0], *self.in_shape[1:])

    def input_columns(self, dtype: torch.dtype, t0: int, t1: int, c0: int, c1: int) -> torch.Tensor:
        """Features ``c0 .. c1`` of the flattened block input of steps ``t0 .. t1``: ``[t1-t0, B, c1-c0]``
        in ``dtype`` (``c0`` a multiple of 8 when packed)."""
        if not self.packed:
            x = self.s_in[t0:t1]
            return x.reshape(x.shape[0], x.shape[1], -1)[..., c0:c1].to(dtype)
        assert c0 % 8 == 0
        return unpack_bits(self.s_in[t0:t1, :, c0 // 8:(c1 + 7) // 8], c1 - c0, dtype)

    def product_dtype(self, dtype: torch.dtype) -> torch.dtype:
        return torch.bfloat16 if self.half else dtype


def store_dtype(store: str, like: torch.Tensor) -> torch.dtype:
    return torch.float16 if store == "half" else like.dtype


def time_slice(r: torch.Tensor, t0: int, t1: int) -> torch.Tensor:
    """Steps ``t0 .. t1`` of an injected error ``r [1 or T, B, ...]`` (one row: the same at every step)."""
    return r if r.shape[0] == 1 else r[t0:t1]


def times(sg: torch.Tensor, r: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``sg * r`` in ``dtype``, a new tensor: a stored float16 ``sg`` is converted first, then
    multiplied in place (the same numbers as the mixed-dtype product, which the CPU does not
    vectorise)."""
    return torch.mul(sg, r) if sg.dtype == dtype else sg.to(dtype).mul_(r)


def surrogate_state(h: torch.Tensor, p: NeuronParams, cf: Coeffs, sg: torch.Tensor, ka: torch.Tensor | None,
                    t0: int, T: int) -> None:
    """Write ``g'`` (and ``k A`` for ``t < T-1``) of the steps ``t0 .. t0+len(h)`` into ``sg``/``ka``.

    Steps are taken in groups of about ``GROUP_ELEMENTS`` elements: few kernel launches,
    temporaries of bounded size.
    """
    n = h.shape[0]
    group = GROUP_ELEMENTS["cuda" if h.is_cuda else "cpu"]
    per = max(1, group // max(1, h[0].numel()))
    for i in range(0, n, per):
        j = min(n, i + per)
        hh = h[i:j]
        if ka is None:  # g' straight into the store
            surrogate_grad_(hh - cf.v_th, p.surrogate, cf.alpha, out=sg[t0 + i:t0 + j])
            continue
        g = surrogate_grad_(hh - cf.v_th, p.surrogate, cf.alpha)
        sg[t0 + i:t0 + j] = g
        jj = min(j, T - 1 - t0)  # A[t] only for t < T-1
        if jj <= i:
            continue
        ka[t0 + i:t0 + jj] = recurrence_factor(hh[: jj - i], g[: jj - i], cf).mul_(cf.k)


def accumulate(param: torch.Tensor, grad: torch.Tensor) -> None:
    """``param.grad += grad`` (``.grad`` set when it is ``None``), as ``backward()`` accumulates."""
    param.grad = grad if param.grad is None else param.grad + grad
