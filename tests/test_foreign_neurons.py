"""Foreign neurons through SDFA's autograd path (optional: each skips when its package is absent)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import pipesdfa
from pipesdfa.training.loop import make_loss


def _train_step(blocks):
    x = (torch.rand(6, 4, 12) < 0.5).float()
    y = torch.tensor([0, 1, 2, 0])
    rule = pipesdfa.SDFA(blocks, 3)
    assert rule.paths == ["autograd"] * len(blocks)
    rule.compute_grads(x, y, make_loss("mse"))
    return [p.grad for b in blocks for p in b.parameters()]


def test_spikingjelly_multistep_neurons():
    neuron = pytest.importorskip("spikingjelly.activation_based.neuron")
    layer = pytest.importorskip("spikingjelly.activation_based.layer")
    blocks = [nn.Sequential(layer.Linear(12, 8, step_mode="m"), neuron.LIFNode(step_mode="m")),
              nn.Sequential(layer.Linear(8, 3, step_mode="m"), neuron.LIFNode(step_mode="m"))]
    with torch.no_grad():
        for b in blocks:
            b[0].weight.mul_(4.0)
    assert all(g is not None for g in _train_step(blocks))


def test_snntorch_leaky_wrapped_to_run_over_time():
    snn = pytest.importorskip("snntorch")

    class OverTime(nn.Module):
        def __init__(self, n_in, n_out):
            super().__init__()
            self.fc, self.lif = nn.Linear(n_in, n_out), snn.Leaky(beta=0.5, init_hidden=False)

        def forward(self, x):
            mem, out = self.lif.init_leaky(), []
            for xt in self.fc(x):
                spk, mem = self.lif(xt, mem)
                out.append(spk)
            return torch.stack(out)

    blocks = [OverTime(12, 8), OverTime(8, 3)]
    with torch.no_grad():
        for b in blocks:
            b.fc.weight.mul_(4.0)
    assert all(g is not None for g in _train_step(blocks))
