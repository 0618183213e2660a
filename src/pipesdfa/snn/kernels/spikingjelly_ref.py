"""SpikingJelly neurons in our models: the reference for benchmarks and oracle tests.

SpikingJelly (``spikingjelly.activation_based``) is an optional extra, never a dependency:
it is imported only when :class:`SJNeuron` is built, and :func:`available` says whether it
can be. :func:`use_spikingjelly` swaps every block's :class:`~pipesdfa.snn.neurons.SpikingNeuron`
of a model for an :class:`SJNeuron` with the same :class:`~pipesdfa.snn.neurons.NeuronParams`,
so the same network, learning rules and data run on SpikingJelly's ``LIFNode``/``IFNode``
(``step_mode="m"``; whatever multi-step implementation SpikingJelly picks for the device
and dtype -- in 2.0 a fused operator for float32 on CPU, its per-step autograd reference
for float64).

Parameter mapping (our conventions follow SpikingJelly's, :mod:`pipesdfa.snn.neurons`):

==================  ===========================================================
ours                SpikingJelly
==================  ===========================================================
``kind="lif"``      ``LIFNode(tau, decay_input, ...)`` (SpikingJelly needs ``tau > 1``)
``kind="if"``       ``IFNode(...)``
``v_threshold``     ``v_threshold``
``v_reset=None``    ``v_reset=None`` (soft reset: subtract the threshold)
``detach_reset``    ``detach_reset``
``surrogate``       ``atan`` -> ``ATan``, ``sigmoid`` -> ``Sigmoid``,
                    ``rectangular`` -> ``Rect``, ``triangular`` -> ``PiecewiseQuadratic``
                    (same ``alpha``)
==================  ===========================================================

``recurrent_grad=False`` (SDFA ``temporal="instantaneous"``) runs the node one step at a
time with its potential detached before each step.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import torch
from torch import nn

from pipesdfa.util.errors import UserError
from pipesdfa.snn.dynamics import NeuronParams

__all__ = ["available", "version", "SJ_SURROGATES", "SJNeuron", "make_sj_node", "use_spikingjelly"]

#: our surrogate name -> SpikingJelly's class in ``spikingjelly.activation_based.surrogate``.
SJ_SURROGATES: dict[str, str] = {
    "atan": "ATan",
    "sigmoid": "Sigmoid",
    "rectangular": "Rect",
    "triangular": "PiecewiseQuadratic",
}

BACKEND_NAME = "spikingjelly"


def available() -> bool:
    """Whether ``spikingjelly.activation_based`` can be imported here."""
    try:
        return importlib.util.find_spec("spikingjelly") is not None and \
            importlib.util.find_spec("spikingjelly.activation_based") is not None
    except (ImportError, ValueError):
        return False


def version() -> str | None:
    """The installed SpikingJelly version, or ``None``."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as _v

    try:
        return _v("spikingjelly")
    except PackageNotFoundError:
        return None


def _sj() -> Any:
    try:
        from spikingjelly.activation_based import neuron, surrogate
    except ImportError as e:
        raise UserError("SpikingJelly is not installed: the SpikingJelly reference needs "
                        "'spikingjelly' (an optional extra, e.g. `pip install --no-deps spikingjelly`)") from e
    return neuron, surrogate


def make_sj_node(p: NeuronParams) -> nn.Module:
    """A multi-step SpikingJelly ``LIFNode``/``IFNode`` with the dynamics of ``p``."""
    neuron, surrogate = _sj()
    sg = getattr(surrogate, SJ_SURROGATES[p.surrogate])(alpha=p.alpha_value, spiking=True)
    common = dict(v_threshold=float(p.v_threshold), v_reset=None if p.v_reset is None else float(p.v_reset),
                  surrogate_function=sg, detach_reset=bool(p.detach_reset), step_mode="m")
    if p.kind == "if":
        return neuron.IFNode(**common)
    if not p.tau > 1.0:
        raise UserError(f"SpikingJelly's LIFNode needs tau > 1, got {p.tau}")
    return neuron.LIFNode(tau=float(p.tau), decay_input=bool(p.decay_input), **common)


class SJNeuron(nn.Module):
    """Drop-in for :class:`~pipesdfa.snn.neurons.SpikingNeuron` running a SpikingJelly node.

    Exposes what our code reads (``params``, ``backend``, ``recurrent_grad``) and, like
    ours, starts every call from rest: the node's state is reset before each sequence.
    """

    def __init__(self, params: NeuronParams | None = None) -> None:
        super().__init__()
        self.params = params or NeuronParams()
        self.backend = BACKEND_NAME
        self.recurrent_grad = True
        self.node = make_sj_node(self.params)

    def run(self, x_seq: torch.Tensor, v0: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``(spikes [T, ...], V[T-1])`` from rest, or from ``v0``."""
        node = self.node
        node.reset()
        if v0 is not None:
            node.v = v0
        if self.recurrent_grad:
            node.step_mode = "m"
            s = node(x_seq)
        else:  # V[t-1] a constant: step by step, the potential detached before each step
            node.step_mode = "s"
            out = []
            try:
                for t in range(x_seq.shape[0]):
                    if isinstance(node.v, torch.Tensor):
                        node.v = node.v.detach()
                    out.append(node(x_seq[t]))
            finally:
                node.step_mode = "m"
            s = torch.stack(out)
        v = node.v
        if not isinstance(v, torch.Tensor):
            v = torch.full_like(x_seq[0], float(v))
        return s, v

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        return self.run(x_seq)[0]

    def extra_repr(self) -> str:
        return f"backend={self.backend}"


def use_spikingjelly(model: nn.Module) -> nn.Module:
    """Replace the neuron of every block of ``model`` (in place) by an :class:`SJNeuron`."""
    for blk in model.blocks:  # type: ignore[attr-defined]
        blk.neuron = SJNeuron(blk.neuron.params)
    return model
