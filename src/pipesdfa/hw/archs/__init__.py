"""Accelerators as plug-ins: each is one module with an :class:`Architecture`, registered here.

``ARCHS`` maps a name (``pipesdfa simulate --arch NAME``) to its architecture; the first is the
baseline the reports divide by. A third accelerator is one new module and one line below.
"""

from __future__ import annotations

from pipesdfa.util.errors import UserError
from pipesdfa.hw.archs.base import Architecture
from pipesdfa.hw.archs.pipelayer import PipeLayer
from pipesdfa.hw.archs.pipesdfa import PipeSDFA

__all__ = ["Architecture", "ARCHS", "ARCH_NAMES", "get_arch", "BASELINE", "PROPOSAL"]

ARCHS: dict[str, Architecture] = {a.name: a for a in (PipeLayer(), PipeSDFA())}
ARCH_NAMES: tuple[str, ...] = tuple(ARCHS)
BASELINE, PROPOSAL = "pipelayer", "pipesdfa"


def get_arch(name: str) -> Architecture:
    try:
        return ARCHS[name]
    except KeyError:
        raise UserError(f"unknown architecture {name!r}; expected one of: {', '.join(ARCHS)}") from None
