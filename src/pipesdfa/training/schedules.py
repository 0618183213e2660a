"""The optimiser and the learning-rate schedule of a run: cosine annealing, with warm restarts at ``lr_restarts``.

Epochs ``[0, E)`` are cut at the restart epochs ``r_1 < r_2 < ...`` into segments
``[s_k, s_{k+1})``; in each, the learning rate follows PyTorch's ``CosineAnnealingLR`` from
``lr`` towards 0 over the segment's length ``L_k`` (the closed form of epoch ``e``:
``lr * (1 + cos(pi (e - s_k) / L_k)) / 2``). Without restarts this is the plain cosine over the
run, as before. A restart is what ``--resume RUN --epochs N`` adds at the run's old end, so an
extended run learns again instead of continuing at the annealed rate 0; the extended run is
the same as a fresh run whose config has the same ``lr_restarts`` (SGDR, Loshchilov & Hutter,
ICLR 2017).
"""

from __future__ import annotations

import torch

from pipesdfa.util.errors import UserError

__all__ = ["make_optimizer", "segments", "segment_length", "make_scheduler", "restart"]


def segments(epochs: int, restarts) -> list[tuple[int, int]]:
    """``[(start, length), ...]`` of the schedule's cosine segments."""
    cuts = [0, *sorted(restarts), epochs]
    return [(a, b - a) for a, b in zip(cuts[:-1], cuts[1:]) if b > a]


def segment_length(epochs: int, restarts, epoch: int) -> int:
    """Length of the segment that contains ``epoch``."""
    for start, length in segments(epochs, restarts):
        if start <= epoch < start + length:
            return length
    return max(1, epochs - epoch)


def make_scheduler(optimizer: torch.optim.Optimizer, epochs: int, restarts) -> torch.optim.lr_scheduler.LRScheduler:
    """The scheduler of the first segment (a freshly built run)."""
    return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=segment_length(epochs, restarts, 0))


def restart(optimizer: torch.optim.Optimizer, lr: float, epochs: int, restarts,
            epoch: int) -> torch.optim.lr_scheduler.LRScheduler:
    """At a restart epoch: every group back to ``lr`` (times the group's ``lr_scale``, 1 unless
    the rule gave the group a rate of its own) and a new cosine over the segment."""
    for g in optimizer.param_groups:
        g["lr"] = lr * g.get("lr_scale", 1.0)
        g["initial_lr"] = g["lr"]
    return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=segment_length(epochs, restarts, epoch))


def make_optimizer(name: str, params, lr: float, weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """``adam`` (Adam) or ``sgd`` (SGD, momentum 0.9), PyTorch's fused single-kernel
    implementation where it exists for the parameters (floating point, CPU or CUDA): one
    kernel over all parameters instead of several multi-tensor passes, which is several
    times faster on a CPU. Same update rule; rounding may differ."""
    params = list(params)  # tensors, or parameter groups {"params": [...], "lr": ...}
    flat = [p for g in params for p in g["params"]] if params and isinstance(params[0], dict) else params
    fused = bool(flat) and all(p.is_floating_point() and p.device.type in ("cpu", "cuda") for p in flat)

    def build(**kw) -> torch.optim.Optimizer:
        if name == "adam":
            return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, **kw)
        if name == "sgd":
            return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=weight_decay, **kw)
        raise UserError(f"optimizer {name!r} unknown; expected 'adam' or 'sgd'")

    if fused:
        try:
            return build(fused=True)
        except (RuntimeError, TypeError):  # no fused kernel for this device/dtype in this torch
            pass
    return build()
