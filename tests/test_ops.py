"""NeuroBench-style counts by hand on a tiny network (pipesdfa.ops)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import pipesdfa
from pipesdfa.ops import OpsCounter, connection_sparsity, footprint_bytes


def test_counts_of_a_two_layer_network_by_hand():
    # layer 0: 3 inputs -> 2 LIF (IF here: H = V + X), weights with one zero; layer 1: 2 -> 1
    fc0 = nn.Linear(3, 2, bias=False)
    fc1 = nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        fc0.weight.copy_(torch.tensor([[1.0, 0.0, 1.0], [0.5, 0.5, 0.5]]))
        fc1.weight.copy_(torch.tensor([[1.0, 1.0]]))
    net = nn.Module()
    net.blocks = nn.ModuleList([pipesdfa.SpikingBlock(fc0, pipesdfa.IF(backend="torch")),
                                pipesdfa.SpikingBlock(fc1, pipesdfa.IF(backend="torch"))])
    # one sample, T = 2: x[0] = [1, 1, 0], x[1] = [0, 0, 1] (binary: ACs)
    x = torch.tensor([[[1.0, 1.0, 0.0]], [[0.0, 0.0, 1.0]]])
    c = OpsCounter(net)
    outs = c.forward(net.blocks, x)
    # layer 0: X[0] = [1, 1] -> H = [1, 1] fires both, V = [0, 0]; X[1] = [1, 0.5] -> H = [1, 0.5]: [1, 0]
    assert outs[0].tolist() == [[[1.0, 1.0]], [[1.0, 0.0]]]
    # layer 1: X = [2, 1] -> fires at both steps
    r = c.result()
    l0, l1 = r["layers"]
    # dense: 3*2 per step, 2 steps; effective: nonzero input x nonzero weight products:
    # t0 inputs 0,1 -> column 0 has 2 nonzero weights, column 1 has 1 -> 3; t1 input 2 -> 2
    assert l0["dense_ops"] == 12 and l0["effective_acs"] == 5 and l0["effective_macs"] == 0
    assert l1["dense_ops"] == 4 and l1["effective_acs"] == 3  # t0: 2 spikes x 1, t1: 1 spike
    assert l0["activation_sparsity"] == 0.25 and l1["activation_sparsity"] == 0.0
    assert r["activation_sparsity"] == 1 / 6
    # membrane updates: every neuron at t0 (2 + 1); t1: layer 0 V goes [0,0] -> [0, 0.5] (1 changed),
    # layer 1 V stays 0 (fired at both steps, reset to 0) -> 0
    assert l0["membrane_updates"] == 3 and l1["membrane_updates"] == 1 and r["membrane_updates"] == 4
    assert r["synaptic_ops"] == {"dense": 16.0, "effective_acs": 8.0, "effective_macs": 0.0}
    assert r["connection_sparsity"] == pytest.approx(1 / 8)
    assert r["footprint_bytes"] == footprint_bytes(net) == 8 * 4


def test_non_binary_inputs_count_as_macs_and_conv_padding_is_not_an_op():
    conv = nn.Conv2d(1, 1, 3, padding=1, bias=False)
    net = nn.Module()
    net.blocks = nn.ModuleList([pipesdfa.SpikingBlock(conv, pipesdfa.LIF())])
    c = OpsCounter(net)
    c.forward(net.blocks, torch.full((1, 1, 1, 3, 3), 2.0))  # counts, not spikes
    layer = c.result()["layers"][0]
    # 3x3 image, 3x3 kernel, padding 1: in-bounds products = sum over outputs of the window's in-image size
    # corners 4, edges 6, centre 9 -> 4*4 + 4*6 + 9 = 49
    assert layer["dense_ops"] == 49 and layer["effective_macs"] == 49 and layer["effective_acs"] == 0
    assert connection_sparsity(net) == float((conv.weight == 0).sum()) / 9
