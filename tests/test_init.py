"""The data-driven init and the step scale it leaves on every block (training/init.py, learning/base.py)."""

from __future__ import annotations

import pytest
import torch

from pipesdfa.learning import BPTT, SDFA, OutputOnly
from pipesdfa.learning.base import step_scale
from pipesdfa.snn.dynamics import NeuronParams
from pipesdfa.training.init import rate_init
from pipesdfa.util.errors import UserError
from pipesdfa.zoo.models import build_model
from pipesdfa.zoo.workloads import Conv, Dense, ModelSpec


def _net(conv: bool = False):
    torch.manual_seed(0)
    layers = (Conv(4, 3, 1, 1, False, 2), Dense(16), Dense(3)) if conv else (Dense(16), Dense(16), Dense(3))
    shape = (2, 6, 6) if conv else (20,)
    return build_model(ModelSpec("t", shape, layers, 3), NeuronParams(kind="lif", tau=2.0)), shape


def _sparse_input(shape, T=6, B=64, rate=0.1):
    g = torch.Generator().manual_seed(1)
    return (torch.rand((T, B, *shape), generator=g) < rate).float()


@pytest.mark.parametrize("conv", [False, True])
def test_rate_init_hits_the_target_and_records_its_gain(conv):
    net, shape = _net(conv)
    before = [b.weight.detach().clone() for b in net.blocks]
    report = rate_init(net.blocks, _sparse_input(shape), target=0.1)
    for l, (blk, rep, w0) in enumerate(zip(net.blocks, report, before)):
        goal = 0.1 if l < len(net.blocks) - 1 else 0.02
        assert rep["rate"] == pytest.approx(goal, abs=0.01)
        assert rep["gain"] > 1  # sparse input: PyTorch's scale is too small to fire
        torch.testing.assert_close(blk.weight.detach(), w0 * rep["gain"])
        assert step_scale(blk) == rep["gain"]


@pytest.mark.parametrize("rule", [BPTT, SDFA, OutputOnly])
def test_every_rule_steps_each_block_in_proportion_to_its_init_gain(rule):
    """The Python API path: a user's blocks, rate_init, the rule's param_groups."""
    net, shape = _net()
    gains = [r["gain"] for r in rate_init(net.blocks, _sparse_input(shape))]
    groups = rule.for_model(net).param_groups(net.parameters(), 1e-3)
    lr_of = {id(p): g["lr"] for g in groups for p in g["params"]}
    assert sorted(lr_of) == sorted(id(p) for p in net.parameters())  # every parameter once
    for blk, gain in zip(net.blocks, gains):
        for p in blk.parameters():
            assert lr_of[id(p)] == pytest.approx(1e-3 * gain)
    assert groups[0]["params"] == list(net.blocks[-1].parameters())  # the output block's group first
    for g in groups:
        assert g["lr"] == pytest.approx(1e-3 * g["lr_scale"])  # warm restarts keep the ratio


def test_variant_hidden_rate_multiplies_the_step_scale():
    net, shape = _net()
    gains = [r["gain"] for r in rate_init(net.blocks, _sparse_input(shape))]
    groups = SDFA.for_model(net, variant="centered-lr3").param_groups(net.parameters(), 1e-3)
    lr_of = {id(p): g["lr"] for g in groups for p in g["params"]}
    for l, (blk, gain) in enumerate(zip(net.blocks, gains)):
        want = 1e-3 * gain * (3.0 if l < len(net.blocks) - 1 else 1.0)
        assert lr_of[id(blk.weight)] == pytest.approx(want)


def test_blocks_without_a_step_scale_keep_one_group_at_lr():
    net, _ = _net()
    groups = BPTT.for_model(net).param_groups(net.parameters(), 2e-3)
    assert len(groups) == 1 and groups[0]["lr"] == 2e-3 and len(groups[0]["params"]) == len(list(net.parameters()))


def test_a_bad_step_scale_is_refused_by_name():
    net, _ = _net()
    net.blocks[0].step_scale = -1.0
    with pytest.raises(UserError, match="step_scale must be a number > 0"):
        SDFA.for_model(net).param_groups(net.parameters(), 1e-3)


def test_data_init_with_the_step_scale_lets_sdfa_align(tmp_path):
    """The cause of issue 22: without the step scale, SDFA's hidden layers do not align on a
    composed MLP at the data-driven init; with it they do (digits, 3 x 64, 8 epochs at a constant rate)."""
    from pipesdfa.learning.base import STEP_SCALE
    from pipesdfa.training.config import TrainConfig, make_loss
    from pipesdfa.training.evaluation import batches, to_time_first
    from pipesdfa.training.loop import build_run
    from pipesdfa.learning import alignment

    def cosines(scaled: bool) -> list[float]:
        run = build_run(TrainConfig.from_flat(dataset="digits", model="mlp", hidden=(64, 64, 64), method="sdfa", epochs=8,
                                    sdfa_variant="authors", distribution="gaussian", threads=1,
                                            out=str(tmp_path)))  # the rule of issue 22: random B
        if not scaled:
            for b in run.model.blocks:
                setattr(b, STEP_SCALE, 1.0)
        opt = torch.optim.Adam(run.rule.param_groups(run.model.parameters(), 1e-3))
        loss = make_loss("ce")
        for ep in range(8):
            order = torch.randperm(len(run.data.train), generator=torch.Generator().manual_seed(ep))
            for xb, yb in batches(run.data.train, order, 32):
                opt.zero_grad(set_to_none=True)
                run.rule.compute_grads(to_time_first(xb, run.device), yb, loss)
                opt.step()
        xb, yb = next(batches(run.data.test, torch.arange(64), 64))
        return [a["cosine"] for a in alignment(run.rule, to_time_first(xb, run.device), yb, loss)]

    plain, scaled = cosines(False), cosines(True)
    assert sum(scaled) / 3 > sum(plain) / 3 + 0.15 and min(scaled) > 0.15, (plain, scaled)
