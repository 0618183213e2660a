"""The named SDFA variants: what each one projects, checked against hand-built signals."""

from __future__ import annotations

import pytest
import torch

from pipesdfa.util.errors import UserError
from pipesdfa.learning import make_rule
from pipesdfa.learning.sdfa_variants import AUTHORS, VARIANTS, Variant, center_batch, get_variant
from pipesdfa.zoo.models import build_model
from pipesdfa.snn.neurons import NeuronParams
from pipesdfa.training.loop import make_loss
from pipesdfa.zoo.workloads import mlp_spec


def _model(T=6, B=4, seed=0, neuron=NeuronParams(kind="if")):
    torch.manual_seed(seed)
    model = build_model(mlp_spec((10,), (12, 8), 3), neuron, backend="torch")
    with torch.no_grad():
        for blk in model.blocks:
            blk.weight.mul_(2.0).add_(0.3)
    x = (torch.rand(T, B, 10) < 0.5).float()
    y = torch.arange(B) % 3
    return model, x, y


def _hidden_grads(model, x, y, loss_fn, fast, **opts):
    rule = make_rule("sdfa", model, fast=fast, store="float", **opts)
    model.zero_grad(set_to_none=True)
    rule.compute_grads(x, y, loss_fn)
    return [blk.weight.grad.clone() for blk in model.blocks]


def test_registry_and_options():
    a = VARIANTS[AUTHORS]
    assert get_variant(None) is a and (a.center, a.hidden_lr) == (False, 1.0)  # the paper's rule is the default
    c = VARIANTS["centered-lr3"]
    assert (c.center, c.hidden_lr) == (True, 3.0)
    with pytest.raises(UserError, match="unknown sdfa variant 'x'"):
        get_variant("x")
    model, _, _ = _model()
    assert make_rule("sdfa", model).options()["variant"] == AUTHORS
    assert make_rule("sdfa", model, variant="centered-lr3").options()["variant"] == "centered-lr3"
    with pytest.raises(ValueError):
        Variant("bad", hidden_lr=0.0)


def test_center_batch_by_hand():
    e = torch.tensor([[1.0, -2.0], [3.0, 0.0]])
    assert torch.equal(center_batch(e), torch.tensor([[-1.0, -1.0], [1.0, 1.0]]))


@pytest.mark.parametrize("fast", [False, True])
def test_centered_on_identical_samples_leaves_hidden_layers_still(fast):
    # every sample of the batch the same: e is the same for all, its batch-centred version 0
    model, x, y = _model()
    x = x[:, :1].expand_as(x).contiguous()
    y = torch.zeros_like(y)
    g_auth = _hidden_grads(model, x, y, make_loss("mse"), fast, variant=AUTHORS)
    g_cent = _hidden_grads(model, x, y, make_loss("mse"), fast, variant="centered-lr3")
    assert all(float(g.abs().max()) > 0 for g in g_auth)
    for g in g_cent[:-1]:
        assert float(g.abs().max()) == 0.0
    torch.testing.assert_close(g_cent[-1], g_auth[-1])  # the output layer keeps its true gradient


@pytest.mark.parametrize("fast", [False, True])
def test_centered_projects_e_minus_its_batch_mean(fast):
    # the authors' rule under a loss whose gradient is w = e - mean_b e projects exactly w
    model, x, y = _model()
    mse = make_loss("mse")
    with torch.no_grad():
        rates = model(x)
    r = rates.clone().requires_grad_(True)
    (e,) = torch.autograd.grad(mse(r, y), r)
    w = e - e.mean(0, keepdim=True)
    assert float(w.abs().max()) > 0

    def linear_loss(rates, y):  # d/drates = w
        return (rates * w).sum()

    want = _hidden_grads(model, x, y, linear_loss, fast, variant=AUTHORS)
    got = _hidden_grads(model, x, y, mse, fast, variant="centered-lr3")
    for a, b in zip(got[:-1], want[:-1]):
        assert float(b.abs().max()) > 0
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-8)
    ref = _hidden_grads(model, x, y, mse, fast, variant=AUTHORS)
    torch.testing.assert_close(got[-1], ref[-1])  # the output layer: the true MSE gradient


def test_hidden_learning_rate_in_the_optimiser(tmp_path):
    from pipesdfa.training.loop import build_run, config_from_workload

    cfg = config_from_workload("digits-mlp", method="sdfa", sdfa_variant="centered-lr3", epochs=4, T=2,
                               hidden=(8,), max_train=32, max_test=8, out=str(tmp_path))
    run = build_run(cfg)
    groups = run.optimizer.param_groups
    assert [g["lr"] for g in groups] == pytest.approx([cfg.optim.lr, 3 * cfg.optim.lr])  # the base rate first (epoch "lr")
    assert [id(p) for p in groups[1]["params"]] == [id(p) for p in run.model.blocks[0].parameters()]
    assert [id(p) for p in groups[0]["params"]] == [id(p) for p in run.model.blocks[-1].parameters()]
    run.optimizer.step()  # (no gradients: nothing moves)
    run.scheduler.step()  # the cosine schedule keeps the ratio
    assert groups[1]["lr"] == pytest.approx(3 * groups[0]["lr"]) and groups[0]["lr"] < cfg.optim.lr
    from pipesdfa.training import schedules as schedule

    schedule.restart(run.optimizer, cfg.optim.lr, 4, (2,), 2)  # a warm restart: each group back to its own rate
    assert [g["lr"] for g in run.optimizer.param_groups] == pytest.approx([cfg.optim.lr, 3 * cfg.optim.lr])
    plain = build_run(config_from_workload("digits-mlp", method="sdfa", epochs=4, T=2, hidden=(8,), max_train=32,
                                           max_test=8, out=str(tmp_path)))
    assert len(plain.optimizer.param_groups) == 1 and plain.optimizer.param_groups[0]["lr"] == cfg.optim.lr
    with pytest.raises(UserError, match="sdfa-variant is an SDFA option"):
        config_from_workload("digits-mlp", method="bptt", sdfa_variant="centered-lr3").validate()
    with pytest.raises(UserError, match="unknown sdfa variant 'centred-lr3' \\(did you mean 'centered-lr3'"):
        config_from_workload("digits-mlp", method="sdfa", sdfa_variant="centred-lr3").validate()
