"""Triton kernel for SDFA's graph-free block forward (CUDA, or ``TRITON_INTERPRET=1``).

One program per block of neurons runs the whole time loop of a chunk with the membrane
potential in registers and writes, in one pass over time, everything SDFA's fast path keeps
(:mod:`pipesdfa.learning.local.state`) and the next block reads:

* the spikes ``S[t]`` (0/1 in the chunk's dtype), by the recurrence of
  :mod:`pipesdfa.snn.kernels.triton_backend`'s forward (same operations: the same spikes);
* the surrogate derivative ``g'(H[t] - V_th)`` straight into the store (float16 for
  ``store="half"``), never as a float32 ``H`` sequence;
* ``temporal="local"``: ``k A[t]`` (:func:`pipesdfa.snn.kernels.common.recurrence_factor`) for the
  first ``ka_rows`` steps;
* optionally the spikes bit-packed 8 to a byte (:func:`pipesdfa.snn.kernels.bits.pack_bits`'s
  layout) into the next block's input store, when the row length is a multiple of 8.

On the torch path the same work is the neuron loop plus several passes over ``H`` (surrogate,
its store, packing) and their launches; here it is one launch per block and chunk.
"""

from __future__ import annotations

import torch

from pipesdfa.snn.dynamics import NeuronParams
from pipesdfa.snn.kernels import triton_backend
from pipesdfa.snn.kernels.common import coeffs

__all__ = ["usable", "block_forward", "BLOCK"]

#: Neurons per program (a multiple of 8: whole bytes of packed spikes).
BLOCK = 256


def usable(backend: str, device: torch.device) -> bool:
    """Whether a block whose neuron runs ``backend`` (``auto`` resolved) takes this kernel on ``device``."""
    from pipesdfa.snn.kernels.backends import resolve_backend

    if not triton_backend.HAVE_TRITON or resolve_backend(backend, device) != "triton":
        return False
    return device.type == "cuda" or triton_backend.interpreted()


if triton_backend.HAVE_TRITON:  # pragma: no cover - exercised on CUDA machines / in interpreter mode
    import triton
    import triton.language as tl

    _surrogate = triton_backend._surrogate
    _neuron_step = triton_backend._neuron_step
    _lanes = triton_backend._lanes

    @triton.jit
    def _sdfa_fwd_kernel(x_ptr, v0_ptr, s_ptr, sg_ptr, ka_ptr, pk_ptr, vlast_ptr, N, T, KA_ROWS,
                         tau, v_th, v_rest, v_reset, k, alpha,
                         KIND_IF: tl.constexpr, DECAY_INPUT: tl.constexpr, HARD: tl.constexpr,
                         DETACH: tl.constexpr, SID: tl.constexpr, HAS_V0: tl.constexpr,
                         LOCAL: tl.constexpr, PACK: tl.constexpr, BLOCK_N: tl.constexpr):
        offs, mask, v = _lanes(v0_ptr, N, v_rest, HAS_V0, BLOCK_N)
        pid = tl.program_id(0)
        for t in range(T):
            x = tl.load(x_ptr + t * N + offs, mask=mask, other=0.0).to(tl.float32)
            h, fire, v = _neuron_step(v, x, tau, v_th, v_rest, v_reset, KIND_IF, DECAY_INPUT, HARD)
            tl.store(s_ptr + t * N + offs, tl.where(fire, 1.0, 0.0).to(s_ptr.dtype.element_ty), mask=mask)
            sg = _surrogate(h - v_th, SID, alpha)
            tl.store(sg_ptr + t * N + offs, sg.to(sg_ptr.dtype.element_ty), mask=mask)
            if LOCAL and t < KA_ROWS:
                if HARD:
                    a = tl.where(h < v_th, 1.0, 0.0)
                    if not DETACH:
                        a = a + (v_reset - h) * sg
                else:
                    if DETACH:
                        a = tl.zeros([BLOCK_N], dtype=tl.float32) + 1.0
                    else:
                        a = 1.0 - v_th * sg
                tl.store(ka_ptr + t * N + offs, (a * k).to(ka_ptr.dtype.element_ty), mask=mask)
            if PACK:
                bits = tl.reshape(tl.where(fire & mask, 1, 0), [BLOCK_N // 8, 8])
                byte = tl.sum(bits << tl.arange(0, 8)[None, :], axis=1)
                poffs = pid * (BLOCK_N // 8) + tl.arange(0, BLOCK_N // 8)
                tl.store(pk_ptr + t * (N // 8) + poffs, byte.to(tl.uint8), mask=poffs < N // 8)
        tl.store(vlast_ptr + offs, v.to(vlast_ptr.dtype.element_ty), mask=mask)


def block_forward(x: torch.Tensor, p: NeuronParams, v0: torch.Tensor | None, sg_out: torch.Tensor,
                  ka_out: torch.Tensor | None = None, pack_out: torch.Tensor | None = None,
                  spike_dtype: torch.dtype | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """One chunk ``x [n, B, ...]`` of a block's pre-activation through the neuron: ``(spikes, V)``.

    Writes ``g'`` into ``sg_out`` (``x``'s shape, any float dtype), ``k A`` of the first
    ``ka_out.shape[0]`` steps into ``ka_out`` (``temporal="local"``; may have 0 rows), and, when
    ``pack_out`` (``uint8 [n, B, m/8]`` for rows of ``m`` features, ``m % 8 == 0``) is given,
    the packed spikes. ``v0``: the potential carried from the previous chunk (``None``: the
    resting potential). The output tensors must be contiguous.
    """
    if not triton_backend.HAVE_TRITON:
        raise RuntimeError("the fused SDFA block forward needs the 'triton' package")
    cf = coeffs(p)
    n = x.shape[0]
    x2 = x.contiguous().view(n, -1)
    N = x2.shape[1]
    s = torch.empty(x.shape, dtype=spike_dtype or x.dtype, device=x.device)
    vlast = torch.empty(x.shape[1:], dtype=x.dtype, device=x.device)
    for out in (sg_out, ka_out, pack_out):
        if out is not None and not out.is_contiguous():
            raise ValueError("block_forward: output tensors must be contiguous")
    if pack_out is not None and (x.shape[-1] % 8 or pack_out.numel() * 8 != x2.numel()):
        raise ValueError(f"block_forward: packing needs rows of a multiple of 8 features and a "
                         f"[n, B, m/8] output, got x {tuple(x.shape)} and {tuple(pack_out.shape)}")
    v0c = v0.detach().contiguous().view(-1) if v0 is not None else vlast
    dummy = sg_out
    grid = (triton.cdiv(N, BLOCK),)
    _sdfa_fwd_kernel[grid](
        x2, v0c, s, sg_out, ka_out if ka_out is not None else dummy, pack_out if pack_out is not None else dummy,
        vlast, N, n, 0 if ka_out is None else ka_out.shape[0],
        float(p.tau), float(p.v_threshold), p.v_rest, 0.0 if p.v_reset is None else float(p.v_reset),
        cf.k, cf.alpha,
        KIND_IF=p.kind == "if", DECAY_INPUT=bool(p.decay_input), HARD=p.v_reset is not None,
        DETACH=bool(p.detach_reset), SID=cf.surrogate_id, HAS_V0=v0 is not None, LOCAL=ka_out is not None,
        PACK=pack_out is not None, BLOCK_N=BLOCK)
    return s, vlast
