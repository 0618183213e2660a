"""A network as the rules see it: ``blocks`` run in order, then a ``readout``.

``forward(x [T, B, ...]) -> scores [B, C]`` and ``forward_all(x)`` (every block's spike output,
after pooling, for activity measurements) are the same for every such network: the zoo's
(:class:`pipesdfa.zoo.models.SpikingNet`) and one read from a NIR graph
(:class:`pipesdfa.interop.nir_import.NIRNetwork`). A subclass sets ``self.blocks`` and defines
``readout``.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["BlockNetwork"]


class BlockNetwork(nn.Module):
    """``blocks`` in order, then ``readout`` (module docstring)."""

    blocks: nn.ModuleList

    def readout(self, s_out: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

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
