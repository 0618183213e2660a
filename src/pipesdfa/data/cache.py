"""A disk cache of frames, one ``.npy`` per sample, keyed by every parameter that changes them.

Layout: ``<cache_root>/<dataset>/<key>/params.json`` and ``<key>/<split>/<index>.npy``, where
``key`` is the first 16 hex digits of the SHA-256 of the canonical JSON of the parameters
(dataset, T, slicing, window, spatial factor, grid, encoder threshold, the source files'
names, sizes and modification times, and :data:`CACHE_VERSION`). Changing any of them
(e.g. ``T``) selects another folder, so a stale cache is never reused.

Frames are stored in the smallest exact dtype (uint8, uint16, else float32) and written
atomically (temporary file + rename): a crash leaves no half-written entry, and an entry
that fails to load is recomputed and rewritten.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from pipesdfa.util.atomic import atomic_path, atomic_write_json

__all__ = ["FrameCache", "cache_key", "default_cache_root", "CACHE_VERSION"]

#: Bump when the reader or the framing code changes what a cached entry holds.
CACHE_VERSION = 1


def default_cache_root() -> Path:
    """``$PIPESDFA_CACHE_DIR``, else ``$XDG_CACHE_HOME/pipesdfa/frames``, else ``~/.cache/pipesdfa/frames``."""
    env = os.environ.get("PIPESDFA_CACHE_DIR")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "pipesdfa" / "frames"


def cache_key(params: dict[str, Any]) -> str:
    blob = json.dumps({"cache_version": CACHE_VERSION, **params}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _compact(frames: np.ndarray) -> np.ndarray:
    if frames.size and np.all(frames == np.round(frames)) and frames.min() >= 0:
        top = frames.max()
        if top <= np.iinfo(np.uint8).max:
            return frames.astype(np.uint8)
        if top <= np.iinfo(np.uint16).max:
            return frames.astype(np.uint16)
    if not frames.size:
        return frames.astype(np.uint8)
    return frames.astype(np.float32)


class FrameCache:
    """Per-sample frame files under ``root/<dataset>/<key>/`` (see module docstring)."""

    def __init__(self, root: str | os.PathLike[str], dataset: str, params: dict[str, Any]):
        self.params = {"dataset": dataset, **params}
        self.key = cache_key(self.params)
        self.dir = Path(root) / dataset / self.key
        self._params_written = False

    def path(self, split: str, index: int) -> Path:
        return self.dir / split / f"{index:06d}.npy"

    def get(self, split: str, index: int) -> np.ndarray | None:
        """The cached frames (float32) or ``None`` when absent or unreadable."""
        p = self.path(split, index)
        try:
            return np.load(p, allow_pickle=False).astype(np.float32, copy=False)
        except (OSError, ValueError, EOFError):
            return None

    def put(self, split: str, index: int, frames: np.ndarray) -> None:
        if not self._params_written:
            pfile = self.dir / "params.json"
            if not pfile.exists():
                atomic_write_json(pfile, {"cache_version": CACHE_VERSION, **self.params})
            self._params_written = True
        with atomic_path(self.path(split, index)) as tmp:
            with open(tmp, "wb") as fh:
                np.save(fh, _compact(np.asarray(frames)), allow_pickle=False)

    def __contains__(self, item: tuple[str, int]) -> bool:
        return self.path(*item).is_file()
