"""Triton backend (CUDA): one program per block of neurons runs the whole time loop.

Forward kernel: for each neuron, ``T`` steps of the reference recurrence (same operations in
the same order as :mod:`pipesdfa.snn.neurons`) with the membrane potential held in registers;
writes ``S[t]`` and ``H[t]``. Backward kernel: the recurrence of
:mod:`pipesdfa.snn.kernels.fused` run backwards in time, also in registers. The surrogate is a
compile-time constant (its formulas are those of :mod:`pipesdfa.snn.surrogates`).

Importing this module needs ``triton``; :func:`available` says whether it can run here
(a CUDA device, or ``TRITON_INTERPRET=1`` for the CPU interpreter).
"""

from __future__ import annotations

import os

import torch

from pipesdfa.snn.kernels.common import coeffs, multistep_with, neuron_function
from pipesdfa.snn.dynamics import NeuronParams

try:  # pragma: no cover - depends on the machine
    import triton
    import triton.language as tl

    HAVE_TRITON = True
except Exception:  # noqa: BLE001 - any import failure means "not available"
    HAVE_TRITON = False

__all__ = ["HAVE_TRITON", "available", "interpreted", "triton_multistep", "forward_with_potential"]

BLOCK = 256


def interpreted() -> bool:
    return os.environ.get("TRITON_INTERPRET", "0") == "1"


def available(device: torch.device | str | None = None) -> bool:
    """Triton importable and either a CUDA device or the interpreter."""
    if not HAVE_TRITON:
        return False
    if interpreted():
        return True
    return torch.cuda.is_available() and (device is None or torch.device(device).type == "cuda")


if HAVE_TRITON:  # pragma: no cover - exercised on CUDA machines / in interpreter mode

    @triton.jit
    def _surrogate(x, SID: tl.constexpr, alpha):
        # 0 atan, 1 sigmoid, 2 rectangular, 3 triangular (order of surrogates.SURROGATES)
        if SID == 0:
            u = 1.5707963267948966 * alpha * x  # (pi / 2) alpha x
            r = (alpha * 0.5) / (1.0 + u * u)
        elif SID == 1:
            sg = 1.0 / (1.0 + tl.exp(-alpha * x))
            r = alpha * sg * (1.0 - sg)
        elif SID == 2:
            r = tl.where(tl.abs(x) < 0.5 / alpha, alpha, 0.0)
        else:
            r = tl.maximum(alpha * (1.0 - alpha * tl.abs(x)), 0.0)
        return r

    @triton.jit
    def _neuron_step(v, x, tau, v_th, v_rest, v_reset, KIND_IF: tl.constexpr, DECAY_INPUT: tl.constexpr,
                     HARD: tl.constexpr):
        # one step of the neuron (pipesdfa.snn.dynamics): (H, fired, V) from V[t-1] and X[t]; both kernels use it
        if KIND_IF:
            h = v + x
        elif DECAY_INPUT:
            h = v + tl.math.div_rn(x - (v - v_rest), tau)
        else:
            h = v - tl.math.div_rn(v - v_rest, tau) + x
        fire = h >= v_th
        if HARD:
            v = tl.where(fire, v_reset, h)
        else:
            v = tl.where(fire, h - v_th, h)
        return h, fire, v

    @triton.jit
    def _lanes(start_ptr, N, init, HAS_START: tl.constexpr, BLOCK_N: tl.constexpr):
        # this program's neurons (offsets, mask) and the carried state they start from (float32):
        # loaded from start_ptr, or `init` everywhere; every kernel here starts this way
        offs = tl.program_id(0) * BLOCK_N + tl.arange(0, BLOCK_N)
        mask = offs < N
        if HAS_START:
            state = tl.load(start_ptr + offs, mask=mask, other=0.0).to(tl.float32)
        else:
            state = tl.zeros([BLOCK_N], dtype=tl.float32) + init
        return offs, mask, state

    @triton.jit
    def _fwd_kernel(x_ptr, v0_ptr, s_ptr, h_ptr, vlast_ptr, N, T,
                    tau, v_th, v_rest, v_reset,
                    KIND_IF: tl.constexpr, DECAY_INPUT: tl.constexpr, HARD: tl.constexpr,
                    HAS_V0: tl.constexpr, SAVE_H: tl.constexpr, BLOCK_N: tl.constexpr):
        offs, mask, v = _lanes(v0_ptr, N, v_rest, HAS_V0, BLOCK_N)
        for t in range(T):
            x = tl.load(x_ptr + t * N + offs, mask=mask, other=0.0).to(tl.float32)
            h, fire, v = _neuron_step(v, x, tau, v_th, v_rest, v_reset, KIND_IF, DECAY_INPUT, HARD)
            tl.store(s_ptr + t * N + offs, tl.where(fire, 1.0, 0.0).to(s_ptr.dtype.element_ty), mask=mask)
            if SAVE_H:
                tl.store(h_ptr + t * N + offs, h.to(h_ptr.dtype.element_ty), mask=mask)
        tl.store(vlast_ptr + offs, v.to(vlast_ptr.dtype.element_ty), mask=mask)

    @triton.jit
    def _bwd_kernel(gs_ptr, gv_ptr, h_ptr, gx_ptr, gv0_ptr, N, T,
                    k, c, v_th, v_reset, alpha,
                    SID: tl.constexpr, HARD: tl.constexpr, DETACH: tl.constexpr,
                    RECURRENT: tl.constexpr, HAS_GV: tl.constexpr, BLOCK_N: tl.constexpr):
        offs, mask, gv = _lanes(gv_ptr, N, 0.0, HAS_GV, BLOCK_N)
        for i in range(T):
            t = T - 1 - i
            h = tl.load(h_ptr + t * N + offs, mask=mask, other=0.0).to(tl.float32)
            gs = tl.load(gs_ptr + t * N + offs, mask=mask, other=0.0).to(tl.float32)
            sg = _surrogate(h - v_th, SID, alpha)
            if HARD:
                dvdh = tl.where(h >= v_th, 0.0, 1.0)
                dvds = v_reset - h
            else:
                dvdh = 1.0
                dvds = -v_th
            if DETACH:
                dvds = 0.0
            g = gs * sg + gv * (dvdh + dvds * sg)
            tl.store(gx_ptr + t * N + offs, (g * c).to(gx_ptr.dtype.element_ty), mask=mask)
            if RECURRENT:
                gv = g * k
            else:
                gv = gv * 0.0
        tl.store(gv0_ptr + offs, gv.to(gv0_ptr.dtype.element_ty), mask=mask)


def _launch_fwd(x: torch.Tensor, p: NeuronParams, v0: torch.Tensor | None, save_h: bool):
    T = x.shape[0]
    x2 = x.contiguous().view(T, -1)
    N = x2.shape[1]
    s = torch.empty_like(x2)
    h = torch.empty_like(x2) if save_h else s
    vlast = torch.empty_like(x2[0])
    v0c = v0.detach().contiguous().view(-1) if v0 is not None else vlast
    grid = (triton.cdiv(N, BLOCK),)
    _fwd_kernel[grid](x2, v0c, s, h, vlast, N, T, float(p.tau), float(p.v_threshold), p.v_rest,
                      0.0 if p.v_reset is None else float(p.v_reset),
                      KIND_IF=p.kind == "if", DECAY_INPUT=p.decay_input, HARD=p.v_reset is not None,
                      HAS_V0=v0 is not None, SAVE_H=save_h, BLOCK_N=BLOCK)
    return s.view(x.shape), (h.view(x.shape) if save_h else None), vlast.view(x.shape[1:])


def _grads(h: torch.Tensor, p: NeuronParams, g_s, g_v, recurrent_grad: bool, want_v0: bool):
    cf = coeffs(p)
    T = h.shape[0]
    h2 = h.view(T, -1)
    N = h2.shape[1]
    gs = g_s.contiguous().view(T, -1) if g_s is not None else torch.zeros_like(h2)
    gv = g_v.contiguous().view(-1) if g_v is not None else gs[0]
    gx = torch.empty_like(h2)
    gv0 = torch.empty_like(h2[0])
    grid = (triton.cdiv(N, BLOCK),)
    _bwd_kernel[grid](gs, gv, h2, gx, gv0, N, T, cf.k, cf.c, cf.v_th, cf.v_reset, cf.alpha,
                      SID=cf.surrogate_id, HARD=cf.hard, DETACH=cf.detach_reset,
                      RECURRENT=bool(recurrent_grad), HAS_GV=g_v is not None, BLOCK_N=BLOCK)
    return gx.view(h.shape), (gv0.view(h.shape[1:]) if want_v0 and recurrent_grad else None)


_TritonMultistep = neuron_function("_TritonMultistep", lambda x, p, v0: _launch_fwd(x, p, v0, save_h=True), _grads)


def triton_multistep(x_seq: torch.Tensor, p: NeuronParams, v0: torch.Tensor | None = None,
                     recurrent_grad: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Drop-in for :func:`pipesdfa.snn.neurons.multistep` on CUDA tensors (or the interpreter)."""
    if not HAVE_TRITON:
        raise RuntimeError("the triton backend needs the 'triton' package")
    return multistep_with(_TritonMultistep, lambda x, p, v0: _launch_fwd(x, p, v0, save_h=False)[::2],
                          x_seq, p, v0, recurrent_grad)



def forward_with_potential(x_seq: torch.Tensor, p: NeuronParams, h_out: torch.Tensor | None = None,
                           v0: torch.Tensor | None = None, spike_dtype: torch.dtype = torch.bool):
    """Graph-free forward ``(spikes, H, V[T-1])`` (see :func:`pipesdfa.snn.kernels.forward_with_potential`);
    the spikes come in ``x_seq``'s dtype whatever ``spike_dtype`` says."""
    if not HAVE_TRITON:
        raise RuntimeError("the triton backend needs the 'triton' package")
    with torch.no_grad():
        s, h, v = _launch_fwd(x_seq, p, v0, save_h=True)
        if h_out is not None:
            h_out.copy_(h)
            h = h_out
    return s, h, v
