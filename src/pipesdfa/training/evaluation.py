"""Evaluation of a network on a split: loss, accuracy, spike activity and NeuroBench-style counts."""

from __future__ import annotations

from typing import Any, Iterator

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from pipesdfa.data.bundle import FrameTensorDataset
from pipesdfa.training.ops import OpsCounter

__all__ = ["batches", "evaluate", "to_time_first"]


def batches(ds: Dataset, order: torch.Tensor, batch: int, num_workers: int = 0,
            drop_last: bool = False) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Batches ``(x [B, T, ...], y [B])`` in the given order (in-memory fast path or a DataLoader);
    ``drop_last`` leaves out a last batch of fewer than ``batch`` samples (an order shorter than
    one batch is kept whole)."""
    if drop_last and order.numel() >= batch:
        order = order[: order.numel() - order.numel() % batch]
    if isinstance(ds, FrameTensorDataset):
        for i in range(0, order.numel(), batch):
            idx = order[i:i + batch]
            yield ds.frames[idx].float(), ds.labels[idx]
        return
    loader = DataLoader(ds, batch_size=batch, sampler=order.tolist(), num_workers=num_workers)
    for x, y in loader:
        yield x.float(), y.long()


def to_time_first(x: torch.Tensor, device: torch.device) -> torch.Tensor:
    """``[B, T, ...]`` (a batch as the loaders give it) -> ``[T, B, ...]`` on ``device``."""
    return x.to(device).transpose(0, 1).contiguous()


@torch.no_grad()
def evaluate(model: nn.Module, ds: Dataset, loss_fn, batch: int, device: torch.device,
             num_workers: int = 0, rule: nn.Module | None = None) -> dict[str, Any]:
    """Loss, accuracy, spike activity and operation counts of ``model`` (``blocks`` and
    ``readout``) on ``ds``.

    ``correct``: one character per sample of ``ds`` in order, ``1`` where the prediction is right.
    Activity: ``input_rate`` is the fraction of non-zero input entries per time step;
    ``layers[l].rate`` the mean spikes per neuron per time step of block ``l``'s output.
    ``ops``: :class:`pipesdfa.training.ops.OpsCounter` (``rule``: whose state counts in the training
    footprint).
    """
    was_training = model.training
    model.eval()
    n = 0
    loss_sum = correct = 0.0
    in_sum = 0.0
    layer_sums = [0.0] * len(model.blocks)
    hits: list[str] = []
    ops = OpsCounter(model, rule)
    try:
        for xb, yb in batches(ds, torch.arange(len(ds)), batch, num_workers):  # type: ignore[arg-type]
            x = to_time_first(xb, device)
            y = yb.to(device)
            outs = ops.forward(model.blocks, x)
            rates = model.readout(outs[-1])
            b = y.shape[0]
            loss_sum += float(loss_fn(rates, y)) * b
            ok = rates.argmax(1) == y
            correct += float(ok.sum())
            hits.append("".join("1" if v else "0" for v in ok.tolist()))
            in_sum += float((x > 0).float().mean()) * b
            for l, s in enumerate(outs):
                layer_sums[l] += float(s.mean()) * b
            n += b
    finally:
        model.train(was_training)
    n = max(n, 1)
    return {
        "loss": loss_sum / n,
        "acc": correct / n,
        "correct": "".join(hits),
        "activity": {"input_rate": in_sum / n,
                     "layers": [{"layer": l, "rate": s / n} for l, s in enumerate(layer_sums)]},
        "ops": ops.result(),
    }
