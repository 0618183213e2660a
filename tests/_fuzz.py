"""Fuzzing helpers: every fuzz test runs bounded in ``make test`` and longer in ``make test-slow``.

``@fuzz(strategy, ...)`` turns ``check(example, ...)`` into two tests: ``test_<name>`` with
:data:`FAST` examples and ``test_<name>_long`` (marked slow) with :data:`LONG` examples.
Both are derandomised unless ``PIPESDFA_FUZZ_RANDOM=1``.
:func:`mutated` draws a mutation of a valid byte string: a truncation, byte replacements,
inserted garbage, or random bytes altogether.
"""

from __future__ import annotations

import os
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

FAST = int(os.environ.get("PIPESDFA_FUZZ_FAST", "40"))
LONG = int(os.environ.get("PIPESDFA_FUZZ_LONG", "1500"))
#: Both variants draw the same examples every run (CI stays reproducible); set
#: ``PIPESDFA_FUZZ_RANDOM=1`` to explore fresh examples (pytest's ``--hypothesis-seed`` then picks them).
RANDOM = os.environ.get("PIPESDFA_FUZZ_RANDOM", "") not in ("", "0")


@st.composite
def mutated(draw, valid: bytes) -> bytes:
    kind = draw(st.sampled_from(["truncate", "flip", "insert", "random", "flip+truncate"]))
    data = bytearray(valid)
    if kind == "random":
        return draw(st.binary(max_size=2 * len(valid) + 16))
    if "flip" in kind and data:
        for _ in range(draw(st.integers(1, 8))):
            i = draw(st.integers(0, len(data) - 1))
            data[i] = draw(st.integers(0, 255))
    if kind == "insert":
        i = draw(st.integers(0, len(data)))
        data[i:i] = draw(st.binary(min_size=1, max_size=32))
    if "truncate" in kind:
        data = data[:draw(st.integers(0, max(0, len(data) - 1)))]
    return bytes(data)


def fuzz(strategy):
    """Register a fast and a long (slow-marked) hypothesis test for ``check(example)``."""

    def deco(check):
        mod = sys.modules[check.__module__]
        name = check.__name__.removeprefix("check_")
        for suffix, n, marks in (("", FAST, []), ("_long", LONG, [pytest.mark.slow])):
            test = settings(max_examples=n, deadline=None, derandomize=not RANDOM,
                            suppress_health_check=list(HealthCheck))(given(strategy)(check))
            for m in marks:
                test = m(test)
            test.__name__ = f"test_{name}{suffix}"
            setattr(mod, test.__name__, test)
        return check

    return deco
