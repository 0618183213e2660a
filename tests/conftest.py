"""Shared fixtures: where the real data lives (``../shared/data``), skipped cleanly when absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def shared_data_root() -> Path | None:
    """``$PIPESDFA_SHARED_DATA`` or ``<repo>/../shared/data``, if it exists."""
    env = os.environ.get("PIPESDFA_SHARED_DATA")
    root = Path(env) if env else REPO.parent / "shared" / "data"
    return root if root.is_dir() else None


@pytest.fixture
def shared_data() -> Path:
    root = shared_data_root()
    if root is None:
        pytest.skip("real data (../shared/data) not present")
    return root
