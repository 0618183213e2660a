"""``precision="bf16"``: dense products on bfloat16 operands, float32 master weights and membrane.

Tolerances: one bf16 product of a 0/1 input rounds ``W`` and its output to 8 significant bits
(relative error <= 2^-8 per element after float32 accumulation); a whole step's gradients may
also differ where a rounded pre-activation crosses the threshold on the other side, so they are
compared by cosine (>= 0.97) and norm (within 10 %) per parameter (measured on this test's
network: cosines 0.982-0.9996, norms within 9 %; the 10-neuron output layer, where one flipped
spike weighs most, is the least similar).
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from pipesdfa.learning import make_rule
from pipesdfa.snn.blocks import set_precision
from pipesdfa.snn.kernels.precision import bf16_linear
from pipesdfa.snn.neurons import NeuronParams
from pipesdfa.training.config import TrainConfig
from pipesdfa.training.loop import make_loss
from pipesdfa.util.errors import UserError
from pipesdfa.zoo.models import build_model
from pipesdfa.zoo.workloads import mlp_spec


def test_bf16_linear_runs_on_bf16_operands_and_returns_float32_gradients():
    gen = torch.Generator().manual_seed(0)
    x = (torch.rand(64, 300, generator=gen) < 0.2).float().requires_grad_(True)
    w = (torch.randn(40, 300, generator=gen) * 0.1).requires_grad_(True)
    b = torch.randn(40, generator=gen).requires_grad_(True)
    g = torch.randn(64, 40, generator=gen)
    y = bf16_linear(x, w, b)
    assert y.dtype == torch.float32
    # exactly the bf16 product (so it did run in bf16), not the float32 one
    assert torch.equal(y, (x.detach().bfloat16() @ w.detach().bfloat16().t()).float() + b.detach())
    ref = F.linear(x, w, b)
    assert not torch.equal(y, ref)
    assert torch.allclose(y, ref, rtol=0, atol=2 ** -7 * ref.abs().max().item())
    y.backward(g)
    gx, gw, gb = x.grad.clone(), w.grad.clone(), b.grad.clone()
    x.grad = w.grad = b.grad = None
    ref.backward(g)
    for got, want in ((gx, x.grad), (gw, w.grad), (gb, b.grad)):
        assert got.dtype == torch.float32
        assert (got - want).norm() <= 2 ** -7 * want.norm()


def _mlp(precision: str, seed: int = 0):
    torch.manual_seed(seed)
    model = build_model(mlp_spec((300,), (280, 260), 10), NeuronParams(), backend="fused")
    with torch.no_grad():
        for blk in model.blocks:
            blk.weight.mul_(3.0).add_(0.5 / blk.weight.shape[1] ** 0.5)  # every block fires
    set_precision(model, precision)
    return model


def _grads(method: str, precision: str, **opts) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(1)
    x = (torch.rand(8, 16, 300, generator=gen) < 0.2).float()
    y = torch.randint(0, 10, (16,), generator=gen)
    model = _mlp(precision)
    rule = make_rule(method, model, **opts)
    rule.compute_grads(x, y, make_loss("ce"))
    return {n: p.grad.clone() for n, p in model.named_parameters()}


@pytest.mark.parametrize("method,opts", [("bptt", {}), ("sdfa", {"temporal": "local", "store": "float"}),
                                         ("sdfa", {"temporal": "instantaneous", "store": "float"})])
def test_bf16_step_gradients_match_fp32(method, opts):
    ref, got = _grads(method, "fp32", **opts), _grads(method, "bf16", **opts)
    assert ref.keys() == got.keys()
    differs = False
    for name in ref:
        a, b = ref[name].flatten(), got[name].flatten()
        assert a.norm() > 0, name
        cos = float(a @ b / (a.norm() * b.norm()))
        assert cos >= 0.97, (name, cos)
        assert abs(float(b.norm() / a.norm()) - 1) <= 0.10, name
        differs |= not torch.equal(a, b)
    assert differs  # bf16 did change something: the products ran in bfloat16


def test_sdfa_fast_path_takes_bf16_weight_gradients_with_bf16_precision():
    from pipesdfa.learning.local import forward_blocks

    model = _mlp("bf16")
    x = (torch.rand(4, 8, 300) < 0.2).float()
    states, _ = forward_blocks(model.blocks, ["dense"] * 3, ["local"] * 3, x, "float")
    assert all(st.half for st in states)
    set_precision(model, "fp32")
    states, _ = forward_blocks(model.blocks, ["dense"] * 3, ["local"] * 3, x, "float")
    assert not any(st.half for st in states)


def test_bad_precision_is_a_user_error():
    model = _mlp("fp32")
    with pytest.raises(UserError, match="precision 'fp16' unknown"):
        set_precision(model, "fp16")
    with pytest.raises(UserError, match="model.precision 'half' unknown"):
        TrainConfig.from_flat(precision="half").validate()


def test_train_with_bf16_records_precision(tmp_path):
    from pipesdfa.training.loop import build_run, train

    cfg = TrainConfig.from_flat(dataset="digits", hidden=(64,), T=4, batch=32, epochs=1, max_train=128,
                                max_test=64, precision="bf16", out=str(tmp_path / "run"), threads=1)
    assert all(b.precision == "bf16" for b in build_run(cfg).model.blocks)
    metrics = train(cfg, log=None)
    assert metrics["config"]["model"]["precision"] == "bf16"
