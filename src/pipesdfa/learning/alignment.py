"""The DFA alignment diagnostic: how well SDFA's hidden-layer updates follow the true gradient.

For each hidden layer ``l`` on the same batch, with ``g_bp`` the BPTT gradient of ``W_l`` and
``g_sdfa`` the SDFA update direction of ``W_l``:

    ``cos_l = <g_bp, g_sdfa> / (|g_bp| |g_sdfa|)``

(Lillicrap et al. 2016; Nokland 2016). Positive values mean that the feedback weights have
aligned the forward weights so that SDFA descends the loss. The model's parameters, gradients
and buffers (batch-norm statistics) are left as they were.
"""

from __future__ import annotations

import copy
import math

import torch

from pipesdfa.learning.base import LossFn, Rule
from pipesdfa.learning.bptt import BPTT

__all__ = ["alignment", "cosine"]


def cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    na, nb = float(a.norm()), float(b.norm())
    if na == 0.0 or nb == 0.0:
        return math.nan
    return float((a * b).sum()) / (na * nb)


def _hidden_weight_grads(model, rule: Rule, x, y, loss_fn) -> list[torch.Tensor]:
    for p in model.parameters():
        p.grad = None
    rule.compute_grads(x, y, loss_fn)
    out = []
    for blk in model.hidden_blocks:
        g = blk.weight.grad
        out.append(torch.zeros_like(blk.weight) if g is None else g.detach().clone())
    return out


def alignment(model, rule: Rule, x: torch.Tensor, y: torch.Tensor, loss_fn: LossFn) -> list[dict]:
    """``[{"layer": l, "cosine": cos_l}, ...]`` for every hidden layer (see module docstring)."""
    saved_grads = [None if p.grad is None else p.grad.clone() for p in model.parameters()]
    saved_buffers = copy.deepcopy({k: v for k, v in model.state_dict().items() if not k.endswith("weight")})
    try:
        g_bp = _hidden_weight_grads(model, BPTT(model), x, y, loss_fn)
        g_rule = _hidden_weight_grads(model, rule, x, y, loss_fn)
    finally:
        for p, g in zip(model.parameters(), saved_grads):
            p.grad = g
        model.load_state_dict(saved_buffers, strict=False)
    return [{"layer": l, "cosine": cosine(a, b)} for l, (a, b) in enumerate(zip(g_bp, g_rule))]
