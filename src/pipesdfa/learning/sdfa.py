"""Spiking Direct Feedback Alignment (PAPER.md section 2, as the authors' code does it).

Forward: every block runs on the *detached* spikes of the block below, so autograd graphs
stay inside a block. With ``fr = mean_t S_out[t]`` and the global error ``e = dLoss/dfr``
(``[B, C]``, once per sample):

* output block: the true gradient, ``e`` back-propagated through the readout;
* hidden block ``l``: the projected error ``r_l = e B_l / sqrt(n_max)`` (see
  :mod:`pipesdfa.learning.feedback`) is injected as ``dLoss/dS_l[t] = r_l`` at the block's
  spike output (after pooling), **the same value at every time step**; autograd then runs
  only inside the block: through pooling, the surrogate, the membrane recurrence over time
  (``temporal="local"``) or not (``temporal="instantaneous"``: ``V[t-1]`` is treated as a
  constant, so the backward pass is time-step parallel), batch-norm and ``W``.

No error crosses layers, and no ``W^T`` product is ever formed.
"""

from __future__ import annotations

import torch

from pipesdfa.errors import UserError
from pipesdfa.learning.base import LossFn, Rule
from pipesdfa.learning.feedback import FeedbackMatrices

TEMPORAL_MODES = ("local", "instantaneous")


class SDFA(Rule):
    name = "sdfa"

    def __init__(self, model, feedback: str = "shared", distribution: str = "gaussian",
                 temporal: str = "local", feedback_seed: int = 0, fast: bool = True, store: str | None = None) -> None:
        super().__init__(model)
        if temporal not in TEMPORAL_MODES:
            raise UserError(f"sdfa temporal {temporal!r} unknown; expected one of: {', '.join(TEMPORAL_MODES)}")
        self.temporal = temporal
        # Fast path (pipesdfa.learning.sdfa_fast): graph-free hidden blocks, same gradients;
        # ``store`` = precision of the saved surrogate derivatives ("half" or "float", exact).
        from pipesdfa.learning.sdfa_fast import DEFAULT_STORE, STORES

        store = DEFAULT_STORE if store is None else store

        if store not in STORES:
            raise UserError(f"sdfa store {store!r} unknown; expected one of: {', '.join(STORES)}")
        self.fast = bool(fast)
        self.store = store
        widths = [blk.layer.n_out for blk in model.hidden_blocks]
        self.feedback = FeedbackMatrices(model.spec.num_classes, widths, feedback, distribution, feedback_seed)

    def options(self) -> dict:
        fb = self.feedback
        return {"feedback": fb.mode, "distribution": fb.distribution, "temporal": self.temporal,
                "feedback_seed": fb.seed, "fast": self.fast, "store": self.store}

    def hidden_forward(self, x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Run the hidden blocks, each on the detached output of the previous one.

        Returns the hidden spike outputs (each with a graph local to its block) and the
        detached input of the output block.
        """
        outs = []
        recurrent = self.temporal == "local"
        for blk in self.model.hidden_blocks:
            saved = blk.neuron.recurrent_grad
            blk.neuron.recurrent_grad = recurrent
            try:
                s = blk(x.detach())
            finally:
                blk.neuron.recurrent_grad = saved
            outs.append(s)
            x = s
        return outs, x.detach()

    def injected_errors(self, e: torch.Tensor, outs: list[torch.Tensor]) -> list[torch.Tensor]:
        """``dLoss/dS_l[t] = r_l`` for every ``t``, shaped like each hidden output."""
        grads = []
        for l, s in enumerate(outs):
            r = self.feedback.project(e, l).to(s.dtype)
            grads.append(r.reshape(s.shape[1:]).unsqueeze(0).expand_as(s))
        return grads

    def compute_grads(self, x: torch.Tensor, y: torch.Tensor, loss_fn: LossFn) -> tuple[float, torch.Tensor]:
        if self.fast:
            from pipesdfa.learning.sdfa_fast import compute_grads_fast

            return compute_grads_fast(self, x, y, loss_fn)
        outs, h = self.hidden_forward(x)
        rates = self.model.readout(self.model.output_block(h))
        probe = rates.detach().requires_grad_(True)
        loss = loss_fn(probe, y)
        (e,) = torch.autograd.grad(loss, probe)
        torch.autograd.backward([rates] + outs, [e] + self.injected_errors(e, outs))
        return float(loss.detach()), rates.detach()
