"""Reused CPU buffers for the fused kernels' whole-sequence tensors.

Why: on the CPU, PyTorch takes every tensor from ``malloc``. glibc serves requests above its
mmap threshold (which adapts, but never beyond 32 MiB on 64-bit hosts) by a fresh ``mmap``,
so a ``[T, B, n]`` buffer of, say, 49 MiB (T=100, B=128, n=1000, float32) is page-faulted in
and zero-filled by the kernel on every training step (12 500 minor faults each); at T=100 that
was about a quarter of a BPTT step (1283 of 5439 ms were system time in the benchmark run
committed at ``2c7acee``). A per-step autograd graph (SpikingJelly's, our reference backend)
makes thousands of small tensors that keep glibc's heap large, so its big tensors come out of
recycled heap memory and it does not pay this.

What: :func:`empty` returns a tensor on a block this module keeps, when one of the right size
is free (the most recently used one, likeliest still in cache: handing out the least recently
used one made the SDFA step a few per cent slower than malloc's recycled memory), else on a
new block; a block is free when no tensor, view or autograd saved variable uses it any
longer (its storage's reference count is 1: ours). Nothing is ever handed out
twice at once, so no caller can see another's data. The same idea as PyTorch's CUDA caching
allocator, for the few large buffers our kernels make.

Limits: only CPU tensors of at least :data:`MIN_BYTES`; at most :func:`limit_bytes` in all
(``PIPESDFA_CPU_WORKSPACE_MIB``, default 2048; ``0`` turns reuse off); free blocks are dropped
least-recently-used first when a new one would not fit. :func:`empty_cache` drops every free
block (the memory goes back to ``malloc``).
"""

from __future__ import annotations

import math
import os
import threading
from dataclasses import dataclass
from typing import Sequence

import torch

from pipesdfa.util.errors import UserError

__all__ = ["MIN_BYTES", "empty", "empty_cache", "cached_bytes", "limit_bytes", "set_limit_bytes"]

#: Smaller requests go straight to PyTorch (glibc reuses its heap for them).
MIN_BYTES = 2**20

_use_count = getattr(torch._C, "_storage_Use_Count", None)  # absent: no reuse, plain tensors


def _default_limit() -> int:
    raw = os.environ.get("PIPESDFA_CPU_WORKSPACE_MIB", "2048")
    try:
        mib = float(raw)
    except ValueError:
        raise UserError(f"environment variable PIPESDFA_CPU_WORKSPACE_MIB={raw!r}: expected a number "
                         "of MiB (0 turns buffer reuse off)") from None
    if mib < 0:
        raise UserError(f"environment variable PIPESDFA_CPU_WORKSPACE_MIB={raw!r}: expected >= 0")
    return int(mib * 2**20)


@dataclass
class _Block:
    storage: torch.UntypedStorage
    nbytes: int
    last_use: int


class _Pool:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.blocks: list[_Block] = []
        self.tick = 0
        self.lock = threading.Lock()

    @staticmethod
    def _free(b: _Block) -> bool:
        return _use_count(b.storage._cdata) == 1  # type: ignore[misc]

    def total(self) -> int:
        return sum(b.nbytes for b in self.blocks)

    def drop_free(self, need: int = -1) -> None:
        """Drop free blocks, least recently used first, until ``need`` more bytes fit (all if -1)."""
        total = self.total()
        for b in sorted(self.blocks, key=lambda b: b.last_use):
            if need >= 0 and total + need <= self.limit:
                return
            if self._free(b):
                self.blocks.remove(b)
                total -= b.nbytes

    def take(self, shape: tuple[int, ...], dtype: torch.dtype, nbytes: int) -> torch.Tensor | None:
        """A tensor on a free block of ``nbytes`` (a new block if none is free and one fits),
        ``None`` when the limit leaves no room. The tensor is made under the lock, so the block
        counts as used before another thread can look at it."""
        with self.lock:
            self.tick += 1
            # the most recently used free block of the size: the likeliest to be still in cache
            free = [b for b in self.blocks if b.nbytes == nbytes and self._free(b)]
            block = max(free, key=lambda b: b.last_use) if free else None
            if block is None:
                if self.total() + nbytes > self.limit:
                    self.drop_free(nbytes)
                    if self.total() + nbytes > self.limit:
                        return None
                block = _Block(torch.empty(nbytes, dtype=torch.uint8).untyped_storage(), nbytes, self.tick)
                self.blocks.append(block)
            block.last_use = self.tick
            return torch.empty(0, dtype=dtype).set_(block.storage, 0, shape)


_POOL = _Pool(_default_limit())


def empty(shape: Sequence[int], dtype: torch.dtype, device: torch.device | str = "cpu") -> torch.Tensor:
    """Like ``torch.empty(shape, dtype=dtype, device=device)`` (contiguous, uninitialised), on a
    reused block when the tensor is on the CPU and at least :data:`MIN_BYTES`."""
    device = torch.device(device)
    shape = tuple(int(d) for d in shape)
    nbytes = math.prod(shape) * dtype.itemsize
    if (device.type != "cpu" or nbytes < MIN_BYTES or _use_count is None or _POOL.limit <= 0
            or torch.compiler.is_compiling()):  # (a traced graph gets plain tensors)
        return torch.empty(shape, dtype=dtype, device=device)
    t = _POOL.take(shape, dtype, nbytes)
    return torch.empty(shape, dtype=dtype, device=device) if t is None else t


def empty_cache() -> None:
    """Give every free block back to ``malloc`` (blocks still in use stay until then)."""
    with _POOL.lock:
        _POOL.drop_free()


def cached_bytes() -> int:
    """Bytes of all blocks this module holds, in use or free."""
    with _POOL.lock:
        return _POOL.total()


def limit_bytes() -> int:
    """The most bytes this module keeps (``0``: reuse off)."""
    return _POOL.limit


def set_limit_bytes(n: int) -> None:
    """Set the limit (``0`` turns reuse off); free blocks beyond it are dropped now."""
    if n < 0:
        raise ValueError(f"workspace limit must be >= 0 bytes, got {n}")
    with _POOL.lock:
        _POOL.limit = int(n)
        _POOL.drop_free(0)
