"""Event-driven products: a layer's synaptic input and weight gradient over its active inputs only.

A spiking layer's input ``X [rows, n_in]`` (``rows = T*B``) is 0 wherever no spike (or, for a
network input of event counts, no event) arrived. With ``d`` the fraction of nonzeros, the
dense products cost ``rows n_in n_out`` multiply-adds whatever ``d`` is; over the nonzeros
alone (``X`` in CSR form, one sparse-times-dense product) they cost ``d rows n_in n_out``
plus the conversion to CSR (one pass over ``X``) and the gathers of ``W`` rows::

    forward          Y  = X W^T + b            CSR(X) @ W^T
    weight gradient  dW = G^T X  = (X^T G)^T   CSR(X)^T @ G      (G = dL/dY, dense)
    input gradient   dX = G W                  dense (G has no zeros to skip)

The sparse product wins only below a density that depends on the machine and the product's
precision (the dense float32 product runs near peak, a bfloat16 one even faster where the CPU
has bfloat16 dot products): :data:`CROSSOVER` holds the densities measured by
``python benchmarks/sparse_crossover.py`` (``benchmarks/results/sparse_crossover_cpu.json``,
the ``measured`` entry of each product). ``None`` = not measured on that device: always dense.
:func:`linear` (the dense blocks' synaptic input, for every rule) and SDFA's graph-free weight
gradient use the sparse form automatically when the input's density is below the crossover
(:func:`use_sparse`); :func:`set_enabled` (or ``PIPESDFA_SPARSE=0``) turns it off.

Numerics: the sparse product sums the same terms as the dense one in another order, so results
agree to float rounding (not bit for bit); the density is estimated from at most
:data:`SAMPLE_ROWS` rows spread over ``X``, so which path runs is a deterministic function of
``X``.
"""

from __future__ import annotations

import os
import warnings

import torch
import torch.nn.functional as F

from pipesdfa.snn.kernels.precision import bf16_linear
from pipesdfa.util.errors import UserError

__all__ = ["CROSSOVER", "SAMPLE_ROWS", "density", "use_sparse", "linear", "to_csr", "csr_weight_grad",
           "set_enabled", "enabled", "set_crossover"]

#: ``(device type, product) -> density`` below which the sparse product is used. Products:
#: ``forward`` (float32 ``X W^T``), ``dw_float`` (float32 ``G^T X``), ``dw_bf16`` (``G^T X``
#: against the dense product in bfloat16 operands, SDFA's ``store="half"``), ``forward_bf16``
#: (the forward of ``precision="bf16"``, :mod:`pipesdfa.snn.kernels.precision`). CPU values: the
#: crossovers measured on the 2-core AMD EPYC (AVX512-BF16) development machine, one thread,
#: rounded down to 0.005 (``benchmarks/results/sparse_crossover_cpu.json``: 0.154, 0.130,
#: 0.016; ``sparse_crossover_forward_bf16_cpu.json``: 0.016, measured later while other jobs
#: loaded the machine); CUDA: not measured yet (always dense). :func:`linear`'s backward forms ``dW`` over the
#: nonzeros too whenever its forward did (between the ``dw_float`` and ``forward`` crossovers
#: that costs a few per cent of that product).
CROSSOVER: dict[tuple[str, str], float | None] = {
    ("cpu", "forward"): 0.15,
    ("cpu", "dw_float"): 0.13,
    ("cpu", "dw_bf16"): 0.015,
    ("cpu", "forward_bf16"): 0.015,
    ("cuda", "forward"): None,
    ("cuda", "forward_bf16"): None,
    ("cuda", "dw_float"): None,
    ("cuda", "dw_bf16"): None,
}
PRODUCTS = ("forward", "dw_float", "dw_bf16", "forward_bf16")
#: Rows of ``X`` the density is estimated from (evenly spaced).
SAMPLE_ROWS = 128
#: Smallest ``n_in`` and ``n_out`` for the sparse form: the crossovers were measured on layers of
#: 1000-2312 features; on small layers (Braille's 24 -> 200) the conversion and gathers cost
#: more than the dense product saves (``benchmarks/train_step.py``'s ``gemm_floor``: 7.7 ms sparse
#: against 5.9 ms dense at density 0.08).
MIN_FEATURES = 256


def _env_enabled() -> bool:
    raw = os.environ.get("PIPESDFA_SPARSE", "1")
    if raw not in ("0", "1"):
        raise UserError(f"environment variable PIPESDFA_SPARSE={raw!r}: expected 0 (dense products only) or 1")
    return raw == "1"


_ENABLED = _env_enabled()


def enabled() -> bool:
    """Whether event-driven products may be used at all."""
    return _ENABLED


def set_enabled(on: bool) -> bool:
    """Turn event-driven products on or off; returns the previous setting."""
    global _ENABLED
    prev, _ENABLED = _ENABLED, bool(on)
    return prev


def set_crossover(device_type: str, product: str, value: float | None) -> float | None:
    """Set one crossover density (``None``: always dense); returns the previous value."""
    if product not in PRODUCTS:
        raise ValueError(f"product {product!r} unknown; expected one of {PRODUCTS}")
    if value is not None and not 0.0 <= value <= 1.0:
        raise ValueError(f"crossover density must be in [0, 1], got {value}")
    key = (device_type, product)
    prev = CROSSOVER.get(key)
    CROSSOVER[key] = value
    return prev


def density(x2d: torch.Tensor, binary: bool = False) -> float:
    """Fraction of nonzeros of ``x2d [rows, n]``, from at most :data:`SAMPLE_ROWS` evenly spaced
    rows; ``binary``: ``x2d`` holds only 0 and 1 (spikes), so the sum counts them (faster)."""
    rows = x2d.shape[0]
    if rows == 0 or x2d.shape[1] == 0:
        return 0.0
    step = max(1, rows // SAMPLE_ROWS)
    sample = x2d[::step]
    n = sample.sum(dtype=torch.float32) if binary else torch.count_nonzero(sample)
    return float(n) / sample.numel()


def use_sparse(product: str, d: float, device: torch.device, n_in: int | None = None,
               n_out: int | None = None) -> bool:
    """Whether ``product`` should run sparse at input density ``d`` on ``device`` (for a layer of
    ``n_in -> n_out`` features, when given: dense below :data:`MIN_FEATURES`)."""
    if not _ENABLED:
        return False
    if min(n_in or MIN_FEATURES, n_out or MIN_FEATURES) < MIN_FEATURES:
        return False
    limit = CROSSOVER.get((device.type, product))
    return limit is not None and d < limit


def to_csr(x2d: torch.Tensor) -> torch.Tensor:
    """``x2d`` in CSR layout (PyTorch's sparse CSR tensors are flagged beta; the warning is silenced)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return x2d.to_sparse_csr()


def csr_weight_grad(s: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """``dW = G^T X`` from ``X`` in CSR form (``s [rows, n_in]``) and ``g [rows, n_out]``: ``[n_out, n_in]``
    (a transposed view of ``X^T G``)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return torch.mm(s.t(), g).t()


class _EventLinear(torch.autograd.Function):
    """``X W^T + b`` with ``X`` held in CSR form; backward: ``dX = G W`` (dense), ``dW`` by
    :func:`csr_weight_grad`, ``db = sum G``."""

    @staticmethod
    def forward(ctx, x2d, weight, bias):  # type: ignore[override]
        s = to_csr(x2d.detach())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            y = torch.mm(s, weight.t())
        if bias is not None:
            y.add_(bias)
        ctx.save_for_backward(s, weight)
        ctx.has_bias = bias is not None
        return y

    @staticmethod
    def backward(ctx, g):  # type: ignore[override]
        s, weight = ctx.saved_tensors
        g = g.contiguous()
        gx = g @ weight if ctx.needs_input_grad[0] else None
        gw = csr_weight_grad(s, g) if ctx.needs_input_grad[1] else None
        gb = g.sum(0) if ctx.has_bias and ctx.needs_input_grad[2] else None
        return gx, gw, gb


def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None,
           d: float | None = None, precision: str = "fp32") -> torch.Tensor:
    """``F.linear(x, weight, bias)`` for ``x [..., n_in]``, over the nonzeros of ``x`` when its
    density (``d``, or :func:`density`) is below the crossover against the dense product of
    ``precision`` (``forward`` for ``fp32``, ``forward_bf16`` for ``bf16``: the dense product
    on bfloat16 operands, :func:`pipesdfa.snn.kernels.precision.bf16_linear`); differentiable
    either way; float32 tensors only (others: ``F.linear``)."""
    lead = x.shape[:-1]
    x2d = x.reshape(-1, x.shape[-1])
    if x2d.dtype != torch.float32 or weight.dtype != torch.float32:
        return F.linear(x, weight, bias)
    dense = bf16_linear if precision == "bf16" else F.linear
    if not _ENABLED or min(x2d.shape[1], weight.shape[0]) < MIN_FEATURES:
        return dense(x, weight, bias)
    product = "forward_bf16" if precision == "bf16" else "forward"
    if not use_sparse(product, density(x2d.detach()) if d is None else d, x.device):
        return dense(x, weight, bias)
    return _EventLinear.apply(x2d, weight, bias).reshape(*lead, weight.shape[0])
