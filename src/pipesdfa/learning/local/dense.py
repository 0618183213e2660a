"""Dense blocks (``nn.Linear`` -> neuron) in SDFA's fast path: graph-free forward, local ``dW``.

Forward: a run of consecutive dense blocks is streamed over chunks of about
:data:`CHUNK_ROWS` rows of ``T*B``: chunk ``[t0, t1)`` passes through every block of the run
(each block's membrane potential carried to the next chunk) before the next chunk starts, the
time-step pipeline of the hardware, so no block's whole ``[T, B, n]`` pre-activation ever
exists; each block keeps its :class:`~.state.LocalState`.

Weight gradient from the error ``r`` injected at the block's spike output (``[B, n]``, the same
at every step, or ``[T, B, n]``), with ``c = dH/dX``::

    P[t] = r[t] g'[t],   G[t] = P[t] (instantaneous)  or  P[t] + k A[t] G[t+1] (local)
    dW = sum over the T*B rows of (c G) (x) S_in          -- one product per chunk
    db = sum over the T*B rows of c G                     (an op with a bias)

``store="half"``: bfloat16 operands (spikes are exact in bfloat16), float32 accumulation, in
blocks of :data:`COLUMN_BLOCK` input features.
"""

from __future__ import annotations

import torch

from pipesdfa.kernels import forward_with_potential
from pipesdfa.kernels.bits import pack_bits, packed_width
from pipesdfa.kernels.common import backward_recurrence_, coeffs
from pipesdfa.learning.local.state import LocalState, accumulate, store_dtype, surrogate_state, time_slice, times

__all__ = ["CHUNK_ROWS", "COLUMN_BLOCK", "forward_stream", "weight_grads"]

#: Rows of ``T*B`` per chunk of a dense block (forward and weight gradient).
CHUNK_ROWS = 1024
#: Input features per bfloat16 weight-gradient product (``store="half"``): the product's
#: temporary is ``n_out x COLUMN_BLOCK`` (a multiple of 8: packed inputs).
COLUMN_BLOCK = {"cuda": 8192, "cpu": 512}


def chunk_steps(B: int) -> int:
    return max(1, CHUNK_ROWS // max(B, 1))


@torch.no_grad()
def forward_stream(blocks, x: torch.Tensor, temporals: list[str], store: str, compact: list[bool]
                   ) -> tuple[list[LocalState], torch.Tensor]:
    """Run consecutive dense blocks graph-free, streamed over time: ``(states, last spikes [T, B, n])``.

    ``compact[i]``: pack block ``i``'s input (it is 0/1 spikes of a fast block); else it is kept
    as given (the network input, or an autograd block's output).
    """
    T, B = x.shape[:2]
    dev, dtype = x.device, x.dtype
    x = x.reshape(T, B, -1)
    sd = store_dtype(store, x)
    states: list[LocalState] = []
    n_in = x.shape[2]
    for blk, temporal, comp in zip(blocks, temporals, compact):
        n_out = blk.weight_op.out_features
        states.append(LocalState(
            s_in=torch.empty((T, B, packed_width(n_in)), dtype=torch.uint8, device=dev) if comp else x,
            sg=torch.empty((T, B, n_out), dtype=sd, device=dev),
            ka=torch.empty((T - 1, B, n_out), dtype=sd, device=dev) if temporal == "local" and T > 1 else None,
            xhat=None, invstd=None, out_shape=(T, B, n_out), half=store == "half",
            in_shape=(T, B, n_in), packed=comp))
        n_in = n_out
    out = torch.empty((T, B, n_in), dtype=dtype, device=dev)
    v: list[torch.Tensor | None] = [None] * len(blocks)
    step = chunk_steps(B)
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
            surrogate_state(hh, p, coeffs(p), st.sg, st.ka, t0, T)
            h = spikes.to(dtype)  # (already dtype: no copy)
            del pre, hh, spikes
        out[t0:t1] = h
    return states, out


@torch.no_grad()
def weight_grads(blk, st: LocalState, r: torch.Tensor) -> None:
    """Accumulate ``dW`` of a dense block from ``r [B, n_out]`` or ``[T, B, n_out]``, chunk by
    chunk backwards in time (``c`` folded into ``r``: ``G`` is linear in ``P``)."""
    cf = coeffs(blk.neuron.params)
    T, B = st.out_shape[:2]
    dtype = blk.weight.dtype
    pd = st.product_dtype(dtype)
    r = r.to(dtype)
    r = r.reshape(1 if r.dim() == 2 else T, B, -1)
    if cf.c != 1.0:
        r = r * cf.c
    dw = torch.empty_like(blk.weight)
    bias = blk.weight_op.bias
    db = torch.zeros_like(bias) if bias is not None else None
    step = chunk_steps(B)
    g_next = None
    first = True
    for t0 in reversed(range(0, T, step)):
        t1 = min(T, t0 + step)
        g = times(st.sg[t0:t1], time_slice(r, t0, t1), dtype)  # P = r g' in dW's precision
        if st.ka is not None:
            g_next = backward_recurrence_(g, st.ka[t0:t1], g_next).clone()
        rows = (t1 - t0) * B
        gt = g.reshape(rows, -1).t()
        if db is not None:
            db += gt.sum(1)
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
    accumulate(blk.weight, dw)
    if db is not None:
        accumulate(bias, db)
