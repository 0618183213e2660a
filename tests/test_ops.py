"""NeuroBench-style counts by hand on a tiny network (pipesdfa.training.ops)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import pipesdfa
from pipesdfa.training.ops import OpsCounter, connection_sparsity, footprint_bytes


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


def test_against_neurobench_on_digits_mlp():
    """NeuroBench (optional test extra) on the same network, run by snnTorch from our NIR export."""
    pytest.importorskip("snntorch")
    pytest.importorskip("neurobench")
    import sys
    from pathlib import Path

    from neurobench.benchmarks import Benchmark
    from neurobench.metrics.static import ConnectionSparsity
    from neurobench.metrics.workload import ActivationSparsity, MembraneUpdates, SynapticOperations
    from neurobench.models import SNNTorchModel
    from snntorch.import_nir import import_from_nir
    from torch.utils.data import DataLoader, TensorDataset

    sys.path.insert(0, str(Path(__file__).parent))
    from test_nir import digits_frames, digits_mlp

    net = digits_mlp()
    with torch.no_grad():
        net.blocks[1].weight.mul_(1.5)
        net.blocks[2].weight.mul_(4.0)
    x, y = digits_frames(64)
    ours = OpsCounter(net)
    ours.forward(net.blocks, x)
    ours = ours.result()
    snn_net = import_from_nir(pipesdfa.to_nir(net, T=8, dt=1e-4))  # dt: what snnTorch's importer assumes

    class Stepper(nn.Module):  # NeuroBench's SNNTorchModel calls net(x_t) -> (spikes, _)
        def __init__(self):
            super().__init__()
            self.g, self.state = snn_net, None

        def reset(self):
            self.state = None
            for m in self.g.modules():
                if hasattr(m, "reset_mem"):
                    m.reset_mem()

        def forward(self, xt):
            out, self.state = self.g(xt, self.state)
            return out, None

    loader = DataLoader(TensorDataset(x.transpose(0, 1).reshape(64, 8, -1), y), batch_size=64)
    bench = Benchmark(SNNTorchModel(Stepper()), loader, [], [],
                      [[ConnectionSparsity], [ActivationSparsity, SynapticOperations, MembraneUpdates]])
    nb = bench.run(quiet=True)
    assert nb["ConnectionSparsity"] == pytest.approx(ours["connection_sparsity"])
    assert nb["ActivationSparsity"] == pytest.approx(ours["activation_sparsity"])
    syn = nb["SynapticOperations"]
    assert syn["Dense"] == pytest.approx(ours["synaptic_ops"]["dense"])
    assert syn["Effective_ACs"] == pytest.approx(ours["synaptic_ops"]["effective_acs"])
    assert syn["Effective_MACs"] == pytest.approx(ours["synaptic_ops"]["effective_macs"])
    assert nb["MembraneUpdates"] == pytest.approx(ours["membrane_updates"])
    assert ours["membrane_updates"] > 0 and 0 < ours["activation_sparsity"] < 1
