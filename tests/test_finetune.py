"""``pipesdfa finetune``: adapting a trained run on K shifted samples per class; the run-folder
contract of ``train``, frozen layers, aligned feedback, RRAM, pricing, and one-line refusals."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
import yaml

from pipesdfa.cli.main import main
from pipesdfa.learning.feedback import aligned_matrices
from pipesdfa.util.errors import UserError
from test_runs import cli, weights
from pipesdfa.training.config import flat_view

TINY = ["--workload", "digits-mlp", "--T", "4", "--hidden", "64", "--max-test", "90", "--no-progress"]
SHIFT = "contrast-threshold:factor=2"


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    out = tmp_path_factory.mktemp("base") / "run"
    assert main(["train", *TINY, "--epochs", "5", "--out", str(out)]) == 0
    return out


def finetune(base, out, *flags, **options):
    """``pipesdfa finetune`` arguments: the defaults below, ``options`` (``samples_per_class="3"``) replacing them."""
    opts = {"checkpoint": str(base), "shift": SHIFT, "samples_per_class": "2", "epochs": "2", "out": str(out),
            **options}
    return ["finetune", *[x for k, v in opts.items() for x in (f"--{k.replace('_', '-')}", v)], "--no-progress",
            *flags]


def test_finetune_writes_a_train_run_folder_with_before_and_after(base, tmp_path, capsys):
    out = tmp_path / "ft"
    rc, text, _ = cli(finetune(base, out, "--method", "bptt"), capsys)
    assert rc == 0 and "shifted test" in text and "unshifted" in text
    cfg = flat_view(yaml.safe_load((out / "config.yaml").read_text()))
    assert cfg["base"] == str(base / "checkpoint.pt") and cfg["shift"] == SHIFT and cfg["samples_per_class"] == 2
    assert cfg["max_train"] == 20 and cfg["batch"] == 20 and cfg["hidden"] == [64, 64] and cfg["T"] == 4
    m = json.loads((out / "metrics.json").read_text())
    ft = m["finetune"]
    base_m = json.loads((base / "metrics.json").read_text())
    assert ft["base"]["test_acc"] == base_m["final"]["test_acc"]
    # before = the base network: its unshifted accuracy is the base's own test accuracy
    assert ft["before"]["test_acc_unshifted"] == pytest.approx(base_m["final"]["test_acc"])
    assert ft["before"]["test_acc"] < ft["before"]["test_acc_unshifted"]  # the shift costs accuracy
    assert ft["after"]["test_acc"] == m["final"]["test_acc"] == m["epochs"][-1]["test_acc"]
    assert "test_acc_unshifted" in m["epochs"][0] and ft["train_samples"] == 20 and ft["samples_trained"] == 40
    assert m["dataset"]["train"] == 20 and m["init"] == {"kind": "base", "base": str(base / "checkpoint.pt")}
    # config.yaml repeats the run bit-identically (train --config)
    again = tmp_path / "again"
    assert cli(["train", "--config", str(out / "config.yaml"), "--out", str(again), "--no-progress"], capsys)[0] == 0
    wa, wb = weights(out), weights(again)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_finetune_resume_extends_and_checks_its_flags(base, tmp_path, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    assert cli(finetune(base, a, "--method", "sdfa"), capsys)[0] == 0
    shutil.copytree(a, b)
    assert cli(["finetune", "--resume", str(a), "--epochs", "3", "--no-progress"], capsys)[0] == 0
    assert cli(["train", "--resume", str(b), "--epochs", "3", "--no-progress"], capsys)[0] == 0
    wa, wb = weights(a), weights(b)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    m = json.loads((a / "metrics.json").read_text())
    assert len(m["epochs"]) == 3 and m["finetune"]["before"] == json.loads((b / "metrics.json").read_text())[
        "finetune"]["before"]
    for flags, named in ((["--method", "bptt"], "--method"), (["--shift", "rotation"], "--shift"),
                         (["--checkpoint", str(tmp_path)], "--checkpoint"), (["--samples-per-class", "3"],
                                                                              "--samples-per-class")):
        rc, _, err = cli(["finetune", "--resume", str(a), *flags], capsys)
        assert rc == 2 and named in err and err.count("\n") == 1, err
    # the canonical and the short form of a shift agree
    assert cli(["finetune", "--resume", str(a), "--shift", "contrast-threshold", "--no-progress"], capsys)[0] == 0


def test_layers_last_adapts_the_output_block_only(base, tmp_path, capsys):
    out = tmp_path / "last"
    assert cli(finetune(base, out, "--method", "sdfa", "--layers", "last"), capsys)[0] == 0
    before, after = weights(base), weights(out)
    for i in (0, 1):  # the hidden blocks
        assert torch.equal(before[f"blocks.{i}.weight_op.weight"], after[f"blocks.{i}.weight_op.weight"])
    assert not torch.equal(before["blocks.2.weight_op.weight"], after["blocks.2.weight_op.weight"])
    rc, _, err = cli(finetune(base, tmp_path / "o", "--method", "output", "--layers", "all"), capsys)
    assert rc == 2 and "output block only" in err


def test_aligned_matrices_golden():
    w0 = torch.tensor([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])  # 2 -> 3
    w1 = torch.tensor([[1.0, -1.0, 0.0], [0.0, 1.0, 1.0]])  # 3 -> 2
    w2 = torch.tensor([[2.0, 0.0], [0.0, 1.0], [1.0, 1.0]])  # 2 -> C = 3
    b0, b1 = aligned_matrices([w0, w1, w2])
    p = w2 @ w1  # [[2, -2, 0], [0, 1, 1], [1, 0, 1]]: rms = sqrt(12 / 9)
    assert torch.allclose(b1, w2 / (7 / 6) ** 0.5) and torch.allclose(b0, p / (12 / 9) ** 0.5)
    # in a linear network, e B_l is the back-propagated error dL/dh_l, up to the one scale
    x = torch.randn(4, 2)
    h0 = x @ w0.T
    h0.requires_grad_(True)
    out = (h0 @ w1.T) @ w2.T
    e = torch.randn(4, 3)
    out.backward(e)
    assert torch.allclose(e @ b0 * (12 / 9) ** 0.5, h0.grad, atol=1e-6)


def _conv_net(vote: int = 1, bn: bool = True):
    from pipesdfa.snn.neurons import NeuronParams
    from pipesdfa.zoo.models import build_model
    from pipesdfa.zoo.workloads import Conv, Dense, ModelSpec

    torch.manual_seed(0)
    spec = ModelSpec("c", (2, 8, 8), (Conv(3, 3, 1, 1, bn, 2), Conv(4, 3, 1, 1, bn, 2), Dense(5), Dense(3 * vote)), 3, vote)
    net = build_model(spec, NeuronParams(kind="lif"))
    for b in net.blocks:
        if b.bn is not None:  # a trained batch-norm: non-trivial scale and statistics
            b.bn.weight.data.uniform_(0.5, 2.0)
            b.bn.running_var.uniform_(0.5, 2.0)
            b.bn.running_mean.uniform_(-1.0, 1.0)
    return net


def _reference_matrix(net, l: int, vote: int) -> torch.Tensor:
    """Column j of B_l (before scaling): the linearised chain above block l, run forward on a
    one-hot input at neuron j (an independent way: forward on every basis vector, no autograd)."""
    import torch.nn.functional as F

    shape = (net.layers[l].out_channels, *net.layers[l].pooled_hw) if net.layers[l].kind == "conv" else (net.layers[l].out_channels,)
    n = int(torch.tensor(shape).prod())
    y = torch.eye(n).reshape(n, *shape)
    for b in list(net.blocks)[l + 1:]:
        if b.kind == "conv":
            y = F.conv2d(y, b.weight, padding=1)
            if b.bn is not None:
                y = y * (b.bn.weight / (b.bn.running_var + b.bn.eps).sqrt()).reshape(1, -1, 1, 1)
            y = F.avg_pool2d(y, 2)
        else:
            y = y.reshape(n, -1) @ b.weight.T
    y = y.reshape(n, 3, vote).mean(2)  # the vote readout
    return y.T.detach()


@pytest.mark.parametrize("vote,bn", [(1, True), (2, True), (1, False)])
def test_aligned_block_matrices_are_the_linearised_chain(vote, bn):
    """With convolutions, B_l is the matrix of the chain above block l with neurons removed,
    batch-norm as its scale, max-pool read as the average and the votes averaged (checked against
    a forward pass on every basis vector), scaled to unit RMS."""
    from pipesdfa.learning.feedback import aligned_block_matrices

    net = _conv_net(vote, bn)
    shapes = [(3, 4, 4), (4, 2, 2), (5,)]
    mats = aligned_block_matrices(net.blocks, shapes, 3, vote)
    assert [tuple(m.shape) for m in mats] == [(3, 48), (3, 16), (3, 5)]
    for l, m in enumerate(mats):
        ref = _reference_matrix(net, l, vote)
        assert torch.allclose(m, ref / ref.pow(2).mean().sqrt(), atol=1e-5), l
        assert m.pow(2).mean().item() == pytest.approx(1.0, rel=1e-5)
    with pytest.raises(UserError, match="hidden shapes"):
        aligned_block_matrices(net.blocks, shapes[:2], 3, vote)
    with pytest.raises(UserError, match="expected 4 classes"):
        aligned_block_matrices(net.blocks, shapes, 4, vote)


def test_aligned_block_matrices_of_dense_blocks_are_the_weight_products():
    """Fully connected blocks: exactly :func:`aligned_matrices` of the weights (the same numbers
    every committed MLP result used)."""
    from pipesdfa.learning.feedback import aligned_block_matrices
    from pipesdfa.snn.neurons import NeuronParams
    from pipesdfa.zoo.models import build_model
    from pipesdfa.zoo.workloads import mlp_spec

    torch.manual_seed(1)
    net = build_model(mlp_spec((6,), (5, 4), 3), NeuronParams(kind="lif"))
    got = aligned_block_matrices(net.blocks, [(5,), (4,)], 3)
    want = aligned_matrices([b.weight for b in net.blocks])
    assert all(torch.equal(g, w) for g, w in zip(got, want))


def test_trainer_aligns_a_conv_nets_feedback():
    """``align_feedback`` (the trainer's, for a composed model) sets B_l from the zoo net's own
    layer geometry; the rule then projects onto every hidden block's pooled output."""
    from pipesdfa.learning import SDFA
    from pipesdfa.learning.feedback import aligned_block_matrices
    from pipesdfa.training.finetune import align_feedback

    net = _conv_net(vote=2)
    rule = SDFA.for_model(net, feedback="independent")
    align_feedback(rule, net, None, 0)
    want = aligned_block_matrices(net.blocks, [(3, 4, 4), (4, 2, 2), (5,)], 3, 2)
    assert rule.feedback.distribution == "aligned" and rule.feedback.widths == [48, 16, 5]
    assert all(torch.equal(rule.feedback.matrix(i), m) for i, m in enumerate(want))
    x = (torch.rand(4, 2, 2, 8, 8) < 0.3).float()
    grads = rule.compute_grads(x, torch.tensor([0, 1]), lambda r, y: ((r - torch.eye(3)[y]) ** 2).sum())
    assert all(p.grad is not None for p in net.parameters() if p.requires_grad)


def test_python_api_aligned_feedback_is_set_from_the_weights_at_the_first_step():
    """``SDFA(net, C, distribution="aligned")`` on a user's blocks: one matrix per hidden layer
    (``independent`` by default), set at the first step to the linearised chain of the weights
    as they were then (the same matrices as the trainer's ``align_feedback``), then fixed."""
    import copy

    from pipesdfa.learning import SDFA
    from pipesdfa.training.finetune import align_feedback

    net = _conv_net(vote=2)
    rule = SDFA.for_model(net, distribution="aligned")
    assert rule.feedback.mode == "independent" and rule.feedback.align_pending
    assert rule.options()["distribution"] == "aligned"
    trainer = SDFA.for_model(copy.deepcopy(net), feedback="independent")
    align_feedback(trainer, net, None, 0)  # from the same weights, before any update
    x = (torch.rand(4, 2, 2, 8, 8) < 0.3).float()
    mse = lambda r, y: ((r - torch.eye(3)[y]) ** 2).sum()
    rule.compute_grads(x, torch.tensor([0, 1]), mse)
    assert not rule.feedback.align_pending and rule.feedback.widths == [48, 16, 5]
    assert all(torch.allclose(rule.feedback.matrix(i), trainer.feedback.matrix(i), atol=1e-6) for i in range(3))
    want = [rule.feedback.matrix(i).clone() for i in range(3)]
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.1)
    rule.compute_grads(x, torch.tensor([0, 1]), mse)  # fixed after the first step
    assert all(torch.equal(rule.feedback.matrix(i), w) for i, w in enumerate(want))
    # a state dict restores the matrices instead of recomputing them from other weights
    again = SDFA.for_model(net, distribution="aligned")
    again.load_state_dict(rule.state_dict())
    again.compute_grads(x, torch.tensor([0, 1]), mse)
    assert all(torch.equal(again.feedback.matrix(i), w) for i, w in enumerate(want))


def test_python_api_aligned_feedback_of_an_mlp_is_the_weight_product():
    from pipesdfa.learning import SDFA
    from pipesdfa.snn.neurons import NeuronParams
    from pipesdfa.zoo.models import build_model
    from pipesdfa.zoo.workloads import mlp_spec

    torch.manual_seed(2)
    net = build_model(mlp_spec((6,), (5, 4), 3), NeuronParams(kind="lif"))
    want = aligned_matrices([b.weight.detach().clone() for b in net.blocks])
    rule = SDFA.for_model(net, distribution="aligned", widths=[5, 4])  # given widths: still aligned
    rule.compute_grads((torch.rand(4, 2, 6) < 0.5).float(), torch.tensor([0, 2]),
                       lambda r, y: ((r - torch.eye(3)[y]) ** 2).sum())
    assert all(torch.equal(rule.feedback.matrix(i), w) for i, w in enumerate(want))


def test_python_api_aligned_feedback_refusals():
    from torch import nn

    from pipesdfa.learning import SDFA
    from pipesdfa.snn.neurons import NeuronParams
    from pipesdfa.util.errors import UserError
    from pipesdfa.zoo.models import build_model
    from pipesdfa.zoo.workloads import mlp_spec

    net = build_model(mlp_spec((6,), (5,), 3), NeuronParams(kind="lif"))
    with pytest.raises(UserError, match="feedback 'independent'.*not 'shared'"):
        SDFA.for_model(net, distribution="aligned", feedback="shared")

    class Mine(nn.Module):  # a user's block: no weights the rule can read
        def forward(self, x):
            return (x > 0.5).float()

    rule = SDFA([Mine(), net.blocks[1]], 3, distribution="aligned")
    with pytest.raises(UserError, match="block 0 is a Mine"):
        rule.compute_grads((torch.rand(4, 2, 5) < 0.5).float(), torch.tensor([0, 2]),
                           lambda r, y: ((r - torch.eye(3)[y]) ** 2).sum())


def test_aligned_feedback_on_ideal_and_rram_weights(base, tmp_path, capsys):
    out = tmp_path / "al"
    assert cli(finetune(base, out, "--method", "sdfa", "--distribution", "aligned"), capsys)[0] == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["rule"]["distribution"] == "aligned" and m["rule"]["feedback"] == "independent"
    rule = torch.load(out / "checkpoint.pt", weights_only=False)["rule"]
    w = weights(base)
    assert torch.allclose(rule["feedback.B_0"], aligned_matrices([w[f"blocks.{i}.weight_op.weight"]
                                                                  for i in range(3)])[0])
    assert min(m["final"]["alignment"][0]["cosine"], 1.0) > 0.3  # aligned with BPTT's gradient
    hw = tmp_path / "rram"
    assert cli(finetune(base, hw, "--method", "sdfa", "--distribution", "aligned", "--hardware", "rram",
                        "--set", "levels=32"), capsys)[0] == 0
    mh = json.loads((hw / "metrics.json").read_text())
    assert mh["pulses"]["total"] > 0 and mh["finetune"]["before"]["test_acc"] != m["finetune"]["before"]["test_acc"]
    b_rram = torch.load(hw / "checkpoint.pt", weights_only=False)["rule"]["feedback.B_0"]
    assert not torch.equal(b_rram, rule["feedback.B_0"])  # programmed onto the device, read back
    assert torch.corrcoef(torch.stack([b_rram.flatten(), rule["feedback.B_0"].flatten()]))[0, 1] > 0.9
    # the simulator prices the adaptation's own samples, rates and pulses
    from pipesdfa.hw.config import load_config
    from pipesdfa.studies.personalisation.runner import price

    sim = price(hw, lambda dev: load_config().with_overrides(dev))
    setup = sim.pop("pipesdfa_feedback_setup")  # aligned B: programming the feedback arrays, once
    assert set(sim) == {"pipesdfa", "pipelayer"} and all(v["energy_j"] > 0 and v["time_s"] > 0 for v in sim.values())
    assert setup["entries"] == 10 * (64 + 64) and setup["forward_reads"] == 64 * 2 + 64
    assert 0 < setup["energy_j"] < 1e-3 * sim["pipesdfa"]["energy_j"]  # negligible next to the adaptation


@pytest.mark.parametrize("options, needle", [
    ({"shift": "hotpixels"}, "did you mean 'hot-pixels'"),
    ({"shift": "time-warp"}, "tactile data"),
    ({"samples_per_class": "1000"}, "larger than digits' training split"),
    ({"dataset": "braille"}, "is a run of dataset 'digits', not 'braille'"),
    ({"checkpoint": "nowhere"}, "does not exist"),
])
def test_bad_input_exits_2_with_one_line(base, tmp_path, capsys, options, needle):
    rc, _, err = cli(finetune(base, tmp_path / "bad", **options), capsys)
    assert rc == 2 and needle in err and err.count("\n") == 1, err
    assert not (tmp_path / "bad").exists()


def test_base_of_another_dataset_through_a_config_file_is_refused(base, tmp_path, capsys):
    cfg = yaml.safe_load((base / "config.yaml").read_text())
    cfg.pop("workload", None)
    cfg["data"].update(dataset="nmnist", dir=str(tmp_path))
    cfg["finetune"]["base"] = str(base / "checkpoint.pt")
    cfg["runtime"]["out"] = str(tmp_path / "x")
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    rc, _, err = cli(["train", "--config", str(tmp_path / "c.yaml"), "--no-progress"], capsys)
    assert rc == 2 and err.count("\n") == 1 and "is a run of dataset 'digits'; this run adapts on 'nmnist'" in err
