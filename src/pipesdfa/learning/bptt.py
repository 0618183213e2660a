"""Backpropagation through time: autograd through every block and every time step."""

from __future__ import annotations

import torch

from pipesdfa.learning.base import LossFn, Rule

__all__ = ["BPTT"]


class BPTT(Rule):
    """``dL/dW`` exactly, through the output error, every block's ``W^T`` and the membrane recurrence."""

    name = "bptt"

    def compute_grads(self, x: torch.Tensor, y: torch.Tensor, loss_fn: LossFn) -> tuple[float, torch.Tensor]:
        for blk in self.blocks:
            x = blk(x)
        rates = self.rates(x)
        loss = loss_fn(rates, y)
        loss.backward()
        return float(loss.detach()), rates.detach()
