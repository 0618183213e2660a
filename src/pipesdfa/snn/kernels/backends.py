"""Neuron backends as objects in a registry: the same dynamics, different speed.

A :class:`Backend` bundles what a rule or a module needs from an implementation of the
neuron of :mod:`pipesdfa.snn.dynamics`:

* ``multistep(x_seq, params, v0, recurrent_grad) -> (spikes [T, ...], V[T-1])``, differentiable;
* ``forward_with_potential(x_seq, params, h_out, v0, spike_dtype) -> (spikes, H, V[T-1])``, no
  graph (for rules that form gradients themselves, SDFA's fast path);
* ``available(device) -> bool``.

:data:`BACKENDS` holds ``torch`` (the reference loop), ``fused`` and ``triton``; ``auto`` is not
a backend but a choice (:func:`resolve_backend`): ``triton`` for CUDA tensors when it is
available, else ``fused``. A new backend is one :func:`register_backend` call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from pipesdfa.snn.dynamics import NeuronParams, multistep
from pipesdfa.util.errors import UserError
from pipesdfa.snn.kernels import fused, triton_backend

__all__ = ["Backend", "BACKENDS", "BACKEND_NAMES", "register_backend", "check_backend", "get_backend",
           "resolve_backend", "backend_available"]

Multistep = Callable[[torch.Tensor, NeuronParams, "torch.Tensor | None", bool], tuple[torch.Tensor, torch.Tensor]]
ForwardWithPotential = Callable[..., tuple[torch.Tensor, torch.Tensor, torch.Tensor]]


@dataclass(frozen=True)
class Backend:
    """One implementation of the multi-step neuron (see the module docstring)."""

    name: str
    description: str
    multistep: Multistep
    forward_with_potential: ForwardWithPotential
    available: Callable[[torch.device], bool]


def _always(device: torch.device) -> bool:
    return True


@torch.no_grad()
def _fused_forward_with_potential(x_seq: torch.Tensor, p: NeuronParams, h_out: torch.Tensor | None = None,
                                  v0: torch.Tensor | None = None, spike_dtype: torch.dtype = torch.bool):
    h = torch.empty_like(x_seq) if h_out is None else h_out
    s, v = fused.neuron_forward_nograd(x_seq, p, v0, h_out=h, spike_dtype=spike_dtype, reuse=False)  # (chunks)
    return s, h, v


def _triton_multistep(x_seq, p, v0=None, recurrent_grad=True):
    if not triton_backend.HAVE_TRITON:
        raise UserError("neuron backend 'triton' needs the 'triton' package (and a CUDA device)")
    if x_seq.device.type != "cuda" and not triton_backend.interpreted():
        raise UserError(f"neuron backend 'triton' needs CUDA tensors, got a tensor on {x_seq.device}")
    return triton_backend.triton_multistep(x_seq, p, v0, recurrent_grad)


BACKENDS: dict[str, Backend] = {}


def register_backend(backend: Backend) -> Backend:
    """Add ``backend`` to :data:`BACKENDS` (its name must be new)."""
    if backend.name in BACKENDS or backend.name == "auto":
        raise ValueError(f"neuron backend {backend.name!r} already registered")
    BACKENDS[backend.name] = backend
    return backend


# The reference's forward is the same arithmetic as the fused one, so they share it.
register_backend(Backend("torch", "the reference loop of pipesdfa.snn.dynamics.multistep (per-step autograd graph)",
                         multistep, _fused_forward_with_potential, _always))
register_backend(Backend("fused", "one autograd node over the time loop, hand-written backward (CPU or CUDA)",
                         fused.fused_multistep, _fused_forward_with_potential, _always))
register_backend(Backend("triton", "forward and backward each one Triton kernel (CUDA, or TRITON_INTERPRET=1)",
                         _triton_multistep, triton_backend.forward_with_potential, triton_backend.available))

#: Every name a ``backend=`` option accepts.
BACKEND_NAMES: tuple[str, ...] = (*BACKENDS, "auto")


def check_backend(name: str) -> str:
    """``name`` if it names a backend or ``auto``, else a :class:`UserError`."""
    if name != "auto" and name not in BACKENDS:
        raise UserError(f"neuron backend {name!r} unknown; expected one of: {', '.join((*BACKENDS, 'auto'))}")
    return name


def backend_available(name: str, device: torch.device | str = "cpu") -> bool:
    """Whether ``name`` can run on ``device`` in this process."""
    check_backend(name)
    if name == "auto":
        return True
    return BACKENDS[name].available(torch.device(device))


def resolve_backend(name: str, device: torch.device | str) -> str:
    """The concrete backend that ``name`` means for tensors on ``device``."""
    check_backend(name)
    if name == "auto":
        dev = torch.device(device)
        return "triton" if dev.type == "cuda" and BACKENDS["triton"].available(dev) else "fused"
    return name


def get_backend(name: str, device: torch.device | str) -> Backend:
    """The :class:`Backend` that ``name`` means on ``device``."""
    return BACKENDS[resolve_backend(name, device)]
