"""Spiking Direct Feedback Alignment (docs/paper.md section 2, as the authors' code does it).

Forward: every block runs on the *detached* spikes of the block below, so no gradient crosses
blocks. With ``fr = readout(S_out)`` and the global error ``e = dLoss/dfr`` (``[B, C]``, once
per sample):

* output block: the true gradient, ``e`` back-propagated through the readout to
  ``dLoss/dS_out[t]`` (autograd through the readout) and then through the block;
* hidden block ``l``: the projected error ``r_l = e B_l / sqrt(n_max)`` (see
  :mod:`pipesdfa.learning.feedback`) is injected as ``dLoss/dS_l[t] = r_l`` at the block's
  spike output (after pooling), **the same value at every time step**; the gradient then runs
  only inside the block: through pooling, the surrogate, the membrane recurrence over time
  (``temporal="local"``) or not (``temporal="instantaneous"``: ``V[t-1]`` is treated as a
  constant, so the backward pass is time-step parallel), batch-norm and ``W``.

``variant`` (:mod:`pipesdfa.learning.sdfa_variants`, default ``"authors"``, the rule above) may
centre the projected error over the batch (``e_b - mean_b' e_b'``) and give the hidden blocks a
learning rate of their own (:meth:`SDFA.param_groups`).

No error crosses layers, and no ``W^T`` product is ever formed. Each block takes the graph-free
fast path when its kind is known and autograd otherwise (:mod:`pipesdfa.learning.local`;
``fast=False``: autograd everywhere, the reference); :attr:`SDFA.paths` says which.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Sequence

import torch
from torch import nn

from pipesdfa.util.errors import UserError
from pipesdfa.learning.base import LossFn, Readout, Rule
from pipesdfa.learning.feedback import ALIGNED, FeedbackMatrices, Sampler, aligned_block_matrices
from pipesdfa.learning.local import (AUTOGRAD, DEFAULT_STORE, STORES, block_grads, fast_kind, forward_blocks,
                                     output_shape, recurrent_modules)
from pipesdfa.learning.sdfa_variants import center_batch, get_variant

__all__ = ["SDFA", "TEMPORAL_MODES"]

TEMPORAL_MODES = ("local", "instantaneous")


class SDFA(Rule):
    """SDFA bound to ``blocks`` (see :class:`~pipesdfa.learning.base.Rule`).

    ``temporal``: ``local`` (BPTT inside each block, the authors' choice) or ``instantaneous``;
    ``feedback``: ``shared`` (one sliced matrix, the default) or ``independent``;
    ``distribution``: a sampler name (``gaussian``, ``uniform``, ``sign``, or one registered), a
    sampler callable, or ``aligned``: one matrix per hidden layer, ``B_l`` the linearised chain
    of the blocks' weights above layer ``l`` (:func:`~pipesdfa.learning.feedback.aligned_block_matrices`,
    through the readout's votes) when the first step runs, then fixed (``feedback`` defaults to
    ``independent``; the blocks must be :class:`~pipesdfa.snn.blocks.SpikingBlock`);
    ``widths``: hidden blocks' output sizes (default: taken at the first step); ``fast``: the
    graph-free path for known block kinds; ``store``: its state precision (``half``/``float``);
    ``variant``: a name of :data:`~pipesdfa.learning.sdfa_variants.VARIANTS` (default the
    authors' rule).
    """

    name = "sdfa"

    def __init__(self, blocks: Sequence[nn.Module], num_classes: int, *, readout: Readout | None = None,
                 temporal: str = "local", feedback: str | None = None, distribution: str | Sampler = "gaussian",
                 feedback_seed: int = 0, widths: Sequence[int] | None = None, fast: bool = True,
                 store: str | None = None, variant: str | None = None) -> None:
        super().__init__(blocks, num_classes, readout=readout)
        if temporal not in TEMPORAL_MODES:
            raise UserError(f"sdfa temporal {temporal!r} unknown; expected one of: {', '.join(TEMPORAL_MODES)}")
        store = DEFAULT_STORE if store is None else store
        if store not in STORES:
            raise UserError(f"sdfa store {store!r} unknown; expected one of: {', '.join(STORES)}")
        self.temporal = temporal
        self.fast = bool(fast)
        self.store = store
        self.variant = get_variant(variant)
        self.kinds = [fast_kind(b) if self.fast else None for b in self.blocks]
        if temporal == "instantaneous":
            for i, (b, k) in enumerate(zip(self.hidden_blocks, self.kinds)):
                if k is None and not recurrent_modules(b):
                    raise UserError(f"sdfa temporal='instantaneous': block {i} ({type(b).__name__}) has no neuron "
                                    "with the recurrent_grad protocol (see pipesdfa.snn.neurons); use temporal='local'")
        if widths is not None and len(widths) != len(self.blocks) - 1:
            raise UserError(f"sdfa: {len(widths)} widths for {len(self.blocks) - 1} hidden blocks")
        if feedback is None:
            feedback = "independent" if distribution == ALIGNED else "shared"
        self.feedback = FeedbackMatrices(self.num_classes, widths, feedback, distribution, feedback_seed)

    @classmethod
    def for_model(cls, net: nn.Module, **options: Any) -> "SDFA":
        """SDFA bound to ``net.blocks``/``num_classes``/``readout``; the feedback widths from
        ``net.output_widths`` when the net has them."""
        widths = getattr(net, "output_widths", None)
        if widths is not None and "widths" not in options:
            options["widths"] = list(widths)[:-1]
        return super().for_model(net, **options)  # type: ignore[return-value]

    @property
    def paths(self) -> list[str]:
        """Per block: ``"dense"`` / ``"conv"`` (the fast path) or ``"autograd"``."""
        return [k or AUTOGRAD for k in self.kinds]

    def options(self) -> dict:
        fb = self.feedback
        return {"feedback": fb.mode, "distribution": fb.distribution, "temporal": self.temporal,
                "feedback_seed": fb.seed, "fast": self.fast, "store": self.store, "variant": self.variant.name,
                "paths": self.paths}

    @property
    def shards_batch(self) -> bool:
        """A variant that centres the error over the batch needs the whole batch in one process."""
        return not self.variant.center

    def epoch_metrics(self, x: torch.Tensor, y: torch.Tensor, loss_fn: LossFn) -> dict[str, Any]:
        """``alignment``: per hidden block, the cosine to BPTT's gradient (:mod:`pipesdfa.learning.alignment`)."""
        from pipesdfa.learning.alignment import alignment

        return {"alignment": [a["cosine"] for a in alignment(self, x, y, loss_fn)]}

    def final_metrics(self, last: dict[str, Any]) -> dict[str, Any]:
        return {"alignment": [{"layer": l, "cosine": c} for l, c in enumerate(last.get("alignment", []))]}

    @classmethod
    def state_bytes(cls, num_classes: int, layers: Sequence[Any], options: Any = None) -> float:
        """The float32 feedback matrices, ``4 C n`` bytes: ``shared``, one ``[C, max_l n_l]``
        matrix sliced for every hidden layer (``n = max_l n_l``); ``independent`` (and
        ``aligned``, which needs it), one ``[C, n_l]`` per hidden layer (``n = sum_l n_l``);
        ``n_l``: hidden layer ``l``'s output after pooling. ``options``: the run's
        :class:`~pipesdfa.learning.options.SDFAOptions` with the feedback it binds (a composed
        model's default included); ``None`` reads as the default, ``shared``."""
        hidden = [l.n_out for l in layers[:-1]] or [1]
        mode = getattr(options, "feedback", None)
        if mode is None:
            mode = "independent" if getattr(options, "distribution", None) == "aligned" else "shared"
        return 4.0 * num_classes * (sum(hidden) if mode == "independent" else max(hidden))

    @classmethod
    def step_bytes(cls, layers: Sequence[Any], TB: float, options: Any = None) -> float | None:
        """The fast path keeps per block the input's spikes as bits and ``d`` bytes per neuron and
        step (``store``: half 2, float 4), plus the largest block's autograd graph; the autograd
        implementation is BPTT's graph (``None``)."""
        if options is not None and getattr(options, "impl", "fast") != "fast":
            return None
        d = 4 if getattr(options, "store", DEFAULT_STORE) == "float" else 2
        graph = max(TB * 4 * (l.n_in + 3 * l.n_neurons + l.n_out) for l in layers)
        return sum(TB * (l.n_in / 8 + d * l.n_neurons) for l in layers) + graph

    def param_groups(self, params: Iterable[nn.Parameter], lr: float) -> list[dict]:
        """The optimiser's groups: :meth:`Rule.param_groups`'s (every block at ``lr`` times its
        :func:`~pipesdfa.learning.base.step_scale`), the hidden blocks' further multiplied by
        ``variant.hidden_lr`` when the variant sets one (``"lr_scale"`` in the group
        keeps the ratio through the schedule's warm restarts)."""
        scale = self.variant.hidden_lr
        return self._groups(params, lr, {i: scale for i in range(len(self.blocks) - 1)} if scale != 1.0 else {})

    def hidden_signal(self, e: torch.Tensor) -> torch.Tensor:
        """What the hidden blocks' projections receive: ``e [B, C]`` itself (the authors' rule)
        or, with ``variant.center``, ``e`` minus its batch mean."""
        return center_batch(e, 0) if self.variant.center else e

    def align_feedback(self, x: torch.Tensor) -> None:
        """Set ``distribution="aligned"`` feedback from the blocks' weights now
        (:func:`~pipesdfa.learning.feedback.aligned_block_matrices` through the rule's readout);
        ``x`` (``[T, B, ...]``) only gives the hidden outputs' shapes: its first step and sample run
        through the blocks in eval mode without a graph, so no batch-norm statistic moves first."""
        modes = [b.training for b in self.blocks]
        shapes = []
        try:
            with torch.no_grad():
                h = x[:1, :1]
                for b in self.blocks[:-1]:
                    b.eval()
                    h = b(h)
                    shapes.append(tuple(h.shape[2:]))
        finally:
            for b, m in zip(self.blocks, modes):
                b.train(m)
        self.feedback.assign(aligned_block_matrices(self.blocks, shapes, self.num_classes, readout=self.readout))

    def compute_grads(self, x: torch.Tensor, y: torch.Tensor, loss_fn: LossFn) -> tuple[float, torch.Tensor]:
        n = len(self.blocks)
        temporals = [self.temporal] * (n - 1) + ["local"]  # the output block: its true gradient
        if self.feedback.align_pending:  # distribution="aligned": B from the weights before the first update
            self.align_feedback(x)
        states, s_out = forward_blocks(self.blocks, self.kinds, temporals, x, self.store)
        self.feedback.ensure([math.prod(output_shape(st)[2:]) for st in states[:-1]])
        # e = dLoss/dfr, then dLoss/dS_out[t] through the readout (and a readout's own parameters)
        s_leaf = s_out.detach().requires_grad_(True)
        with torch.enable_grad():
            rates = self.rates(s_leaf)
            probe = rates.detach().requires_grad_(True)
            loss = loss_fn(probe, y)
            (e,) = torch.autograd.grad(loss, probe)
            params = [p for p in getattr(self.readout, "parameters", lambda: [])() if p.requires_grad]
            torch.autograd.backward(rates, e, inputs=[s_leaf, *params])
        block_grads(self.blocks[-1], self.kinds[-1], states.pop(), s_leaf.grad)  # type: ignore[arg-type]
        errors = self.feedback.project_all(self.hidden_signal(e))  # r_l of every hidden layer, one product
        for l, blk in enumerate(self.hidden_blocks):
            block_grads(blk, self.kinds[l], states[l], errors[l])
            states[l] = None  # release the block's state
        return float(loss.detach()), rates.detach()
