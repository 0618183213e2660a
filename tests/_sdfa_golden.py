"""Cases for the SDFA gradient golden file ``tests/data/sdfa_grads_83a1638.pt``.

The file holds the gradients that the implementation at commit 83a1638 (rules bound to the
model zoo, ``make_rule("sdfa", model, ...)``) gave on these cases; it was written by running
``python tests/_sdfa_golden.py tests/data/sdfa_grads_83a1638.pt`` with that commit's package
on the path. ``tests/test_rule_binding.py`` recomputes them through ``SDFA(blocks, ...)``.
"""

from __future__ import annotations

import sys

import torch

from pipesdfa.zoo.models import build_model
from pipesdfa.snn.neurons import NeuronParams
from pipesdfa.zoo.workloads import Conv, Dense, ModelSpec, mlp_spec

VARIANTS = [(t, fast, store) for t in ("local", "instantaneous")
            for fast, store in ((True, "float"), (True, "half"), (False, "float"))]


def conv_spec() -> ModelSpec:
    return ModelSpec("tinyconv", (2, 8, 8), (Conv(4, 3, 1, 1, True, 2), Conv(6, 3, 1, 1, True, 1),
                                             Conv(5, 3, 2, 1, False, 1), Dense(12), Dense(6)), 3, vote=2)


def case(name: str):
    """``(model, x, y)`` of case ``mlp`` or ``conv`` (seeded)."""
    spec, gain = (mlp_spec((30,), (20, 16), 4), 1.5) if name == "mlp" else (conv_spec(), 2.5)
    torch.manual_seed(0)
    model = build_model(spec, NeuronParams(), backend="fused")
    with torch.no_grad():
        for blk in model.blocks:
            if blk.bn is None:
                blk.weight.mul_(gain).add_(gain * 0.5 / blk.layer.fan_in ** 0.5)
            else:
                blk.bn.bias.fill_(0.6)
    x = (torch.rand(5, 4, *spec.input_shape) < 0.4).float()
    y = torch.arange(4) % spec.num_classes
    return model, x, y


def main(path: str) -> None:  # run with the old package on the path
    from pipesdfa.learning import make_rule
    from pipesdfa.training.loop import make_loss

    out = {}
    for name in ("mlp", "conv"):
        for temporal, fast, store in VARIANTS:
            model, x, y = case(name)
            make_rule("sdfa", model, temporal=temporal, fast=fast, store=store).compute_grads(x, y, make_loss("mse"))
            out[f"{name}/{temporal}/{'fast' if fast else 'autograd'}/{store}"] = {
                n: p.grad.clone() for n, p in model.named_parameters()}
    torch.save(out, path)


if __name__ == "__main__":
    main(sys.argv[1])
