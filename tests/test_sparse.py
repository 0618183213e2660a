"""Event-driven products (pipesdfa.snn.kernels.sparse) against the dense ones, and their dispatch."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import torch

from pipesdfa.util.errors import UserError
from pipesdfa.snn.kernels import sparse
from pipesdfa.learning import make_rule
from pipesdfa.zoo.models import build_model
from pipesdfa.snn.neurons import NeuronParams
from pipesdfa.training.loop import make_loss
from pipesdfa.zoo.workloads import mlp_spec

RESULT = Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "sparse_crossover_cpu.json"


@pytest.fixture
def crossovers(monkeypatch):
    """Set CPU crossovers for a test (restored afterwards)."""
    def set_all(forward, dw_float=None, dw_bf16=None):
        monkeypatch.setitem(sparse.CROSSOVER, ("cpu", "forward"), forward)
        monkeypatch.setitem(sparse.CROSSOVER, ("cpu", "dw_float"), dw_float)
        monkeypatch.setitem(sparse.CROSSOVER, ("cpu", "dw_bf16"), dw_bf16)
    monkeypatch.setattr(sparse, "_ENABLED", True)
    monkeypatch.setattr(sparse, "MIN_FEATURES", 1)  # the tests' layers are small
    return set_all


def _event(y: torch.Tensor) -> bool:
    """Whether ``y`` came out of the event-driven product (its node or the one below a view)."""
    fn = y.grad_fn
    names = [type(fn).__name__] + [type(f).__name__ for f, _ in fn.next_functions if f is not None]
    return any(n.startswith("_EventLinear") for n in names)


def test_density_golden():
    x = torch.zeros(4, 5)
    x[0, 1] = 1.0
    x[2, :3] = 2.0  # counts count as events
    assert sparse.density(x) == pytest.approx(4 / 20)
    assert sparse.density(torch.zeros(0, 3)) == 0.0


def test_density_samples_rows_evenly(monkeypatch):
    monkeypatch.setattr(sparse, "SAMPLE_ROWS", 2)
    x = torch.zeros(4, 2)
    x[0] = 1.0  # rows 0 and 2 are sampled
    x[1] = 1.0
    assert sparse.density(x) == pytest.approx(0.5)


@pytest.mark.parametrize("bias", [False, True])
def test_event_linear_matches_dense(crossovers, bias):
    """Forward and every gradient equal to F.linear's up to rounding (counts as input, 3-D input)."""
    crossovers(1.0)
    torch.manual_seed(0)
    x = ((torch.rand(3, 7, 11) < 0.2).float() * torch.randint(1, 4, (3, 7, 11))).requires_grad_(True)
    lin = torch.nn.Linear(11, 5, bias=bias)
    y_sparse = sparse.linear(x, lin.weight, lin.bias)
    assert _event(y_sparse)
    g = torch.randn_like(y_sparse)
    gs = torch.autograd.grad(y_sparse, [x, lin.weight] + ([lin.bias] if bias else []), g)
    y_dense = torch.nn.functional.linear(x, lin.weight, lin.bias)
    gd = torch.autograd.grad(y_dense, [x, lin.weight] + ([lin.bias] if bias else []), g)
    torch.testing.assert_close(y_sparse, y_dense, rtol=1e-5, atol=1e-6)
    for a, b in zip(gs, gd):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_dispatch_by_density(crossovers):
    w = torch.randn(4, 10)
    x = torch.zeros(8, 10)
    x[:, 0] = 1.0  # density 0.1
    crossovers(0.2)
    assert _event(sparse.linear(x.requires_grad_(True), w))
    crossovers(0.05)
    assert not _event(sparse.linear(x, w))
    crossovers(None)  # not measured: dense
    assert not sparse.use_sparse("forward", 0.0, torch.device("cpu"))
    crossovers(1.0)
    prev = sparse.set_enabled(False)
    try:
        assert not sparse.use_sparse("forward", 0.0, torch.device("cpu"))
        assert not _event(sparse.linear(x, w))
    finally:
        sparse.set_enabled(prev)
    assert not _event(sparse.linear(x.double(), w.double()))


def test_small_layers_stay_dense(crossovers, monkeypatch):
    crossovers(1.0, 1.0, 1.0)
    monkeypatch.setattr(sparse, "MIN_FEATURES", 16)
    x = torch.zeros(8, 10).requires_grad_(True)
    assert not _event(sparse.linear(x, torch.randn(40, 10)))  # n_in 10 < 16
    assert not sparse.use_sparse("dw_float", 0.0, torch.device("cpu"), 40, 10)
    assert sparse.use_sparse("dw_float", 0.0, torch.device("cpu"), 40, 20)


def test_env_switch(monkeypatch):
    monkeypatch.setenv("PIPESDFA_SPARSE", "0")
    assert sparse._env_enabled() is False
    monkeypatch.setenv("PIPESDFA_SPARSE", "maybe")
    with pytest.raises(UserError, match="PIPESDFA_SPARSE='maybe'"):
        sparse._env_enabled()


def test_set_crossover_validates():
    with pytest.raises(ValueError, match="product"):
        sparse.set_crossover("cpu", "backward", 0.1)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        sparse.set_crossover("cpu", "forward", 1.5)
    prev = sparse.set_crossover("cpu", "forward", 0.3)
    try:
        assert sparse.CROSSOVER[("cpu", "forward")] == 0.3
    finally:
        sparse.set_crossover("cpu", "forward", prev)


def _model(seed=0):
    torch.manual_seed(seed)
    model = build_model(mlp_spec((40,), (24, 16), 4), NeuronParams(), backend="fused")
    with torch.no_grad():
        for blk in model.blocks:
            blk.weight.mul_(2.0).add_(1.0 / blk.layer.fan_in ** 0.5)
    x = (torch.rand(6, 5, 40) < 0.1).float()
    return model, x, torch.arange(5) % 4


@pytest.mark.parametrize("rule,opts", [("bptt", {}), ("sdfa", {"temporal": "instantaneous", "store": "float"}),
                                       ("sdfa", {"temporal": "local", "store": "float"}),
                                       ("sdfa", {"temporal": "instantaneous", "store": "half"})])
def test_rules_with_event_products_match_dense(crossovers, rule, opts):
    """Every product sparse (crossovers 1.0) against every product dense: the same loss and
    gradients up to rounding (SDFA: its forward and its local dW both event-driven)."""
    model, x, y = _model()
    grads = []
    for on in (False, True):
        crossovers(1.0 if on else None, 1.0 if on else None, 1.0 if on else None)
        m = copy.deepcopy(model)
        r = make_rule(rule, m, **opts)
        loss, rates = r.compute_grads(x, y, make_loss("ce"))
        grads.append((loss, rates, {n: p.grad.clone() for n, p in m.named_parameters()}))
    (l0, r0, g0), (l1, r1, g1) = grads
    assert l0 == pytest.approx(l1, rel=1e-5)
    torch.testing.assert_close(r1, r0)
    active = 0
    for n in g0:
        tol = 1e-2 if opts.get("store") == "half" else 1e-4  # dense side: bfloat16 products
        err = float((g1[n] - g0[n]).norm() / g0[n].norm().clamp_min(1e-12))
        assert err < tol or float(g0[n].abs().max()) < 1e-7, f"{n}: {err:.2e}"
        active += int(g0[n].abs().max() > 0)
    assert active >= 2


def test_sdfa_weight_gradient_event_path_runs(crossovers, monkeypatch):
    """SDFA's dW takes the event path exactly when the recorded input density is below the
    crossover of its product precision."""
    from pipesdfa.learning.local import dense

    calls = []
    real = sparse.csr_weight_grad
    monkeypatch.setattr(sparse, "csr_weight_grad", lambda s, g: calls.append(1) or real(s, g))
    model, x, y = _model()
    crossovers(None, None, 1.0)  # only bfloat16-precision dW goes sparse
    make_rule("sdfa", model, temporal="instantaneous", store="half").compute_grads(x, y, make_loss("ce"))
    n_half = len(calls)
    calls.clear()
    make_rule("sdfa", model, temporal="instantaneous", store="float").compute_grads(x, y, make_loss("ce"))
    assert n_half >= 3 and calls == []  # three blocks; float products stay dense
    assert dense.chunk_steps(100, 128, torch.device("cpu")) == 15  # 7 chunks of 15 (the last 10), not 16 + ... + 4


@pytest.mark.skipif(not RESULT.exists(), reason="no committed crossover measurement")
def test_cpu_crossovers_follow_the_measurement():
    """The CPU constants are the measured crossovers rounded down (to at most 0.01 below); each
    product from the committed file that measured it (``sparse_crossover*_cpu.json``)."""
    measured_in: dict[str, float | None] = {}
    for path in sorted(RESULT.parent.glob("sparse_crossover*_cpu.json")):
        res = json.loads(path.read_text())
        assert res["device"] == "cpu"
        for prod, c in res["crossover"].items():
            measured_in[prod] = c["measured"]
    for prod in sparse.PRODUCTS:
        assert prod in measured_in, f"no committed measurement of {prod}"
        measured = measured_in[prod]
        code = sparse.CROSSOVER[("cpu", prod)]
        if measured is None:
            assert code is None
        else:
            assert code is not None and measured - 0.01 <= code <= measured, (prod, code, measured)
