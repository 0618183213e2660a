"""Multi-step spiking neuron modules over a leading time axis ``[T, B, ...]``.

The dynamics (``H[t] = charge(X[t], V[t-1])``, ``S[t] = Theta(H[t] - V_th)``, reset) and their
parameters are in :mod:`pipesdfa.snn.dynamics`; these modules hold a :class:`NeuronParams` and
a backend name (:mod:`pipesdfa.snn.kernels`) and keep no state between calls. :class:`LIF` and
:class:`IF` are the same module with the parameters spelled out.

``recurrent_grad`` is the documented *instantaneous-mode protocol*: a module with a boolean
attribute of that name that, when ``False``, treats ``V[t-1]`` as a constant in the backward
pass. SDFA's ``temporal="instantaneous"`` sets it for the duration of a block's forward pass
on any neuron module that has it (a foreign neuron can implement the same attribute).
"""

from __future__ import annotations

import torch
from torch import nn

from pipesdfa.snn.dynamics import NeuronParams, charge, fire_and_reset, multistep, neuron_step
from pipesdfa.snn.kernels import check_backend, run_multistep

__all__ = ["NeuronParams", "charge", "fire_and_reset", "neuron_step", "multistep", "SpikingNeuron", "LIF", "IF"]


class SpikingNeuron(nn.Module):
    """Multi-step LIF/IF layer over ``[T, B, ...]``; holds parameters, no hidden state.

    ``forward(x)`` starts from rest and returns the spike train; :meth:`run` takes and
    returns the membrane potential explicitly, for stepping a sequence in chunks.
    ``backend``: ``torch`` (the reference), ``fused``, ``triton`` or ``auto``
    (:mod:`pipesdfa.snn.kernels`).
    """

    def __init__(self, params: NeuronParams | None = None, backend: str = "torch") -> None:
        super().__init__()
        self.params = params or NeuronParams()
        self.backend = check_backend(backend)
        self.recurrent_grad = True

    def run(self, x_seq: torch.Tensor, v0: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``(spikes, V[T-1])`` via the backend named by ``self.backend``."""
        return run_multistep(x_seq, self.params, v0, self.recurrent_grad, self.backend)

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        return self.run(x_seq)[0]

    def extra_repr(self) -> str:
        p = self.params
        reset = "soft" if p.v_reset is None else f"hard(v_reset={p.v_reset})"
        return (f"kind={p.kind}, tau={p.tau}, v_th={p.v_threshold}, reset={reset}, "
                f"surrogate={p.surrogate}(alpha={p.alpha_value}), backend={self.backend}")


class LIF(SpikingNeuron):
    """Leaky integrate-and-fire neuron: ``H[t] = V[t-1] + (X[t] - (V[t-1] - V_reset)) / tau``
    (``decay_input=True``; else ``V[t-1] - (V[t-1] - V_reset) / tau + X[t]``), ``tau`` in time
    steps, voltages in units of the threshold's; ``v_reset=None`` resets by subtraction."""

    def __init__(self, tau: float = 2.0, v_threshold: float = 1.0, v_reset: float | None = 0.0, *,
                 surrogate: str = "atan", alpha: float | None = None, detach_reset: bool = False,
                 decay_input: bool = True, backend: str = "auto") -> None:
        super().__init__(NeuronParams("lif", tau, v_threshold, v_reset, detach_reset, decay_input, surrogate, alpha),
                         backend)


class IF(SpikingNeuron):
    """Integrate-and-fire neuron: ``H[t] = V[t-1] + X[t]``; reset as :class:`LIF`."""

    def __init__(self, v_threshold: float = 1.0, v_reset: float | None = 0.0, *, surrogate: str = "atan",
                 alpha: float | None = None, detach_reset: bool = False, backend: str = "auto") -> None:
        super().__init__(NeuronParams("if", 2.0, v_threshold, v_reset, detach_reset, True, surrogate, alpha), backend)
