"""SpikingJelly as an oracle: our neurons against its ``LIFNode``/``IFNode``.

Runs only where SpikingJelly is importable (an optional extra, not installed on CI: there
the whole module skips). Same random input ``[T, B, n]``, same upstream gradient: our
``torch`` (reference) and ``fused`` backends must give the spikes of SpikingJelly's node
exactly and its input gradient to float rounding, for LIF (both ``decay_input`` forms) and
IF, hard and soft reset, ``detach_reset`` both ways, ATan and sigmoid surrogates.
"""

from __future__ import annotations

import itertools

import pytest
import torch

pytest.importorskip("spikingjelly.activation_based")

from pipesdfa.snn.kernels import run_multistep  # noqa: E402
from pipesdfa.snn.kernels.spikingjelly_ref import SJNeuron, use_spikingjelly  # noqa: E402
from pipesdfa.zoo.models import build_model  # noqa: E402
from pipesdfa.snn.neurons import NeuronParams  # noqa: E402
from pipesdfa.zoo.workloads import Conv, Dense, ModelSpec  # noqa: E402

T, B, N = 12, 4, 16
TOL = {torch.float64: 1e-10, torch.float32: 1e-5}

NEURONS = {
    "lif": dict(kind="lif", tau=2.0),
    "lif-tau3.5-nodecay": dict(kind="lif", tau=3.5, decay_input=False),
    "if": dict(kind="if"),
}
RESETS = {"hard0": 0.0, "hard-0.3": -0.3, "soft": None}

CASES = list(itertools.product(NEURONS, RESETS, (False, True), ("atan", "sigmoid"), (torch.float64, torch.float32)))


def _ids(case) -> str:
    n, r, d, s, dt = case
    return f"{n}-{r}-{'detach' if d else 'attached'}-{s}-{str(dt).split('.')[-1]}"


def _params(neuron: str, reset: str, detach: bool, surrogate: str) -> NeuronParams:
    return NeuronParams(**NEURONS[neuron], v_reset=RESETS[reset], detach_reset=detach, surrogate=surrogate)


def _input(dtype: torch.dtype, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = (torch.randn(T, B, N, generator=g, dtype=torch.float64) * 1.2 + 0.6).to(dtype)
    gy = torch.randn(T, B, N, generator=g, dtype=torch.float64).to(dtype)
    return x, gy


def _spikes_and_grad(f, x: torch.Tensor, gy: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    x = x.clone().requires_grad_(True)
    s = f(x)
    (gx,) = torch.autograd.grad(s, x, gy)
    return s.detach(), gx


@pytest.mark.parametrize("case", CASES, ids=_ids)
@pytest.mark.parametrize("backend", ["torch", "fused"])
def test_neuron_matches_spikingjelly(case, backend: str) -> None:
    neuron, reset, detach, surrogate, dtype = case
    p = _params(neuron, reset, detach, surrogate)
    x, gy = _input(dtype)
    sj = SJNeuron(p)
    s_ref, g_ref = _spikes_and_grad(sj, x, gy)
    s, g = _spikes_and_grad(lambda z: run_multistep(z, p, backend=backend)[0], x, gy)
    assert 0.05 < s_ref.mean() < 0.95, "input should make the neurons fire sometimes"
    assert torch.equal(s, s_ref)
    assert s.dtype == s_ref.dtype == dtype
    tol = TOL[dtype]
    torch.testing.assert_close(g, g_ref, rtol=tol, atol=tol)


@pytest.mark.parametrize("neuron", list(NEURONS))
@pytest.mark.parametrize("reset", ["hard0", "soft"])
def test_instantaneous_matches_ours(neuron: str, reset: str) -> None:
    """``recurrent_grad=False`` (SDFA instantaneous) on the SpikingJelly wrapper."""
    p = _params(neuron, reset, False, "atan")
    x, gy = _input(torch.float64, seed=1)
    sj = SJNeuron(p)
    sj.recurrent_grad = False
    s_ref, g_ref = _spikes_and_grad(sj, x, gy)
    s, g = _spikes_and_grad(lambda z: run_multistep(z, p, recurrent_grad=False, backend="torch")[0], x, gy)
    assert torch.equal(s, s_ref)
    torch.testing.assert_close(g, g_ref, rtol=1e-10, atol=1e-10)
    assert sj.node.step_mode == "m"


def test_state_reset_between_calls() -> None:
    """Every call starts from rest, like ours (SpikingJelly's node keeps state otherwise)."""
    p = NeuronParams()
    x, _ = _input(torch.float32)
    sj = SJNeuron(p)
    assert torch.equal(sj(x), sj(x))


def test_model_on_spikingjelly_neurons_matches() -> None:
    """A whole model (conv + BN + pool, dense) with its neurons swapped: same output, same weight gradients."""
    spec = ModelSpec("tiny", (2, 8, 8), (Conv(4, pool=2), Dense(24), Dense(8)), num_classes=4, vote=2)
    p = NeuronParams(kind="lif", tau=2.0)
    torch.manual_seed(0)
    ours = build_model(spec, p, backend="torch").double()
    torch.manual_seed(0)
    theirs = use_spikingjelly(build_model(spec, p, backend="torch")).double()
    assert all(blk.neuron.backend == "spikingjelly" for blk in theirs.blocks)
    with torch.no_grad():  # larger weights, so that spikes reach the output
        for m in (ours, theirs):
            for blk in m.blocks:
                blk.weight.mul_(10.0)
    g = torch.Generator().manual_seed(3)
    x = (torch.rand((6, 3, *spec.input_shape), generator=g) < 0.3).double()
    r1, r2 = ours(x), theirs(x)
    torch.testing.assert_close(r1, r2, rtol=0, atol=0)
    assert r1.sum() > 0
    r1.square().sum().backward()
    r2.square().sum().backward()
    for a, b in zip(ours.parameters(), theirs.parameters()):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("method,temporal", [("bptt", None), ("sdfa", "local"), ("sdfa", "instantaneous")])
def test_rules_on_spikingjelly_neurons_match(method: str, temporal: str | None) -> None:
    """BPTT and SDFA (the autograd path the benchmark's reference rows use) on SpikingJelly
    neurons give our gradients."""
    from pipesdfa.learning import make_rule
    from pipesdfa.training.loop import make_loss

    spec = ModelSpec("tiny", (40,), (Dense(32), Dense(24), Dense(8)), num_classes=4, vote=2)
    p = NeuronParams(kind="lif", tau=2.0)
    grads = []
    for swap in (False, True):
        torch.manual_seed(0)
        model = build_model(spec, p, backend="torch").double()
        with torch.no_grad():
            for blk in model.blocks:
                blk.weight.mul_(4.0)
        if swap:
            use_spikingjelly(model)
        opts = {"temporal": temporal, "fast": False} if method == "sdfa" else {}
        rule = make_rule(method, model, **opts).double()
        g = torch.Generator().manual_seed(5)
        x = (torch.rand((8, 6, 40), generator=g, dtype=torch.float64) < 0.3).double()
        y = torch.randint(0, 4, (6,), generator=g)
        rule.compute_grads(x, y, make_loss("ce"))
        grads.append([q.grad.clone() for q in model.parameters()])
    assert all(gr.abs().sum() > 0 for gr in grads[0]), "every layer should get a gradient"
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
