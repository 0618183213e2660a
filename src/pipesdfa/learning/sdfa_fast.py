"""SDFA's fast path: graph-free hidden layers with hand-formed weight gradients.

The rule is that of :mod:`pipesdfa.learning.sdfa` (same gradients, see the parity tests);
only the way they are computed differs. The reference runs each hidden block with an
autograd graph and back-propagates the injected error through it. Here each hidden block
runs forward **without** a graph and keeps only what its weight gradient needs, in compact
form:

* its input ``S_in`` (spikes of the block below, packed 8 to a byte; the network input is
  the caller's own tensor and is not copied);
* the surrogate derivative ``g'[t] = g'(H[t] - V_th)`` in ``store`` precision (``float`` = the
  model's dtype, the default, the reference's gradients up to summation order; ``half`` =
  float16, 2 bytes, relative error ~1e-3);
* for a pooled block, its spikes before pooling (``bool``), to route the error through the
  max-pool (the pooling indices are recomputed from them, not stored);
* ``temporal="local"`` only: the recurrence factor ``k A[t]`` of :mod:`pipesdfa.kernels.fused`;
* batch-norm only: the normalised pre-activation ``x_hat`` (``store`` precision) and
  ``1/sigma`` per channel.

No error is ever formed for a block's input (SDFA never uses it), and nothing of the
autograd machinery is kept between the forward pass and the gradient. The output block is
handled the same way with its true gradient: the readout's ``dLoss/dS_out[t] =
e / (T vote)`` (per vote neuron), injected at every step, with the full membrane
recurrence (``local``).

Dense blocks run forward and backward in chunks of time steps (about ``CHUNK_ROWS`` rows of
``T*B`` each, the membrane potential carried across chunks), so that the temporaries of a
block never exceed one chunk; conv blocks run whole (batch-norm needs the statistics of all
``T*B`` images).

``store="half"`` also forms the weight-gradient products with bfloat16 operands (spikes are
exact in bfloat16; ``dL/dX`` is rounded to 8 bits of mantissa; products accumulate in float32).

Once the global error ``e = dLoss/dfr`` is known, hidden block ``l`` (projected error
``r_l = e B_l / sqrt(n_max)``, injected at every ``t``) forms, with ``c = dH/dX``::

    G[t] = P[t] (instantaneous)   or   G[t] = P[t] + k A[t] G[t+1] (local),
    P[t] = pool^T(r_l) * g'[t],        dL/dX[t] = c G[t]
    batch-norm (train mode, statistics over T*B*H*W per channel):
        dgamma = sum dL/dX * x_hat,  dbeta = sum dL/dX,
        dL/dY = gamma/sigma (dL/dX - mean(dL/dX) - x_hat mean(dL/dX x_hat))
    dW = sum over the T*B rows of dL/dY (x) S_in    -- one matrix product
         (conv: torch.nn.grad.conv2d_weight, the weight-gradient convolution over T*B images)

Batch-norm: the forward computes exactly what the block's ``nn.BatchNorm2d`` computes
(outputs and running statistics; on CPU by calling ``aten.native_batch_norm``, the kernel
``F.batch_norm`` runs there, which also returns the batch statistics; elsewhere through the
module, with the statistics recomputed); ``x_hat`` for the backward is formed in place from
``Y`` and those statistics and stored compactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from pipesdfa.kernels import forward_with_potential
from pipesdfa.kernels.common import Coeffs, coeffs
from pipesdfa.learning.base import LossFn
from pipesdfa.surrogates import surrogate_grad

__all__ = ["STORES", "CHUNK_ROWS", "pack_bits", "unpack_bits", "HiddenState", "forward_blocks", "hidden_forward",
           "block_weight_grads", "compute_grads_fast"]

STORES = ("float", "half")
#: Rows of ``T*B`` per chunk of a dense block (forward and weight gradient).
CHUNK_ROWS = 4096


@dataclass
class HiddenState:
    """What one block keeps between its forward pass and its weight gradient."""

    s_in: torch.Tensor  # [T, B, ...] network input as given, or [T, B, ceil(n_in/8)] packed input spikes
    sg: torch.Tensor  # [T, B, ...neurons] g'(H - V_th)
    spikes: torch.Tensor | None  # [T, B, ...neurons] bool, pooled blocks only
    ka: torch.Tensor | None  # [T-1, B, ...neurons] k A[t], temporal="local" only
    xhat: torch.Tensor | None  # [T*B, C, H, W] batch-norm only
    invstd: torch.Tensor | None  # [C]
    out_shape: tuple[int, ...]  # pooled output shape [T, B, ...]
    half: bool  # weight-gradient products in bfloat16
    in_shape: tuple[int, ...] = ()  # [T, B, ...] of the block input (to unpack s_in)
    packed: bool = False

    def input(self, dtype: torch.dtype, t0: int = 0, t1: int | None = None) -> torch.Tensor:
        """Block input of steps ``t0 .. t1`` in ``dtype`` (unpacked if packed)."""
        x = self.s_in[t0:t1]
        if not self.packed:
            return x.to(dtype)
        n = 1
        for d in self.in_shape[2:]:
            n *= d
        return unpack_bits(x, n, dtype).reshape(x.shape[0], *self.in_shape[1:])


def _store_dtype(store: str, like: torch.Tensor) -> torch.dtype:
    return torch.float16 if store == "half" else like.dtype


def _bn_forward(bn: nn.BatchNorm2d, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(BN(y), mean, 1/sigma)``: the module's output and running-statistics update, plus the
    statistics it normalised with (batch ones in training, running ones in eval mode)."""
    use_batch = bn.training or bn.running_mean is None
    if use_batch and y.device.type == "cpu" and bn.track_running_stats and bn.affine:
        # On CPU F.batch_norm is aten.native_batch_norm: call it directly to get its statistics too
        bn.num_batches_tracked.add_(1)  # type: ignore[union-attr,operator]
        momentum = bn.momentum if bn.momentum is not None else 1.0 / float(bn.num_batches_tracked)
        out, mean, invstd = torch.native_batch_norm(y, bn.weight, bn.bias, bn.running_mean, bn.running_var,
                                                    True, momentum, bn.eps)
        return out, mean, invstd
    if use_batch:
        var, mean = torch.var_mean(y, dim=(0, 2, 3), unbiased=False)
    else:
        mean, var = bn.running_mean, bn.running_var
    invstd = torch.rsqrt(var + bn.eps)
    return bn(y), mean, invstd


#: Elements per group of time steps whose surrogate derivatives are formed at once
#: (CUDA: few kernel launches; CPU: temporaries that stay in cache).
GROUP_ELEMENTS = {"cuda": 1 << 22, "cpu": 1 << 18}


def pack_bits(b: torch.Tensor) -> torch.Tensor:
    """``bool [..., n] -> uint8 [..., ceil(n / 8)]``, bit ``j`` of byte ``i`` = element ``8 i + j``."""
    n = b.shape[-1]
    pad = (-n) % 8
    u = b.to(torch.uint8)
    if pad:
        u = torch.nn.functional.pad(u, (0, pad))
    u = u.reshape(*u.shape[:-1], -1, 8)
    out = u[..., 0].clone()
    for j in range(1, 8):
        out |= u[..., j] << j
    return out


def unpack_bits(p: torch.Tensor, n: int, dtype: torch.dtype = torch.bool) -> torch.Tensor:
    """Inverse of :func:`pack_bits`: ``uint8 [..., m] -> [..., n]`` of 0/1 in ``dtype``."""
    shifts = torch.arange(8, dtype=torch.uint8, device=p.device)
    bits = (p.unsqueeze(-1) >> shifts) & 1
    return bits.reshape(*p.shape[:-1], -1)[..., :n].to(dtype)


def _surrogate_state(h: torch.Tensor, p, cf: Coeffs, sg: torch.Tensor, ka: torch.Tensor | None,
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
        g = surrogate_grad(hh - cf.v_th, p.surrogate, cf.alpha)
        sg[t0 + i:t0 + j] = g
        if ka is not None:
            jj = min(j, T - 1 - t0)  # A[t] only for t < T-1
            if jj <= i:
                continue
            hh, g = hh[: jj - i], g[: jj - i]
            if cf.hard:
                a = (hh < cf.v_th).to(h.dtype)
                if not cf.detach_reset:
                    a.addcmul_(cf.v_reset - hh, g)
            else:
                a = torch.ones_like(g) if cf.detach_reset else 1.0 - cf.v_th * g
            ka[t0 + i:t0 + jj] = a.mul_(cf.k)


def _chunk_steps(B: int) -> int:
    return max(1, CHUNK_ROWS // max(B, 1))


@torch.no_grad()
def _block_forward(blk, x: torch.Tensor, temporal: str, store: str, compact_input: bool
                   ) -> tuple[torch.Tensor, HiddenState]:
    """Run one block without a graph; returns its (pooled) 0/1 output in ``x``'s dtype and its state."""
    T, B = x.shape[:2]
    p = blk.neuron.params
    cf = coeffs(p)
    xhat = invstd = None
    if blk.kind == "dense":
        states, out = _dense_stream([blk], x, [temporal], store, [compact_input])
        return out, states[0]
    x_in = x
    y = blk.weight_op(x.reshape(T * B, *x.shape[2:]))
    if blk.bn is not None:
        out_bn, mean, invstd = _bn_forward(blk.bn, y)
        xhat = y.sub_(mean[:, None, None]).mul_(invstd[:, None, None]).to(_store_dtype(store, y))
        y = out_bn
        del out_bn
    pre = y.reshape(T, B, *y.shape[1:])
    del y
    spikes, h, _ = forward_with_potential(pre, p, blk.neuron.backend, h_out=pre)
    sd = _store_dtype(store, h)
    sg = torch.empty(h.shape, dtype=sd, device=h.device)
    ka = torch.empty((T - 1,) + tuple(h.shape[1:]), dtype=sd, device=h.device) if temporal == "local" and T > 1 else None
    _surrogate_state(h, p, cf, sg, ka, 0, T)
    del h, pre
    s_bool = spikes if spikes.dtype == torch.bool else spikes.bool()
    out = blk.post(spikes.to(x.dtype))
    del spikes
    s_in = pack_bits((x != 0).reshape(T, B, -1)) if compact_input else x_in
    st = HiddenState(s_in=s_in, sg=sg, spikes=s_bool if blk.pool is not None else None, ka=ka,
                     xhat=xhat, invstd=invstd, out_shape=tuple(out.shape), half=store == "half",
                     in_shape=tuple(x.shape), packed=compact_input)
    return out, st


@torch.no_grad()
def _dense_stream(blocks, x: torch.Tensor, temporals: list[str], store: str, compact: list[bool]
                  ) -> tuple[list[HiddenState], torch.Tensor]:
    """A run of consecutive dense blocks, streamed over chunks of time steps.

    Chunk ``[t0, t1)`` passes through every block of the run (each block's membrane potential
    carried to the next chunk) before the next chunk starts -- the time-step pipeline of the
    hardware -- so no block's whole ``[T, B, n]`` output or pre-activation ever exists; only
    the compact states and the last block's spikes (``[T, B, n_last]``) are kept.
    """
    T, B = x.shape[:2]
    dev, dtype = x.device, x.dtype
    x = x.reshape(T, B, -1)
    sd = _store_dtype(store, x)
    states: list[HiddenState] = []
    n_in = x.shape[2]
    for blk, temporal, comp in zip(blocks, temporals, compact):
        n_out = blk.weight_op.out_features
        states.append(HiddenState(
            s_in=torch.empty((T, B, (n_in + 7) // 8), dtype=torch.uint8, device=dev) if comp else x,
            sg=torch.empty((T, B, n_out), dtype=sd, device=dev),
            spikes=None,
            ka=torch.empty((T - 1, B, n_out), dtype=sd, device=dev) if temporal == "local" and T > 1 else None,
            xhat=None, invstd=None, out_shape=(T, B, n_out), half=store == "half",
            in_shape=(T, B, n_in), packed=comp))
        n_in = n_out
    out = torch.empty((T, B, n_in), dtype=dtype, device=dev)
    v: list[torch.Tensor | None] = [None] * len(blocks)
    step = _chunk_steps(B)
    for t0 in range(0, T, step):
        t1 = min(T, t0 + step)
        h = x[t0:t1]
        h_bool: torch.Tensor | None = None  # the same spikes as bool, when known
        for i, (blk, st) in enumerate(zip(blocks, states)):
            if st.packed:
                st.s_in[t0:t1] = pack_bits(h_bool if h_bool is not None else h != 0)
            p = blk.neuron.params
            pre = blk.weight_op(h)  # fresh: reused as the H buffer
            spikes, hh, v[i] = forward_with_potential(pre, p, blk.neuron.backend, h_out=pre, v0=v[i])
            _surrogate_state(hh, p, coeffs(p), st.sg, st.ka, t0, T)
            h = spikes.to(dtype)
            h_bool = spikes if spikes.dtype == torch.bool else None
            del pre, hh, spikes
        out[t0:t1] = h
    return states, out


def forward_blocks(model, x: torch.Tensor, temporal: str, store: str = "float"
                   ) -> tuple[list[HiddenState], torch.Tensor]:
    """Run every block graph-free: ``(states of all blocks, output spikes [T, B, C*vote])``.

    Hidden blocks use ``temporal``; the output block (true gradient) the full recurrence.
    Conv blocks run one by one; the trailing run of dense blocks (the output block among
    them) is streamed over time (:func:`_dense_stream`).
    """
    blocks = list(model.blocks)
    n = len(blocks)
    temporals = [temporal] * (n - 1) + ["local"]
    first_dense = n
    while first_dense > 0 and blocks[first_dense - 1].kind == "dense":
        first_dense -= 1
    states: list[HiddenState] = []
    for i in range(first_dense):
        x, st = _block_forward(blocks[i], x, temporals[i], store, compact_input=i > 0)
        states.append(st)
    tail, out = _dense_stream(blocks[first_dense:], x, temporals[first_dense:], store,
                              [i > 0 for i in range(first_dense, n)])
    return states + tail, out


def hidden_forward(model, x: torch.Tensor, temporal: str, store: str = "float"
                   ) -> tuple[list[HiddenState], torch.Tensor]:
    """The hidden blocks' states and the output block's input (blocks run one by one)."""
    states = []
    for i, blk in enumerate(model.hidden_blocks):
        x, st = _block_forward(blk, x, temporal, store, compact_input=i > 0)
        states.append(st)
    return states, x


def _accumulate(param: torch.Tensor, grad: torch.Tensor) -> None:
    param.grad = grad if param.grad is None else param.grad + grad


def _product_dtype(st: HiddenState, dtype: torch.dtype) -> torch.dtype:
    return torch.bfloat16 if st.half else dtype


@torch.no_grad()
def _dense_grads(blk, st: HiddenState, r: torch.Tensor, cf: Coeffs) -> None:
    """``dW = sum_t (c G[t])^T S_in[t]`` for a dense block, chunk by chunk (backwards in time)."""
    T, B = st.out_shape[:2]
    dtype = blk.weight.dtype
    pd = _product_dtype(st, dtype)
    r = r.to(dtype).reshape(1, B, -1)
    dw = torch.zeros_like(blk.weight)
    step = _chunk_steps(B)
    g_next = None
    for t0 in reversed(range(0, T, step)):
        t1 = min(T, t0 + step)
        g = st.sg[t0:t1].to(dtype).mul_(r)
        if st.ka is not None:
            for i in range(t1 - t0 - 1, -1, -1):
                nxt = g[i + 1] if i + 1 < t1 - t0 else g_next
                if nxt is not None:
                    g[i].addcmul_(st.ka[t0 + i], nxt)
            g_next = g[0].clone()
        rows = (t1 - t0) * B
        x_in = st.input(pd, t0, t1).reshape(rows, -1)
        dw.add_((g.reshape(rows, -1).to(pd).t() @ x_in).to(dtype))
        del g
    if cf.c != 1.0:
        dw.mul_(cf.c)
    _accumulate(blk.weight, dw)


@torch.no_grad()
def _conv_grads(blk, st: HiddenState, r: torch.Tensor, cf: Coeffs) -> None:
    """Pool transpose, surrogate, recurrence, batch-norm backward, one weight-gradient convolution."""
    T, B = st.out_shape[:2]
    dtype = blk.weight.dtype
    g_post = r.to(dtype).reshape(1, *st.out_shape[1:])
    if blk.pool is not None:
        assert st.spikes is not None
        s = st.spikes.reshape(T * B, *st.spikes.shape[2:]).to(dtype).requires_grad_(True)
        with torch.enable_grad():
            pooled = blk.pool(s)
            (g_s,) = torch.autograd.grad(pooled, s, g_post.expand(T, *st.out_shape[1:]).reshape(pooled.shape))
        g = g_s.reshape(st.sg.shape).mul_(st.sg)
        del s, pooled, g_s
    else:
        g = st.sg.to(dtype).mul_(g_post)
    if st.ka is not None:
        for t in range(T - 2, -1, -1):
            g[t].addcmul_(st.ka[t], g[t + 1])
    if cf.c != 1.0:
        g.mul_(cf.c)  # dL/dX
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
            g.sub_((dbeta / n)[:, None, None]).sub_(xhat.mul_((dgamma / n)[:, None, None]))
        g.mul_(scale[:, None, None])
        del xhat
    conv: nn.Conv2d = blk.weight_op
    pd = _product_dtype(st, dtype)
    x_in = st.input(pd)
    x_in = x_in.reshape(T * B, *x_in.shape[2:])
    dw = torch.nn.grad.conv2d_weight(x_in, conv.weight.shape, g.to(pd), conv.stride, conv.padding,
                                     conv.dilation, conv.groups)
    _accumulate(conv.weight, dw.to(dtype))


def block_weight_grads(blk, st: HiddenState, r: torch.Tensor) -> None:
    """Form and accumulate ``dW`` (and BN's ``dgamma``, ``dbeta``) of one block from ``r [B, n_out]``.

    ``r`` is ``dLoss/dS_out[t]`` (after pooling), the same at every ``t``.
    """
    cf = coeffs(blk.neuron.params)
    if blk.kind == "dense":
        _dense_grads(blk, st, r, cf)
    else:
        _conv_grads(blk, st, r, cf)


def compute_grads_fast(rule, x: torch.Tensor, y: torch.Tensor, loss_fn: LossFn) -> tuple[float, torch.Tensor]:
    """:meth:`SDFA.compute_grads` with graph-free blocks (same gradients)."""
    model = rule.model
    states, s_out = forward_blocks(model, x, rule.temporal, rule.store)
    out_state = states.pop()
    rates = model.readout(s_out)
    probe = rates.detach().requires_grad_(True)
    loss = loss_fn(probe, y)
    (e,) = torch.autograd.grad(loss, probe)
    T, vote = s_out.shape[0], model.spec.vote
    # fr[b, c] = mean over t and the c-th vote group: dfr/dS_out[t, b, c*vote + j] = 1 / (T vote)
    block_weight_grads(model.output_block, out_state, e.repeat_interleave(vote, dim=1) / (T * vote))
    del out_state
    for l, blk in enumerate(model.hidden_blocks):
        block_weight_grads(blk, states[l], rule.feedback.project(e, l))
        states[l] = None  # type: ignore[call-overload]
    return float(loss.detach()), rates.detach()
