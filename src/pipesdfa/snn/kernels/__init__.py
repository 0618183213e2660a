"""Multi-step neuron backends: the same dynamics, different speed.

=============  ==============================================================================
backend        what runs
=============  ==============================================================================
``torch``      the reference :func:`pipesdfa.snn.dynamics.multistep`: a Python loop with a
               per-step autograd graph (plain, slow, the definition every backend must match)
``fused``      :mod:`pipesdfa.snn.kernels.fused`: one autograd node over the whole time loop,
               graph-free forward, hand-written backward (one fused multiply-add per step);
               CPU or CUDA
``triton``     :mod:`pipesdfa.snn.kernels.triton_backend`: forward and backward each one Triton
               kernel with the membrane potential in registers (CUDA, or ``TRITON_INTERPRET=1``)
``auto``       ``triton`` for CUDA tensors when Triton is importable, else ``fused``
=============  ==============================================================================

Each is a :class:`~pipesdfa.snn.kernels.backends.Backend` in the registry
:data:`~pipesdfa.snn.kernels.backends.BACKENDS`. All take and return what
:func:`pipesdfa.snn.dynamics.multistep` does: ``(spikes [T, ...], V[T-1]) = f(x_seq, params, v0,
recurrent_grad)``. Also here: the shared backward recurrence (:mod:`~pipesdfa.snn.kernels.common`),
bit packing (:mod:`~pipesdfa.snn.kernels.bits`) and reused CPU buffers
(:mod:`~pipesdfa.snn.kernels.workspace`).
"""

from __future__ import annotations

import torch

from pipesdfa.snn.dynamics import NeuronParams
from pipesdfa.snn.kernels.backends import (BACKEND_NAMES, BACKENDS, Backend, backend_available, check_backend, get_backend,
                                       register_backend, resolve_backend)

__all__ = ["Backend", "BACKENDS", "BACKEND_NAMES", "register_backend", "check_backend", "get_backend",
           "resolve_backend", "run_multistep", "backend_available", "forward_with_potential"]


def run_multistep(x_seq: torch.Tensor, p: NeuronParams, v0: torch.Tensor | None = None,
                  recurrent_grad: bool = True, backend: str = "torch") -> tuple[torch.Tensor, torch.Tensor]:
    """Run the neuron over ``x_seq [T, ...]`` with the named backend."""
    return get_backend(backend, x_seq.device).multistep(x_seq, p, v0, recurrent_grad)


@torch.no_grad()
def forward_with_potential(x_seq: torch.Tensor, p: NeuronParams, backend: str = "auto",
                           h_out: torch.Tensor | None = None, v0: torch.Tensor | None = None,
                           spike_dtype: torch.dtype = torch.bool
                           ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Graph-free forward: ``(spikes [T, ...] as 0/1, H [T, ...], V[T-1])``; the spikes in
    ``spike_dtype`` (the Triton kernel returns its own: convert with ``.to`` when it matters).

    For rules that form gradients themselves (SDFA's fast path): ``H[t]`` is the membrane
    potential before firing, from which the surrogate derivative ``g'(H - V_th)`` follows.
    ``h_out`` (may be ``x_seq`` itself) receives ``H``; ``v0`` continues a sequence run in chunks.
    """
    return get_backend(backend, x_seq.device).forward_with_potential(x_seq, p, h_out=h_out, v0=v0,
                                                                     spike_dtype=spike_dtype)
