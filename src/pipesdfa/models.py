"""Spiking networks built from a :class:`~pipesdfa.workloads.ModelSpec`.

Each weight layer of the spec becomes one :class:`Block`:

* Conv: ``X = BN(conv(S_in))`` (conv without bias, BN over the merged ``T*B`` axis),
  ``S = neuron(X)``, then max-pool.
* Dense: ``X = W S_in`` (input flattened to ``[T, B, n_in]``, no bias), ``S = neuron(X)``.

:class:`SpikingNet` runs the blocks in order on time-first input ``[T, B, ...]`` and reads
out firing rates ``fr = mean_t S_out[t]`` of the last block, averaged over each class's
``vote`` neurons: ``fr[b, c] = mean_{t, j < vote} S_out[t, b, c * vote + j]``.

The models know nothing about learning rules; rules drive the blocks one by one.
"""

from __future__ import annotations

import torch
from torch import nn

from pipesdfa.neurons import NeuronParams, SpikingNeuron
from pipesdfa.workloads import ModelSpec, ResolvedLayer, resolve

__all__ = ["Block", "SpikingNet", "build_model", "readout_rates"]


class Block(nn.Module):
    """One weight layer with its neuron: ``[T, B, ...] -> spikes [T, B, ...]``."""

    def __init__(self, layer: ResolvedLayer, neuron: NeuronParams, backend: str = "torch") -> None:
        super().__init__()
        self.layer = layer
        self.kind = layer.kind
        if layer.kind == "conv":
            self.weight_op: nn.Module = nn.Conv2d(layer.in_channels, layer.out_channels, layer.kernel,
                                                  layer.stride, layer.padding, bias=False)
            self.bn: nn.Module | None = nn.BatchNorm2d(layer.out_channels) if layer.bn else None
            self.pool: nn.Module | None = nn.MaxPool2d(layer.pool) if layer.pool > 1 else None
        else:
            self.weight_op = nn.Linear(layer.in_channels, layer.out_channels, bias=False)
            self.bn = None
            self.pool = None
        self.neuron = SpikingNeuron(neuron, backend=backend)

    @property
    def weight(self) -> torch.Tensor:
        return self.weight_op.weight  # type: ignore[return-value]

    def synaptic_input(self, x: torch.Tensor) -> torch.Tensor:
        """``X[t] = (BN o W)(S_in[t])`` for all ``t`` at once: ``[T, B, ...]``."""
        T, B = x.shape[:2]
        if self.kind == "dense":
            return self.weight_op(x.reshape(T, B, -1))
        y = self.weight_op(x.reshape(T * B, *x.shape[2:]))
        if self.bn is not None:
            y = self.bn(y)
        return y.reshape(T, B, *y.shape[1:])

    def post(self, s: torch.Tensor) -> torch.Tensor:
        """Pooling of the spike output (identity for Dense and unpooled Conv blocks)."""
        if self.pool is None:
            return s
        T, B = s.shape[:2]
        y = self.pool(s.reshape(T * B, *s.shape[2:]))
        return y.reshape(T, B, *y.shape[1:])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.post(self.neuron(self.synaptic_input(x)))


def readout_rates(s_out: torch.Tensor, num_classes: int, vote: int) -> torch.Tensor:
    """``[T, B, C*vote]`` output spikes -> ``[B, C]`` firing rates (mean over time and votes)."""
    fr = s_out.mean(0)
    if vote > 1:
        fr = fr.reshape(fr.shape[0], num_classes, vote).mean(-1)
    return fr


class SpikingNet(nn.Module):
    """A stack of :class:`Block`s with a rate readout."""

    def __init__(self, spec: ModelSpec, neuron: NeuronParams, backend: str = "torch") -> None:
        super().__init__()
        self.spec = spec
        self.layers = resolve(spec)
        self.blocks = nn.ModuleList(Block(l, neuron, backend) for l in self.layers)

    @property
    def hidden_blocks(self) -> list[Block]:
        return list(self.blocks)[:-1]

    @property
    def output_block(self) -> Block:
        return self.blocks[-1]  # type: ignore[return-value]

    def readout(self, s_out: torch.Tensor) -> torch.Tensor:
        return readout_rates(s_out, self.spec.num_classes, self.spec.vote)

    def forward_all(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Spike outputs of every block (after pooling), for activity measurements."""
        outs = []
        for blk in self.blocks:
            x = blk(x)
            outs.append(x)
        return outs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for blk in self.blocks:
            x = blk(x)
        return self.readout(x)


def build_model(spec: ModelSpec, neuron: NeuronParams, backend: str = "torch") -> SpikingNet:
    """A :class:`SpikingNet` for ``spec`` with every block using ``neuron``."""
    return SpikingNet(spec, neuron, backend)
