"""Fused CPU/GPU backend: the whole time loop in one autograd node with a hand-written backward.

Forward (no autograd graph): the reference recurrence of :mod:`pipesdfa.neurons`, evaluated
with the same floating-point operations in the same order (so spikes are bit-identical),
writing ``H[t]`` into one preallocated ``[T, ...]`` buffer, the only tensor saved.

Backward: with ``P[t] = dL/dS[t] * g'(H[t] - V_th)`` and
``A[t] = dV/dH + dV/dS * g'(H[t] - V_th)`` (see :mod:`pipesdfa.kernels.common`), the
gradient reaching ``H`` obeys the linear recurrence backwards in time::

    G[T-1] = P[T-1] + A[T-1] * dL/dV[T-1]
    G[t]   = P[t] + k A[t] G[t+1]          (recurrent_grad=True)
    G[t]   = P[t]                          (recurrent_grad=False, t < T-1)
    dL/dX[t] = c G[t],   dL/dV0 = k G[0]

i.e. one fused multiply-add per time step instead of a per-step autograd graph.
"""

from __future__ import annotations

import torch

from pipesdfa.kernels.common import coeffs
from pipesdfa.neurons import NeuronParams
from pipesdfa.surrogates import surrogate_grad_

__all__ = ["fused_multistep", "neuron_forward_nograd"]


def neuron_forward_nograd(x_seq: torch.Tensor, p: NeuronParams, v0: torch.Tensor | None = None,
                          h_out: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Spikes ``[T, ...]`` (bool) and ``V[T-1]``, without autograd; ``H`` written to ``h_out``.

    Same arithmetic, in the same order, as :func:`pipesdfa.neurons.neuron_step`. ``h_out``
    may be ``x_seq`` itself (``X[t]`` is read before ``H[t]`` is written).
    """
    T = x_seq.shape[0]
    v = torch.full_like(x_seq[0], p.v_rest) if v0 is None else v0.detach().clone()  # updated in place
    spikes = torch.empty(x_seq.shape, dtype=torch.bool, device=x_seq.device)
    tmp = torch.empty_like(x_seq[0])
    vr = p.v_rest
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
            v = torch.where(s, h - p.v_threshold, h)
        else:  # h (1 - s) + v_reset s, as -threshold(-h): x <= -V_th (a spike) -> -V_reset, else x
            torch.neg(h, out=v)
            torch.nn.functional.threshold_(v, -p.v_threshold, -p.v_reset)
            v.neg_()
    return spikes, v


class _FusedMultistep(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x_seq, v0, p, recurrent_grad):  # type: ignore[override]
        h_all = torch.empty_like(x_seq)
        spikes, v = neuron_forward_nograd(x_seq, p, v0, h_out=h_all)
        ctx.save_for_backward(h_all)
        ctx.p = p
        ctx.recurrent_grad = recurrent_grad
        ctx.has_v0 = v0 is not None
        s = spikes.to(x_seq.dtype)
        return s, v

    @staticmethod
    def backward(ctx, g_s, g_v):  # type: ignore[override]
        (h_all,) = ctx.saved_tensors
        p: NeuronParams = ctx.p
        cf = coeffs(p)
        T = h_all.shape[0]
        sg = surrogate_grad_(h_all - cf.v_th, p.surrogate, cf.alpha)
        g = g_s * sg if g_s is not None else torch.zeros_like(h_all)  # P, overwritten by G

        def a_coef(sl):
            """``A = dV/dH + dV/dS g'`` on the time slice ``sl``."""
            h, gs = h_all[sl], sg[sl]
            if cf.hard:
                dvdh = (h < cf.v_th).to(h.dtype)
                return dvdh if cf.detach_reset else torch.addcmul(dvdh, cf.v_reset - h, gs)
            return torch.ones_like(h) if cf.detach_reset else 1.0 - cf.v_th * gs

        if g_v is not None:
            g[T - 1].addcmul_(a_coef(T - 1), g_v)
        g_v0 = None
        if ctx.recurrent_grad and T > 1:
            ka = a_coef(slice(0, T - 1)).mul_(cf.k)
            for t in range(T - 2, -1, -1):
                g[t].addcmul_(ka[t], g[t + 1])
        if ctx.recurrent_grad and ctx.has_v0 and ctx.needs_input_grad[1]:
            g_v0 = g[0] * cf.k
        g_x = g.mul_(cf.c) if cf.c != 1.0 else g
        return g_x, g_v0, None, None


def fused_multistep(x_seq: torch.Tensor, p: NeuronParams, v0: torch.Tensor | None = None,
                    recurrent_grad: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Drop-in for :func:`pipesdfa.neurons.multistep`: ``(spikes [T, ...], V[T-1])``."""
    if not (x_seq.requires_grad or (v0 is not None and v0.requires_grad)) or not torch.is_grad_enabled():
        spikes, v = neuron_forward_nograd(x_seq, p, v0)
        return spikes.to(x_seq.dtype), v
    return _FusedMultistep.apply(x_seq, v0, p, recurrent_grad)
