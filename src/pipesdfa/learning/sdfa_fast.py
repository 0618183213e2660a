"""SDFA's fast path: graph-free hidden layers with hand-formed weight gradients.

The rule is that of :mod:`pipesdfa.learning.sdfa` (same gradients, see the parity tests);
only the way they are computed differs. The reference runs each hidden block with an
autograd graph and back-propagates the injected error through it. Here each hidden block
runs forward **without** a graph and keeps only what its weight gradient needs, in compact
form:

* its input ``S_in`` (spikes of the block below, packed 8 to a byte; the network input is
  the caller's own tensor and is not copied);
* the surrogate derivative ``g'[t] = g'(H[t] - V_th)`` in ``store`` precision (``half`` =
  float16, 2 bytes, the default, gradients within ~1e-3 relative of the reference's;
  ``float`` = the model's dtype, the reference's gradients up to summation order);
* for a max-pooled block, ``g'`` is stored already multiplied by the pooling's routing mask
  ``M[t]`` (1 where the max-pool's backward sends its output's gradient, the first maximum of
  each window as PyTorch picks it), so the backward needs neither spikes nor indices:
  ``pool^T(r) * g'[t] = up(r) * (M[t] g'[t])`` with ``up`` the nearest upsampling;
* ``temporal="local"`` only: the recurrence factor ``k A[t]`` of :mod:`pipesdfa.kernels.fused`;
* batch-norm only: the normalised pre-activation ``x_hat`` (``store`` precision) and
  ``1/sigma`` per channel.

No error is ever formed for a block's input (SDFA never uses it), and nothing of the
autograd machinery is kept between the forward pass and the gradient. The output block is
handled the same way with its true gradient: the readout's ``dLoss/dS_out[t] =
e / (T vote)`` (per vote neuron), injected at every step, with the full membrane
recurrence (``local``).

Every block runs forward and backward in chunks of time steps (dense: about ``CHUNK_ROWS``
rows of ``T*B``; conv: about ``CONV_CHUNK_ELEMENTS`` neurons), the membrane potential (and
``local``'s ``G``) carried across chunks, so that a block's temporaries never exceed one
chunk. The one exception is a conv block's ``Y = conv(S_in)`` over all ``T*B`` images, which
batch-norm needs for its statistics (kept as chunks, each released as soon as its ``x_hat``,
``g'`` and spikes are formed). Batch-norm's backward takes two passes over the chunks (its
two sums, then ``dW``).

``store="half"`` also forms the weight-gradient products with bfloat16 operands (spikes are
exact in bfloat16; ``dL/dX`` is rounded to 8 bits of mantissa; products accumulate in float32;
dense blocks in blocks of ``COLUMN_BLOCK`` input features, added into ``dW``).

Once the global error ``e = dLoss/dfr`` is known, hidden block ``l`` (projected error
``r_l = e B_l / sqrt(n_max)``, injected at every ``t``) forms, with ``c = dH/dX``::

    G[t] = P[t] (instantaneous)   or   G[t] = P[t] + k A[t] G[t+1] (local),
    P[t] = up(r_l) * M[t] g'[t],       dL/dX[t] = c G[t]
    batch-norm (train mode, statistics over T*B*H*W per channel):
        dgamma = sum dL/dX * x_hat,  dbeta = sum dL/dX,
        dL/dY = gamma/sigma (dL/dX - mean(dL/dX) - x_hat mean(dL/dX x_hat))
    dW = sum over the T*B rows of dL/dY (x) S_in    -- one matrix product
         (conv: torch.nn.grad.conv2d_weight, the weight-gradient convolution over T*B images)

Batch-norm: the statistics and the running-statistics update are those of the block's
``nn.BatchNorm2d`` (see :func:`_bn_stats`: its own kernel for one chunk, chunk statistics
combined in float64 for several); the normalised output ``gamma (Y - mean) / sigma + beta``
is formed chunk by chunk (equal to the module's output up to rounding in the last bits).
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass

import torch
from torch import nn

from pipesdfa.kernels import forward_with_potential
from pipesdfa.kernels.common import Coeffs, coeffs, recurrence_factor
from pipesdfa.learning.base import LossFn
from pipesdfa.surrogates import surrogate_grad_

__all__ = ["STORES", "DEFAULT_STORE", "CHUNK_ROWS", "COLUMN_BLOCK", "pack_bits", "unpack_bits", "HiddenState", "forward_blocks", "hidden_forward",
           "block_weight_grads", "compute_grads_fast"]

STORES = ("float", "half")
#: Default ``store``: the compact state (float16 ``g'``, bfloat16 weight-gradient products).
#: ``"float"`` gives the autograd reference's gradients up to summation order.
DEFAULT_STORE = "half"
#: Rows of ``T*B`` per chunk of a dense block (forward and weight gradient).
CHUNK_ROWS = 1024
#: Input features per bfloat16 weight-gradient product of a dense block (``store="half"``):
#: the product's temporary is ``n_out x COLUMN_BLOCK`` (a multiple of 8: packed inputs).
COLUMN_BLOCK = {"cuda": 8192, "cpu": 512}


@dataclass
class HiddenState:
    """What one block keeps between its forward pass and its weight gradient."""

    s_in: torch.Tensor  # [T, B, ...] network input as given, or [T, B, ceil(n_in/8)] packed input spikes
    sg: torch.Tensor  # [T, B, ...neurons] g'(H - V_th)
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
        return unpack_bits(x, math.prod(self.in_shape[2:]), dtype).reshape(x.shape[0], *self.in_shape[1:])

    def input_columns(self, dtype: torch.dtype, t0: int, t1: int, c0: int, c1: int) -> torch.Tensor:
        """Features ``c0 .. c1`` of the flattened block input of steps ``t0 .. t1``: ``[t1-t0, B, c1-c0]``
        in ``dtype`` (``c0`` a multiple of 8 when packed)."""
        if not self.packed:
            x = self.s_in[t0:t1]
            return x.reshape(x.shape[0], x.shape[1], -1)[..., c0:c1].to(dtype)
        assert c0 % 8 == 0
        return unpack_bits(self.s_in[t0:t1, :, c0 // 8:(c1 + 7) // 8], c1 - c0, dtype)


def _times(sg: torch.Tensor, r: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``sg * r`` in ``dtype``, a new tensor: a stored float16 ``sg`` is converted first, then
    multiplied in place (the same numbers as the mixed-dtype product, which the CPU does not
    vectorise)."""
    return torch.mul(sg, r) if sg.dtype == dtype else sg.to(dtype).mul_(r)


def _store_dtype(store: str, like: torch.Tensor) -> torch.dtype:
    return torch.float16 if store == "half" else like.dtype


#: Elements per group of time steps whose surrogate derivatives are formed at once
#: (CUDA: few kernel launches; CPU: temporaries that stay in cache).
GROUP_ELEMENTS = {"cuda": 1 << 22, "cpu": 1 << 18}


#: ``sum_j 2^(56 - 7 j)``: multiplying 8 bytes of 0/1 (one little-endian int64, byte ``j`` =
#: element ``j``) by it puts element ``j`` at bit ``56 + j`` with no carries into bits 56..63.
_PACK_MAGIC = 0x0102040810204080
_UNPACK_TABLES: dict[tuple[torch.dtype, torch.device], torch.Tensor] = {}


def pack_bits(b: torch.Tensor) -> torch.Tensor:
    """``bool [..., n] -> uint8 [..., ceil(n / 8)]``, bit ``j`` of byte ``i`` = element ``8 i + j``.

    Each group of 8 bytes is read as one int64 and packed by one multiply and one shift.
    """
    n = b.shape[-1]
    pad = (-n) % 8
    u = (b if b.dtype == torch.bool else b.to(torch.bool)).view(torch.uint8)  # (nonzero = 1)
    if pad:
        u = torch.nn.functional.pad(u, (0, pad))
    if sys.byteorder != "little":  # pragma: no cover - the multiply needs little-endian int64
        u = u.reshape(*u.shape[:-1], -1, 8)
        out = u[..., 0].clone()
        for j in range(1, 8):
            out |= u[..., j] << j
        return out
    w = u.contiguous().view(torch.int64)
    return ((w * _PACK_MAGIC) >> 56).to(torch.uint8)  # low byte of the (wrapped) product


def _unpack_table(dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """``[256, 8]``: row ``v`` = the 8 bits of ``v``, lowest first, in ``dtype``."""
    key = (dtype, device)
    t = _UNPACK_TABLES.get(key)
    if t is None:
        v = torch.arange(256, dtype=torch.int64)
        t = ((v[:, None] >> torch.arange(8)) & 1).to(dtype).to(device)
        _UNPACK_TABLES[key] = t
    return t


def unpack_bits(p: torch.Tensor, n: int, dtype: torch.dtype = torch.bool) -> torch.Tensor:
    """Inverse of :func:`pack_bits`: ``uint8 [..., m] -> [..., n]`` of 0/1 in ``dtype`` (one
    table lookup per byte)."""
    bits = _unpack_table(dtype, p.device).index_select(0, p.reshape(-1).to(torch.int32))
    bits = bits.reshape(*p.shape[:-1], -1)
    return bits if bits.shape[-1] == n else bits[..., :n]


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
        if ka is None:  # g' straight into the store
            surrogate_grad_(hh - cf.v_th, p.surrogate, cf.alpha, out=sg[t0 + i:t0 + j])
            continue
        g = surrogate_grad_(hh - cf.v_th, p.surrogate, cf.alpha)
        sg[t0 + i:t0 + j] = g
        jj = min(j, T - 1 - t0)  # A[t] only for t < T-1
        if jj <= i:
            continue
        ka[t0 + i:t0 + jj] = recurrence_factor(hh[: jj - i], g[: jj - i], cf).mul_(cf.k)


def _chunk_steps(B: int) -> int:
    return max(1, CHUNK_ROWS // max(B, 1))


#: Elements (of a conv block's pre-activation) per chunk of images: the forward and the weight
#: gradient of a conv block run over chunks of time steps of about this size (CUDA: big
#: chunks, few launches; CPU: temporaries of a few MiB).
CONV_CHUNK_ELEMENTS = {"cuda": 1 << 26, "cpu": 1 << 20}


def _conv_chunk_steps(per_step: int, device: torch.device) -> int:
    return max(1, CONV_CHUNK_ELEMENTS["cuda" if device.type == "cuda" else "cpu"] // max(1, per_step))


def _bn_stats(bn: nn.BatchNorm2d, ys: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """``(mean, 1/sigma)`` that ``bn`` normalises the images ``cat(ys)`` with, updating its
    running statistics as the module's forward does (batch statistics in training mode).

    One chunk: ``torch.batch_norm_update_stats``, the kernel ``F.batch_norm`` uses (running
    statistics bit-equal to the module's). Several chunks: each chunk's mean and biased
    variance (the same kernel, no running statistics), combined in float64 with Chan et al.'s pairwise update
    ``M2 = M2_a + M2_b + delta^2 n_a n_b / n`` and the module's running-statistics rule
    (``(1 - m) r + m stat``, unbiased variance), equal to the module's up to rounding.
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


def _pool_geometry(pool: nn.Module) -> int:
    """Window size of a non-overlapping max-pool (kernel = stride, no padding or dilation)."""
    def one(v) -> int:
        if isinstance(v, (tuple, list)):
            if len(set(v)) != 1:
                raise NotImplementedError(f"sdfa fast path: square pooling windows only, got {v}")
            return int(v[0])
        return int(v)

    k = one(pool.kernel_size)
    stride = one(pool.stride) if pool.stride is not None else k
    if stride != k or one(pool.padding) != 0 or one(pool.dilation) != 1 or pool.ceil_mode:
        raise NotImplementedError("sdfa fast path: max-pool with kernel = stride, no padding/dilation/ceil")
    return k


def _pool_and_route(pool: nn.Module | None, s: torch.Tensor, sg: torch.Tensor) -> torch.Tensor:
    """Max-pool spikes ``s [n, B, C, H, W]`` and multiply ``sg`` (same shape) in place by the
    routing mask ``M`` (1 at the index the max-pool picked in each window, else 0)."""
    if pool is None:
        return s
    k = _pool_geometry(pool)
    nt, B = s.shape[:2]
    flat = s.reshape(nt * B, *s.shape[2:])
    out, idx = torch.nn.functional.max_pool2d(flat, k, k, return_indices=True)
    C = flat.shape[1]
    mask = torch.zeros((nt * B * C, flat.shape[2] * flat.shape[3]), dtype=sg.dtype, device=sg.device)
    mask.scatter_(1, idx.reshape(nt * B * C, -1), 1.0)
    sg.mul_(mask.reshape(sg.shape))
    return out.reshape(nt, B, *out.shape[1:])


def _upsample(r: torch.Tensor, pool: nn.Module, neurons: tuple[int, ...]) -> torch.Tensor:
    """``r [B, C, Hp, Wp] -> [B, C, H, W]``: each value repeated over its ``k x k`` window;
    rows/columns the pooling dropped (``H`` not a multiple of ``k``) get 0."""
    k = _pool_geometry(pool)
    B, C, hp, wp = r.shape
    up = r[:, :, :, None, :, None].expand(B, C, hp, k, wp, k).reshape(B, C, hp * k, wp * k)
    H, W = neurons[1], neurons[2]
    if (H, W) != (hp * k, wp * k):
        up = torch.nn.functional.pad(up, (0, W - wp * k, 0, H - hp * k))
    return up


@torch.no_grad()
def _conv_block_forward(blk, x: torch.Tensor, temporal: str, store: str, compact_input: bool
                        ) -> tuple[torch.Tensor, HiddenState]:
    """A conv block graph-free, over chunks of time steps.

    ``Y = conv(S_in)`` is formed for all ``T*B`` images, chunk by chunk (batch-norm needs the
    statistics of all of them); then, chunk by chunk, ``x_hat`` is stored, ``X = gamma x_hat +
    beta`` runs through the neuron (membrane potential carried across chunks), the spikes are
    max-pooled (with the pooling indices, which become the routing mask ``M``), ``M g'`` and
    ``k A`` are stored, and the chunk of ``Y`` is released: the stored state grows as ``Y``
    shrinks, and temporaries never exceed one chunk beyond them.
    """
    T, B = x.shape[:2]
    dev, dtype = x.device, x.dtype
    p = blk.neuron.params
    cf = coeffs(p)
    conv: nn.Conv2d = blk.weight_op
    sd = _store_dtype(store, x)
    in_shape = tuple(x.shape)
    n_in = math.prod(in_shape[2:])
    s_in = torch.empty((T, B, (n_in + 7) // 8), dtype=torch.uint8, device=dev) if compact_input else x
    per_out = B * conv.out_channels * math.prod(blk.layer.out_hw)
    step = _conv_chunk_steps(max(B * n_in, per_out), dev)
    starts = list(range(0, T, step))
    ys: list[torch.Tensor | None] = []  # Y chunk by chunk; each is released once consumed
    for t0 in starts:
        t1 = min(T, t0 + step)
        xc = x[t0:t1]
        if compact_input:
            s_in[t0:t1] = pack_bits(xc.reshape(t1 - t0, B, -1))
        ys.append(conv(xc.reshape((t1 - t0) * B, *in_shape[2:])))
    neurons = tuple(ys[0].shape[1:])  # type: ignore[union-attr]
    bn = blk.bn
    xhat = invstd = None
    if bn is not None:
        mean, invstd = _bn_stats(bn, ys)  # type: ignore[arg-type]
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
        assert yc is not None
        if bn is not None:
            pre = torch.addcmul(b, yc, a)
            assert xhat is not None
            xhat[t0 * B:t1 * B] = yc.sub_(m3).mul_(i3)
        else:
            pre = yc  # Y is not needed after this chunk
        del yc
        pre = pre.reshape((nt, B) + neurons)
        spikes, h, v = forward_with_potential(pre, p, blk.neuron.backend, h_out=pre, v0=v, spike_dtype=dtype)
        _surrogate_state(h, p, cf, sg, ka, t0, T)
        del h, pre
        oc = _pool_and_route(blk.pool, spikes.to(dtype), sg[t0:t1])  # (already dtype: no copy)
        del spikes
        if out is None:
            out = torch.empty((T,) + tuple(oc.shape[1:]), dtype=dtype, device=dev)
        out[t0:t1] = oc
        del oc
    assert out is not None
    st = HiddenState(s_in=s_in, sg=sg, ka=ka, xhat=xhat, invstd=invstd,
                     out_shape=tuple(out.shape), half=store == "half", in_shape=in_shape, packed=compact_input)
    return out, st


def _block_forward(blk, x: torch.Tensor, temporal: str, store: str, compact_input: bool
                   ) -> tuple[torch.Tensor, HiddenState]:
    """Run one block without a graph; returns its (pooled) 0/1 output in ``x``'s dtype and its state."""
    if blk.kind == "dense":
        states, out = _dense_stream([blk], x, [temporal], store, [compact_input])
        return out, states[0]
    return _conv_block_forward(blk, x, temporal, store, compact_input)


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
        for i, (blk, st) in enumerate(zip(blocks, states)):
            if st.packed:
                st.s_in[t0:t1] = pack_bits(h)
            p = blk.neuron.params
            pre = blk.weight_op(h)  # fresh: reused as the H buffer
            spikes, hh, v[i] = forward_with_potential(pre, p, blk.neuron.backend, h_out=pre, v0=v[i],
                                                      spike_dtype=dtype)
            _surrogate_state(hh, p, coeffs(p), st.sg, st.ka, t0, T)
            h = spikes.to(dtype)  # (already dtype: no copy)
            del pre, hh, spikes
        out[t0:t1] = h
    return states, out


def forward_blocks(model, x: torch.Tensor, temporal: str, store: str = DEFAULT_STORE
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


def hidden_forward(model, x: torch.Tensor, temporal: str, store: str = DEFAULT_STORE
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


def _recurrence(g: torch.Tensor, ka: torch.Tensor | None, t0: int, g_next: torch.Tensor | None
                ) -> torch.Tensor | None:
    """``G[t] = P[t] + k A[t] G[t+1]`` in place over the chunk ``g`` (steps ``t0 ..``), backwards
    in time, ``g_next`` = ``G`` of the step after the chunk (``None`` at the end). Returns the
    chunk's ``G[t0]`` for the chunk before it; ``ka is None`` (instantaneous) leaves ``g`` as is."""
    if ka is None:
        return None
    for i in range(g.shape[0] - 1, -1, -1):
        nxt = g[i + 1] if i + 1 < g.shape[0] else g_next
        if nxt is not None:
            g[i].addcmul_(ka[t0 + i], nxt)
    return g[0].clone()


@torch.no_grad()
def _dense_grads(blk, st: HiddenState, r: torch.Tensor, cf: Coeffs) -> None:
    """``dW = sum_t (c G[t])^T S_in[t]`` for a dense block, chunk by chunk (backwards in time).

    ``c`` is folded into ``r`` (``G`` is linear in ``P``); the first chunk's product is written
    into ``dW``, the others added.
    """
    T, B = st.out_shape[:2]
    dtype = blk.weight.dtype
    pd = _product_dtype(st, dtype)
    r = r.to(dtype).reshape(1, B, -1)
    if cf.c != 1.0:
        r = r * cf.c
    dw = torch.empty_like(blk.weight)
    step = _chunk_steps(B)
    g_next = None
    first = True
    for t0 in reversed(range(0, T, step)):
        t1 = min(T, t0 + step)
        g = _times(st.sg[t0:t1], r, dtype)  # P = r g' in dW's precision
        g_next = _recurrence(g, st.ka, t0, g_next)
        rows = (t1 - t0) * B
        gt = g.reshape(rows, -1).t()
        if pd == dtype:
            x_in = st.input(pd, t0, t1).reshape(rows, -1)
            if first:
                torch.mm(gt, x_in, out=dw)
            else:
                dw.addmm_(gt, x_in)  # no product temporary
        else:  # bfloat16 products over blocks of input features, accumulated in dw's precision
            gt = gt.to(pd)
            n_in = dw.shape[1]
            cols = COLUMN_BLOCK["cuda" if dw.is_cuda else "cpu"]
            for c0 in range(0, n_in, cols):
                c1 = min(n_in, c0 + cols)
                prod = gt @ st.input_columns(pd, t0, t1, c0, c1).reshape(rows, c1 - c0)
                if first:
                    dw[:, c0:c1].copy_(prod)
                else:
                    dw[:, c0:c1].add_(prod)
                del prod
        first = False
        del g, gt
    if first:  # no time steps
        dw.zero_()
    _accumulate(blk.weight, dw)


def _conv_dx_chunks(blk, st: HiddenState, r: torch.Tensor, cf: Coeffs, dtype: torch.dtype):
    """``dL/dX`` of a conv block, chunk by chunk backwards in time: yields ``(t0, t1, g)`` with
    ``g [(t1-t0) B, C, H, W]`` (``G`` carried across chunks for ``temporal="local"``)."""
    T, B = st.sg.shape[:2]
    neurons = tuple(st.sg.shape[2:])
    step = _conv_chunk_steps(B * math.prod(neurons), st.sg.device)
    r = r.to(dtype).reshape(B, *st.out_shape[2:])
    if blk.pool is not None:  # sg holds M g': the pooled error goes to every position of its window
        r = _upsample(r, blk.pool, neurons)
    g_next = None
    for t0 in reversed(range(0, T, step)):
        t1 = min(T, t0 + step)
        nt = t1 - t0
        g = _times(st.sg[t0:t1], r, dtype)  # a new tensor: sg is read again by a second pass
        g_next = _recurrence(g, st.ka, t0, g_next)
        if cf.c != 1.0:
            g.mul_(cf.c)
        yield t0, t1, g.reshape((nt * B,) + neurons)


@torch.no_grad()
def _conv_grads(blk, st: HiddenState, r: torch.Tensor, cf: Coeffs) -> None:
    """Pool transpose, surrogate, recurrence, batch-norm backward and the weight-gradient
    convolution of a conv block, over chunks of time steps.

    With batch statistics, batch-norm's backward needs two sums over all ``T*B`` images
    (``dbeta = sum dL/dX``, ``dgamma = sum dL/dX x_hat``): a first pass over the chunks forms
    them, a second pass re-forms each chunk's ``dL/dX`` (element-wise work only) and adds its
    weight-gradient convolution ``conv2d_weight(S_in, dL/dY)`` to ``dW``.
    """
    dtype = blk.weight.dtype
    bn = blk.bn
    conv: nn.Conv2d = blk.weight_op
    pd = _product_dtype(st, dtype)
    B = st.sg.shape[1]
    C = st.sg.shape[2]
    batch = bn is not None and (bn.training or bn.running_mean is None)

    def xhat(t0: int, t1: int) -> torch.Tensor:
        return st.xhat[t0 * B:t1 * B].to(dtype)  # type: ignore[index]

    dbeta = dgamma = None
    if bn is not None:
        dbeta = torch.zeros(C, dtype=dtype, device=st.sg.device)
        dgamma = torch.zeros_like(dbeta)
        if batch:
            for t0, t1, g in _conv_dx_chunks(blk, st, r, cf, dtype):
                dbeta += g.sum((0, 2, 3))
                dgamma += (g * xhat(t0, t1)).sum((0, 2, 3))
            if bn.affine:
                _accumulate(bn.weight, dgamma)
                _accumulate(bn.bias, dbeta)
        scale = ((bn.weight if bn.affine else torch.ones_like(dbeta)) * st.invstd)[:, None, None]  # type: ignore[operator]
        n = st.sg.numel() // C
        mg, mgx = (dbeta / n)[:, None, None], (dgamma / n)[:, None, None]
    dw = torch.zeros_like(conv.weight)
    for t0, t1, g in _conv_dx_chunks(blk, st, r, cf, dtype):
        if bn is not None:
            xh = xhat(t0, t1)
            if batch:
                g.sub_(mg).sub_(xh.mul_(mgx))
            else:
                dbeta += g.sum((0, 2, 3))  # type: ignore[operator]
                dgamma += (g * xh).sum((0, 2, 3))  # type: ignore[operator]
            del xh
            g.mul_(scale)
        x_in = st.input(pd, t0, t1)
        x_in = x_in.reshape((t1 - t0) * B, *x_in.shape[2:])
        dw.add_(torch.nn.grad.conv2d_weight(x_in, conv.weight.shape, g.to(pd), conv.stride, conv.padding,
                                            conv.dilation, conv.groups))
        del g, x_in
    if bn is not None and not batch and bn.affine:
        _accumulate(bn.weight, dgamma)
        _accumulate(bn.bias, dbeta)
    _accumulate(conv.weight, dw)


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
