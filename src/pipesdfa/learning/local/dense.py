"""Dense blocks (``nn.Linear`` -> neuron) in SDFA's fast path: graph-free forward, local ``dW``.

Forward: a run of consecutive dense blocks is streamed over chunks of at most
:data:`CHUNK_ROWS` rows of ``T*B`` (chunks of equal length): chunk ``[t0, t1)`` passes through
every block of the run (each block's membrane potential carried to the next chunk) before the
next chunk starts, the time-step pipeline of the hardware, so no block's whole ``[T, B, n]``
pre-activation ever exists; each block keeps its :class:`~.state.LocalState`. The synaptic
input is :func:`pipesdfa.snn.blocks.dense_synaptic_input` (event-driven below the measured density
crossover, :mod:`pipesdfa.snn.kernels.sparse`), as in the model's own forward.

Weight gradient from the error ``r`` injected at the block's spike output (``[B, n]``, the same
at every step, or ``[T, B, n]``), with ``c = dH/dX``::

    P[t] = r[t] g'[t],   G[t] = P[t] (instantaneous)  or  P[t] + k A[t] G[t+1] (local)
    dW = sum over the T*B rows of (c G) (x) S_in          -- one product per chunk
    db = sum over the T*B rows of c G                     (an op with a bias)

``dW`` is formed over chunks of at most :data:`DW_CHUNK_ROWS` rows (one product per layer for
``T=10, B=128`` on the CPU, for any usual batch on CUDA). ``store="half"``: bfloat16 operands
(spikes are exact in bfloat16), float32 accumulation, in blocks of input features whose
unpacked bfloat16 input fits :data:`COLUMN_BYTES` (one block per layer at ``T=10, B=128``). When the block's input is sparser than the
``dw_bf16`` / ``dw_float`` crossover, ``dW`` is formed over the active inputs only (float32
``G``, :func:`pipesdfa.snn.kernels.sparse.csr_weight_grad`). On CUDA a chunk holds all ``T*B``
rows of a usual batch: one product per layer.

A block set to ``precision="bf16"`` (:func:`pipesdfa.snn.blocks.set_precision`) runs its forward
product on bfloat16 operands and its ``dW`` as with ``store="half"`` (bfloat16 operands, float32
accumulation) whatever the store; ``g'``'s storage follows ``store``.
"""

from __future__ import annotations

import torch

from pipesdfa.snn.blocks import dense_synaptic_input
from pipesdfa.snn.kernels import forward_with_potential, sparse, triton_sdfa
from pipesdfa.snn.kernels.bits import pack_bits, packed_width
from pipesdfa.snn.kernels.common import backward_recurrence_, coeffs
from pipesdfa.learning.local.state import LocalState, accumulate, store_dtype, surrogate_state, time_slice, times

__all__ = ["CHUNK_ROWS", "DW_CHUNK_ROWS", "COLUMN_BYTES", "chunk_steps", "forward_stream", "weight_grads"]

#: Most rows of ``T*B`` per chunk of a dense block (forward and weight gradient), per device
#: type (CPU: temporaries of a few MiB; CUDA: few, large launches).
CHUNK_ROWS = {"cuda": 1 << 17, "cpu": 2048}
#: Most rows of ``T*B`` per weight-gradient product (the ``P``/``G`` temporaries of a chunk are
#: ``rows x n_out`` float32).
DW_CHUNK_ROWS = {"cuda": 1 << 17, "cpu": 4096}
#: Bytes of the unpacked bfloat16 input of one weight-gradient product (``store="half"``):
#: ``rows x cols x 2``, ``cols`` a multiple of 8 (packed inputs).
COLUMN_BYTES = {"cuda": 1 << 30, "cpu": 8 << 20}


def chunk_steps(T: int, B: int, device: torch.device, rows: dict[str, int] | None = None) -> int:
    """Time steps per chunk: as few chunks as ``rows`` (default :data:`CHUNK_ROWS`) allows, of
    equal length (``T=100, B=128`` on the CPU: seven chunks of 15 or 10 steps, not six of 16 and one of 4)."""
    per = max(1, (CHUNK_ROWS if rows is None else rows)["cuda" if device.type == "cuda" else "cpu"] // max(B, 1))
    n = -(-T // per) if T > 0 else 1
    return max(1, -(-T // n))


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
            xhat=None, invstd=None, out_shape=(T, B, n_out), half=store == "half" or blk.precision == "bf16",
            in_shape=(T, B, n_in), packed=comp))
        n_in = n_out
    out = torch.empty((T, B, n_in), dtype=dtype, device=dev)
    v: list[torch.Tensor | None] = [None] * len(blocks)
    nnz = [0.0] * len(blocks)  # estimated nonzeros of each block's input, summed over chunks
    fused = [triton_sdfa.usable(blk.neuron.backend, dev) for blk in blocks]
    step = chunk_steps(T, B, dev)
    for t0 in range(0, T, step):
        t1 = min(T, t0 + step)
        h = x[t0:t1]
        packed_here = False  # this block's input already packed by the fused kernel below it
        for i, (blk, st) in enumerate(zip(blocks, states)):
            if st.packed and not packed_here:
                st.s_in[t0:t1] = pack_bits(h)
            p = blk.neuron.params
            d = sparse.density(h.reshape(-1, h.shape[-1]), binary=st.packed)
            nnz[i] += d * (t1 - t0)
            pre = dense_synaptic_input(blk.weight_op, h, d, blk.precision)  # fresh: reused as the H buffer
            if fused[i]:  # one kernel: neuron, g' into its store, k A, packing for the next block
                nxt = states[i + 1] if i + 1 < len(states) else None
                pack = nxt.s_in[t0:t1] if nxt is not None and nxt.packed and pre.shape[-1] % 8 == 0 else None
                ka = st.ka[t0:min(t1, T - 1)] if st.ka is not None else None
                spikes, v[i] = triton_sdfa.block_forward(pre, p, v[i], st.sg[t0:t1], ka, pack, spike_dtype=dtype)
                packed_here = pack is not None
            else:
                spikes, hh, v[i] = forward_with_potential(pre, p, blk.neuron.backend, h_out=pre, v0=v[i],
                                                          spike_dtype=dtype)
                surrogate_state(hh, p, coeffs(p), st.sg, st.ka, t0, T)
                packed_here = False
                del hh
            h = spikes.to(dtype)  # (already dtype: no copy)
            del pre, spikes
        out[t0:t1] = h
    for st, z in zip(states, nnz):
        st.in_density = z / max(T, 1)
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
    step = chunk_steps(T, B, dw.device, DW_CHUNK_ROWS)
    event = st.in_density is not None and sparse.use_sparse("dw_float" if pd == dtype else "dw_bf16",
                                                            st.in_density, dw.device, dw.shape[1], dw.shape[0])
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
        if event:  # over the active inputs only, float32 G
            prod = sparse.csr_weight_grad(sparse.to_csr(st.input(dtype, t0, t1).reshape(rows, -1)),
                                          g.reshape(rows, -1))
            if first:
                dw.copy_(prod)
            else:
                dw.add_(prod)
            del prod
        elif pd == dtype:
            x_in = st.input(pd, t0, t1).reshape(rows, -1)
            if first:
                torch.mm(gt, x_in, out=dw)
            else:
                dw.addmm_(gt, x_in)  # no product temporary
        else:  # bfloat16 products over blocks of input features, accumulated in dw's precision
            gt = gt.to(pd)
            n_in = dw.shape[1]
            cols = max(8, COLUMN_BYTES["cuda" if dw.is_cuda else "cpu"] // (2 * rows) // 8 * 8)
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
