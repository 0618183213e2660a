"""The model zoo: spiking networks built from a :class:`~pipesdfa.zoo.workloads.ModelSpec`.

Each weight layer of the spec becomes one :class:`Block` (a :class:`~pipesdfa.snn.blocks.SpikingBlock`
that remembers its resolved geometry):

* Conv: ``X = BN(conv(S_in))`` (conv without bias, BN over the merged ``T*B`` axis),
  ``S = neuron(X)``, then max-pool.
* Dense: ``X = W S_in`` (input flattened to ``[T, B, n_in]``, no bias), ``S = neuron(X)``.

:class:`SpikingNet` runs the blocks in order on time-first input ``[T, B, ...]`` and reads
out firing rates of the last block with a :class:`~pipesdfa.snn.readout.VoteReadout`:
``fr[b, c] = mean_{t, j < vote} S_out[t, b, c * vote + j]``.

The models know nothing about learning rules; a rule is bound to a net's ``blocks``,
``num_classes`` and ``readout`` (``SDFA.for_model(net)``).
"""

from __future__ import annotations

import torch
from torch import nn

from pipesdfa.snn.blocks import SpikingBlock
from pipesdfa.snn.network import BlockNetwork
from pipesdfa.snn.neurons import NeuronParams, SpikingNeuron
from pipesdfa.snn.readout import VoteReadout
from pipesdfa.zoo.workloads import ModelSpec, ResolvedLayer, resolve

__all__ = ["Block", "SpikingNet", "build_model", "readout_rates"]


class Block(SpikingBlock):
    """One weight layer of a spec with its neuron: ``[T, B, ...] -> spikes [T, B, ...]``."""

    def __init__(self, layer: ResolvedLayer, neuron: NeuronParams, backend: str = "torch") -> None:
        if layer.kind == "conv":
            op: nn.Module = nn.Conv2d(layer.in_channels, layer.out_channels, layer.kernel, layer.stride,
                                      layer.padding, bias=False)
            bn = nn.BatchNorm2d(layer.out_channels) if layer.bn else None
            pool = layer.pool
        else:
            op, bn, pool = nn.Linear(layer.in_channels, layer.out_channels, bias=False), None, None
        super().__init__(op, SpikingNeuron(neuron, backend=backend), bn, pool)
        self.layer = layer


def readout_rates(s_out: torch.Tensor, num_classes: int, vote: int) -> torch.Tensor:
    """``[T, B, C*vote]`` output spikes -> ``[B, C]`` firing rates (mean over time and votes)."""
    return VoteReadout(num_classes, vote)(s_out)


class SpikingNet(BlockNetwork):
    """A stack of :class:`Block`s with a vote readout."""

    def __init__(self, spec: ModelSpec, neuron: NeuronParams, backend: str = "torch") -> None:
        super().__init__()
        self.spec = spec
        self.layers = resolve(spec)
        self.blocks = nn.ModuleList(Block(l, neuron, backend) for l in self.layers)
        self.vote = VoteReadout(spec.num_classes, spec.vote)

    @property
    def num_classes(self) -> int:
        return self.spec.num_classes

    @property
    def output_widths(self) -> list[int]:
        """Flattened spike output size of every block (after pooling): SDFA's feedback widths."""
        return [l.n_out for l in self.layers]

    @property
    def hidden_blocks(self) -> list[Block]:
        return list(self.blocks)[:-1]  # type: ignore[return-value]

    @property
    def output_block(self) -> Block:
        return self.blocks[-1]  # type: ignore[return-value]

    def readout(self, s_out: torch.Tensor) -> torch.Tensor:
        return self.vote(s_out)



def build_model(spec: ModelSpec, neuron: NeuronParams, backend: str = "torch") -> SpikingNet:
    """A :class:`SpikingNet` for ``spec`` with every block using ``neuron``."""
    return SpikingNet(spec, neuron, backend)


def zoo_network(family: str, input_shape: tuple[int, ...], num_classes: int, hidden: tuple[int, ...], name: str,
                neuron: NeuronParams, backend: str = "torch") -> SpikingNet:
    """The zoo's ``family`` (``mlp``, ``convnet``, ``vgg11``) for data of ``input_shape`` and
    ``num_classes`` (``hidden``: an MLP's widths), every block using ``neuron``."""
    from pipesdfa.zoo.workloads import build_spec

    spec = build_spec(family, input_shape, num_classes, hidden, name=name)
    return build_model(spec, neuron, backend)
