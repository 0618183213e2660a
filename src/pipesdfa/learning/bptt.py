"""Backpropagation through time: autograd through every layer and every time step."""

from __future__ import annotations

import torch

from pipesdfa.learning.base import LossFn, Rule


class BPTT(Rule):
    """``dL/dW`` exactly, through the output error, every layer's ``W^T`` and the membrane recurrence."""

    name = "bptt"

    def compute_grads(self, x: torch.Tensor, y: torch.Tensor, loss_fn: LossFn) -> tuple[float, torch.Tensor]:
        rates = self.model(x)
        loss = loss_fn(rates, y)
        loss.backward()
        return float(loss.detach()), rates.detach()
