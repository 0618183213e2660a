"""The fused Triton SDFA block forward against the torch path (CUDA, or Triton's CPU interpreter:
run with ``TRITON_INTERPRET=1``; skipped otherwise)."""

from __future__ import annotations

import copy

import pytest
import torch

from pipesdfa.snn.kernels import forward_with_potential, triton_backend
from pipesdfa.snn.kernels.bits import pack_bits
from pipesdfa.snn.kernels.common import coeffs
from pipesdfa.learning.local.state import surrogate_state
from pipesdfa.snn.neurons import NeuronParams

RUNS = triton_backend.HAVE_TRITON and (torch.cuda.is_available() or triton_backend.interpreted())
pytestmark = pytest.mark.skipif(not RUNS, reason="triton not importable, or neither CUDA nor TRITON_INTERPRET=1")
DEV = "cuda" if torch.cuda.is_available() and not triton_backend.interpreted() else "cpu"

NEURONS = {
    "lif-hard": NeuronParams(),
    "if-soft": NeuronParams(kind="if", v_reset=None, surrogate="sigmoid"),
    "lif-detach-nodecay": NeuronParams(tau=3.0, detach_reset=True, decay_input=False, surrogate="triangular"),
    "lif-hard-rect": NeuronParams(v_reset=-0.2, surrogate="rectangular", alpha=0.5),
}


@pytest.mark.parametrize("neuron", list(NEURONS))
@pytest.mark.parametrize("local", [False, True])
@pytest.mark.parametrize("store", [torch.float16, torch.float32])
def test_block_forward_matches_torch_path(neuron, local, store):
    from pipesdfa.snn.kernels.triton_sdfa import block_forward

    p = NEURONS[neuron]
    torch.manual_seed(0)
    T, B, n = 6, 3, 40  # 120 neurons per step: one partial program block
    x = (torch.randn(T, B, n) * 1.5 + 0.6).to(DEV)
    v0 = (torch.rand(B, n) * 0.5).to(DEV)
    cf = coeffs(p)
    # torch path
    sg_ref = torch.empty(T, B, n, dtype=store, device=DEV)
    ka_ref = torch.empty(T - 1, B, n, dtype=store, device=DEV) if local else None
    s_ref, h, v_ref = forward_with_potential(x.clone(), p, "fused", v0=v0, spike_dtype=x.dtype)
    surrogate_state(h, p, cf, sg_ref, ka_ref, 0, T)
    # fused kernel
    sg = torch.empty_like(sg_ref)
    ka = torch.empty_like(ka_ref) if local else None
    pk = torch.empty(T, B, n // 8, dtype=torch.uint8, device=DEV)
    s, v = block_forward(x, p, v0, sg, ka, pk, spike_dtype=x.dtype)
    assert torch.equal(s, s_ref.to(s.dtype))
    assert s.float().mean() > 0.05  # the test fires
    torch.testing.assert_close(v, v_ref, rtol=1e-6, atol=1e-6)
    tol = {"rtol": 1e-3, "atol": 1e-4} if store == torch.float16 else {"rtol": 1e-5, "atol": 1e-6}
    torch.testing.assert_close(sg.float(), sg_ref.float(), **tol)
    if local:
        torch.testing.assert_close(ka.float(), ka_ref.float(), **tol)
    assert torch.equal(pk, pack_bits(s_ref))


def test_block_forward_chunks_and_short_ka():
    """Two chunks with the potential carried over equal one; ``k A`` only for its first rows."""
    from pipesdfa.snn.kernels.triton_sdfa import block_forward

    p = NeuronParams()
    torch.manual_seed(1)
    x = (torch.randn(7, 2, 16) + 0.7).to(DEV)
    sg = torch.empty(7, 2, 16, device=DEV)
    ka = torch.full((6, 2, 16), -7.0, device=DEV)
    s, v = block_forward(x, p, None, sg, ka)
    sg2 = torch.empty_like(sg)
    ka2 = torch.full_like(ka, -7.0)
    s_a, v_a = block_forward(x[:4], p, None, sg2[:4], ka2[:4])
    s_b, v_b = block_forward(x[4:], p, v_a, sg2[4:], ka2[4:6])  # the last step has no k A
    assert torch.equal(torch.cat([s_a, s_b]), s)
    assert torch.equal(v_b, v)
    torch.testing.assert_close(sg2, sg)
    torch.testing.assert_close(ka2, ka)


def test_block_forward_refuses_bad_packing():
    from pipesdfa.snn.kernels.triton_sdfa import block_forward

    x = torch.zeros(2, 1, 12, device=DEV)
    with pytest.raises(ValueError, match="multiple of 8"):
        block_forward(x, NeuronParams(), None, torch.empty_like(x), None,
                      torch.empty(2, 1, 2, dtype=torch.uint8, device=DEV))


@pytest.mark.parametrize("temporal", ["instantaneous", "local"])
@pytest.mark.parametrize("chunk_rows", [None, 8])
def test_sdfa_fast_path_on_triton_matches_reference(monkeypatch, temporal, chunk_rows):
    """SDFA's dense fast path with the fused kernel (neurons on the ``triton`` backend; in one
    chunk and in chunks of 2 steps) against the autograd reference on the ``torch`` backend."""
    from pipesdfa.snn.kernels import triton_sdfa
    from pipesdfa.learning.local import dense
    from pipesdfa.learning import make_rule
    from pipesdfa.zoo.models import build_model
    from pipesdfa.training.loop import make_loss
    from pipesdfa.zoo.workloads import mlp_spec

    if chunk_rows:
        monkeypatch.setattr(dense, "CHUNK_ROWS", {"cpu": chunk_rows, "cuda": chunk_rows})
    calls = []
    real = triton_sdfa.block_forward
    monkeypatch.setattr(triton_sdfa, "block_forward", lambda *a, **k: calls.append(a[5] is not None) or real(*a, **k))
    torch.manual_seed(0)
    model = build_model(mlp_spec((30,), (24, 16), 4), NeuronParams(), backend="triton")
    with torch.no_grad():
        for blk in model.blocks:
            blk.weight.mul_(1.5).add_(0.75 / blk.layer.fan_in ** 0.5)
    model.to(DEV)
    x = (torch.rand(5, 4, 30) < 0.4).float().to(DEV)
    y = (torch.arange(4) % 4).to(DEV)
    ref = copy.deepcopy(model)
    ref.blocks.apply(lambda m: setattr(m, "backend", "torch") if hasattr(m, "recurrent_grad") else None)
    grads = []
    for m, fast in ((ref, False), (model, True)):
        rule = make_rule("sdfa", m, temporal=temporal, fast=fast, store="float").to(DEV)
        _, rates = rule.compute_grads(x, y, make_loss("ce"))
        grads.append((rates, {n: q.grad.clone() for n, q in m.named_parameters()}))
    (r0, g0), (r1, g1) = grads
    assert calls and any(calls)  # the fused kernel ran, and packed the spikes of a 24- or 16-wide block
    assert torch.equal(r0, r1)
    for n in g0:
        torch.testing.assert_close(g1[n], g0[n], rtol=1e-4, atol=1e-6)
