"""Neuron dynamics as affine coefficients, shared by the hand-written backends.

Every charge rule of :mod:`pipesdfa.snn.neurons` is affine in ``(V[t-1], X[t])``::

    H[t] = k V[t-1] + c X[t] + b

==================================  ===========  ========  ===============
rule                                 k            c         b
==================================  ===========  ========  ===============
LIF, ``decay_input=True``            1 - 1/tau    1/tau     V_rest / tau
LIF, ``decay_input=False``           1 - 1/tau    1         V_rest / tau
IF                                   1            1         0
==================================  ===========  ========  ===============

and the reset is ``V[t] = H[t] (1 - S[t]) + V_reset S[t]`` (hard) or
``V[t] = H[t] - V_th S[t]`` (soft). The backward pass of one step therefore needs only
``H[t]`` (the spike is ``H[t] >= V_th``):

* ``dV/dH = 1 - S`` (hard) or ``1`` (soft);
* ``dV/dS = V_reset - H`` (hard) or ``-V_th`` (soft), and ``0`` with ``detach_reset``;
* ``dS/dH = g'(H - V_th)`` (the surrogate);
* ``dH/dV[t-1] = k`` (``0`` with ``recurrent_grad=False``), ``dH/dX = c``.

so the gradient ``G[t] = dL/dH[t]`` obeys, backwards in time, the linear recurrence
``G[t] = P[t] + k A[t] G[t+1]`` with ``P[t] = dL/dS[t] g'[t]`` and ``A = dV/dH + dV/dS g'``
(:func:`recurrence_factor`): :func:`backward_recurrence_`, the one implementation that the fused
backend's backward and SDFA's graph-free weight gradients run (the Triton kernel runs the same
recurrence in registers).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from pipesdfa.snn.dynamics import NeuronParams
from pipesdfa.snn.surrogates import SURROGATE_IDS

__all__ = ["Coeffs", "coeffs", "recurrence_factor", "backward_recurrence_", "neuron_function", "multistep_with"]


@dataclass(frozen=True)
class Coeffs:
    """Scalars of one neuron configuration, in the form the kernels consume."""

    k: float  # dH/dV[t-1]
    c: float  # dH/dX[t]
    b: float  # constant term of H
    v_th: float
    hard: bool
    v_reset: float  # 0.0 for a soft reset (unused)
    detach_reset: bool
    surrogate_id: int
    alpha: float


def coeffs(p: NeuronParams) -> Coeffs:
    """The affine charge coefficients and reset constants of ``p`` (table above)."""
    if p.kind == "if":
        k, c, b = 1.0, 1.0, 0.0
    else:
        k = 1.0 - 1.0 / p.tau
        c = 1.0 / p.tau if p.decay_input else 1.0
        b = p.v_rest / p.tau
    return Coeffs(
        k=k, c=c, b=b, v_th=float(p.v_threshold), hard=p.v_reset is not None,
        v_reset=0.0 if p.v_reset is None else float(p.v_reset), detach_reset=p.detach_reset,
        surrogate_id=SURROGATE_IDS[p.surrogate], alpha=p.alpha_value,
    )


def recurrence_factor(h: torch.Tensor, sg: torch.Tensor, cf: Coeffs) -> torch.Tensor:
    """``A = dV/dH + dV/dS g'`` (a new tensor) from ``H`` and ``g' = g'(H - V_th)`` of the same
    steps: hard reset ``1[H < V_th] + (V_reset - H) g'``, soft reset ``1 - V_th g'`` (without the
    ``g'`` term under ``detach_reset``). The indicator is written straight into ``H``'s dtype
    (faster on the CPU than a bool tensor and a conversion; the same 0/1)."""
    if cf.hard:
        dvdh = torch.lt(h, cf.v_th, out=torch.empty_like(h))
        return dvdh if cf.detach_reset else dvdh.addcmul_(cf.v_reset - h, sg)
    return torch.ones_like(h) if cf.detach_reset else 1.0 - cf.v_th * sg


def backward_recurrence_(g: torch.Tensor, ka: torch.Tensor, g_next: torch.Tensor | None) -> torch.Tensor:
    """``G[t] = P[t] + kA[t] G[t+1]`` in place over a chunk of steps, backwards in time.

    ``g [n, ...]`` holds ``P`` of the chunk's steps on entry and ``G`` on return; ``ka [m, ...]``
    (``m <= n``) is ``k A`` of the chunk's first ``m`` steps: step ``i`` takes ``G[i+1]`` only when
    ``i < m`` (so a chunk that ends at the sequence's last step passes ``m = n - 1``);
    ``g_next`` is ``G`` of the step after the chunk (``None``: there is none). Returns ``g[0]``
    (a view), the ``g_next`` of the chunk before."""
    n, m = g.shape[0], ka.shape[0]
    for i in range(min(n, m) - 1, -1, -1):
        nxt = g[i + 1] if i + 1 < n else g_next
        if nxt is not None:
            g[i].addcmul_(ka[i], nxt)
    return g[0]


def neuron_function(name: str, run, grads) -> type:
    """An autograd function ``apply(x_seq, v0, p, recurrent_grad) -> (spikes, V[T-1])`` of a fast
    backend: ``run(x_seq, p, v0) -> (spikes, H, V[T-1])`` is its forward (``H`` kept for the
    backward), ``grads(H, p, g_s, g_v, recurrent_grad, want_v0) -> (dL/dX, dL/dV0 or None)`` its
    backward. The fused CPU backend and the Triton one differ only in those two functions."""

    def forward(ctx, x_seq, v0, p, recurrent_grad):
        s, h, v = run(x_seq, p, v0)
        ctx.save_for_backward(h)
        ctx.p, ctx.recurrent_grad, ctx.has_v0 = p, recurrent_grad, v0 is not None
        return s, v

    def backward(ctx, g_s, g_v):
        (h,) = ctx.saved_tensors
        g_x, g_v0 = grads(h, ctx.p, g_s, g_v, ctx.recurrent_grad, ctx.has_v0 and ctx.needs_input_grad[1])
        return g_x, g_v0, None, None

    return type(name, (torch.autograd.Function,), {"forward": staticmethod(forward), "backward": staticmethod(backward)})


def multistep_with(function: type, forward_nograd, x_seq: torch.Tensor, p: NeuronParams,
                   v0: torch.Tensor | None, recurrent_grad: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """``(spikes, V[T-1])``: through the autograd ``function`` when a gradient is wanted, else
    ``forward_nograd(x_seq, p, v0)`` alone."""
    if not (x_seq.requires_grad or (v0 is not None and v0.requires_grad)) or not torch.is_grad_enabled():
        return forward_nograd(x_seq, p, v0)
    return function.apply(x_seq, v0, p, recurrent_grad)
