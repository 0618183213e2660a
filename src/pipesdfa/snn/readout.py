"""Readouts: output spikes ``[T, B, ...]`` to class scores (firing rates) ``[B, C]``.

* :class:`MeanRate`: ``fr[b, j] = mean_t S[t, b, j]`` (the output flattened per sample), the
  default of every learning rule;
* :class:`VoteReadout`: the voting readout of the CNN workloads, ``fr[b, c] = mean_{t, j < vote}
  S[t, b, c * vote + j]`` (each class is read from ``vote`` neurons).

Rules differentiate through the readout with autograd, so any differentiable
``readout(spikes) -> [B, C]`` works in their place (a module's parameters are trained too).
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["MeanRate", "VoteReadout"]


class MeanRate(nn.Module):
    """``[T, B, ...] -> [B, n]``: the mean over time of every output neuron (flattened)."""

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        return s.mean(0).reshape(s.shape[1], -1)


class VoteReadout(nn.Module):
    """``[T, B, C*vote] -> [B, C]``: the mean over time and over each class's ``vote`` neurons."""

    def __init__(self, num_classes: int, vote: int = 1) -> None:
        super().__init__()
        if num_classes < 1 or vote < 1:
            raise ValueError(f"VoteReadout needs num_classes >= 1 and vote >= 1, got {num_classes}, {vote}")
        self.num_classes = int(num_classes)
        self.vote = int(vote)

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        fr = s.mean(0).reshape(s.shape[1], -1)
        if self.vote > 1:
            fr = fr.reshape(fr.shape[0], self.num_classes, self.vote).mean(-1)
        return fr

    def extra_repr(self) -> str:
        return f"num_classes={self.num_classes}, vote={self.vote}"
