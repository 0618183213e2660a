"""NIR export and import: our reference executor and the round trip reproduce the spikes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import pipesdfa
from pipesdfa.util.errors import UserError
from pipesdfa.snn.kernels import sparse
from pipesdfa.zoo.models import build_model
from pipesdfa.snn.neurons import NeuronParams
from pipesdfa.training.loop import make_loss, scale_init
from pipesdfa.zoo.workloads import Conv, Dense, ModelSpec, get_workload

nir = pytest.importorskip("nir")
import nir_reference  # noqa: E402  (tests/nir_reference.py)


def digits_frames(n: int = 64):
    data = pipesdfa.load_dataset("digits", T=8)
    return data.test.frames[:n].float().transpose(0, 1).contiguous(), data.test.labels[:n]


def digits_mlp():
    w = get_workload("digits-mlp")
    torch.manual_seed(0)
    net = build_model(w.model_spec(), NeuronParams(kind=w.neuron, tau=w.tau), backend="fused")
    scale_init(net, w.init_gain)
    return net.eval()


def small_conv(bn: bool = True):
    spec = ModelSpec("tinyconv", (2, 12, 12), (Conv(6, 3, 1, 1, bn, 2), Conv(8, 3, 1, 1, False, 1), Dense(40),
                                               Dense(20)), 10, vote=2)
    torch.manual_seed(3)
    net = build_model(spec, NeuronParams(kind="if"), backend="fused")
    with torch.no_grad():
        for blk in net.blocks:
            blk.weight.mul_(2.0)
            if blk.bn is not None:  # non-trivial running statistics to fold
                blk.bn.running_mean.uniform_(-0.2, 0.2)
                blk.bn.running_var.uniform_(0.5, 2.0)
                blk.bn.weight.uniform_(0.5, 1.5)
                blk.bn.bias.fill_(0.3)
    return net.eval()


def spikes_of(net, x):
    with torch.no_grad():
        return net.forward_all(x)


def _check_executor(net, x, outputs):
    graph = pipesdfa.to_nir(net, T=x.shape[0])
    ref = nir_reference.run(graph, x.reshape(*x.shape[:2], *graph.nodes["input"].input_type["input"]))
    ours = spikes_of(net, x)
    for i, name in enumerate(outputs):
        assert torch.equal(ref[name], ours[i]), f"block {i} ({name}): {int((ref[name] != ours[i]).sum())} spikes differ"
    assert sum(float(s.sum()) for s in ours) > 0
    return graph


def test_reference_executor_reproduces_digits_mlp_spikes_exactly():
    net = digits_mlp()
    x, _ = digits_frames()
    graph = _check_executor(net, x, ["lif0", "lif1", "lif2"])
    assert graph.metadata["T"] == 8 and graph.metadata["dt"] == 1.0
    lif = graph.nodes["lif0"]
    assert float(lif.tau[0]) == 2.0 and float(lif.r[0]) == 1.0 and float(lif.v_leak[0]) == 0.0
    assert float(lif.v_threshold[0]) == float(np.nextafter(np.float32(1), np.float32(0)))


def test_reference_executor_reproduces_conv_spikes_bn_folded():
    net = small_conv()
    x, _ = digits_frames()
    _check_executor(net, x, ["pool0_threshold", "if1", "if2", "if3"])


@pytest.mark.parametrize("make", [digits_mlp, small_conv], ids=["digits-mlp", "conv"])
def test_round_trip_through_a_file_gives_identical_spikes_and_trains(tmp_path, make):
    net = make()
    x, y = digits_frames()
    path = tmp_path / "net.nir"
    nir.write(path, pipesdfa.to_nir(net, T=x.shape[0]))
    back = pipesdfa.from_nir(path, backend="fused")
    assert back.T == 8 and back.num_classes == 10 and back.input_shape == tuple(net.spec.input_shape)
    for i, (a, b) in enumerate(zip(spikes_of(net, x), spikes_of(back, x))):
        assert torch.equal(a, b), f"block {i}: {int((a != b).sum())} spikes differ"
    with torch.no_grad():
        torch.testing.assert_close(back(x), net(x), rtol=0, atol=0)
    rule = pipesdfa.SDFA.for_model(back)
    assert all(p != "autograd" for p in rule.paths)  # the imported blocks are the fast path's kind
    rule.compute_grads(x, y, make_loss("mse"))
    assert all(blk.weight_op.weight.grad is not None for blk in back.blocks)


def test_export_refuses_what_nir_cannot_say():
    net = build_model(get_workload("digits-mlp").model_spec(), NeuronParams(v_reset=None))
    with pytest.raises(UserError, match="soft reset has no NIR node"):
        pipesdfa.to_nir(net, T=8)
    with pytest.raises(UserError, match="eval mode"):
        pipesdfa.to_nir(small_conv().train(), T=8)


def test_import_maps_foreign_parameters_and_refuses_per_neuron_ones():
    w = np.full((3, 4), 0.5, dtype=np.float32)
    lif = nir.LIF(tau=np.full(3, 8.0), r=np.full(3, 3.0), v_leak=np.zeros(3), v_threshold=np.full(3, 1.0),
                  v_reset=np.zeros(3))
    g = nir.NIRGraph.from_list(nir.Input(input_type=np.array([4])), nir.Linear(weight=w), lif,
                               nir.Output(output_type=np.array([3])))
    g.metadata = {"dt": 2.0}
    net = pipesdfa.from_nir(g)
    p = net.blocks[0].neuron.params
    assert p.tau == 4.0 and p.decay_input and p.v_threshold == float(np.nextafter(np.float32(1), np.float32(2)))
    torch.testing.assert_close(net.blocks[0].weight_op.weight, torch.full((3, 4), 1.5))  # r folded in
    lif.tau = np.array([8.0, 4.0, 8.0])
    with pytest.raises(UserError, match="per-neuron tau"):
        pipesdfa.from_nir(g)


def test_snntorch_runs_our_graph_to_the_same_spikes():
    """snnTorch's NIR import (an optional test extra) runs our exported digits-mlp to our output
    spikes. Its importer takes dt = 1e-4 s whatever the graph says, so we export with that dt
    (tau = 2e-4 s); it folds r dt / tau = 1/2 into its threshold (its Leaky integrates
    M = M/2 + I = 2 H)."""
    pytest.importorskip("snntorch")
    try:
        from snntorch.import_nir import import_from_nir
    except ImportError:
        try:
            from snntorch.import_nirtorch import import_from_nir
        except ImportError:
            pytest.skip("this snnTorch has no NIR import")
    net = digits_mlp()
    with torch.no_grad():  # an active output layer (an untrained net's is nearly silent)
        net.blocks[1].weight.mul_(1.5)
        net.blocks[2].weight.mul_(4.0)
    x, _ = digits_frames(64)
    ours = spikes_of(net, x)[-1]
    model = import_from_nir(pipesdfa.to_nir(net, T=8, dt=1e-4))
    xs, out, state = x.reshape(8, 64, -1), [], None
    with torch.no_grad():
        for t in range(8):
            o, state = model(xs[t], state)
            out.append(o[0] if isinstance(o, tuple) else o)
    assert float(ours.sum()) > 100
    assert torch.equal(torch.stack(out), ours)


@pytest.fixture
def dense_products():
    """Our dense blocks with plain dense products, so sums round exactly as the executor's do.

    N-MNIST frames are sparse enough that :func:`pipesdfa.snn.kernels.sparse.linear` takes its CSR
    path, which adds the same terms in another order (equal to float rounding, not bit for bit:
    one spike in ~10^6 flips at a tie); the export's semantics are what is checked here."""
    prev = sparse.set_enabled(False)
    yield
    sparse.set_enabled(prev)


@pytest.mark.slow
def test_reference_executor_on_real_nmnist_frames(shared_data, dense_products):
    """The executor against our nmnist-mlp2 and a conv net on real N-MNIST test frames."""
    if not (shared_data / "nmnist").is_dir():
        pytest.skip("../shared/data/nmnist absent")
    data = pipesdfa.load_dataset("nmnist", T=10, data_dir=str(shared_data), max_train=1, max_test=32, cache_dir=False)
    x = data.test.frames[:32].float().transpose(0, 1).contiguous()
    torch.manual_seed(0)
    mlp = build_model(get_workload("nmnist-mlp2").model_spec(data.input_shape, data.num_classes), NeuronParams(),
                      backend="fused").eval()
    scale_init(mlp, 3.0)
    _check_executor(mlp, x, ["lif0", "lif1"])
    spec = ModelSpec("conv", data.input_shape, (Conv(8, 3, 1, 1, True, 2), Conv(8, 3, 2, 1, False, 1), Dense(10)), 10)
    torch.manual_seed(1)
    conv = build_model(spec, NeuronParams(kind="if"), backend="fused").eval()
    with torch.no_grad():
        for blk in conv.blocks:
            blk.weight.mul_(2.0)
    _check_executor(conv, x, ["pool0_threshold", "if1", "if2"])
