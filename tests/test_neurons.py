"""Neuron dynamics against traces computed by hand, and surrogates against finite differences."""

from __future__ import annotations

import math

import pytest
import torch

from pipesdfa.util.errors import UserError
from pipesdfa.snn.neurons import NeuronParams, SpikingNeuron, multistep
from pipesdfa.snn.surrogates import SURROGATES, spike_fn, surrogate_grad, surrogate_grad_


def trace(x, **kw):
    s, v = multistep(torch.tensor(x, dtype=torch.float64).reshape(-1, 1), NeuronParams(**kw))
    return s.flatten().tolist(), float(v)


def test_lif_hard_reset_by_hand():
    # tau=2, decay_input: H = V + (X - V)/2.
    # t0: H = 0 + (1.2 - 0)/2 = 0.6 -> no spike, V=0.6
    # t1: H = 0.6 + (1.6 - 0.6)/2 = 1.1 -> spike, V=0
    # t2: H = 0 + (0.4 - 0)/2 = 0.2 -> V=0.2
    s, v = trace([1.2, 1.6, 0.4], kind="lif", tau=2.0)
    assert s == [0.0, 1.0, 0.0]
    assert v == pytest.approx(0.2)


def test_lif_without_decay_input_by_hand():
    # H = V - V/2 + X: t0 H=0.9; t1 H=0.45+0.7=1.15 -> spike, V=0
    s, v = trace([0.9, 0.7], kind="lif", tau=2.0, decay_input=False)
    assert s == [0.0, 1.0] and v == 0.0


def test_if_soft_reset_by_hand():
    # IF: H = V + X; soft reset subtracts the threshold.
    # t0 H=0.7; t1 H=1.5 -> spike, V=0.5; t2 H=0.5+0.6=1.1 -> spike, V=0.1
    s, v = trace([0.7, 0.8, 0.6], kind="if", v_reset=None)
    assert s == [0.0, 1.0, 1.0]
    assert v == pytest.approx(0.1)


def test_lif_reset_to_nonzero_rest():
    # v_reset = -0.5: V0 = -0.5; H = V + (X - (V + 0.5))/2
    # t0: H = -0.5 + (2.0 - 0)/2 = 0.5; t1: H = 0.5 + (3.0 - 1.0)/2 = 1.5 -> spike, V = -0.5
    s, v = trace([2.0, 3.0], kind="lif", v_reset=-0.5)
    assert s == [0.0, 1.0] and v == pytest.approx(-0.5)


def test_detach_reset_changes_only_gradients():
    x = torch.tensor([[0.8], [1.9], [0.7]], requires_grad=True)
    grads = []
    for detach in (False, True):
        s, _ = multistep(x * 1.0, NeuronParams(kind="if", detach_reset=detach))
        (g,) = torch.autograd.grad(s.sum(), x)
        grads.append(g)
        assert s.flatten().tolist() == [0.0, 1.0, 0.0]
    assert not torch.allclose(grads[0], grads[1])


def test_recurrent_grad_off_cuts_time_dependence():
    x = torch.tensor([[0.5], [0.5]], requires_grad=True)
    mod = SpikingNeuron(NeuronParams(kind="lif"))
    mod.recurrent_grad = False
    s = mod(x)
    (g,) = torch.autograd.grad(s[1].sum(), x)
    assert g[0].item() == 0.0 and g[1].item() != 0.0


@pytest.mark.parametrize("name", sorted(SURROGATES))
@pytest.mark.parametrize("alpha", [0.5, 1.0, 3.0])
def test_surrogate_derivative_matches_finite_difference_of_primitive(name, alpha):
    sur = SURROGATES[name]
    x = torch.linspace(-2.5, 2.5, 401, dtype=torch.float64)
    h = 1e-6
    fd = (sur.primitive(x + h, alpha) - sur.primitive(x - h, alpha)) / (2 * h)
    an = surrogate_grad(x, name, alpha)
    # rectangular/triangular primitives have kinks; compare away from them
    kinks = {"rectangular": [0.5 / alpha, -0.5 / alpha], "triangular": [0.0, 1 / alpha, -1 / alpha]}.get(name, [])
    mask = torch.ones_like(x, dtype=torch.bool)
    for k in kinks:
        mask &= (x - k).abs() > 1e-3
    assert torch.allclose(fd[mask], an[mask], atol=1e-5)
    # each stands in for the Dirac delta: integral 1
    xs = torch.linspace(-60, 60, 200001, dtype=torch.float64)
    area = torch.trapezoid(surrogate_grad(xs, name, alpha), xs)
    assert area.item() == pytest.approx(1.0, abs=2e-2 if name == "atan" else 1e-3)


@pytest.mark.parametrize("name", sorted(SURROGATES))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("out_dtype", [None, torch.float16, torch.bfloat16])
def test_inplace_surrogate_is_bit_equal(name, dtype, out_dtype):
    """The in-place form (used by the fast paths) gives exactly the reference's values."""
    gen = torch.Generator().manual_seed(3)
    x = (torch.randn(4099, generator=gen) * 2).to(dtype)
    x[:3] = torch.tensor([0.0, 1.0, -1.0])  # kinks of the piecewise ones at alpha = 1
    for alpha in (0.7, 1.0, 2.0):
        ref = surrogate_grad(x, name, alpha)
        work = x.clone()
        if out_dtype is None:
            got = surrogate_grad_(work, name, alpha)
            assert got.dtype == dtype and torch.equal(got, ref)
        else:
            out = torch.empty(x.shape, dtype=out_dtype)
            got = surrogate_grad_(work, name, alpha, out=out)
            assert got is out and torch.equal(out, ref.to(out_dtype))


def test_atan_matches_paper_formula_at_a_point():
    x = torch.tensor([0.3], dtype=torch.float64, requires_grad=True)
    spike_fn(x, "atan", 2.0).sum().backward()
    expected = (2.0 / 2) / (1 + (math.pi * 2.0 * 0.3 / 2) ** 2)
    assert x.grad.item() == pytest.approx(expected)


def test_bad_parameters_rejected_by_name():
    with pytest.raises(UserError, match="tau"):
        NeuronParams(tau=0.5)
    with pytest.raises(UserError, match="surrogate"):
        NeuronParams(surrogate="gauss")
    with pytest.raises(UserError, match="kind"):
        NeuronParams(kind="izhikevich")
