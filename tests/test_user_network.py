"""Acceptance: a network written without pipesdfa classes, trained by pipesdfa.SDFA on digits.

Only the rule comes from pipesdfa: ``nn.Linear`` layers and a hand-written LIF neuron with its
own surrogate (an autograd function) make the network; the embedded digits data come from
``pipesdfa.load_dataset``. SDFA must reach >= 90 % test accuracy in at most 15 epochs.
"""

from __future__ import annotations

import torch
from torch import nn

import pipesdfa


class SpikeATan(torch.autograd.Function):  # Heaviside forward, arctan-shaped surrogate backward
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return (x >= 0).float()

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g / (1 + (torch.pi * x) ** 2)


class MyLIF(nn.Module):  # [T, B, n] -> spikes [T, B, n], hard reset to 0, threshold 1
    def __init__(self, tau: float = 2.0):
        super().__init__()
        self.tau = tau

    def forward(self, x):
        v, out = torch.zeros_like(x[0]), []
        for xt in x:
            v = v + (xt - v) / self.tau
            s = SpikeATan.apply(v - 1.0)
            v = v * (1 - s)
            out.append(s)
        return torch.stack(out)


class Layer(nn.Module):
    def __init__(self, n_in: int, n_out: int):
        super().__init__()
        self.fc, self.lif = nn.Linear(n_in, n_out), MyLIF()

    def forward(self, x):  # [T, B, ...] -> [T, B, n_out]
        return self.lif(self.fc(x.flatten(2)))


def test_own_network_trains_to_90_percent_on_digits_with_sdfa():
    torch.manual_seed(0)
    blocks = nn.ModuleList([Layer(288, 256), Layer(256, 256), Layer(256, 10)])
    with torch.no_grad():
        for b in blocks:
            b.fc.weight.mul_(3.0)  # sparse spike inputs: a larger initial gain keeps deep layers active
    rule = pipesdfa.SDFA(blocks, num_classes=10)
    assert rule.paths == ["autograd"] * 3  # a foreign block: autograd, never the fast path
    data = pipesdfa.load_dataset("digits", T=8)
    xtr, ytr = data.train.frames.float(), data.train.labels
    xte, yte = data.test.frames.float(), data.test.labels
    opt = torch.optim.Adam(blocks.parameters(), lr=2e-3)

    def loss_fn(rates, y):
        return nn.functional.mse_loss(rates, nn.functional.one_hot(y, 10).float())

    accs = []
    for _ in range(15):
        order = torch.randperm(len(ytr))
        for i in range(0, len(order), 32):
            idx = order[i:i + 32]
            opt.zero_grad()
            rule.compute_grads(xtr[idx].transpose(0, 1), ytr[idx], loss_fn)
            opt.step()
        with torch.no_grad():
            s = xte.transpose(0, 1)
            for b in blocks:
                s = b(s)
            accs.append(float((s.mean(0).argmax(1) == yte).float().mean()))
        if accs[-1] >= 0.90:
            break
    assert max(accs) >= 0.90, f"test accuracy per epoch: {accs}"
