"""SDFA through markers in a network's own ``forward`` (the TinyDFA style): ``h = tap(h)``.

For a network that is one module rather than a list of blocks: mark each hidden spike output
with :func:`tap` inside ``forward``; :class:`TappedSDFA` runs the network once with autograd
and, in the backward pass, each tap replaces the gradient arriving from above by its projected
error ``r_l = e B_l / sqrt(n_max)`` (the same at every time step), so hidden layer ``l`` learns
from ``r_l`` through its own neuron's recurrence (``temporal="local"``), exactly as
``SDFA(blocks)`` with autograd blocks does. The gradient from above is formed and then
discarded (the blocked ``W^T`` products cost time that ``SDFA(blocks)`` does not spend); outside
a :class:`TappedSDFA` step, :func:`tap` is the identity.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import torch
from torch import nn

from pipesdfa.learning.base import LossFn, Readout, Rule
from pipesdfa.learning.feedback import FeedbackMatrices, Sampler

__all__ = ["tap", "TappedSDFA"]

_ACTIVE: list["_Step"] = []


class _Step:
    def __init__(self, rule: "TappedSDFA") -> None:
        self.rule = rule
        self.shapes: list[torch.Size] = []
        self.e: torch.Tensor | None = None


class _Tap(torch.autograd.Function):
    @staticmethod
    def forward(ctx, h, step, index):  # type: ignore[override]
        ctx.step, ctx.index, ctx.shape = step, index, h.shape
        return h.view_as(h)

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        step: _Step = ctx.step
        r = step.rule.feedback.project(step.e, ctx.index).to(grad.dtype)  # [B, n_l]
        return r.reshape(ctx.shape[1:]).unsqueeze(0).expand(ctx.shape), None, None


def tap(h: torch.Tensor) -> torch.Tensor:
    """Mark ``h [T, B, ...]`` (a hidden block's spikes) for :class:`TappedSDFA`; identity otherwise."""
    if not _ACTIVE or not torch.is_grad_enabled():
        return h
    step = _ACTIVE[-1]
    step.shapes.append(h.shape)
    return _Tap.apply(h, step, len(step.shapes) - 1)


class TappedSDFA(Rule):
    """SDFA on a network marked with :func:`tap` (``temporal="local"``). ``net(x)`` must return the
    output spikes ``[T, B, ...]``; ``readout`` maps them to ``[B, C]`` (default: the mean rate)."""

    name = "sdfa"

    def __init__(self, net: nn.Module, num_classes: int, *, readout: Readout | None = None,
                 feedback: str = "shared", distribution: str | Sampler = "gaussian", feedback_seed: int = 0,
                 widths: Sequence[int] | None = None) -> None:
        super().__init__([net], num_classes, readout=readout)
        self.feedback = FeedbackMatrices(self.num_classes, widths, feedback, distribution, feedback_seed)

    def options(self) -> dict[str, Any]:
        fb = self.feedback
        return {"feedback": fb.mode, "distribution": fb.distribution, "temporal": "local", "feedback_seed": fb.seed,
                "taps": True}

    def compute_grads(self, x: torch.Tensor, y: torch.Tensor, loss_fn: LossFn) -> tuple[float, torch.Tensor]:
        step = _Step(self)
        _ACTIVE.append(step)
        try:
            with torch.enable_grad():
                rates = self.rates(self.blocks[0](x))
        finally:
            _ACTIVE.remove(step)
        self.feedback.ensure([math.prod(s[2:]) for s in step.shapes])
        probe = rates.detach().requires_grad_(True)
        loss = loss_fn(probe, y)
        (step.e,) = torch.autograd.grad(loss, probe)
        rates.backward(step.e)
        return float(loss.detach()), rates.detach()
