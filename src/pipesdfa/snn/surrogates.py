"""Surrogate spike functions: Heaviside forward, a smooth derivative backward.

The spike is ``S = Theta(x)`` with ``x = H - V_th`` (membrane potential minus threshold,
in units of the threshold's voltage). In the backward pass ``dS/dx`` is replaced by the
derivative ``g'(x)`` of a smooth stand-in ``g``. Each surrogate has one width parameter
``alpha`` (larger = sharper):

============== ======================================== ============================================
name           smooth form g(x)                         derivative g'(x)
============== ======================================== ============================================
``atan``       ``1/2 + arctan(pi alpha x / 2) / pi``    ``(alpha/2) / (1 + (pi alpha x / 2)^2)``
``sigmoid``    ``sigmoid(alpha x)``                     ``alpha sigmoid(alpha x) (1 - sigmoid(alpha x))``
``rectangular`` ``clip(alpha x + 1/2, 0, 1)``           ``alpha`` if ``|x| < 1/(2 alpha)`` else 0
``triangular`` piecewise quadratic                      ``max(0, alpha (1 - alpha |x|))``
============== ======================================== ============================================

Defaults follow SpikingJelly's conventions (ATan ``alpha = 2``, the authors' choice;
sigmoid ``alpha = 4``; rectangular and triangular ``alpha = 1``). Every derivative
integrates to 1 over the real line, like the Dirac delta it stands in for.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch

from pipesdfa.util.errors import UserError

__all__ = ["Surrogate", "SURROGATES", "get_surrogate", "spike_fn", "surrogate_grad", "surrogate_grad_"]


def _atan_grad(x: torch.Tensor, alpha: float) -> torch.Tensor:
    return (alpha / 2) / (1 + (math.pi / 2 * alpha * x) ** 2)


def _sigmoid_grad(x: torch.Tensor, alpha: float) -> torch.Tensor:
    s = torch.sigmoid(alpha * x)
    return alpha * s * (1 - s)


def _rect_grad(x: torch.Tensor, alpha: float) -> torch.Tensor:
    return (x.abs() < 0.5 / alpha).to(x.dtype) * alpha


def _tri_grad(x: torch.Tensor, alpha: float) -> torch.Tensor:
    return (alpha * (1 - alpha * x.abs())).clamp_min(0)


def _atan_grad_(x: torch.Tensor, alpha: float) -> torch.Tensor:
    """:func:`_atan_grad` in place, the same operations in the same order, less the final
    ``* alpha/2`` (the caller's, so that it can write any dtype): ``1 / (1 + (c x)^2)``."""
    x.mul_(math.pi / 2 * alpha)
    x.mul_(x)  # == x ** 2 (PyTorch squares by one multiply)
    x.add_(1)
    return x.reciprocal_()  # (alpha/2) / y is evaluated as y.reciprocal() * (alpha/2)


def _tri_grad_(x: torch.Tensor, alpha: float) -> torch.Tensor:
    """:func:`_tri_grad` in place: ``max(0, alpha (1 - alpha |x|))`` (``1 - y`` as ``-y + 1``, exact)."""
    x.abs_().mul_(alpha).neg_().add_(1).mul_(alpha)  # alpha (1 - alpha |x|), exact reorderings
    return x.clamp_min_(0)


def _atan_primitive(x: torch.Tensor, alpha: float) -> torch.Tensor:
    return 0.5 + torch.atan(math.pi / 2 * alpha * x) / math.pi


def _sigmoid_primitive(x: torch.Tensor, alpha: float) -> torch.Tensor:
    return torch.sigmoid(alpha * x)


def _rect_primitive(x: torch.Tensor, alpha: float) -> torch.Tensor:
    return (alpha * x + 0.5).clamp(0, 1)


def _tri_primitive(x: torch.Tensor, alpha: float) -> torch.Tensor:
    u = (alpha * x).clamp(-1, 1)
    return torch.where(u < 0, 0.5 * (1 + u) ** 2, 1 - 0.5 * (1 - u) ** 2)


@dataclass(frozen=True)
class Surrogate:
    """A named surrogate: ``grad(x, alpha)`` is ``g'(x)``; ``primitive(x, alpha)`` is ``g(x)``."""

    name: str
    grad: Callable[[torch.Tensor, float], torch.Tensor]
    primitive: Callable[[torch.Tensor, float], torch.Tensor]
    default_alpha: float


SURROGATES: dict[str, Surrogate] = {
    "atan": Surrogate("atan", _atan_grad, _atan_primitive, 2.0),
    "sigmoid": Surrogate("sigmoid", _sigmoid_grad, _sigmoid_primitive, 4.0),
    "rectangular": Surrogate("rectangular", _rect_grad, _rect_primitive, 1.0),
    "triangular": Surrogate("triangular", _tri_grad, _tri_primitive, 1.0),
}

SURROGATE_IDS = {name: i for i, name in enumerate(SURROGATES)}


def get_surrogate(name: str) -> Surrogate:
    try:
        return SURROGATES[name]
    except KeyError:
        raise UserError(f"unknown surrogate {name!r}; expected one of: {', '.join(SURROGATES)}") from None


def surrogate_grad(x: torch.Tensor, name: str, alpha: float) -> torch.Tensor:
    """``g'(x)`` of the named surrogate (no autograd involved)."""
    return get_surrogate(name).grad(x, alpha)


#: In-place forms ``f(x, alpha) -> (x overwritten, final factor)``: ``g'(x) = x * factor``.
_INPLACE: dict[str, tuple[Callable[[torch.Tensor, float], torch.Tensor], Callable[[float], float]]] = {
    "atan": (_atan_grad_, lambda a: a / 2),
    "triangular": (_tri_grad_, lambda a: 1.0),
}


def surrogate_grad_(x: torch.Tensor, name: str, alpha: float, out: torch.Tensor | None = None) -> torch.Tensor:
    """:func:`surrogate_grad` that may overwrite ``x`` (a temporary the caller owns): no
    temporaries for ``atan`` and ``triangular`` (bit-equal to :func:`surrogate_grad`; the others
    are computed out of place). The result goes into ``out`` when given (any floating dtype,
    rounded once from ``x``'s), else it is returned (possibly ``x`` itself)."""
    if name in _INPLACE and not x.requires_grad:
        f, factor = _INPLACE[name]
        y = f(x, alpha)
        k = factor(alpha)
        if k != 1.0:
            y.mul_(k)
        return y if out is None else out.copy_(y)  # (a mixed-dtype mul into out is not vectorised)
    g = surrogate_grad(x, name, alpha)
    if out is None:
        return g
    return out.copy_(g)


class _SpikeFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, sid: int, alpha: float) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        ctx.sid = sid
        ctx.alpha = alpha
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):  # type: ignore[override]
        (x,) = ctx.saved_tensors
        name = list(SURROGATES)[ctx.sid]
        return grad_out * SURROGATES[name].grad(x, ctx.alpha), None, None


def spike_fn(x: torch.Tensor, name: str = "atan", alpha: float | None = None) -> torch.Tensor:
    """``Theta(x)`` (1 where ``x >= 0``) forward; the named surrogate's ``g'(x)`` backward."""
    s = get_surrogate(name)
    return _SpikeFn.apply(x, SURROGATE_IDS[name], s.default_alpha if alpha is None else float(alpha))
