"""Output-only learning: the hidden blocks stay at their random initialisation.

The hidden blocks run without a graph; only the output block (and a readout with parameters)
receives the true gradient. The baseline that shows how much SDFA's feedback to the hidden
layers buys.
"""

from __future__ import annotations

import torch

from pipesdfa.learning.base import LossFn, Rule

__all__ = ["OutputOnly"]


class OutputOnly(Rule):
    name = "output"

    def compute_grads(self, x: torch.Tensor, y: torch.Tensor, loss_fn: LossFn) -> tuple[float, torch.Tensor]:
        with torch.no_grad():
            for blk in self.hidden_blocks:
                x = blk(x)
        rates = self.rates(self.output_block(x))
        loss = loss_fn(rates, y)
        loss.backward()
        return float(loss.detach()), rates.detach()
