"""Fixed random feedback matrices for SDFA (PAPER.md section 2).

Shared (the authors' choice): one matrix ``B`` of shape ``[C, n_max]``; hidden layer ``l``
uses its first ``n_l`` columns. Independent: one ``[C, n_l]`` matrix per hidden layer.
The projected error of layer ``l`` is ``r_l = e B_l / sqrt(n_max)`` for the global error
``e = dLoss/dfr`` of shape ``[B, C]``.

Entry distributions, all of zero mean and unit variance:

* ``gaussian``: N(0, 1) (the authors' choice);
* ``uniform``: U(-sqrt 3, sqrt 3);
* ``sign``: +1 or -1 with equal probability;
* ``rram``: read from a simulated RRAM crossbar programmed to all-zero weights, so the entries
  come from device variation (:mod:`pipesdfa.analog.feedback`), standardised.

Other samplers (for example one that reads a simulated RRAM crossbar) can be added to
:data:`SAMPLERS`: ``sampler(shape, generator) -> Tensor`` of unit variance.
The matrices are module buffers, so they are saved in checkpoints and restored on resume.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import torch
from torch import nn

from pipesdfa.analog.feedback import rram_sampler
from pipesdfa.errors import UserError

__all__ = ["SAMPLERS", "FeedbackMatrices", "FEEDBACK_MODES"]

Sampler = Callable[[tuple[int, ...], torch.Generator], torch.Tensor]


def _gaussian(shape: tuple[int, ...], g: torch.Generator) -> torch.Tensor:
    return torch.randn(shape, generator=g)


def _uniform(shape: tuple[int, ...], g: torch.Generator) -> torch.Tensor:
    return (torch.rand(shape, generator=g) * 2 - 1) * math.sqrt(3.0)


def _sign(shape: tuple[int, ...], g: torch.Generator) -> torch.Tensor:
    return torch.randint(0, 2, shape, generator=g).float() * 2 - 1


SAMPLERS: dict[str, Sampler] = {"gaussian": _gaussian, "uniform": _uniform, "sign": _sign, "rram": rram_sampler}
FEEDBACK_MODES = ("shared", "independent")


class FeedbackMatrices(nn.Module):
    """The fixed feedback matrices of one network (never trained)."""

    def __init__(self, num_classes: int, widths: Sequence[int], mode: str = "shared",
                 distribution: str = "gaussian", seed: int = 0) -> None:
        super().__init__()
        if mode not in FEEDBACK_MODES:
            raise UserError(f"sdfa feedback {mode!r} unknown; expected one of: {', '.join(FEEDBACK_MODES)}")
        if distribution not in SAMPLERS:
            raise UserError(f"sdfa distribution {distribution!r} unknown; expected one of: {', '.join(SAMPLERS)}")
        self.mode = mode
        self.distribution = distribution
        self.seed = seed
        self.widths = [int(w) for w in widths]
        self.n_max = max(self.widths) if self.widths else 1
        g = torch.Generator().manual_seed(seed)
        sample = SAMPLERS[distribution]
        if mode == "shared":
            self.register_buffer("B_shared", sample((num_classes, self.n_max), g).float())
        else:
            for i, w in enumerate(self.widths):
                self.register_buffer(f"B_{i}", sample((num_classes, w), g).float())

    def matrix(self, layer: int) -> torch.Tensor:
        """``B_l`` of shape ``[C, n_l]``."""
        if self.mode == "shared":
            return self.B_shared[:, : self.widths[layer]]  # type: ignore[index]
        return getattr(self, f"B_{layer}")

    def project(self, e: torch.Tensor, layer: int) -> torch.Tensor:
        """``r_l = e B_l / sqrt(n_max)``: ``[B, C] -> [B, n_l]``."""
        return e @ self.matrix(layer) / math.sqrt(self.n_max)
