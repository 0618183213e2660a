"""Conv blocks (``nn.Conv2d`` -> [BN] -> neuron -> [max-pool]) in SDFA's fast path.

Forward (:func:`forward_local`), over chunks of time steps of about
:data:`CONV_CHUNK_ELEMENTS` neurons: ``Y = conv(S_in)`` is formed for all ``T*B`` images, chunk
by chunk (batch-norm needs the statistics of all of them, :mod:`.batchnorm`); then, chunk by
chunk, ``x_hat`` is stored, ``X = gamma x_hat + beta`` runs through the neuron (membrane
potential carried across chunks), the spikes are max-pooled (the pooling indices become the
routing mask of :mod:`.pooling`), ``M g'`` and ``k A`` are stored, and the chunk of ``Y`` is
released: the stored state grows as ``Y`` shrinks.

Weight gradient (:func:`weight_grads`) from the error ``r`` at the pooled spike output::

    P[t] = up(r[t]) * M[t] g'[t],   G[t] = P[t]  or  P[t] + k A[t] G[t+1],   dL/dX = c G
    batch-norm (train mode, statistics over T*B*H*W per channel):
        dgamma = sum dL/dX * x_hat,  dbeta = sum dL/dX,
        dL/dY = gamma/sigma (dL/dX - mean(dL/dX) - x_hat mean(dL/dX x_hat))
    dW = conv2d_weight(S_in, dL/dY)          -- the weight-gradient convolution over T*B images
    db = sum over images and positions of dL/dY   (a conv with a bias)

When ``Y`` is large (:data:`BN_ONE_PASS_BYTES`, on CUDA) the forward takes two passes
instead: the first forms each chunk of ``Y`` for its batch-norm moments only, the second forms
it again, so no more than one chunk of ``Y`` exists at a time.

With batch statistics the two sums need a first pass over the chunks; a second re-forms each
chunk's ``dL/dX`` (element-wise work only) and adds its weight-gradient convolution to ``dW``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from pipesdfa.snn.kernels import forward_with_potential
from pipesdfa.snn.kernels.bits import pack_bits, packed_width
from pipesdfa.snn.kernels.common import backward_recurrence_, coeffs
from pipesdfa.learning.local.batchnorm import bn_stats, chunk_moments, combine_moments, start_stats
from pipesdfa.learning.local.pooling import pool_and_route, pool_window, upsample
from pipesdfa.learning.local.state import LocalState, accumulate, store_dtype, surrogate_state, time_slice, times

__all__ = ["CONV_CHUNK_ELEMENTS", "BN_ONE_PASS_BYTES", "two_pass", "forward_local", "weight_grads"]

#: Elements (of a conv block's pre-activation) per chunk of images (CUDA: big chunks, few
#: launches; CPU: temporaries of a few MiB).
CONV_CHUNK_ELEMENTS = {"cuda": 1 << 26, "cpu": 1 << 20}


#: Bytes of a batch-normalised conv block's whole pre-activation ``Y [T*B, C, H, W]`` above which
#: its forward takes two passes over the chunks: the first forms each chunk of ``Y`` for the
#: batch statistics and drops it, the second forms it again (one more convolution of the block)
#: instead of holding all of ``Y`` until the statistics are known. ``None``: never (the CPU,
#: where the convolution is the step's largest cost and memory is rarely the limit).
BN_ONE_PASS_BYTES: dict[str, int | None] = {"cuda": 256 << 20, "cpu": None}


def two_pass(bn: nn.Module | None, y_bytes: int, chunks: int, device: torch.device,
             limit: int | None = -1) -> bool:
    """Whether :func:`forward_local` takes two passes: batch statistics over more than one
    chunk and ``Y`` of more than ``limit`` bytes (``-1``: the device's :data:`BN_ONE_PASS_BYTES`;
    ``None``: never)."""
    if bn is None or not (bn.training or bn.running_mean is None) or chunks < 2:
        return False
    if limit == -1:
        limit = BN_ONE_PASS_BYTES["cuda" if device.type == "cuda" else "cpu"]
    return limit is not None and y_bytes > limit


def _chunk_steps(per_step: int, device: torch.device) -> int:
    return max(1, CONV_CHUNK_ELEMENTS["cuda" if device.type == "cuda" else "cpu"] // max(1, per_step))


def _out_per_image(conv: nn.Conv2d, chw: tuple[int, ...]) -> int:
    """Output elements of ``conv`` per image of shape ``chw``:
    ``C_out * prod(floor((H + 2p - d (k - 1) - 1) / s) + 1)``."""
    if isinstance(conv.padding, str):
        pad = tuple(d * (k - 1) // 2 for k, d in zip(conv.kernel_size, conv.dilation)) if conv.padding == "same" else (0, 0)
    else:
        pad = conv.padding
    hw = [(n + 2 * p - d * (k - 1) - 1) // s + 1
          for n, p, d, k, s in zip(chw[1:], pad, conv.dilation, conv.kernel_size, conv.stride)]
    return conv.out_channels * math.prod(hw)


@torch.no_grad()
def forward_local(blk, x: torch.Tensor, temporal: str, store: str, compact_input: bool,
                  passes: int | None = None) -> tuple[torch.Tensor, LocalState]:
    """A conv block graph-free: ``(pooled 0/1 spikes in x's dtype, state)``; ``passes``: 1 or 2
    over the chunks when batch statistics span several chunks (``None``: :func:`two_pass`
    decides). Both give the same numbers: a chunk's convolution is formed the same way each time."""
    T, B = x.shape[:2]
    dev, dtype = x.device, x.dtype
    p = blk.neuron.params
    cf = coeffs(p)
    conv: nn.Conv2d = blk.weight_op
    sd = store_dtype(store, x)
    in_shape = tuple(x.shape)
    n_in = math.prod(in_shape[2:])
    s_in = torch.empty((T, B, packed_width(n_in)), dtype=torch.uint8, device=dev) if compact_input else x
    step = _chunk_steps(max(B * n_in, B * _out_per_image(conv, in_shape[2:])), dev)
    starts = list(range(0, T, step))
    bn = blk.bn
    y_bytes = T * B * _out_per_image(conv, in_shape[2:]) * x.element_size()
    second = two_pass(bn, y_bytes, len(starts), dev, -1 if passes is None else (0 if passes == 2 else None))
    ys: list[torch.Tensor | None] = []  # Y chunk by chunk; each is released once consumed
    moments = []  # two passes: each chunk's BN moments instead of the chunk
    for t0 in starts:
        t1 = min(T, t0 + step)
        xc = x[t0:t1]
        if compact_input:
            s_in[t0:t1] = pack_bits(xc.reshape(t1 - t0, B, -1))
        yc = conv(xc.reshape((t1 - t0) * B, *in_shape[2:]))
        if second:
            moments.append(chunk_moments(yc))
            neurons = tuple(yc.shape[1:])
            ys.append(None)
        else:
            ys.append(yc)
        del yc
    if not second:
        neurons = tuple(ys[0].shape[1:])  # type: ignore[union-attr]
    xhat = invstd = None
    if bn is not None:
        if second:
            momentum, update = start_stats(bn)
            mean, invstd = combine_moments(bn, moments, momentum, update, dtype)
        else:
            mean, invstd = bn_stats(bn, ys)  # type: ignore[arg-type]
        gamma = bn.weight if bn.affine else torch.ones_like(invstd)
        beta = bn.bias if bn.affine else torch.zeros_like(invstd)
        a = (gamma * invstd)[:, None, None]
        b = (beta - mean * gamma * invstd)[:, None, None]
        xhat = torch.empty((T * B,) + neurons, dtype=sd, device=dev)
        m3, i3 = mean[:, None, None], invstd[:, None, None]
    sg = torch.empty((T, B) + neurons, dtype=sd, device=dev)
    ka = torch.empty((T - 1, B) + neurons, dtype=sd, device=dev) if temporal == "local" and T > 1 else None
    out: torch.Tensor | None = None
    v = None
    for i, t0 in enumerate(starts):
        t1 = min(T, t0 + step)
        nt = t1 - t0
        yc, ys[i] = ys[i], None
        if yc is None:  # the second pass: this chunk's convolution again
            yc = conv(x[t0:t1].reshape(nt * B, *in_shape[2:]))
        if bn is not None:
            pre = torch.addcmul(b, yc, a)
            assert xhat is not None
            xhat[t0 * B:t1 * B] = yc.sub_(m3).mul_(i3)
        else:
            pre = yc  # Y is not needed after this chunk
        del yc
        pre = pre.reshape((nt, B) + neurons)
        spikes, h, v = forward_with_potential(pre, p, blk.neuron.backend, h_out=pre, v0=v, spike_dtype=dtype)
        surrogate_state(h, p, cf, sg, ka, t0, T)
        del h, pre
        oc = pool_and_route(blk.pool, spikes.to(dtype), sg[t0:t1])  # (already dtype: no copy)
        del spikes
        if out is None:
            out = torch.empty((T,) + tuple(oc.shape[1:]), dtype=dtype, device=dev)
        out[t0:t1] = oc
        del oc
    assert out is not None
    st = LocalState(s_in=s_in, sg=sg, ka=ka, xhat=xhat, invstd=invstd, out_shape=tuple(out.shape),
                    half=store == "half", in_shape=in_shape, packed=compact_input)
    return out, st


def _dx_chunks(blk, st: LocalState, r: torch.Tensor, dtype: torch.dtype):
    """``dL/dX`` of a conv block, chunk by chunk backwards in time: yields ``(t0, t1, g)`` with
    ``g [(t1-t0) B, C, H, W]`` (``G`` carried across chunks for ``temporal="local"``)."""
    cf = coeffs(blk.neuron.params)
    T, B = st.sg.shape[:2]
    neurons = tuple(st.sg.shape[2:])
    step = _chunk_steps(B * math.prod(neurons), st.sg.device)
    lead = T if r.dim() == len(st.out_shape) else 1  # [T, B, ...] or [B, ...] / [B, n] (every step)
    r = r.to(dtype).reshape(lead * B, *st.out_shape[2:])
    if blk.pool is not None:  # sg holds M g': the pooled error goes to every position of its window
        r = upsample(r, pool_window(blk.pool), neurons)  # type: ignore[arg-type]
    r = r.reshape(lead, B, *neurons)
    g_next = None
    for t0 in reversed(range(0, T, step)):
        t1 = min(T, t0 + step)
        nt = t1 - t0
        g = times(st.sg[t0:t1], time_slice(r, t0, t1), dtype)  # a new tensor: sg is read again by a second pass
        if st.ka is not None:
            g_next = backward_recurrence_(g, st.ka[t0:t1], g_next).clone()
        if cf.c != 1.0:
            g.mul_(cf.c)
        yield t0, t1, g.reshape((nt * B,) + neurons)


@torch.no_grad()
def weight_grads(blk, st: LocalState, r: torch.Tensor) -> None:
    """Accumulate ``dW`` (and batch-norm's ``dgamma``, ``dbeta``) of a conv block from the error
    ``r`` at its pooled output (``[B, ...]``, the same at every step, or ``[T, B, ...]``)."""
    dtype = blk.weight.dtype
    bn = blk.bn
    conv: nn.Conv2d = blk.weight_op
    pd = st.product_dtype(dtype)
    B, C = st.sg.shape[1], st.sg.shape[2]
    batch = bn is not None and (bn.training or bn.running_mean is None)

    def xhat(t0: int, t1: int) -> torch.Tensor:
        return st.xhat[t0 * B:t1 * B].to(dtype)  # type: ignore[index]

    dbeta = dgamma = None
    if bn is not None:
        dbeta = torch.zeros(C, dtype=dtype, device=st.sg.device)
        dgamma = torch.zeros_like(dbeta)
        if batch:
            for t0, t1, g in _dx_chunks(blk, st, r, dtype):
                dbeta += g.sum((0, 2, 3))
                dgamma += (g * xhat(t0, t1)).sum((0, 2, 3))
            if bn.affine:
                accumulate(bn.weight, dgamma)
                accumulate(bn.bias, dbeta)
        scale = ((bn.weight if bn.affine else torch.ones_like(dbeta)) * st.invstd)[:, None, None]  # type: ignore[operator]
        n = st.sg.numel() // C
        mg, mgx = (dbeta / n)[:, None, None], (dgamma / n)[:, None, None]
    dw = torch.zeros_like(conv.weight)
    db = torch.zeros_like(conv.bias) if conv.bias is not None else None
    for t0, t1, g in _dx_chunks(blk, st, r, dtype):
        if bn is not None:
            xh = xhat(t0, t1)
            if batch:
                g.sub_(mg).sub_(xh.mul_(mgx))
            else:
                dbeta += g.sum((0, 2, 3))  # type: ignore[operator]
                dgamma += (g * xh).sum((0, 2, 3))  # type: ignore[operator]
            del xh
            g.mul_(scale)
        if db is not None:
            db += g.sum((0, 2, 3))
        x_in = st.input(pd, t0, t1)
        x_in = x_in.reshape((t1 - t0) * B, *x_in.shape[2:])
        dw.add_(torch.nn.grad.conv2d_weight(x_in, conv.weight.shape, g.to(pd), conv.stride, conv.padding,
                                            conv.dilation, conv.groups))
        del g, x_in
    if bn is not None and not batch and bn.affine:
        accumulate(bn.weight, dgamma)
        accumulate(bn.bias, dbeta)
    accumulate(conv.weight, dw)
    if db is not None:
        accumulate(conv.bias, db)
