"""SDFA's fast path (graph-free hidden blocks) against the rule's autograd reference."""

from __future__ import annotations

import copy
import math

import pytest
import torch

from pipesdfa.util.errors import UserError
from pipesdfa.learning import VARIANTS, make_rule
from pipesdfa.learning.local import fast_kind, forward_blocks
from pipesdfa.zoo.models import build_model
from pipesdfa.snn.neurons import NeuronParams
from pipesdfa.training.loop import make_loss
from pipesdfa.zoo.workloads import Conv, Dense, ModelSpec, mlp_spec

NEURONS = {
    "lif-hard": NeuronParams(),
    "if-soft": NeuronParams(kind="if", v_reset=None, surrogate="sigmoid"),
    "lif-detach-nodecay": NeuronParams(tau=3.0, detach_reset=True, decay_input=False, surrogate="triangular"),
    "lif-hard-rect": NeuronParams(v_reset=-0.2, surrogate="rectangular", alpha=0.5),
}


def conv_spec() -> ModelSpec:
    layers = (Conv(4, 3, 1, 1, True, 2), Conv(6, 3, 1, 1, True, 1), Conv(5, 3, 2, 1, False, 1),
              Dense(12), Dense(3 * 2))
    return ModelSpec("tinyconv", (2, 8, 8), layers, 3, vote=2)


def _setup(spec, neuron, seed=0, T=5, B=4, gain=1.5, backend="fused"):
    torch.manual_seed(seed)
    model = build_model(spec, neuron, backend=backend)
    with torch.no_grad():
        for blk in model.blocks:
            if blk.bn is None:  # positive mean: deep blocks fire
                blk.weight.mul_(gain).add_(gain * 0.5 / blk.layer.fan_in ** 0.5)
            if blk.bn is not None:
                blk.bn.bias.fill_(0.6)  # enough activity below the conv blocks
    x = (torch.rand(T, B, *spec.input_shape) < 0.4).float()
    y = torch.arange(B) % spec.num_classes
    return model, x, y


def _grads(model, x, y, loss, **opts):
    rule = make_rule("sdfa", model, **opts).to(x.device)
    model.zero_grad(set_to_none=True)
    lval, rates = rule.compute_grads(x, y, make_loss(loss))
    return lval, rates, {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def _compare(spec, neuron, temporal, store, loss="mse", backend="fused", exact_buffers=True, variant=None, **kw):
    model, x, y = _setup(spec, neuron, backend=backend, **kw)
    ref_model = copy.deepcopy(model)
    ref_model.blocks.apply(lambda m: setattr(m, "backend", "torch") if hasattr(m, "recurrent_grad") else None)
    l0, r0, g0 = _grads(ref_model, x, y, loss, temporal=temporal, fast=False, variant=variant)
    l1, r1, g1 = _grads(model, x, y, loss, temporal=temporal, fast=True, store=store, variant=variant)
    assert l0 == pytest.approx(l1, rel=1e-6)
    assert torch.equal(r0, r1)
    assert set(g0) == set(g1) == {n for n, _ in model.named_parameters()}
    nonzero = 0
    for n in g0:
        if store == "float":
            torch.testing.assert_close(g1[n], g0[n], rtol=1e-4, atol=1e-6, msg=lambda m: f"{n}: {m}")
        else:  # float16 g', bfloat16 products: small relative error of the whole gradient
            err = float((g1[n] - g0[n]).norm() / g0[n].norm().clamp_min(1e-12))
            assert err < 1e-2 or float(g0[n].abs().max()) < 1e-6, f"{n}: relative error {err:.2e}"
        nonzero += int(torch.count_nonzero(g0[n]) > 0)
        assert not g1[n].requires_grad
    assert nonzero >= 0.6 * len(g0), "test network too silent to test gradients"
    for (n, a), (_, b) in zip(model.named_buffers(), ref_model.named_buffers()):
        if exact_buffers:
            assert torch.equal(a, b), f"buffer {n} differs"
        else:  # BN statistics combined over chunks: equal up to rounding
            torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7, msg=lambda m: f"buffer {n}: {m}")


@pytest.mark.parametrize("neuron", list(NEURONS))
@pytest.mark.parametrize("temporal", ["instantaneous", "local"])
@pytest.mark.parametrize("store", ["float", "half"])
def test_mlp_fast_matches_reference(neuron, temporal, store):
    _compare(mlp_spec((30,), (20, 16), 4), NEURONS[neuron], temporal, store, loss="ce")


@pytest.mark.parametrize("neuron", ["lif-hard", "if-soft", "lif-detach-nodecay"])
@pytest.mark.parametrize("temporal", ["instantaneous", "local"])
@pytest.mark.parametrize("store", ["float", "half"])
def test_conv_bn_pool_fast_matches_reference(neuron, temporal, store):
    _compare(conv_spec(), NEURONS[neuron], temporal, store, gain=2.5)


@pytest.mark.parametrize("variant", [v for v in VARIANTS if v != "authors"])
@pytest.mark.parametrize("temporal", ["instantaneous", "local"])
def test_variants_fast_match_reference(variant, temporal):
    _compare(mlp_spec((30,), (20, 16), 4), NEURONS["lif-hard"], temporal, "float", variant=variant)
    _compare(mlp_spec((30,), (20, 16), 4), NEURONS["if-soft"], temporal, "half", variant=variant)
    _compare(conv_spec(), NEURONS["lif-hard"], temporal, "float", gain=2.5, variant=variant)


def test_conv_bn_eval_mode_matches_reference():
    model, x, y = _setup(conv_spec(), NeuronParams(), gain=2.5)
    model.eval()
    ref = copy.deepcopy(model)
    _, _, g0 = _grads(ref, x, y, "mse", temporal="instantaneous", fast=False)
    _, _, g1 = _grads(model, x, y, "mse", temporal="instantaneous", fast=True, store="float")
    for n in g0:
        torch.testing.assert_close(g1[n], g0[n], rtol=1e-4, atol=1e-6)


def test_gradients_accumulate_like_backward():
    model, x, y = _setup(mlp_spec((30,), (20,), 4), NeuronParams())
    rule = make_rule("sdfa", model, temporal="instantaneous", store="float")
    rule.compute_grads(x, y, make_loss("ce"))
    once = model.blocks[0].weight.grad.clone()
    rule.compute_grads(x, y, make_loss("ce"))
    torch.testing.assert_close(model.blocks[0].weight.grad, 2 * once)


def test_state_is_compact():
    """Hidden inputs are kept as bool spikes, surrogate derivatives in float16, no graph."""
    model, x, _ = _setup(conv_spec(), NeuronParams(), gain=1.5)
    hidden = list(model.blocks)[:-1]
    states, out = forward_blocks(hidden, [fast_kind(b) for b in hidden], ["instantaneous"] * len(hidden), x, "half")
    assert states[0].s_in is x  # the network input is not copied
    for st in states[1:]:  # spikes packed 8 to a byte
        assert st.packed and st.s_in.dtype == torch.uint8
        assert st.s_in.shape[-1] == -(-math.prod(st.in_shape[2:]) // 8)
    for st in states:
        assert st.sg.dtype == torch.float16 and not st.sg.requires_grad
        assert st.ka is None
    assert states[0].xhat is not None and states[0].xhat.dtype == torch.float16
    # the first block max-pools 2x2: g' is kept already routed (at most 1 in 4 nonzero), no spikes
    assert not hasattr(states[0], "spikes")
    windows = states[0].sg.reshape(-1, 4, 4, 2, 4, 2).permute(0, 1, 2, 4, 3, 5).reshape(-1, 4)
    assert int((windows != 0).sum(-1).max()) <= 1
    assert out.grad_fn is None


def test_fast_is_default_and_options_validated():
    model, _, _ = _setup(mlp_spec((30,), (20,), 4), NeuronParams())
    rule = make_rule("sdfa", model)
    assert rule.fast and rule.options()["fast"] is True and rule.options()["store"] == "half"
    with pytest.raises(UserError, match="sdfa store 'bits' unknown"):
        make_rule("sdfa", model, store="bits")


@pytest.mark.parametrize("temporal", ["instantaneous", "local"])
def test_dense_chunks_over_time_match_reference(monkeypatch, temporal):
    """Several chunks of time steps (the membrane potential and G carried across them)."""
    from pipesdfa.learning.local import dense, state

    monkeypatch.setattr(dense, "CHUNK_ROWS", {"cpu": 8, "cuda": 8})  # B=4: 2 steps per chunk, T=7: 4 chunks
    monkeypatch.setattr(state, "GROUP_ELEMENTS", {"cpu": 1, "cuda": 1})  # and one step per surrogate group
    _compare(mlp_spec((30,), (20, 16), 4), NeuronParams(), temporal, "float", loss="ce", T=7)


@pytest.mark.parametrize("temporal", ["instantaneous", "local"])
@pytest.mark.parametrize("store", ["float", "half"])
def test_conv_chunks_over_time_match_reference(monkeypatch, temporal, store):
    """Conv blocks over several chunks of time steps: membrane potential and G carried across
    chunks, batch-norm's two passes, dW summed over chunks."""
    from pipesdfa.learning.local import conv as fast

    # B=4: the first conv block (4 x 8 x 8 neurons per image) gets one step per chunk
    monkeypatch.setattr(fast, "CONV_CHUNK_ELEMENTS", {"cpu": 4 * 256, "cuda": 4 * 256})
    _compare(conv_spec(), NeuronParams(), temporal, store, gain=2.5, T=6, exact_buffers=False)


@pytest.mark.parametrize("temporal", ["instantaneous", "local"])
def test_conv_bn_two_passes_equal_one_pass_bit_for_bit(monkeypatch, temporal):
    """Batch-norm statistics over several chunks, from chunks dropped and formed again (the
    two-pass forward, BN_ONE_PASS_BYTES = 0) against chunks held (None): same loss, spikes,
    gradients and running statistics, bit for bit."""
    from pipesdfa.learning.local import conv as fast

    monkeypatch.setattr(fast, "CONV_CHUNK_ELEMENTS", {"cpu": 4 * 256, "cuda": 4 * 256})
    model, x, y = _setup(conv_spec(), NeuronParams(), gain=2.5, T=6)
    runs = []
    for limit in (None, 0):
        monkeypatch.setattr(fast, "BN_ONE_PASS_BYTES", {"cpu": limit, "cuda": limit})
        m = copy.deepcopy(model)
        runs.append((_grads(m, x, y, "mse", temporal=temporal, fast=True, store="float"), m))
    ((l0, r0, g0), m0), ((l1, r1, g1), m1) = runs
    assert l0 == l1 and torch.equal(r0, r1) and r0.sum() > 0
    assert g0.keys() == g1.keys() and all(torch.equal(g0[n], g1[n]) for n in g0)
    for b0, b1 in zip(m0.blocks, m1.blocks):
        if b0.bn is not None:
            assert torch.equal(b0.bn.running_mean, b1.bn.running_mean)
            assert torch.equal(b0.bn.running_var, b1.bn.running_var)
            assert int(b0.bn.num_batches_tracked) == int(b1.bn.num_batches_tracked) == 1


def test_two_pass_decision():
    from pipesdfa.learning.local.conv import two_pass

    bn = torch.nn.BatchNorm2d(3)
    cpu = torch.device("cpu")
    assert two_pass(bn, 10, 2, cpu, limit=5) and not two_pass(bn, 5, 2, cpu, limit=5)
    assert not two_pass(bn, 10, 1, cpu, limit=0)  # one chunk: nothing to hold
    assert not two_pass(None, 10, 2, cpu, limit=0) and not two_pass(bn, 10, 2, cpu, limit=None)
    assert not two_pass(bn.eval(), 10, 2, cpu, limit=0)  # running statistics: no batch statistics
    assert not two_pass(bn.train(), 1 << 40, 4, cpu)  # the CPU default: never


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("temporal", ["instantaneous", "local"])
def test_cuda_fast_path_matches_reference(temporal):
    """On CUDA the fast path runs the Triton forward (backend auto) against the torch reference."""
    for spec, gain in ((mlp_spec((30,), (20, 16), 4), 1.5), (conv_spec(), 2.5)):
        model, x, y = _setup(spec, NeuronParams(), gain=gain, backend="auto")
        model.cuda()
        x, y = x.cuda(), y.cuda()
        ref = copy.deepcopy(model)
        ref.blocks.apply(lambda m: setattr(m, "backend", "torch") if hasattr(m, "recurrent_grad") else None)
        _, r0, g0 = _grads(ref, x, y, "mse", temporal=temporal, fast=False)
        _, r1, g1 = _grads(model, x, y, "mse", temporal=temporal, fast=True, store="float")
        assert torch.equal(r0, r1)
        for n in g0:
            torch.testing.assert_close(g1[n], g0[n], rtol=1e-3, atol=1e-5)


@pytest.mark.parametrize("n", [1, 7, 8, 9, 64, 1000])
def test_pack_bits_round_trip(n):
    from pipesdfa.snn.kernels.bits import pack_bits, unpack_bits

    b = torch.rand(3, 2, n) < 0.3
    p = pack_bits(b)
    assert p.dtype == torch.uint8 and p.shape == (3, 2, (n + 7) // 8)
    assert torch.equal(unpack_bits(p, n), b)
    assert int(pack_bits(torch.tensor([True, False, True] + [False] * 5))[0]) == 0b101


def test_times_matches_the_mixed_product_and_leaves_the_store_alone():
    from pipesdfa.learning.local.state import times as _times

    gen = torch.Generator().manual_seed(0)
    r = torch.randn(1, 4, 70, generator=gen)
    for store in (torch.float16, torch.float32):
        sg = torch.rand(3, 4, 70, generator=gen).to(store)
        before = sg.clone()
        out = _times(sg, r, torch.float32)
        assert out.dtype == torch.float32 and torch.equal(out, sg * r)  # the mixed product, bit for bit
        assert torch.equal(sg, before) and out.data_ptr() != sg.data_ptr()
