"""Parity of every neuron backend with the reference ``neurons.multistep``.

Forward spikes must be equal; gradients (w.r.t. the input, the initial potential, through
both the spike train and the final potential) within tolerance; over every option of
:class:`NeuronParams` and ``recurrent_grad``.
"""

from __future__ import annotations

import itertools

import pytest
import torch

from pipesdfa.util.errors import UserError
from pipesdfa.snn.kernels import BACKEND_NAMES, BACKENDS, backend_available, check_backend, resolve_backend, run_multistep
from pipesdfa.snn.neurons import NeuronParams, SpikingNeuron, multistep
from pipesdfa.snn.surrogates import SURROGATES

OPTIONS = list(itertools.product(
    ["lif", "if"],  # kind
    [0.0, None, -0.5],  # v_reset (None = soft)
    [False, True],  # detach_reset
    [True, False],  # decay_input
    list(SURROGATES),
    [True, False],  # recurrent_grad
))


def _params(kind, v_reset, detach, decay, surrogate) -> NeuronParams:
    return NeuronParams(kind=kind, tau=2.5, v_threshold=1.0, v_reset=v_reset, detach_reset=detach,
                        decay_input=decay, surrogate=surrogate)


def _device_for(backend: str) -> str:
    if backend == "triton":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return "cpu"


def _grads(fn, x, v0, ws, wv):
    x = x.clone().requires_grad_(True)
    v0 = v0.clone().requires_grad_(True) if v0 is not None else None
    s, v = fn(x, v0)
    loss = (s * ws).sum() + (v * wv).sum()
    inputs = [x] + ([v0] if v0 is not None else [])
    g = torch.autograd.grad(loss, inputs, allow_unused=True)
    return s.detach(), v.detach(), g


def _check(backend: str, p: NeuronParams, recurrent: bool, with_v0: bool, dtype=torch.float64, T=7, seed=0):
    dev = _device_for(backend)
    gen = torch.Generator().manual_seed(seed)
    shape = (T, 3, 5, 4)
    x = (torch.randn(shape, generator=gen, dtype=dtype) * 1.2 + 0.7).to(dev)
    v0 = (torch.rand(shape[1:], generator=gen, dtype=dtype) * 0.8).to(dev) if with_v0 else None
    ws = torch.randn(shape, generator=gen, dtype=dtype).to(dev)
    wv = torch.randn(shape[1:], generator=gen, dtype=dtype).to(dev)
    ref = _grads(lambda a, b: multistep(a, p, b, recurrent), x, v0, ws, wv)
    out = _grads(lambda a, b: run_multistep(a, p, b, recurrent, backend), x, v0, ws, wv)
    assert torch.equal(out[0], ref[0]), "forward spikes differ"
    assert out[0].sum() > 0 and out[0].sum() < out[0].numel(), "test input should fire sometimes"
    torch.testing.assert_close(out[1], ref[1], rtol=1e-6, atol=1e-6)
    for a, b in zip(out[2], ref[2]):
        if b is None:
            assert a is None or torch.count_nonzero(a) == 0
        else:
            assert a is not None
            tol = 1e-9 if dtype == torch.float64 else 1e-4
            torch.testing.assert_close(a, b, rtol=tol, atol=tol)


@pytest.mark.parametrize("kind,v_reset,detach,decay,surrogate,recurrent", OPTIONS)
def test_fused_matches_reference(kind, v_reset, detach, decay, surrogate, recurrent):
    _check("fused", _params(kind, v_reset, detach, decay, surrogate), recurrent, with_v0=recurrent)


@pytest.mark.parametrize("with_v0", [False, True])
def test_fused_float32_spikes_identical_long_sequence(with_v0):
    p = NeuronParams()
    _check("fused", p, True, with_v0, dtype=torch.float32, T=50, seed=3)


@pytest.mark.parametrize("kind,v_reset,detach,decay,surrogate,recurrent", OPTIONS[::5])
def test_fused_backward_in_time_chunks_matches_reference(monkeypatch, kind, v_reset, detach, decay, surrogate,
                                                          recurrent):
    """The CPU backward in chunks of 2 steps (T=7: chunks 5-7, 3-5, 1-3, 0-1) is still the reference."""
    from pipesdfa.snn.kernels import fused

    monkeypatch.setattr(fused, "CHUNK_BYTES", 2 * 3 * 5 * 4 * 8)  # two float64 steps of [3, 5, 4]
    assert [hi - lo for lo, hi in fused.time_chunks(torch.empty(7, 3, 5, 4, dtype=torch.float64))] == [2, 2, 2, 1]
    _check("fused", _params(kind, v_reset, detach, decay, surrogate), recurrent, with_v0=recurrent)


@pytest.mark.parametrize("v_reset", [0.0, None])
def test_fused_backward_chunking_is_bit_exact(monkeypatch, v_reset):
    """Chunks only bound the temporaries: the gradients are bit-equal to one whole-sequence chunk."""
    from pipesdfa.snn.kernels import fused

    p = NeuronParams(v_reset=v_reset)
    gen = torch.Generator().manual_seed(5)
    x = torch.randn(23, 4, 6, generator=gen) + 0.6
    v0 = torch.rand(4, 6, generator=gen)
    ws, wv = torch.randn(23, 4, 6, generator=gen), torch.randn(4, 6, generator=gen)
    fn = lambda a, b: run_multistep(a, p, b, True, "fused")  # noqa: E731
    monkeypatch.setattr(fused, "CHUNK_BYTES", 2**40)
    whole = _grads(fn, x, v0, ws, wv)
    for n_steps in (1, 3, 22):
        monkeypatch.setattr(fused, "CHUNK_BYTES", n_steps * 4 * 6 * 4)
        part = _grads(fn, x, v0, ws, wv)
        assert torch.equal(part[0], whole[0]) and all(torch.equal(a, b) for a, b in zip(part[2], whole[2]))


def test_time_chunks_cover_the_sequence_backwards():
    from pipesdfa.snn.kernels.fused import CHUNK_BYTES, time_chunks

    big = torch.empty(10, CHUNK_BYTES // 4 // 3)  # 3 steps per chunk (float32)
    assert time_chunks(big) == [(7, 10), (4, 7), (1, 4), (0, 1)]
    assert time_chunks(torch.empty(5, CHUNK_BYTES)) == [(4, 5), (3, 4), (2, 3), (1, 2), (0, 1)]  # >= 1 step
    assert time_chunks(torch.empty(4, 2)) == [(0, 4)]


triton_ok = backend_available("triton", "cuda" if torch.cuda.is_available() else "cpu")


@pytest.mark.skipif(not triton_ok, reason="triton not importable or no CUDA (set TRITON_INTERPRET=1 to run)")
@pytest.mark.parametrize("kind,v_reset,detach,decay,surrogate,recurrent", OPTIONS[::11])
def test_triton_matches_reference(kind, v_reset, detach, decay, surrogate, recurrent):
    # Triton computes in float32.
    _check("triton", _params(kind, v_reset, detach, decay, surrogate), recurrent, with_v0=recurrent,
           dtype=torch.float32)


def test_backward_is_not_a_per_step_graph():
    """The fused backend leaves one autograd node for the whole sequence."""
    x = torch.randn(20, 4, 8, requires_grad=True)
    s, _ = run_multistep(x, NeuronParams(), backend="fused")
    assert type(s.grad_fn).__name__.startswith("_FusedMultistep")
    assert not any(fn is not None and "Stack" in type(fn).__name__ for fn, _ in s.grad_fn.next_functions)


def test_no_grad_path_returns_same_spikes():
    x = torch.randn(9, 2, 16) + 0.5
    ref, vref = multistep(x, NeuronParams())
    out, v = run_multistep(x, NeuronParams(), backend="fused")
    assert torch.equal(out, ref) and torch.equal(v, vref)


def test_spiking_neuron_dispatches_to_backend():
    x = torch.randn(6, 3, 10, requires_grad=True)
    ref = SpikingNeuron(NeuronParams(), backend="torch")
    fast = SpikingNeuron(NeuronParams(), backend="fused")
    fast.recurrent_grad = ref.recurrent_grad = False
    a, b = ref(x), fast(x)
    assert torch.equal(a, b)
    assert type(b.grad_fn).__name__.startswith("_FusedMultistep")


def test_backend_names():
    assert set(BACKENDS) == {"torch", "fused", "triton"} and set(BACKEND_NAMES) == {*BACKENDS, "auto"}
    assert all(b.name == n for n, b in BACKENDS.items())
    assert resolve_backend("auto", "cpu") == "fused"
    with pytest.raises(UserError, match="neuron backend 'cuda-magic' unknown"):
        check_backend("cuda-magic")
    with pytest.raises(UserError, match="unknown"):
        SpikingNeuron(NeuronParams(), backend="nope")


def test_spikingjelly_reference_is_optional(monkeypatch):
    """The SpikingJelly wrapper imports it lazily and says clearly when it is absent."""
    import sys

    from pipesdfa.snn.kernels import spikingjelly_ref

    monkeypatch.setitem(sys.modules, "spikingjelly", None)
    monkeypatch.setitem(sys.modules, "spikingjelly.activation_based", None)
    with pytest.raises(UserError, match="SpikingJelly is not installed"):
        spikingjelly_ref.SJNeuron(NeuronParams())


def test_recurrence_factor_golden_numbers():
    """A = dV/dH + dV/dS g', by hand: H = [0.5, 1.5], g' = [0.2, 0.4], V_th = 1."""
    from pipesdfa.snn.kernels.common import coeffs, recurrence_factor

    h, sg = torch.tensor([0.5, 1.5]), torch.tensor([0.2, 0.4])
    hard = coeffs(NeuronParams(v_reset=0.0))
    # hard: 1[H < 1] + (0 - H) g' = [1 - 0.1, 0 - 0.6]
    torch.testing.assert_close(recurrence_factor(h, sg, hard), torch.tensor([0.9, -0.6]))
    hard_m = coeffs(NeuronParams(v_reset=-0.5))  # (-0.5 - H) g' = [-0.2, -0.8]
    torch.testing.assert_close(recurrence_factor(h, sg, hard_m), torch.tensor([0.8, -0.8]))
    soft = coeffs(NeuronParams(v_reset=None))  # 1 - 1 * g'
    torch.testing.assert_close(recurrence_factor(h, sg, soft), torch.tensor([0.8, 0.6]))
    torch.testing.assert_close(recurrence_factor(h, sg, coeffs(NeuronParams(v_reset=0.0, detach_reset=True))),
                               torch.tensor([1.0, 0.0]))
    torch.testing.assert_close(recurrence_factor(h, sg, coeffs(NeuronParams(v_reset=None, detach_reset=True))),
                               torch.tensor([1.0, 1.0]))
    assert recurrence_factor(h.double(), sg.double(), hard).dtype == torch.float64


def test_backward_recurrence_golden_numbers():
    """G[t] = P[t] + kA[t] G[t+1] by hand, whole and in two chunks (G carried between them)."""
    from pipesdfa.snn.kernels.common import backward_recurrence_

    P = torch.tensor([1.0, 2.0, 3.0])
    kA = torch.tensor([0.5, 0.25])  # steps 0 and 1 (the last step has no successor)
    # G[2] = 3, G[1] = 2 + 0.25 * 3 = 2.75, G[0] = 1 + 0.5 * 2.75 = 2.375
    g = P.clone()
    backward_recurrence_(g, kA, None)
    assert g.tolist() == [2.375, 2.75, 3.0]
    g2 = P.clone()
    nxt = backward_recurrence_(g2[2:], kA[2:], None)  # the last chunk: no kA
    backward_recurrence_(g2[:2], kA[:2], nxt)
    assert g2.tolist() == [2.375, 2.75, 3.0]


def test_register_backend_adds_an_object_and_refuses_duplicates():
    from pipesdfa.snn.kernels import Backend, register_backend
    from pipesdfa.snn.kernels import backends as reg

    with pytest.raises(ValueError, match="already registered"):
        register_backend(BACKENDS["fused"])
    b = Backend("test-copy", "the reference under another name", BACKENDS["torch"].multistep,
                BACKENDS["torch"].forward_with_potential, lambda d: True)
    try:
        register_backend(b)
        x = torch.rand(4, 3, 5) * 2
        s, _ = run_multistep(x, NeuronParams(), backend="test-copy")
        assert torch.equal(s, run_multistep(x, NeuronParams(), backend="torch")[0])
    finally:
        reg.BACKENDS.pop("test-copy")
