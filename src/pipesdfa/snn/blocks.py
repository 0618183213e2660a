"""The spiking block: one weight layer and its neuron, ``[T, B, ...] -> spikes [T, B, ...]``.

:class:`SpikingBlock` ``(op, neuron, bn=None, pool=None)`` computes

* dense (``op`` an ``nn.Linear``): ``X[t] = op(S_in[t])`` with the input flattened per sample;
* conv (``op`` an ``nn.Conv2d``): ``X = bn(op(S_in))`` over the merged ``T*B`` axis (``bn`` an
  optional ``nn.BatchNorm2d``, statistics over all ``T*B`` images);

then ``S = neuron(X)`` (any multi-step module, :mod:`pipesdfa.snn.neurons`) and, for conv blocks,
an optional max-pool of the spikes (``pool``: an ``nn.MaxPool2d`` or a window size).

It is the block kind SDFA's graph-free fast path knows (:mod:`pipesdfa.learning.local`): a
block that is a :class:`SpikingBlock` with a bias-free op, one of our neuron modules and a
non-overlapping max-pool runs without an autograd graph; anything else (a subclass with its own
``forward``, a foreign neuron, a bias) runs through autograd. The model zoo
(:mod:`pipesdfa.zoo.models`) builds its networks from these blocks.
"""

from __future__ import annotations

import torch
from torch import nn

from pipesdfa.snn.kernels import sparse
from pipesdfa.snn.kernels.precision import DEFAULT_PRECISION, check_precision

__all__ = ["SpikingBlock", "dense_synaptic_input", "set_precision"]


def set_precision(model: nn.Module, precision: str) -> int:
    """Run the matrix products of every dense :class:`SpikingBlock` of ``model`` in ``precision``
    (``"fp32"`` or ``"bf16"``, :mod:`pipesdfa.snn.kernels.precision`), for its forward, BPTT's
    backward and SDFA's fast path alike; conv blocks stay float32. Returns how many blocks
    were set."""
    check_precision(precision)
    n = 0
    for m in model.modules():
        if isinstance(m, SpikingBlock):
            m.precision = precision if m.kind == "dense" else DEFAULT_PRECISION
            n += m.kind == "dense"
    return n


def dense_synaptic_input(op: nn.Module, x: torch.Tensor, density: float | None = None,
                         precision: str = "fp32") -> torch.Tensor:
    """``op(x)`` for a dense block's op on ``x [..., n_in]``; a plain ``nn.Linear`` runs through
    :func:`pipesdfa.snn.kernels.sparse.linear` (over the active inputs only when they are sparse
    enough; the same numbers up to float rounding), its products in ``precision``
    (:mod:`pipesdfa.snn.kernels.precision`). Other ops (analog layers, subclasses) are called as
    they are. ``density``: the input's nonzero fraction when the caller knows it."""
    if type(op) is nn.Linear:
        return sparse.linear(x, op.weight, op.bias, density, precision)
    return op(x)


class SpikingBlock(nn.Module):
    """``op -> [bn] -> neuron -> [max-pool]`` over time-first tensors (see the module docstring)."""

    def __init__(self, op: nn.Module, neuron: nn.Module, bn: nn.Module | None = None,
                 pool: nn.Module | int | None = None) -> None:
        super().__init__()
        if isinstance(op, nn.Linear):
            self.kind = "dense"
            if bn is not None or pool not in (None, 1):
                raise ValueError("SpikingBlock: batch-norm and pooling apply to conv blocks only")
        elif isinstance(op, nn.Conv2d):
            self.kind = "conv"
        else:
            raise TypeError(f"SpikingBlock: op must be an nn.Linear or nn.Conv2d, got {type(op).__name__}")
        self.weight_op = op
        self.bn = bn
        if isinstance(pool, int):
            pool = nn.MaxPool2d(pool) if pool > 1 else None
        self.pool = pool
        self.neuron = neuron
        #: products of a dense op: "fp32" or "bf16" (:func:`set_precision`; conv ops stay float32)
        self.precision = DEFAULT_PRECISION

    @property
    def weight(self) -> torch.Tensor:
        return self.weight_op.weight  # type: ignore[return-value]

    def synaptic_input(self, x: torch.Tensor) -> torch.Tensor:
        """``X[t] = (bn o op)(S_in[t])`` for all ``t`` at once: ``[T, B, ...]``."""
        T, B = x.shape[:2]
        if self.kind == "dense":
            return dense_synaptic_input(self.weight_op, x.reshape(T, B, -1), precision=self.precision)
        y = self.weight_op(x.reshape(T * B, *x.shape[2:]))
        if self.bn is not None:
            y = self.bn(y)
        return y.reshape(T, B, *y.shape[1:])

    def post(self, s: torch.Tensor) -> torch.Tensor:
        """Pooling of the spike output (identity without a pool)."""
        if self.pool is None:
            return s
        T, B = s.shape[:2]
        y = self.pool(s.reshape(T * B, *s.shape[2:]))
        return y.reshape(T, B, *y.shape[1:])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.post(self.neuron(self.synaptic_input(x)))
