"""NeuroBench-style operation and sparsity counts, measured natively during evaluation.

Definitions follow NeuroBench (Yik et al., "The NeuroBench framework for benchmarking
neuromorphic computing algorithms and systems", Nature Communications 16, 1545, 2025; and the
``neurobench`` package's metrics), per sample, averaged over the evaluated samples:

* ``footprint_bytes``: bytes of the network's parameters and buffers; ``training_footprint_bytes``
  adds the learning rule's own state (SDFA's fixed feedback matrices; optimiser moments are not
  counted);
* ``connection_sparsity``: zero weights / all weights of the weight layers (``nn.Linear``,
  ``nn.Conv2d``);
* ``activation_sparsity``: zero entries / all entries of every spiking neuron layer's output
  (before pooling) over time and samples, per layer and over all layers (weighted by size);
* synaptic operations of each weight layer, summed over time steps: ``dense`` counts every
  multiply-accumulate of the layer, zeros included (``n_in * n_out`` per step for a dense layer,
  the conv's ``C_out H_out W_out C_in k^2`` less padding); ``effective`` counts only products of
  a nonzero input and a nonzero weight. Effective operations on binary (0/1) inputs are
  accumulates (``effective_acs``), on any other input multiply-accumulates (``effective_macs``),
  decided per time step (over the batch) as NeuroBench decides per layer call;
* ``membrane_updates``: per neuron and step, 1 if its potential changed (``V[t] != V[t-1]``),
  every neuron counted at the first step (NeuroBench's ``MembraneUpdates``).

Only blocks of the known kind (:class:`~pipesdfa.snn.blocks.SpikingBlock` with one of our neurons)
report operations and updates; other blocks report their activation sparsity only.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from pipesdfa.snn.blocks import SpikingBlock
from pipesdfa.snn.kernels import forward_with_potential
from pipesdfa.snn.neurons import SpikingNeuron

__all__ = ["OpsCounter", "footprint_bytes", "connection_sparsity"]


def _bytes(tensors) -> int:
    return int(sum(t.numel() * t.element_size() for t in tensors))


def footprint_bytes(module: nn.Module) -> int:
    """Bytes of ``module``'s parameters and buffers."""
    return _bytes(module.parameters()) + _bytes(module.buffers())


def _weight_layers(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]


def connection_sparsity(model: nn.Module) -> float:
    """Zero weights / all weights of the ``nn.Linear`` / ``nn.Conv2d`` layers (0 = dense)."""
    ws = [m.weight for m in _weight_layers(model)]
    total = sum(w.numel() for w in ws)
    return float(sum(int((w == 0).sum()) for w in ws)) / total if total else 0.0


def _binary_steps(x: torch.Tensor) -> torch.Tensor:
    """``[T]`` bool: whether step ``t``'s input (all samples) is 0/1 (NeuroBench decides per call)."""
    return ((x == 0) | (x == 1)).reshape(x.shape[0], -1).all(1)


def _synops(op: nn.Module, x: torch.Tensor) -> tuple[float, torch.Tensor]:
    """``(dense, effective [T])``: dense operations of ``op`` on ``x [T, B, ...]`` (all steps and
    samples) and the effective ones per step."""
    T, B = x.shape[:2]
    w_nz = (op.weight != 0).to(x.dtype)
    nz = (x != 0).to(x.dtype)
    if isinstance(op, nn.Linear):
        flat = nz.reshape(T * B, -1)
        return float(T * B * op.in_features * op.out_features), (flat @ w_nz.t()).reshape(T, -1).sum(1)
    assert isinstance(op, nn.Conv2d)
    imgs = nz.reshape(T * B, *x.shape[2:])

    def conv(a, w):
        return F.conv2d(a, w, None, op.stride, op.padding, op.dilation, op.groups)

    dense = float(conv(torch.ones_like(imgs[:1]), torch.ones_like(w_nz)).sum()) * T * B
    return dense, conv(imgs, w_nz).reshape(T, -1).sum(1)


class OpsCounter:
    """Accumulates the counts of the module docstring over evaluation batches."""

    def __init__(self, model: nn.Module, rule: nn.Module | None = None) -> None:
        self.model = model
        self.rule = rule
        self.samples = 0
        self.layers: list[dict[str, Any]] = []

    def _layer(self, i: int) -> dict[str, Any]:
        while len(self.layers) <= i:
            self.layers.append({"layer": len(self.layers), "neurons": 0, "zeros": 0, "dense": 0.0, "acs": 0.0,
                                "macs": 0.0, "membrane_updates": 0, "measured_ops": False})
        return self.layers[i]

    @torch.no_grad()
    def forward(self, blocks, x: torch.Tensor) -> list[torch.Tensor]:
        """Run ``blocks`` on ``x [T, B, ...]``, counting; returns every block's (pooled) output."""
        self.samples += x.shape[1]
        outs = []
        for i, blk in enumerate(blocks):
            rec = self._layer(i)
            if isinstance(blk, SpikingBlock) and isinstance(blk.neuron, SpikingNeuron):
                dense, eff = _synops(blk.weight_op, x)
                binary = _binary_steps(x)
                rec["dense"] += dense
                rec["acs"] += float(eff[binary].sum())
                rec["macs"] += float(eff[~binary].sum())
                rec["measured_ops"] = True
                pre = blk.synaptic_input(x)
                p = blk.neuron.params
                s, h, _ = forward_with_potential(pre, p, blk.neuron.backend, spike_dtype=pre.dtype)
                s = s.to(pre.dtype)
                v = torch.where(s > 0, torch.full_like(h, p.v_reset), h) if p.v_reset is not None else h - p.v_threshold * s
                rec["membrane_updates"] += int(v[0].numel()) + int((v[1:] != v[:-1]).sum())
                out = blk.post(s)
            else:
                s = out = blk(x)
            rec["neurons"] += s.numel()
            rec["zeros"] += int((s == 0).sum())
            outs.append(out)
            x = out
        return outs

    def result(self) -> dict[str, Any]:
        """The counts per sample (see the module docstring)."""
        n = max(self.samples, 1)
        layers = []
        for r in self.layers:
            d: dict[str, Any] = {"layer": r["layer"], "activation_sparsity": r["zeros"] / r["neurons"] if r["neurons"] else None}
            if r["measured_ops"]:
                d.update(dense_ops=r["dense"] / n, effective_acs=r["acs"] / n, effective_macs=r["macs"] / n,
                         membrane_updates=r["membrane_updates"] / n)
            layers.append(d)
        neurons = sum(r["neurons"] for r in self.layers)
        foot = footprint_bytes(self.model)
        rule_bytes = footprint_bytes(self.rule) if self.rule is not None else 0
        return {
            "footprint_bytes": foot,
            "training_footprint_bytes": foot + rule_bytes,
            "connection_sparsity": connection_sparsity(self.model),
            "activation_sparsity": sum(r["zeros"] for r in self.layers) / neurons if neurons else None,
            "synaptic_ops": {"dense": sum(r["dense"] for r in self.layers) / n,
                             "effective_acs": sum(r["acs"] for r in self.layers) / n,
                             "effective_macs": sum(r["macs"] for r in self.layers) / n},
            "membrane_updates": sum(r["membrane_updates"] for r in self.layers) / n,
            "samples": self.samples,
            "layers": layers,
        }
