"""SDFA's fast path: graph-free hidden layers with hand-formed weight gradients.

The rule is that of :mod:`pipesdfa.learning.sdfa` (same gradients, see the parity tests);
only the way they are computed differs. The reference runs each hidden block with an
autograd graph and back-propagates the injected error through it. Here each hidden block
runs forward **without** a graph and keeps only what its weight gradient needs, in compact
form:

* its input ``S_in`` (spikes of the block below: ``bool``, 1 byte; the network input is the
  caller's own tensor and is not copied);
* the surrogate derivative ``g'[t] = g'(H[t] - V_th)`` in ``store`` precision (``float`` = the
  model's dtype, the default, the reference's gradients up to summation order; ``half`` =
  float16, 2 bytes, relative error ~1e-3);
* for a pooled block, its spikes before pooling (``bool``), to route the error through the
  max-pool (the pooling indices are recomputed from them, not stored);
* ``temporal="local"`` only: the recurrence factor ``k A[t]`` of :mod:`pipesdfa.kernels.fused`;
* batch-norm only: the normalised pre-activation ``x_hat`` (``store`` precision) and
  ``1/sigma`` per channel.

No error is ever formed for a block's input (SDFA never uses it), and nothing of the
autograd machinery is kept between the forward pass and the gradient.

Once the global error ``e = dLoss/dfr`` is known, hidden block ``l`` (projected error
``r_l = e B_l / sqrt(n_max)``, injected at every ``t``) forms, with ``c = dH/dX``::

    G[t] = P[t] (instantaneous)   or   G[t] = P[t] + k A[t] G[t+1] (local),
    P[t] = pool^T(r_l) * g'[t],        dL/dX[t] = c G[t]
    batch-norm (train mode, statistics over T*B*H*W per channel):
        dgamma = sum dL/dX * x_hat,  dbeta = sum dL/dX,
        dL/dY = gamma/sigma (dL/dX - mean(dL/dX) - x_hat mean(dL/dX x_hat))
    dW = sum over the T*B rows of dL/dY (x) S_in    -- one matrix product
         (conv: torch.nn.grad.conv2d_weight, the weight-gradient convolution over T*B images)

Batch-norm: the forward runs the block's own ``nn.BatchNorm2d`` (so outputs and running
statistics are exactly the reference's); ``x_hat`` for the backward is recomputed from the
batch statistics of the same ``Y`` (``eval`` mode: the running ones) and stored compactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from pipesdfa.kernels import forward_with_potential
from pipesdfa.kernels.common import coeffs
from pipesdfa.learning.base import LossFn
from pipesdfa.surrogates import surrogate_grad

__all__ = ["STORES", "HiddenState", "hidden_forward", "hidden_weight_grads", "compute_grads_fast"]

STORES = ("half", "float")


@dataclass
class HiddenState:
    """What one hidden block keeps between its forward pass and its weight gradient."""

    s_in: torch.Tensor  # [T, B, ...] block input (bool spikes, or the network input as given)
    sg: torch.Tensor  # [T, B, ...neurons] g'(H - V_th)
    spikes: torch.Tensor | None  # [T, B, ...neurons] bool, pooled blocks only
    ka: torch.Tensor | None  # [T-1, B, ...neurons] k A[t], temporal="local" only
    xhat: torch.Tensor | None  # [T*B, C, H, W] batch-norm only
    invstd: torch.Tensor | None  # [C]
    out_shape: tuple[int, ...]  # pooled output shape [T, B, ...]


def _store_dtype(store: str, like: torch.Tensor) -> torch.dtype:
    return torch.float16 if store == "half" else like.dtype


def _bn_xhat(bn: nn.BatchNorm2d, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(x_hat, 1/sigma)`` that ``bn`` used on ``y [N, C, H, W]`` (batch or running statistics)."""
    if bn.training or bn.running_mean is None:
        var, mean = torch.var_mean(y, dim=(0, 2, 3), unbiased=False)
    else:
        mean, var = bn.running_mean, bn.running_var
    invstd = torch.rsqrt(var + bn.eps)
    return (y - mean[:, None, None]) * invstd[:, None, None], invstd


@torch.no_grad()
def _block_forward(blk, x: torch.Tensor, temporal: str, store: str, compact_input: bool
                   ) -> tuple[torch.Tensor, HiddenState]:
    """Run one block without a graph; returns its (pooled, float) output and its state."""
    T, B = x.shape[:2]
    p = blk.neuron.params
    cf = coeffs(p)
    xhat = invstd = None
    if blk.kind == "dense":
        x_in = x.reshape(T, B, -1)
        pre = blk.weight_op(x_in)  # [T, B, n_out], fresh: reused as the H buffer
    else:
        x_in = x
        y = blk.weight_op(x.reshape(T * B, *x.shape[2:]))
        if blk.bn is not None:
            xh, invstd = _bn_xhat(blk.bn, y)
            xhat = xh.to(_store_dtype(store, y))
            del xh
            y = blk.bn(y)  # the module itself: identical output and running statistics
        pre = y.reshape(T, B, *y.shape[1:])
    spikes, h = forward_with_potential(pre, p, blk.neuron.backend, h_out=pre)
    sd = _store_dtype(store, h)
    sg = torch.empty(h.shape, dtype=sd, device=h.device)
    ka = torch.empty((T - 1,) + tuple(h.shape[1:]), dtype=sd, device=h.device) if temporal == "local" and T > 1 else None
    for t in range(T):  # per step: temporaries stay one time step large
        g = surrogate_grad(h[t] - cf.v_th, p.surrogate, cf.alpha)
        sg[t] = g
        if ka is not None and t < T - 1:
            if cf.hard:
                a = (h[t] < cf.v_th).to(h.dtype)
                if not cf.detach_reset:
                    a.addcmul_(cf.v_reset - h[t], g)
            else:
                a = torch.ones_like(g) if cf.detach_reset else 1.0 - cf.v_th * g
            ka[t] = a.mul_(cf.k)
    del h, pre
    s_bool = spikes if spikes.dtype == torch.bool else spikes.bool()
    s_float = spikes.to(x.dtype) if spikes.dtype == torch.bool else spikes
    out = blk.post(s_float)
    s_in = (x_in != 0) if compact_input else x_in
    st = HiddenState(s_in=s_in, sg=sg, spikes=s_bool if blk.pool is not None else None, ka=ka,
                     xhat=xhat, invstd=invstd, out_shape=tuple(out.shape))
    return out, st


def hidden_forward(model, x: torch.Tensor, temporal: str, store: str = "half"
                   ) -> tuple[list[HiddenState], torch.Tensor]:
    """Run every hidden block graph-free; returns their states and the output block's input."""
    states = []
    for i, blk in enumerate(model.hidden_blocks):
        x, st = _block_forward(blk, x, temporal, store, compact_input=i > 0)
        states.append(st)
    return states, x


def _accumulate(param: torch.Tensor, grad: torch.Tensor) -> None:
    param.grad = grad if param.grad is None else param.grad + grad


def block_weight_grads(blk, st: HiddenState, r: torch.Tensor) -> None:
    """Form and accumulate ``dW`` (and BN's ``dgamma``, ``dbeta``) of one hidden block from ``r [B, n_out]``."""
    T, B = st.out_shape[:2]
    cf = coeffs(blk.neuron.params)
    dtype = blk.weight.dtype
    g_post = r.to(dtype).reshape(1, *st.out_shape[1:])
    if blk.pool is not None:
        assert st.spikes is not None
        s = st.spikes.reshape(T * B, *st.spikes.shape[2:]).to(dtype).requires_grad_(True)
        with torch.enable_grad():
            pooled = blk.pool(s)
            (g_s,) = torch.autograd.grad(pooled, s, g_post.expand(T, *st.out_shape[1:]).reshape(pooled.shape))
        g = g_s.reshape(st.sg.shape).mul_(st.sg)
    else:
        g = st.sg.to(dtype).mul_(g_post)
    if st.ka is not None:
        for t in range(T - 2, -1, -1):
            g[t].addcmul_(st.ka[t], g[t + 1])
    if cf.c != 1.0:
        g.mul_(cf.c)  # dL/dX
    if blk.kind == "dense":
        x_in = st.s_in.reshape(T * B, -1).to(dtype)
        _accumulate(blk.weight, g.reshape(T * B, -1).t() @ x_in)
        return
    g = g.reshape(T * B, *g.shape[2:])
    if blk.bn is not None:
        bn = blk.bn
        xhat = st.xhat.to(dtype)  # type: ignore[union-attr]
        dbeta = g.sum((0, 2, 3))
        dgamma = (g * xhat).sum((0, 2, 3))
        if bn.affine:
            _accumulate(bn.weight, dgamma)
            _accumulate(bn.bias, dbeta)
        scale = (bn.weight if bn.affine else torch.ones_like(dbeta)) * st.invstd  # type: ignore[operator]
        if bn.training or bn.running_mean is None:
            n = g.numel() // g.shape[1]
            g = g - (dbeta / n)[:, None, None] - xhat * (dgamma / n)[:, None, None]
        g = g * scale[:, None, None]
    conv: nn.Conv2d = blk.weight_op
    x_in = st.s_in.reshape(T * B, *st.s_in.shape[2:]).to(dtype)
    dw = torch.nn.grad.conv2d_weight(x_in, conv.weight.shape, g, conv.stride, conv.padding, conv.dilation, conv.groups)
    _accumulate(conv.weight, dw)


def hidden_weight_grads(rule, states: list[HiddenState], e: torch.Tensor) -> None:
    """Every hidden block's gradient from the global error ``e [B, C]``; frees each state after use."""
    for l, blk in enumerate(rule.model.hidden_blocks):
        r = rule.feedback.project(e, l)
        block_weight_grads(blk, states[l], r)
        states[l] = None  # type: ignore[call-overload]


def compute_grads_fast(rule, x: torch.Tensor, y: torch.Tensor, loss_fn: LossFn) -> tuple[float, torch.Tensor]:
    """:meth:`SDFA.compute_grads` with graph-free hidden blocks (same gradients)."""
    states, h = hidden_forward(rule.model, x, rule.temporal, rule.store)
    rates = rule.model.readout(rule.model.output_block(h))
    probe = rates.detach().requires_grad_(True)
    loss = loss_fn(probe, y)
    (e,) = torch.autograd.grad(loss, probe)
    rates.backward(e)
    hidden_weight_grads(rule, states, e)
    return float(loss.detach()), rates.detach()
