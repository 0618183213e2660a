"""Per-block forward passes and local weight gradients, for rules that never cross blocks (SDFA).

A rule drives each block through two calls: :func:`forward_blocks` runs every block on the
(detached) output of the block below and keeps, per block, what its weight gradient needs;
:func:`block_grads` then forms the block's gradients from the error ``r`` injected at its spike
output (``[B, ...]`` the same at every step, or ``[T, B, ...]``). Two paths:

* **fast** (graph-free, compact state) for the block kinds it knows, :func:`fast_kind`: a
  :class:`~pipesdfa.snn.blocks.SpikingBlock` (not a subclass overriding its forward) whose op is a
  ``nn.Linear`` (:mod:`.dense`) or zero-padded ``nn.Conv2d`` with an optional
  ``nn.BatchNorm2d`` and a non-overlapping max-pool (:mod:`.conv`), and whose neuron is a
  :class:`~pipesdfa.snn.neurons.SpikingNeuron`;
* **autograd** for any other block whose forward is differentiable: the block runs with a
  local graph on its detached input, and ``r`` is back-propagated through it. With
  ``temporal="instantaneous"`` the block must follow the ``recurrent_grad`` protocol
  (:mod:`pipesdfa.snn.neurons`): every module with a boolean ``recurrent_grad`` attribute has it set
  to ``False`` during the block's forward; a block without one is refused by name.

No block ever falls back silently to something else: :func:`fast_kind` says which path a
block takes, and the fast path has parity tests against the autograd one.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator, Sequence

import torch
from torch import nn

from pipesdfa.snn.blocks import SpikingBlock
from pipesdfa.util.errors import UserError
from pipesdfa.learning.local import conv, dense
from pipesdfa.learning.local.pooling import pool_window
from pipesdfa.learning.local.state import DEFAULT_STORE, STORES, LocalState
from pipesdfa.snn.neurons import SpikingNeuron

__all__ = ["fast_kind", "forward_blocks", "block_grads", "recurrent_modules", "instantaneous", "LocalState",
           "STORES", "DEFAULT_STORE", "AUTOGRAD"]

#: The path name of a block the fast path does not know.
AUTOGRAD = "autograd"


def fast_kind(block: nn.Module) -> str | None:
    """``"dense"`` or ``"conv"`` when the fast path knows ``block`` (module docstring), else ``None``."""
    if not isinstance(block, SpikingBlock):
        return None
    cls = type(block)
    if any(getattr(cls, m) is not getattr(SpikingBlock, m) for m in ("forward", "synaptic_input", "post")):
        return None
    neuron = block.neuron
    if not isinstance(neuron, SpikingNeuron) or any(
            getattr(type(neuron), m) is not getattr(SpikingNeuron, m) for m in ("forward", "run")):
        return None
    op = block.weight_op
    if block.kind == "conv":
        if op.padding_mode != "zeros":
            return None
        bn = block.bn
        if bn is not None and (not isinstance(bn, nn.BatchNorm2d) or type(bn).forward is not nn.BatchNorm2d.forward):
            return None
        if block.pool is not None and pool_window(block.pool) is None:
            return None
    return block.kind


def recurrent_modules(block: nn.Module) -> list[nn.Module]:
    """The modules of ``block`` that follow the ``recurrent_grad`` protocol."""
    return [m for m in block.modules() if isinstance(getattr(m, "recurrent_grad", None), bool)]


@contextmanager
def instantaneous(block: nn.Module, index: int = 0) -> Iterator[None]:
    """``recurrent_grad = False`` on every protocol module of ``block`` for the ``with`` body."""
    mods = recurrent_modules(block)
    if not mods:
        raise UserError(f"sdfa temporal='instantaneous': block {index} ({type(block).__name__}) has no neuron "
                        "with the recurrent_grad protocol (a boolean attribute recurrent_grad that, when False, "
                        "treats V[t-1] as a constant); use temporal='local' or give the neuron that attribute")
    saved = [m.recurrent_grad for m in mods]
    try:
        for m in mods:
            m.recurrent_grad = False
        yield
    finally:
        for m, s in zip(mods, saved):
            m.recurrent_grad = s


def _autograd_forward(block: nn.Module, x: torch.Tensor, temporal: str, index: int) -> torch.Tensor:
    with torch.enable_grad():
        if temporal == "instantaneous":
            with instantaneous(block, index):
                return block(x.detach())
        return block(x.detach())


def forward_blocks(blocks: Sequence[nn.Module], kinds: Sequence[str | None], temporals: Sequence[str], x: torch.Tensor,
                   store: str = DEFAULT_STORE) -> tuple[list[Any], torch.Tensor]:
    """Run every block on the detached output of the one below: ``(per-block state, output)``.

    ``kinds[i]`` is :func:`fast_kind` of block ``i`` (``None``: autograd). A fast block's state is
    a :class:`LocalState`; an autograd block's is its output with its local graph. Runs of
    consecutive fast dense blocks are streamed over time (:func:`.dense.forward_stream`); a fast
    block's input is bit-packed when it is the 0/1 output of a fast block. Returns the last
    block's output, detached.
    """
    states: list[Any] = []
    n = len(blocks)
    i = 0
    prev_fast = False  # the network input is kept as given
    while i < n:
        kind = kinds[i]
        if kind == "dense":
            j = i
            while j < n and kinds[j] == "dense":
                j += 1
            sts, x = dense.forward_stream(blocks[i:j], x, list(temporals[i:j]), store,
                                          [prev_fast] + [True] * (j - i - 1))
            states += sts
            i = j
            prev_fast = True
            continue
        if kind == "conv":
            x, st = conv.forward_local(blocks[i], x, temporals[i], store, prev_fast)
            states.append(st)
            prev_fast = True
        else:
            out = _autograd_forward(blocks[i], x, temporals[i], i)
            states.append(out)
            x = out.detach()
            prev_fast = False
        i += 1
    return states, x


def output_shape(state: Any) -> tuple[int, ...]:
    """``[T, B, ...]`` of a block's output, from its state."""
    return tuple(state.out_shape) if isinstance(state, LocalState) else tuple(state.shape)


def block_grads(block: nn.Module, kind: str | None, state: Any, r: torch.Tensor) -> None:
    """Accumulate the gradients of ``block``'s parameters from the error ``r`` at its output."""
    if kind == "dense":
        dense.weight_grads(block, state, r)
    elif kind == "conv":
        conv.weight_grads(block, state, r)
    else:
        out: torch.Tensor = state
        if not out.requires_grad:
            return  # nothing in the block is trained
        if r.dim() == out.dim():
            g = r.reshape(out.shape)
        else:
            g = r.reshape(out.shape[1:]).unsqueeze(0).expand_as(out)
        torch.autograd.backward(out, g.to(out.dtype))
