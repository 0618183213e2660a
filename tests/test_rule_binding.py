"""Rules bound to blocks: the zoo's gradients unchanged, foreign blocks through autograd."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn

import pipesdfa
from pipesdfa.util.errors import UserError
from pipesdfa.learning.local import fast_kind
from pipesdfa.training.loop import make_loss
from _sdfa_golden import VARIANTS, case

GOLDEN = torch.load(__import__("pathlib").Path(__file__).parent / "data" / "sdfa_grads_83a1638.pt")


@pytest.mark.parametrize("name", ["mlp", "conv"])
@pytest.mark.parametrize("temporal,fast,store", VARIANTS)
def test_sdfa_over_blocks_matches_the_zoo_bound_rule_of_83a1638(name, temporal, fast, store):
    """SDFA(blocks, C, readout) gives the gradients the zoo-bound rule gave at 83a1638 (fast
    path store=float and half, and the autograd path), for MLP and conv blocks, both modes."""
    model, x, y = case(name)
    rule = pipesdfa.SDFA(list(model.blocks), model.num_classes, readout=model.readout, temporal=temporal,
                         fast=fast, store=store)
    assert rule.paths == ([b.kind for b in model.blocks] if fast else ["autograd"] * len(model.blocks))
    rule.compute_grads(x, y, make_loss("mse"))
    want = GOLDEN[f"{name}/{temporal}/{'fast' if fast else 'autograd'}/{store}"]
    got = {n: p.grad for n, p in model.named_parameters()}
    assert set(got) == set(want)
    for n in want:  # bit-equal on the machine that wrote the file; summation order may differ elsewhere
        torch.testing.assert_close(got[n], want[n], rtol=1e-5, atol=1e-7, msg=lambda m: f"{n}: {m}")


class PlusOne(pipesdfa.SpikingBlock):
    """A SpikingBlock with its own forward: the fast path must not take it."""

    def forward(self, x):
        return super().forward(x)


@pytest.mark.parametrize("temporal", ["local", "instantaneous"])
def test_unknown_blocks_go_through_autograd_and_mixed_paths_match_the_reference(temporal):
    torch.manual_seed(1)
    lif = dict(backend="fused")
    blocks = nn.ModuleList([
        pipesdfa.SpikingBlock(nn.Linear(20, 16, bias=False), pipesdfa.LIF(**lif)),
        PlusOne(nn.Linear(16, 12, bias=False), pipesdfa.LIF(**lif)),
        pipesdfa.SpikingBlock(nn.Linear(12, 8, bias=True), pipesdfa.LIF(**lif)),  # a bias: still the fast path
        pipesdfa.SpikingBlock(nn.Linear(8, 4, bias=False), pipesdfa.LIF(**lif)),
    ])
    with torch.no_grad():
        for b in blocks:
            b.weight_op.weight.mul_(2.5).add_(0.3)
    x = (torch.rand(6, 5, 20) < 0.4).float()
    y = torch.arange(5) % 4
    ref = copy.deepcopy(blocks)
    rule = pipesdfa.SDFA(blocks, 4, temporal=temporal, store="float")
    assert rule.paths == ["dense", "autograd", "dense", "dense"]
    assert [fast_kind(b) for b in blocks] == ["dense", None, "dense", "dense"]
    rule.compute_grads(x, y, make_loss("mse"))
    pipesdfa.SDFA(ref, 4, temporal=temporal, fast=False).compute_grads(x, y, make_loss("mse"))
    for (n, a), (_, b) in zip(blocks.named_parameters(), ref.named_parameters()):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-5, atol=1e-7, msg=lambda m: f"{n}: {m}")
        assert float(b.grad.abs().sum()) > 0, f"{n}: no gradient (test network too silent)"


class ForeignLIF(nn.Module):
    def forward(self, x):
        v, out = torch.zeros_like(x[0]), []
        for xt in x:
            v = v + (xt - v) / 2
            s = (v >= 1).float() + 0 * v  # (no surrogate: only the protocol matters here)
            v = v * (1 - s)
            out.append(s)
        return torch.stack(out)


def test_instantaneous_refuses_a_neuron_without_the_protocol_by_name():
    blocks = [nn.Sequential(nn.Linear(4, 3), ForeignLIF()), nn.Sequential(nn.Linear(3, 2), ForeignLIF())]
    pipesdfa.SDFA(blocks, 2)  # local works for any differentiable block
    with pytest.raises(UserError, match=r"block 0 \(Sequential\) has no neuron with the recurrent_grad protocol"):
        pipesdfa.SDFA(blocks, 2, temporal="instantaneous")


def test_instantaneous_protocol_on_a_foreign_neuron_is_honoured():
    class ProtoLIF(ForeignLIF):
        def __init__(self):
            super().__init__()
            self.recurrent_grad = True
            self.seen = []

        def forward(self, x):
            self.seen.append(self.recurrent_grad)
            return super().forward(x)

    n0, n1 = ProtoLIF(), ProtoLIF()
    rule = pipesdfa.SDFA([nn.Sequential(nn.Linear(4, 3), n0), nn.Sequential(nn.Linear(3, 2), n1)], 2,
                         temporal="instantaneous")
    rule.compute_grads(torch.rand(3, 2, 4), torch.tensor([0, 1]), make_loss("mse"))
    assert n0.seen == [False] and n0.recurrent_grad is True  # set for the hidden block's forward only
    assert n1.seen == [True]  # the output block keeps its full recurrence


def test_feedback_widths_taken_at_the_first_step_equal_given_ones_and_reload():
    model, x, y = case("conv")
    given = pipesdfa.SDFA.for_model(model)
    lazy = pipesdfa.SDFA(list(model.blocks), model.num_classes, readout=model.readout)
    assert not lazy.feedback.built and given.feedback.built
    lazy.compute_grads(x, y, make_loss("mse"))
    assert lazy.feedback.widths == given.feedback.widths == model.output_widths[:-1]
    assert torch.equal(lazy.feedback.B_shared, given.feedback.B_shared)
    fresh = pipesdfa.SDFA(list(model.blocks), model.num_classes, readout=model.readout, feedback_seed=9)
    fresh.load_state_dict(given.state_dict())
    assert torch.equal(fresh.feedback.B_shared, given.feedback.B_shared)
    fresh.compute_grads(x, y, make_loss("mse"))
    assert fresh.feedback.widths == given.feedback.widths
    ind = pipesdfa.SDFA(list(model.blocks), model.num_classes, readout=model.readout, feedback="independent")
    ind.load_state_dict(pipesdfa.SDFA.for_model(model, feedback="independent").state_dict())
    assert ind.feedback.widths == model.output_widths[:-1]


def test_readout_shape_and_for_model_are_checked():
    blocks = [nn.Sequential(nn.Linear(4, 6), ForeignLIF())]
    with pytest.raises(UserError, match=r"the readout gave shape \(2, 6\), expected \[B, 3\]"):
        pipesdfa.BPTT(blocks, 3).compute_grads(torch.rand(3, 2, 4), torch.tensor([0, 1]), make_loss("mse"))
    rates = pipesdfa.BPTT(blocks, 3, readout=pipesdfa.VoteReadout(3, 2)).compute_grads(
        torch.rand(3, 2, 4), torch.tensor([0, 1]), make_loss("mse"))[1]
    assert rates.shape == (2, 3)
    with pytest.raises(UserError, match="has no blocks, num_classes, readout"):
        pipesdfa.SDFA.for_model(nn.Linear(2, 2))


def test_a_readout_with_parameters_gets_its_true_gradient():
    torch.manual_seed(0)
    blocks = [pipesdfa.SpikingBlock(nn.Linear(6, 8, bias=False), pipesdfa.LIF()),
              pipesdfa.SpikingBlock(nn.Linear(8, 5, bias=False), pipesdfa.LIF())]
    head = nn.Linear(5, 3)
    readout = nn.Sequential(pipesdfa.MeanRate(), head)
    x, y = (torch.rand(4, 2, 6) < 0.5).float() * 3, torch.tensor([0, 2])
    pipesdfa.SDFA(blocks, 3, readout=readout).compute_grads(x, y, make_loss("ce"))
    g = head.weight.grad.clone()
    head.weight.grad = None
    with torch.no_grad():
        s = x
        for b in blocks:
            s = b(s)
    make_loss("ce")(readout(s), y).backward()
    torch.testing.assert_close(g, head.weight.grad)


def test_output_only_and_bptt_bind_any_blocks():
    blocks = [nn.Sequential(nn.Linear(4, 6), ForeignLIF()), nn.Sequential(nn.Linear(6, 3), ForeignLIF())]
    x, y = torch.rand(3, 2, 4) * 3, torch.tensor([0, 1])
    pipesdfa.OutputOnly(blocks, 3).compute_grads(x, y, make_loss("mse"))
    assert blocks[0][0].weight.grad is None and blocks[1][0].weight.grad is not None
    assert math.isfinite(pipesdfa.BPTT(blocks, 3).compute_grads(x, y, make_loss("mse"))[0])


@pytest.mark.parametrize("temporal", ["local", "instantaneous"])
def test_fast_path_with_biases_matches_autograd(temporal):
    """Ops with a bias (e.g. a conv with batch-norm folded in, imported from NIR): db on the fast path."""
    torch.manual_seed(2)
    blocks = nn.ModuleList([
        pipesdfa.SpikingBlock(nn.Conv2d(2, 4, 3, padding=1), pipesdfa.LIF(backend="fused"), nn.BatchNorm2d(4), 2),
        pipesdfa.SpikingBlock(nn.Conv2d(4, 5, 3, padding=1), pipesdfa.IF(backend="fused")),
        pipesdfa.SpikingBlock(nn.Linear(5 * 4 * 4, 6), pipesdfa.LIF(backend="fused")),
    ])
    with torch.no_grad():
        for b in blocks:
            b.weight_op.weight.mul_(2.0)
            b.weight_op.bias.fill_(0.3)
    x = (torch.rand(5, 3, 2, 8, 8) < 0.4).float()
    y = torch.tensor([0, 1, 2])
    ref = copy.deepcopy(blocks)
    rule = pipesdfa.SDFA(blocks, 3, readout=pipesdfa.VoteReadout(3, 2), temporal=temporal, store="float")
    assert rule.paths == ["conv", "conv", "dense"]
    rule.compute_grads(x, y, make_loss("mse"))
    pipesdfa.SDFA(ref, 3, readout=pipesdfa.VoteReadout(3, 2), temporal=temporal, fast=False).compute_grads(
        x, y, make_loss("mse"))
    for (n, a), (_, b) in zip(blocks.named_parameters(), ref.named_parameters()):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-4, atol=1e-6, msg=lambda m: f"{n}: {m}")
        assert float(b.grad.abs().sum()) > 0, f"{n}: no gradient"


def test_tapped_network_gets_the_gradients_of_sdfa_over_its_blocks():
    """h = tap(h) inside one module's forward: the same updates as SDFA(blocks) through autograd."""
    torch.manual_seed(4)
    blocks = nn.ModuleList([nn.Sequential(nn.Linear(12, 10), ProtoNeuron()), nn.Sequential(nn.Linear(10, 8), ProtoNeuron()),
                            nn.Sequential(nn.Linear(8, 3), ProtoNeuron())])
    with torch.no_grad():
        for b in blocks:
            b[0].weight.mul_(3.0)
            b[0].bias.fill_(0.6)

    class Net(nn.Module):
        def __init__(self, blocks):
            super().__init__()
            self.blocks = blocks

        def forward(self, x):
            for b in self.blocks[:-1]:
                x = pipesdfa.tap(b(x))
            return self.blocks[-1](x)

    x, y = (torch.rand(5, 4, 12) < 0.5).float(), torch.tensor([0, 1, 2, 1])
    ref = copy.deepcopy(blocks)
    net = Net(blocks)
    rule = pipesdfa.TappedSDFA(net, 3, feedback_seed=5)
    l1, r1 = rule.compute_grads(x, y, make_loss("mse"))
    l0, r0 = pipesdfa.SDFA(ref, 3, feedback_seed=5).compute_grads(x, y, make_loss("mse"))
    assert l0 == pytest.approx(l1) and torch.equal(r0, r1)
    assert rule.feedback.widths == [10, 8]
    for (n, a), (_, b) in zip(blocks.named_parameters(), ref.named_parameters()):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-5, atol=1e-7, msg=lambda m: f"{n}: {m}")
        assert float(b.grad.abs().sum()) > 0, n
    with torch.no_grad():
        assert torch.equal(net(x), ref[2](ref[1](ref[0](x))))  # outside a step, tap is the identity


class ProtoNeuron(nn.Module):
    """A hand-written LIF with an arctan-shaped surrogate (autograd through a sigmoid-free trick)."""

    def forward(self, x):
        v, out = torch.zeros_like(x[0]), []
        for xt in x:
            v = v + (xt - v) / 2
            s = (v >= 1).float() + (torch.atan(v - 1) - torch.atan(v - 1).detach())  # forward 0/1, grad atan'
            v = v * (1 - s)
            out.append(s)
        return torch.stack(out)
