"""Names a user types (workload, dataset, method, preset, config key): one error style with a
"did you mean" hint, for the library and for argparse.

``unknown_name("workload", "digts-mlp", WORKLOADS)`` is the :class:`UserError`::

    unknown workload 'digts-mlp' (did you mean 'digits-mlp'?); expected one of: ...

The hint is the closest name by :func:`difflib.get_close_matches` (ratio >= 0.6), the same
rule the hardware configuration uses for its presets (``pipesdfa.hw.config``).
"""

from __future__ import annotations

import argparse
import difflib
from typing import Callable, Iterable

from pipesdfa.util.errors import UserError

__all__ = ["did_you_mean", "unknown_name", "check_name", "choice"]


def did_you_mean(name: str, options: Iterable[str]) -> str:
    """``" (did you mean 'x'?)"`` for the closest of ``options``, or ``""``."""
    close = difflib.get_close_matches(str(name), [str(o) for o in options], n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def unknown_name(kind: str, name: str, options: Iterable[str]) -> UserError:
    """The error for a ``kind`` (e.g. "dataset") called ``name`` that is not among ``options``."""
    options = list(options)
    return UserError(f"unknown {kind} {name!r}{did_you_mean(name, options)}; expected one of: {', '.join(options)}")


def check_name(kind: str, name: str, options: Iterable[str]) -> str:
    """``name`` if it is one of ``options``, else :func:`unknown_name` raised."""
    options = list(options)
    if name not in options:
        raise unknown_name(kind, name, options)
    return name


def choice(kind: str, options: Iterable[str]) -> Callable[[str], str]:
    """An argparse ``type=`` that accepts one of ``options`` and answers a typo with a hint
    (argparse's own ``choices`` only lists them)."""
    options = list(options)

    def parse(text: str) -> str:
        if text not in options:
            raise argparse.ArgumentTypeError(str(unknown_name(kind, text, options)))
        return text

    parse.__name__ = kind  # argparse names the type in some messages
    return parse
