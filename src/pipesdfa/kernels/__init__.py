"""Multi-step neuron backends: the same dynamics, different speed.

=============  ==============================================================================
backend        what runs
=============  ==============================================================================
``torch``      the reference :func:`pipesdfa.neurons.multistep`: a Python loop with a
               per-step autograd graph (plain, slow, the definition every backend must match)
``fused``      :mod:`pipesdfa.kernels.fused`: one autograd node over the whole time loop,
               graph-free forward, hand-written backward (one fused multiply-add per step);
               CPU or CUDA
``triton``     :mod:`pipesdfa.kernels.triton_backend`: forward and backward each one Triton
               kernel with the membrane potential in registers (CUDA, or ``TRITON_INTERPRET=1``)
``auto``       ``triton`` for CUDA tensors when Triton is importable, else ``fused``
=============  ==============================================================================

All take and return what :func:`pipesdfa.neurons.multistep` does:
``(spikes [T, ...], V[T-1]) = f(x_seq, params, v0, recurrent_grad)``.
"""

from __future__ import annotations

from typing import Callable

import torch

from pipesdfa.errors import UserError
from pipesdfa.neurons import NeuronParams

__all__ = ["BACKENDS", "check_backend", "resolve_backend", "run_multistep", "backend_available",
           "forward_with_potential"]

BACKENDS: tuple[str, ...] = ("torch", "fused", "triton", "auto")

Multistep = Callable[..., tuple[torch.Tensor, torch.Tensor]]


def check_backend(name: str) -> str:
    """``name`` if it is a known backend, else a :class:`UserError`."""
    if name not in BACKENDS:
        raise UserError(f"neuron backend {name!r} unknown; expected one of: {', '.join(BACKENDS)}")
    return name


def backend_available(name: str, device: torch.device | str = "cpu") -> bool:
    """Whether ``name`` can run on ``device`` in this process."""
    check_backend(name)
    if name == "triton":
        from pipesdfa.kernels import triton_backend

        return triton_backend.available(device)
    return True


def resolve_backend(name: str, device: torch.device | str) -> str:
    """The concrete backend that ``name`` means for tensors on ``device``."""
    check_backend(name)
    if name == "auto":
        return "triton" if torch.device(device).type == "cuda" and backend_available("triton", device) else "fused"
    return name


def _impl(name: str) -> Multistep:
    if name == "torch":
        from pipesdfa.neurons import multistep

        return multistep
    if name == "fused":
        from pipesdfa.kernels.fused import fused_multistep

        return fused_multistep
    from pipesdfa.kernels import triton_backend

    if not triton_backend.HAVE_TRITON:
        raise UserError("neuron backend 'triton' needs the 'triton' package (and a CUDA device)")
    return triton_backend.triton_multistep


def run_multistep(x_seq: torch.Tensor, p: NeuronParams, v0: torch.Tensor | None = None,
                  recurrent_grad: bool = True, backend: str = "torch") -> tuple[torch.Tensor, torch.Tensor]:
    """Run the neuron over ``x_seq [T, ...]`` with the named backend."""
    name = resolve_backend(backend, x_seq.device)
    if name == "triton" and x_seq.device.type != "cuda" and not _interpreted():
        raise UserError(f"neuron backend 'triton' needs CUDA tensors, got a tensor on {x_seq.device}")
    return _impl(name)(x_seq, p, v0, recurrent_grad)


def _interpreted() -> bool:
    from pipesdfa.kernels.triton_backend import interpreted

    return interpreted()


@torch.no_grad()
def forward_with_potential(x_seq: torch.Tensor, p: NeuronParams, backend: str = "auto",
                           h_out: torch.Tensor | None = None, v0: torch.Tensor | None = None,
                           spike_dtype: torch.dtype = torch.bool
                           ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Graph-free forward: ``(spikes [T, ...] as 0/1, H [T, ...], V[T-1])``; the spikes in
    ``spike_dtype`` (the Triton kernel returns its own: convert with ``.to`` when it matters).

    For rules that form gradients themselves (SDFA's fast path): ``H[t]`` is the membrane
    potential before firing, from which the surrogate derivative ``g'(H - V_th)`` follows.
    ``h_out`` (may be ``x_seq`` itself) receives ``H``; ``v0`` continues a sequence run in
    chunks. The reference backend is the same arithmetic as the fused one, so ``torch`` and
    ``fused`` share this path.
    """
    name = resolve_backend(backend, x_seq.device)
    if name == "triton" and (x_seq.device.type == "cuda" or _interpreted()):
        from pipesdfa.kernels.triton_backend import _launch_fwd

        s, h, v = _launch_fwd(x_seq, p, v0, save_h=True)
        if h_out is not None:
            h_out.copy_(h)
            h = h_out
        return s, h, v
    from pipesdfa.kernels.fused import neuron_forward_nograd

    h = torch.empty_like(x_seq) if h_out is None else h_out
    s, v = neuron_forward_nograd(x_seq, p, v0, h_out=h, spike_dtype=spike_dtype, reuse=False)  # (chunks)
    return s, h, v
