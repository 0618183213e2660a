"""The interface every learning rule implements."""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class Rule(nn.Module):
    """A learning rule bound to a model.

    ``compute_grads(x, y, loss_fn)`` runs one forward pass on ``x [T, B, ...]`` and leaves
    each trained parameter's gradient in ``.grad`` (accumulated: the caller zeroes them);
    it returns ``(loss, rates)`` with ``rates [B, C]`` detached. The optimiser step is the
    trainer's. A rule is an ``nn.Module`` so that its fixed state (SDFA's feedback
    matrices) is saved with ``state_dict()``.
    """

    name = "rule"

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        # Held outside the module tree: the rule's state_dict must not duplicate the model's.
        self.__dict__["model"] = model

    def compute_grads(self, x: torch.Tensor, y: torch.Tensor, loss_fn: LossFn) -> tuple[float, torch.Tensor]:
        raise NotImplementedError

    def options(self) -> dict:
        return {}
