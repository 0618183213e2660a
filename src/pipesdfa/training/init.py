"""Data-driven initialisation (``init="data"``): scale each block so that it starts firing.

PyTorch's default weights ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))`` give a synaptic input of
standard deviation about ``sqrt(rate_in / 3)`` for inputs that spike at ``rate_in``: far below
the threshold ``V_th = 1`` for sparse event data, so a composed network starts with silent
hidden layers and learns nothing until something lifts them (the digits MLP at gain 1 fires
at 0.007, then 0.0, spikes per neuron per step). LSUV (Mishkin & Matas, ICLR 2016) fixes the
analogous problem of deep ANNs by scaling each layer, in order, to unit output variance on a
batch of data; the spiking analogue used here scales block ``l``'s weights by the gain
``g_l`` at which its neurons fire at the target rate ``r*`` on the first training samples:

    rate_l(g) = mean_{t, b, i} S_l[t, b, i]   with   X_l = g * W_l S_{l-1}
    g_l : rate_l(g_l) = r*                     (bisection on log2 g in [-8, 8])

``X_l`` is linear in ``g`` (no bias), so the products run once per block and only the neuron
runs per bisection step. Blocks with batch-norm are left alone (BN removes the weight's scale),
and the output block aims lower, at ``r* / 5``: it receives the loss's true gradient under every
rule and needs only enough activity for its surrogate gradient to be felt, while output
weights scaled up to ``r*`` saturate the readout (digits MLP, SDFA, cross-entropy, 3 epochs:
38 % test accuracy with the output at ``r*``, 72 % at PyTorch's scale; but on the N-MNIST
subset and Braille an output at PyTorch's scale stays silent and the loss stays at
``ln(classes)`` for two epochs, as it does with PyTorch's init everywhere).
The default ``r* = 0.1`` spikes per neuron per step is the firing rate of a 10-class readout
whose rates match one-hot targets on average, and the order of the rates SNNs trained on
event data settle at; ``tests/test_init.py`` checks that composed models learn in epoch 1.
**The step follows the weight.** Scaling ``W_l`` by ``g_l`` (2 to 10 on the composed MLPs)
without scaling its optimiser step makes block ``l`` learn ``g_l`` times slower relative to its
weights (Adam's step is about ``lr`` per weight, whatever the gradient's scale). BPTT, which
follows the true gradient, merely learns slower; feedback alignment stalls, because the layers
above a hidden layer never move far enough from their random start to align with the fixed
feedback (digits MLP 3 x 64, 15 epochs, seed 0: alignment cosines -0.01 / 0.05 / 0.13, SDFA 61.9 %,
BPTT 87.8 %, output-only 14.7 %; with the step scaled 0.34 / 0.45 / 0.48, SDFA 80.0 %, BPTT
94.7 %, output-only 29.4 %; scaling the feedback ``B`` by 10 instead changes nothing, 63.1 %).
So every block gets ``step_scale = g_l`` (:func:`pipesdfa.learning.base.step_scale`), which every
rule's :meth:`~pipesdfa.learning.base.Rule.param_groups` multiplies into the block's learning
rate: ``W = g U`` then trains as ``U`` would (``dW = g dU``). The factor is the right one for
Adam (the default optimiser); plain SGD's steps scale with the gradient, so its equivalent
factor would be ``g^2``.
Deterministic: it reads the first samples of the training split in index order and uses no
random numbers.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from pipesdfa.learning.base import STEP_SCALE

__all__ = ["rate_init", "init_samples", "initialise", "scale_init"]

#: Bytes of membrane input one init batch may take (bounds the samples for large T or grids).
INIT_BUDGET_BYTES = 256 << 20
#: The output block's target is ``target / OUTPUT_FACTOR`` (see the module docstring).
OUTPUT_FACTOR = 5.0


def init_samples(n_train: int, T: int, max_neurons: int, limit: int = 256) -> int:
    """How many training samples the init looks at: up to ``limit``, within :data:`INIT_BUDGET_BYTES`."""
    per_sample = max(1, T * max_neurons * 4 * 3)
    return max(1, min(limit, n_train, INIT_BUDGET_BYTES // per_sample))


@torch.no_grad()
def rate_init(blocks: nn.ModuleList, x: torch.Tensor, target: float = 0.1, steps: int = 16,
              output_target: float | None = None) -> list[dict[str, Any]]:
    """Scale every block's weight in place to fire at ``target`` (the output block at
    ``output_target``, default ``target / 5``; see the module docstring); ``x``: ``[T, B, ...]``.
    Sets each block's ``step_scale`` to its gain, so that a rule's
    :meth:`~pipesdfa.learning.base.Rule.param_groups` steps it in proportion to its weights.
    Returns ``[{"layer", "gain", "rate"}]`` for every block (rate after scaling)."""
    report = []
    h = x
    last = len(blocks) - 1
    for l, blk in enumerate(blocks):
        buffers = [b.clone() for b in blk.buffers()]
        xin = blk.synaptic_input(h)
        goal = target if l < last else (output_target if output_target is not None else target / OUTPUT_FACTOR)
        if getattr(blk, "bn", None) is not None:
            gain = 1.0
        else:
            def rate(g: float) -> float:
                return float(blk.neuron(xin * g).mean())

            lo, hi = -8.0, 8.0
            if rate(2.0 ** hi) <= goal:
                e = hi
            elif rate(2.0 ** lo) >= goal:
                e = lo
            else:
                for _ in range(steps):
                    mid = 0.5 * (lo + hi)
                    if rate(2.0 ** mid) < goal:
                        lo = mid
                    else:
                        hi = mid
                e = hi
            gain = 2.0 ** e
            blk.weight.mul_(gain)
            xin = xin * gain
        setattr(blk, STEP_SCALE, gain)  # its optimiser step scales with its weight (step_scale)
        s = blk.neuron(xin)
        for b, saved in zip(blk.buffers(), buffers):
            b.copy_(saved)
        report.append({"layer": l, "gain": gain, "rate": float(s.mean())})
        h = blk.post(s)
        if not math.isfinite(report[-1]["rate"]):
            break
    return report


def initialise(model: nn.Module, m, T: int, train_split, device: torch.device) -> list[dict] | None:
    """The configured init of a fresh network (``m``: the model section): ``data`` scales every
    block to fire at ``init_rate`` on the first training samples (its report), ``default`` is
    PyTorch's init times ``init_gain`` (``None``)."""
    if m.init == "data":
        from pipesdfa.training.evaluation import batches, to_time_first

        n = init_samples(len(train_split), T, max(l.n_neurons for l in model.layers))
        xb, _ = next(batches(train_split, torch.arange(n), n))
        return rate_init(model.blocks, to_time_first(xb, device), m.init_rate)
    scale_init(model, m.init_gain)
    return None


def scale_init(model: nn.Module, gain: float) -> None:
    """Multiply every weight by ``gain`` after PyTorch's default initialisation.

    PyTorch's default ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))`` (SpikingJelly's, hence the
    authors') leaves deep spiking layers nearly silent at initialisation when inputs are
    sparse; ``gain > 1`` restores activity (it matters most for the output-only baseline,
    whose hidden layers never learn).
    """
    if gain != 1.0:
        with torch.no_grad():
            for blk in model.blocks:
                blk.weight.mul_(gain)
