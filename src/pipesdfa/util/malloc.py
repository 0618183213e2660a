"""The training process's C allocator: keep freed memory instead of returning it to the kernel.

Why: on Linux, PyTorch takes every CPU tensor from glibc's ``malloc``. By default glibc hands
large requests out as fresh ``mmap`` regions (above an adaptive threshold of at most 32 MiB)
and gives the top of its heap back to the kernel whenever more than ``M_TRIM_THRESHOLD``
(adaptive, 2x the mmap threshold) is free there. A training step frees its temporaries at its
end and makes the same ones again in the next step, so each step page-faults them in afresh:
``benchmarks/train_step.py`` measured 9,889 minor faults and 20 ms of kernel time per SDFA step
of nmnist-mlp5 (T=10, B=128, 164 ms in all), 8,494 faults and 11.8 ms per BPTT step.

What: :func:`keep_freed_memory` sets, through ``mallopt``, ``M_MMAP_THRESHOLD`` to glibc's
largest value (32 MiB on 64-bit hosts, so a request below it comes from the heap), and
``M_TRIM_THRESHOLD`` and ``M_TOP_PAD`` high (:data:`TRIM_BYTES`, :data:`TOP_PAD_BYTES`), so freed
heap memory stays mapped and the next step reuses it. The cost: the process keeps its
high-water mark of heap memory until it exits (which a training run reaches every step anyway).
Every rule gets the same setting. The CLI commands that train (``train``, ``finetune``,
``reproduce``, ``demo``) call it at start; ``PIPESDFA_MALLOC=default`` leaves glibc's defaults.
A no-op where glibc is absent (macOS, Windows, musl).
"""

from __future__ import annotations

import ctypes
import os
import sys

from pipesdfa.util.errors import UserError

__all__ = ["keep_freed_memory", "MMAP_THRESHOLD_BYTES", "TRIM_BYTES", "TOP_PAD_BYTES", "mode"]

#: glibc's ``DEFAULT_MMAP_THRESHOLD_MAX`` on 64-bit hosts (``4 MiB * sizeof(long)``).
MMAP_THRESHOLD_BYTES = 32 * 2**20
#: Free heap memory kept before any is given back to the kernel.
TRIM_BYTES = 2**30
#: Extra heap memory requested with every heap growth.
TOP_PAD_BYTES = 256 * 2**20

_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3  # malloc.h
_applied = False


def mode() -> str:
    """``keep`` (the default) or ``default`` (glibc's own behaviour), from ``PIPESDFA_MALLOC``."""
    raw = os.environ.get("PIPESDFA_MALLOC", "keep")
    if raw not in ("keep", "default"):
        raise UserError(f"environment variable PIPESDFA_MALLOC={raw!r}: expected keep (freed memory stays "
                        "mapped, the default) or default (glibc's own thresholds)")
    return raw


def keep_freed_memory(force: bool = False) -> bool:
    """Apply the settings of the module docstring to this process (once); returns whether
    they are in effect. ``force``: apply even when ``PIPESDFA_MALLOC=default``."""
    global _applied
    if _applied:
        return True
    if not force and mode() == "default":
        return False
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    ok = all(mallopt(opt, value) == 1 for opt, value in ((_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES),
                                                         (_M_TRIM_THRESHOLD, TRIM_BYTES),
                                                         (_M_TOP_PAD, TOP_PAD_BYTES)))
    _applied = ok
    return ok
