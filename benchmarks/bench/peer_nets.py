"""The peers' version of a bias-free spiking MLP (``benchmarks/peers.py``): snnTorch and Norse,
written as each library's documentation writes a training loop (one ``nn.Linear`` and one
neuron per layer, a Python loop over time steps, layers inside it). Both are optional: a
library that does not import is left out."""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn


def peer_versions() -> dict[str, str | None]:
    """``{"snntorch": version or None, "norse": version or None}`` (None: not importable)."""
    out: dict[str, str | None] = {}
    for name in ("snntorch", "norse"):
        try:
            mod = __import__(name)
            import importlib.metadata as md

            out[name] = getattr(mod, "__version__", None) or md.version(name)
        except Exception:  # noqa: BLE001 -- any import failure means: not available
            out[name] = None
    return out


class _PeerMLP(nn.Module):
    """Linear layers with the given weights (``[n_out, n_in]`` each, no bias) and one neuron per layer."""

    def __init__(self, weights: list[torch.Tensor]) -> None:
        super().__init__()
        self.fcs = nn.ModuleList()
        for w in weights:
            fc = nn.Linear(w.shape[1], w.shape[0], bias=False)
            with torch.no_grad():
                fc.weight.copy_(w)
            self.fcs.append(fc)

    def cell(self, i: int, h: torch.Tensor, state):  # pragma: no cover - per library
        """Layer ``i``'s neuron on its synaptic input ``h`` of one step: ``(spikes, state)``."""
        raise NotImplementedError

    def run(self, x: torch.Tensor, every_layer: bool = False) -> list[torch.Tensor]:
        """Spikes ``[T, B, n]`` of the last layer (``every_layer``: of every layer) for ``x [T, B, ...]``."""
        x = x.flatten(2)
        states: list = [None] * len(self.fcs)
        outs: list[list[torch.Tensor]] = [[] for _ in self.fcs]
        for t in range(x.shape[0]):
            h = x[t]
            for i, fc in enumerate(self.fcs):
                h, states[i] = self.cell(i, fc(h), states[i])
                if every_layer or i == len(self.fcs) - 1:
                    outs[i].append(h)
        return [torch.stack(o) for o in outs if o]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Output spikes ``[T, B, C]`` of ``x [T, B, ...]``."""
        return self.run(x)[-1]

    def layer_spikes(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.run(x, every_layer=True)


class SnnTorchMLP(_PeerMLP):
    """snnTorch: ``snn.Leaky(beta=1-1/tau, reset_mechanism="zero", spike_grad=surrogate.atan())``;
    ``Leaky`` adds its input unscaled (``V = beta V + I``), so the weights are multiplied by
    ``1/tau`` to give pipesdfa's ``V + (I - V)/tau``."""

    def __init__(self, weights: list[torch.Tensor], tau: float) -> None:
        import snntorch as snn
        from snntorch import surrogate

        super().__init__([w / tau for w in weights])
        self.lifs = nn.ModuleList(snn.Leaky(beta=1.0 - 1.0 / tau, threshold=1.0, reset_mechanism="zero",
                                            spike_grad=surrogate.atan()) for _ in weights)

    def cell(self, i: int, h: torch.Tensor, state):
        lif = self.lifs[i]
        return lif(h, lif.init_leaky() if state is None else state)


class NorseMLP(_PeerMLP):
    """Norse: ``LIFBoxCell`` with ``tau_mem_inv = 1/(tau dt)`` (decay ``1/tau`` per step at ``dt``
    1e-3), ``v_th`` 1, ``v_leak`` = ``v_reset`` = 0."""

    def __init__(self, weights: list[torch.Tensor], tau: float) -> None:
        from norse.torch import LIFBoxCell, LIFBoxParameters

        super().__init__(weights)
        p = LIFBoxParameters(tau_mem_inv=torch.tensor(1.0 / (tau * 1e-3)), v_th=torch.tensor(1.0),
                             v_leak=torch.tensor(0.0), v_reset=torch.tensor(0.0))
        self.lifs = nn.ModuleList(LIFBoxCell(p, dt=1e-3) for _ in weights)

    def cell(self, i: int, h: torch.Tensor, state):
        return self.lifs[i](h, state)


#: library name -> network class (``cls(weights, tau)``).
PEERS: dict[str, Callable[..., _PeerMLP]] = {"snntorch": SnnTorchMLP, "norse": NorseMLP}
