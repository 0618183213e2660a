"""Fused CPU/GPU backend: the whole time loop in one autograd node with a hand-written backward.

Forward (no autograd graph): the reference recurrence of :mod:`pipesdfa.snn.neurons`, evaluated
with the same floating-point operations in the same order (so spikes are bit-identical),
writing ``H[t]`` into one preallocated ``[T, ...]`` buffer, the only tensor saved.

Backward: with ``P[t] = dL/dS[t] * g'(H[t] - V_th)`` and
``A[t] = dV/dH + dV/dS * g'(H[t] - V_th)`` (see :mod:`pipesdfa.snn.kernels.common`), the
gradient reaching ``H`` obeys the linear recurrence backwards in time::

    G[T-1] = P[T-1] + A[T-1] * dL/dV[T-1]
    G[t]   = P[t] + k A[t] G[t+1]          (recurrent_grad=True)
    G[t]   = P[t]                          (recurrent_grad=False, t < T-1)
    dL/dX[t] = c G[t],   dL/dV0 = k G[0]

i.e. one fused multiply-add per time step instead of a per-step autograd graph.

Memory: besides the saved ``H`` and the returned spikes and ``dL/dX``, every temporary
(``g'``, ``A``) covers a chunk of time steps of at most :data:`CHUNK_BYTES` on the CPU (the
whole sequence on other devices, whose caching allocators reuse blocks anyway). Whole-sequence
temporaries cost more than their arithmetic on the CPU: above glibc's mmap threshold (at most
32 MiB) every one is mapped afresh and page-faulted in on each step. For the same reason the
whole-sequence tensors (``H``, the spikes, ``dL/dX``) come from :mod:`pipesdfa.snn.kernels.workspace`,
which reuses their blocks from step to step.
"""

from __future__ import annotations

import math

import torch

from pipesdfa.snn.kernels import workspace
from pipesdfa.snn.kernels.common import (backward_recurrence_, coeffs, multistep_with, neuron_function,
                                         recurrence_factor)
from pipesdfa.snn.dynamics import NeuronParams
from pipesdfa.snn.surrogates import surrogate_grad_

__all__ = ["CHUNK_BYTES", "fused_multistep", "neuron_forward_nograd", "time_chunks"]

#: Largest temporary of the fused backward on the CPU, in bytes (a few time steps' worth).
CHUNK_BYTES = 4 * 2**20


def time_chunks(like: torch.Tensor) -> list[tuple[int, int]]:
    """``[(lo, hi), ...]`` covering ``range(T)`` from the end backwards, each at most
    :data:`CHUNK_BYTES` of ``like [T, ...]`` on the CPU (at least one step), one chunk elsewhere."""
    T = like.shape[0]
    step_bytes = max(1, like[0].numel() * like.element_size())
    n = T if like.device.type != "cpu" else max(1, min(T, CHUNK_BYTES // step_bytes))
    return [(max(0, hi - n), hi) for hi in range(T, 0, -n)]


def neuron_forward_nograd(x_seq: torch.Tensor, p: NeuronParams, v0: torch.Tensor | None = None,
                          h_out: torch.Tensor | None = None, spike_dtype: torch.dtype = torch.bool,
                          reuse: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Spikes ``[T, ...]`` (0/1 in ``spike_dtype``) and ``V[T-1]``, without autograd; ``H``
    written to ``h_out``.

    Same arithmetic, in the same order, as :func:`pipesdfa.snn.neurons.neuron_step`. ``h_out``
    may be ``x_seq`` itself (``X[t]`` is read before ``H[t]`` is written). ``reuse``: the
    spikes on a :mod:`~pipesdfa.snn.kernels.workspace` block (for whole sequences; a caller that
    works in chunks of a few MiB gains nothing from it and would only keep more memory).
    """
    T = x_seq.shape[0]
    v = torch.full_like(x_seq[0], p.v_rest) if v0 is None else v0.detach().clone()  # updated in place
    spikes = (workspace.empty(x_seq.shape, spike_dtype, x_seq.device) if reuse
              else torch.empty(x_seq.shape, dtype=spike_dtype, device=x_seq.device))
    tmp = torch.empty_like(x_seq[0])
    vr = p.v_rest
    # 1/tau a power of two: (x - v)/tau == (x - v) * (1/tau) exactly, so v + (x - v)/tau is one
    # add with alpha (bit-equal; one pass fewer)
    inv_tau = 1.0 / p.tau if p.kind != "if" else 1.0
    scale_exact = p.kind != "if" and math.frexp(inv_tau)[0] == 0.5 and inv_tau * p.tau == 1.0
    # hard reset to 0 with 0/1 float spikes: h (1 - s) + 0 s == h - h s, one addcmul (bit-equal up
    # to the sign of a zero potential)
    reset_mul = p.v_reset == 0.0 and spike_dtype.is_floating_point
    for t in range(T):
        h = h_out[t] if h_out is not None else torch.empty_like(tmp)
        if p.kind == "if":
            torch.add(v, x_seq[t], out=h)
        elif p.decay_input:  # v + (x - (v - v_rest)) / tau
            if vr == 0.0:  # v - 0 == v exactly: one pass fewer
                torch.sub(x_seq[t], v, out=tmp)
            else:
                torch.sub(v, vr, out=tmp)
                torch.sub(x_seq[t], tmp, out=tmp)
            if scale_exact:
                torch.add(v, tmp, alpha=inv_tau, out=h)
            else:
                tmp.div_(p.tau)
                torch.add(v, tmp, out=h)
        else:  # v - (v - v_rest) / tau + x
            torch.sub(v, vr, out=tmp)
            tmp.div_(p.tau)
            torch.sub(v, tmp, out=tmp)
            torch.add(tmp, x_seq[t], out=h)
        s = spikes[t]
        torch.ge(h, p.v_threshold, out=s)
        if p.v_reset is None:  # h - v_th * s  (exact for s in {0, 1})
            v = torch.where(s, h - p.v_threshold, h) if s.dtype == torch.bool else torch.sub(h, s, alpha=p.v_threshold)
        elif reset_mul:
            torch.addcmul(h, h, s, value=-1.0, out=v)
        else:  # h (1 - s) + v_reset s, as -threshold(-h): x <= -V_th (a spike) -> -V_reset, else x
            torch.neg(h, out=v)
            torch.nn.functional.threshold_(v, -p.v_threshold, -p.v_reset)
            v.neg_()
    return spikes, v


def _run(x_seq: torch.Tensor, p: NeuronParams, v0: torch.Tensor | None):
    h_all = workspace.empty(x_seq.shape, x_seq.dtype, x_seq.device)
    s, v = neuron_forward_nograd(x_seq, p, v0, h_out=h_all, spike_dtype=x_seq.dtype)
    return s, h_all, v


def _grads(h_all: torch.Tensor, p: NeuronParams, g_s, g_v, recurrent_grad: bool, want_v0: bool):
    cf = coeffs(p)
    T = h_all.shape[0]
    recurrent = recurrent_grad and T > 1
    g = workspace.empty(h_all.shape, h_all.dtype, h_all.device)  # P, then G, then dL/dX
    for lo, hi in time_chunks(h_all):  # last steps first: G[t] needs G[t+1]
        h = h_all[lo:hi]
        sg = surrogate_grad_(h - cf.v_th, p.surrogate, cf.alpha)
        if g_s is not None:
            torch.mul(g_s[lo:hi], sg, out=g[lo:hi])
        else:
            g[lo:hi].zero_()
        if hi == T and g_v is not None:
            g[T - 1].addcmul_(recurrence_factor(h[-1], sg[-1], cf), g_v)
        if recurrent:
            ka = recurrence_factor(h[: min(hi, T - 1) - lo], sg[: min(hi, T - 1) - lo], cf).mul_(cf.k)
            backward_recurrence_(g[lo:hi], ka, g[hi] if hi < T else None)
    g_v0 = g[0] * cf.k if recurrent_grad and want_v0 else None
    g_x = g.mul_(cf.c) if cf.c != 1.0 else g
    return g_x, g_v0


_FusedMultistep = neuron_function("_FusedMultistep", _run, _grads)


def fused_multistep(x_seq: torch.Tensor, p: NeuronParams, v0: torch.Tensor | None = None,
                    recurrent_grad: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Drop-in for :func:`pipesdfa.snn.neurons.multistep`: ``(spikes [T, ...], V[T-1])``."""
    return multistep_with(_FusedMultistep, lambda x, p, v0: neuron_forward_nograd(x, p, v0, spike_dtype=x.dtype),
                          x_seq, p, v0, recurrent_grad)
