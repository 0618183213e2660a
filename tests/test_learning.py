"""Learning rules against hand-written references on tiny networks.

The references below compute gradients with explicit backward recursions (no autograd):
for a LIF layer with hard reset to 0, ``H[t] = V[t-1] + (X[t] - V[t-1]) / tau``,
``S[t] = Theta(H[t] - 1)``, ``V[t] = H[t] (1 - S[t])``, and ``sg[t] = g'(H[t] - 1)``:

    gV[t]  = gH[t+1] (1 - 1/tau)                          (0 at t = T-1, or without recurrence)
    gH[t]  = (gS[t] - gV[t] H[t]) sg[t] + gV[t] (1 - S[t])
    gX[t]  = gH[t] / tau,     dW = sum_t gX[t]^T S_in[t]
"""

from __future__ import annotations

import math

import pytest
import torch

from pipesdfa.util.errors import UserError
from pipesdfa.learning import make_rule
from pipesdfa.learning.alignment import alignment
from pipesdfa.learning.feedback import FeedbackMatrices
from pipesdfa.zoo.models import build_model
from pipesdfa.snn.neurons import NeuronParams
from pipesdfa.snn.surrogates import surrogate_grad
from pipesdfa.training.loop import make_loss
from pipesdfa.zoo.workloads import mlp_spec

TAU = 2.0


def lif_forward(x: torch.Tensor):
    """``x [T, B, n]`` -> ``(H, S)`` with the module docstring's dynamics."""
    v = torch.zeros_like(x[0])
    hs, ss = [], []
    for t in range(x.shape[0]):
        h = v + (x[t] - v) / TAU
        s = (h >= 1.0).to(x.dtype)
        v = h * (1 - s)
        hs.append(h)
        ss.append(s)
    return torch.stack(hs), torch.stack(ss)


def lif_backward(H, S, gS, recurrent: bool):
    """``gX`` from ``gS`` by the recursion in the module docstring."""
    sg = surrogate_grad(H - 1.0, "atan", 2.0)
    gX = torch.zeros_like(H)
    gH_next = torch.zeros_like(H[0])
    for t in reversed(range(H.shape[0])):
        gV = gH_next * (1 - 1 / TAU) if (recurrent and t < H.shape[0] - 1) else torch.zeros_like(H[0])
        gH = (gS[t] - gV * H[t]) * sg[t] + gV * (1 - S[t])
        gX[t] = gH / TAU
        gH_next = gH
    return gX


def tiny(seed=0, hidden=(5,), n_in=4, classes=3, T=3, B=2):
    torch.manual_seed(seed)
    spec = mlp_spec((n_in,), hidden, classes)
    model = build_model(spec, NeuronParams(kind="lif", tau=TAU)).double()
    with torch.no_grad():
        for blk in model.blocks:
            blk.weight.mul_(4.0)  # enough activity for non-trivial gradients
    x = (torch.rand(T, B, n_in, dtype=torch.float64) < 0.6).double() * 2.0
    y = torch.tensor([0, 2][:B])
    return model, x, y


def mse_error(fr, y):
    onehot = torch.nn.functional.one_hot(y, fr.shape[1]).double()
    return 2 * (fr - onehot) / fr.numel()  # d mean((fr - onehot)^2) / d fr


def test_bptt_matches_unrolled_reference():
    model, x, y = tiny(hidden=(5,))
    W1, W2 = model.blocks[0].weight.detach(), model.blocks[1].weight.detach()
    rule = make_rule("bptt", model)
    rule.compute_grads(x, y, make_loss("mse"))
    H1, S1 = lif_forward(x @ W1.T)
    H2, S2 = lif_forward(S1 @ W2.T)
    e = mse_error(S2.mean(0), y)
    T = x.shape[0]
    gX2 = lif_backward(H2, S2, e.expand_as(S2) / T, recurrent=True)
    gS1 = gX2 @ W2  # the error crossing layers through W^T
    gX1 = lif_backward(H1, S1, gS1, recurrent=True)
    dW2 = torch.einsum("tbo,tbi->oi", gX2, S1)
    dW1 = torch.einsum("tbo,tbi->oi", gX1, x)
    assert dW1.abs().sum() > 0 and dW2.abs().sum() > 0
    torch.testing.assert_close(model.blocks[1].weight.grad, dW2)
    torch.testing.assert_close(model.blocks[0].weight.grad, dW1)


@pytest.mark.parametrize("temporal", ["local", "instantaneous"])
@pytest.mark.parametrize("hidden", [(5,), (6, 4)])
def test_sdfa_matches_hand_written_reference(temporal, hidden):
    model, x, y = tiny(seed=1, hidden=hidden)
    rule = make_rule("sdfa", model, temporal=temporal, feedback_seed=7, store="float")
    rule.double()
    rule.compute_grads(x, y, make_loss("mse"))
    # forward, layer by layer
    ins, Hs, Ss = [], [], []
    h = x
    for blk in model.blocks:
        H, S = lif_forward(h @ blk.weight.detach().T)
        ins.append(h)
        Hs.append(H)
        Ss.append(S)
        h = S
    e = mse_error(Ss[-1].mean(0), y)
    T = x.shape[0]
    n_max = max(hidden)
    B = torch.Generator().manual_seed(7)
    Bfull = torch.randn((3, n_max), generator=B).double()  # shared, N(0,1), seeded
    # output layer: the true gradient
    gX_out = lif_backward(Hs[-1], Ss[-1], e.expand_as(Ss[-1]) / T, recurrent=True)
    torch.testing.assert_close(model.blocks[-1].weight.grad, torch.einsum("tbo,tbi->oi", gX_out, ins[-1]))
    # hidden layers: r_l = e B[:, :n_l] / sqrt(n_max), the same at every time step
    for l, n_l in enumerate(hidden):
        r = e @ Bfull[:, :n_l] / math.sqrt(n_max)
        gX = lif_backward(Hs[l], Ss[l], r.expand_as(Ss[l]), recurrent=(temporal == "local"))
        ref = torch.einsum("tbo,tbi->oi", gX, ins[l])
        assert ref.abs().sum() > 0
        torch.testing.assert_close(model.blocks[l].weight.grad, ref)


def test_sdfa_modes_differ():
    grads = {}
    for temporal in ("local", "instantaneous"):
        model, x, y = tiny(seed=1, hidden=(6, 4))
        make_rule("sdfa", model, temporal=temporal, store="float").double().compute_grads(x, y, make_loss("mse"))
        grads[temporal] = model.blocks[0].weight.grad
    assert not torch.allclose(grads["local"], grads["instantaneous"])


def test_output_only_trains_only_last_layer():
    model, x, y = tiny(hidden=(5, 5))
    make_rule("output", model).compute_grads(x, y, make_loss("ce"))
    assert model.blocks[0].weight.grad is None and model.blocks[1].weight.grad is None
    assert model.blocks[2].weight.grad is not None


@pytest.mark.parametrize("dist", ["gaussian", "uniform", "sign"])
def test_feedback_distributions_have_unit_variance_and_are_seeded(dist):
    fb = FeedbackMatrices(10, [3000, 1000], "shared", dist, seed=3)
    B = fb.matrix(0)
    assert B.shape == (10, 3000) and fb.matrix(1).shape == (10, 1000)
    assert torch.equal(fb.matrix(1), B[:, :1000])  # shared and sliced
    assert abs(float(B.mean())) < 0.03 and abs(float(B.var()) - 1) < 0.05
    assert torch.equal(FeedbackMatrices(10, [3000, 1000], "shared", dist, seed=3).matrix(0), B)
    ind = FeedbackMatrices(10, [30, 20], "independent", dist, seed=3)
    assert ind.matrix(0).shape == (10, 30) and ind.matrix(1).shape == (10, 20)
    e = torch.ones(2, 10)
    torch.testing.assert_close(fb.project(e, 1), e @ B[:, :1000] / math.sqrt(3000))


def test_feedback_in_rule_state_dict():
    model, _, _ = tiny(hidden=(5, 5))
    rule = make_rule("sdfa", model, feedback="independent", feedback_seed=4)
    keys = set(rule.state_dict())
    assert keys == {"feedback.B_0", "feedback.B_1"}


def test_alignment_reports_cosines_and_leaves_model_untouched():
    model, x, y = tiny(hidden=(6, 4))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rule = make_rule("sdfa", model)
    rule.double()
    cos = alignment(rule, x, y, make_loss("mse"))
    assert [c["layer"] for c in cos] == [0, 1]
    assert all(-1 - 1e-9 <= c["cosine"] <= 1 + 1e-9 for c in cos if not math.isnan(c["cosine"]))
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k])
    assert all(p.grad is None for p in model.parameters())


def test_conv_sdfa_runs_and_injects_after_pooling():
    from pipesdfa.zoo.workloads import Conv, Dense, ModelSpec

    spec = ModelSpec("c", (2, 8, 8), (Conv(4, pool=2), Conv(4, pool=2), Dense(6)), 3, vote=2)
    model = build_model(spec, NeuronParams())
    rule = make_rule("sdfa", model)
    assert rule.feedback.widths == [4 * 4 * 4, 4 * 2 * 2]
    x = (torch.rand(3, 2, 2, 8, 8) < 0.5).float() * 3
    loss, rates = rule.compute_grads(x, torch.tensor([0, 1]), make_loss("ce"))
    assert rates.shape == (2, 3)
    assert all(blk.weight.grad is not None for blk in model.blocks)


def test_bad_rule_options():
    model, _, _ = tiny()
    with pytest.raises(UserError, match="method"):
        make_rule("hebb", model)
    with pytest.raises(UserError, match="temporal"):
        make_rule("sdfa", model, temporal="sometimes")
    with pytest.raises(UserError, match="SDFA option"):
        make_rule("bptt", model, temporal="local")


@pytest.mark.parametrize("mode", ["shared", "independent"])
def test_project_all_equals_per_layer(mode):
    """One product for every hidden layer's projected error, equal to the per-layer products."""
    from pipesdfa.learning.feedback import FeedbackMatrices

    fb = FeedbackMatrices(4, [7, 3, 5], mode, seed=1)
    e = torch.randn(6, 4)
    got = fb.project_all(e)
    assert [tuple(r.shape) for r in got] == [(6, 7), (6, 3), (6, 5)]
    for l, r in enumerate(got):
        torch.testing.assert_close(r, fb.project(e, l), rtol=1e-6, atol=1e-7)
    assert FeedbackMatrices(4, [], mode).project_all(e) == []
