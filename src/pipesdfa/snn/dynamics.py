"""Spiking neuron dynamics: parameters and pure step functions over a leading time axis.

Dynamics (docs/paper.md section 2; voltages in units where ``V_th = 1``, time in steps):

* charge, LIF with ``decay_input=True``:  ``H[t] = V[t-1] + (X[t] - (V[t-1] - V_reset)) / tau``
* charge, LIF with ``decay_input=False``: ``H[t] = V[t-1] - (V[t-1] - V_reset) / tau + X[t]``
* charge, IF:                             ``H[t] = V[t-1] + X[t]``
* fire:                                   ``S[t] = Theta(H[t] - V_th)`` (surrogate gradient backward)
* hard reset (``v_reset`` a number):      ``V[t] = H[t] (1 - S[t]) + V_reset S[t]``
* soft reset (``v_reset=None``):          ``V[t] = H[t] - V_th S[t]`` (leak towards 0)

``V[0-] = V_reset`` (0 for soft reset). ``detach_reset`` stops gradients through the
``S[t]`` used in the reset. ``recurrent_grad=False`` stops gradients through ``V[t-1]``
(the membrane recurrence); SDFA's ``temporal=instantaneous`` mode uses it for hidden layers.

Tensors are time-first: ``x`` has shape ``[T, B, ...]``. The modules that hold these
parameters are in :mod:`pipesdfa.snn.neurons`; the fast backends in :mod:`pipesdfa.snn.kernels`
(both import this module, which imports neither).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

import torch

from pipesdfa.util.errors import UserError
from pipesdfa.snn.surrogates import get_surrogate, spike_fn

__all__ = ["NeuronParams", "charge", "fire_and_reset", "neuron_step", "multistep"]


@dataclass(frozen=True)
class NeuronParams:
    """Parameters of a LIF or IF neuron.

    ``kind``: ``"lif"`` or ``"if"``; ``tau``: membrane time constant in time steps (LIF only,
    > 1 for a stable leak... any tau >= 1 is accepted); ``v_threshold``: firing threshold;
    ``v_reset``: reset potential for a hard reset, or ``None`` for a soft reset (subtract
    the threshold); ``surrogate``/``alpha``: the surrogate gradient and its width
    (``None`` = the surrogate's default).
    """

    kind: str = "lif"
    tau: float = 2.0
    v_threshold: float = 1.0
    v_reset: float | None = 0.0
    detach_reset: bool = False
    decay_input: bool = True
    surrogate: str = "atan"
    alpha: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("lif", "if"):
            raise UserError(f"neuron kind {self.kind!r} unknown; expected 'lif' or 'if'")
        if not self.tau >= 1.0:
            raise UserError(f"neuron tau must be >= 1 (time steps), got {self.tau}")
        if not self.v_threshold > 0:
            raise UserError(f"neuron v_threshold must be > 0, got {self.v_threshold}")
        if self.v_reset is not None and not self.v_reset < self.v_threshold:
            raise UserError(f"neuron v_reset ({self.v_reset}) must be below v_threshold ({self.v_threshold})")
        get_surrogate(self.surrogate)
        if self.alpha is not None and not self.alpha > 0:
            raise UserError(f"surrogate alpha must be > 0, got {self.alpha}")

    @property
    def alpha_value(self) -> float:
        return get_surrogate(self.surrogate).default_alpha if self.alpha is None else float(self.alpha)

    @property
    def v_rest(self) -> float:
        """Initial potential and leak target: ``V_reset`` (hard reset) or 0 (soft reset)."""
        return 0.0 if self.v_reset is None else float(self.v_reset)

    def with_(self, **changes: Any) -> "NeuronParams":
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def charge(x: torch.Tensor, v: torch.Tensor, p: NeuronParams) -> torch.Tensor:
    """Membrane potential after integrating input ``x`` from potential ``v`` (``H[t]``)."""
    if p.kind == "if":
        return v + x
    if p.decay_input:
        return v + (x - (v - p.v_rest)) / p.tau
    return v - (v - p.v_rest) / p.tau + x


def fire_and_reset(h: torch.Tensor, p: NeuronParams) -> tuple[torch.Tensor, torch.Tensor]:
    """``(S[t], V[t])`` from ``H[t]``: spike with the surrogate gradient, then reset."""
    s = spike_fn(h - p.v_threshold, p.surrogate, p.alpha_value)
    s_r = s.detach() if p.detach_reset else s
    if p.v_reset is None:
        v = h - p.v_threshold * s_r
    else:
        v = h * (1 - s_r) + p.v_reset * s_r
    return s, v


def neuron_step(x: torch.Tensor, v: torch.Tensor, p: NeuronParams) -> tuple[torch.Tensor, torch.Tensor]:
    """One time step: ``(S[t], V[t]) = step(X[t], V[t-1])``."""
    return fire_and_reset(charge(x, v, p), p)


def multistep(
    x_seq: torch.Tensor,
    p: NeuronParams,
    v0: torch.Tensor | None = None,
    recurrent_grad: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Run ``T = x_seq.shape[0]`` steps. Returns ``(spikes [T, ...], V[T-1])``.

    The plain reference implementation (a Python loop over time with autograd); fast
    backends in :mod:`pipesdfa.snn.kernels` must match it.
    """
    v = torch.full_like(x_seq[0], p.v_rest) if v0 is None else v0
    out = []
    for t in range(x_seq.shape[0]):
        if not recurrent_grad:
            v = v.detach()
        s, v = neuron_step(x_seq[t], v, p)
        out.append(s)
    return torch.stack(out), v
