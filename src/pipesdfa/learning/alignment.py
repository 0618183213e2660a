"""The DFA alignment diagnostic: how well a rule's hidden-block updates follow the true gradient.

For each hidden block ``l`` on the same batch, with ``g_bp`` the BPTT gradient of the block's
weights (its parameters of two or more dimensions, flattened together) and ``g_rule`` the
rule's update direction of the same weights:

    ``cos_l = <g_bp, g_rule> / (|g_bp| |g_rule|)``

(Lillicrap et al. 2016; Nokland 2016). Positive values mean that the feedback weights have
aligned the forward weights so that SDFA descends the loss. The blocks' parameters, gradients
and buffers (batch-norm statistics) are left as they were.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from pipesdfa.learning.base import LossFn, Rule
from pipesdfa.learning.bptt import BPTT

__all__ = ["alignment", "cosine"]


def cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    na, nb = float(a.norm()), float(b.norm())
    if na == 0.0 or nb == 0.0:
        return math.nan
    return float((a * b).sum()) / (na * nb)


def _weights(block: nn.Module) -> list[torch.Tensor]:
    return [p for p in block.parameters() if p.dim() >= 2 and p.requires_grad]


def _hidden_weight_grads(rule: Rule, x, y, loss_fn) -> list[torch.Tensor]:
    for blk in rule.blocks:
        for p in blk.parameters():
            p.grad = None
    rule.compute_grads(x, y, loss_fn)
    out = []
    for blk in rule.hidden_blocks:
        ws = _weights(blk)
        out.append(torch.cat([(torch.zeros_like(w) if w.grad is None else w.grad.detach()).reshape(-1) for w in ws])
                   if ws else torch.zeros(0))
    return out


def alignment(rule: Rule, x: torch.Tensor, y: torch.Tensor, loss_fn: LossFn) -> list[dict]:
    """``[{"layer": l, "cosine": cos_l}, ...]`` for every hidden block (see module docstring)."""
    modules = list(rule.blocks) + ([rule.readout] if isinstance(rule.readout, nn.Module) else [])
    params = [p for m in modules for p in m.parameters()]
    buffers = [b for m in modules for b in m.buffers()]
    saved_grads = [None if p.grad is None else p.grad.clone() for p in params]
    saved_buffers = [b.clone() for b in buffers]
    try:
        g_bp = _hidden_weight_grads(BPTT(rule.blocks, rule.num_classes, readout=rule.readout), x, y, loss_fn)
        g_rule = _hidden_weight_grads(rule, x, y, loss_fn)
    finally:
        for p, g in zip(params, saved_grads):
            p.grad = g
        with torch.no_grad():
            for b, s in zip(buffers, saved_buffers):
                b.copy_(s)
    return [{"layer": l, "cosine": cosine(a, b)} for l, (a, b) in enumerate(zip(g_bp, g_rule))]
