"""Named variants of the SDFA rule (``SDFA(..., variant=NAME)``, ``--sdfa-variant NAME``).

Every variant keeps what makes SDFA SDFA: no error crosses layers, ``W^T`` is never used, and
each hidden block ``l`` receives the global output error ``e = dLoss/dfr`` through one fixed
random projection ``B_l / sqrt(n_max)`` (:mod:`pipesdfa.learning.feedback`), the same value at
every time step. A variant is made of two switches:

``center``
    ``False`` (the authors'): ``r_l = e B_l / sqrt(n_max)``. ``True``: the batch mean of the
    error is taken out first, ``r_{l,b} = (e_b - mean_b' e_b') B_l / sqrt(n_max)`` (``C``
    numbers per batch, and the hidden layers' local gradients wait for the whole batch's
    errors). The output layer keeps its true gradient either way.
``hidden_lr``
    Learning-rate multiplier of the hidden layers (1 = the authors'): the optimiser runs the
    hidden layers at ``hidden_lr * lr`` and the output layer at ``lr``. Adam makes every
    parameter's step about ``lr`` whatever the scale of its gradient, so scaling the projection
    ``B`` cannot change how fast a hidden layer moves; this does.

The authors' rule (:data:`AUTHORS`) is the default of :class:`pipesdfa.learning.SDFA` and of every
workload (the paper's recipe); a model composed with ``--dataset X --model M`` (a training
config without a workload) trains with :data:`COMPOSED` unless ``--sdfa-variant`` says otherwise.
A variant is recorded as ``rule.variant`` in ``metrics.json`` and as ``variant`` in
``accuracy.json``. What each attempt gave on event-Braille and on the composed digits MLPs, and
why these two: ``docs/accuracy.md``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["AUTHORS", "COMPOSED", "COMPOSED_FEEDBACK", "Variant", "VARIANTS", "get_variant", "center_batch"]

AUTHORS = "authors"


@dataclass(frozen=True)
class Variant:
    """One SDFA variant (module docstring)."""

    name: str
    center: bool = False
    hidden_lr: float = 1.0
    summary: str = ""

    def __post_init__(self) -> None:
        if not self.hidden_lr > 0:
            raise ValueError(f"variant {self.name!r}: hidden_lr must be > 0, got {self.hidden_lr}")


VARIANTS: dict[str, Variant] = {v.name: v for v in [
    Variant(AUTHORS, summary="the paper's rule: e = dLoss/dfr through B_l, every layer at lr"),
    Variant("centered-lr3", center=True, hidden_lr=3.0,
            summary="e minus its batch mean through B_l; hidden layers at 3 x lr, the output layer at lr"),
]}


#: The variant of a composed model's SDFA (chosen on validation accuracy by
#: ``benchmarks/composed_defaults.py --select``; ``docs/accuracy.md``, "Composed networks"):
#: on the digits MLPs at the composed defaults the authors' rule underfits (its error keeps a
#: part common to the whole batch, which pushes every hidden neuron the same way), centring
#: removes that part and the hidden layers at 3 x lr learn features the output layer can use.
COMPOSED = "centered-lr3"

#: The feedback of a composed model's SDFA when neither ``feedback`` nor ``distribution`` is
#: given: ``aligned`` (:func:`pipesdfa.learning.feedback.aligned_block_matrices`, one matrix per
#: hidden layer: the product of the initial forward weights above it, through the linearised
#: chain where there are convolutions). Chosen on validation for MLPs
#: (``benchmarks/results/composed_select_aligned_mse_1e-3.json``: SDFA 96.1 % against 93.7 % with
#: random centred feedback, BPTT 96.2 %, the digits MLPs of depth 2/4/6 x 64, 3 seeds); conv nets
#: get the same rule (``docs/accuracy.md``). Every workload and :class:`pipesdfa.learning.SDFA`
#: keep the paper's random ``B``.
COMPOSED_FEEDBACK = {"distribution": "aligned", "feedback": "independent"}


def get_variant(name: str | None) -> Variant:
    """The variant ``name`` (``None`` = the authors' rule)."""
    if name is None:
        name = AUTHORS
    try:
        return VARIANTS[name]
    except KeyError:
        from pipesdfa.util.names import unknown_name

        raise unknown_name("sdfa variant", name, VARIANTS) from None


def center_batch(signal: torch.Tensor, batch_dim: int = 0) -> torch.Tensor:
    """``signal - mean over the batch axis`` (a new tensor)."""
    return signal - signal.mean(batch_dim, keepdim=True)
