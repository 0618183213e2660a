"""Atomic file writes: write to a temporary file in the same folder, then rename.

A reader never sees a half-written file, and a failed write leaves nothing behind (a
process killed mid-write leaves a ``.NAME.*.tmp`` file, which :func:`remove_stale_temps`
clears). Files get the permissions a plain ``open(path, "w")`` would give them
(``0o666 & ~umask``), not ``mkstemp``'s private ``0o600``.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator

from pipesdfa.util.errors import UserError

__all__ = ["atomic_path", "atomic_write_bytes", "atomic_write_text", "atomic_write_json", "ensure_writable_dir",
           "check_writable_dir", "remove_stale_temps", "current_umask"]


def current_umask() -> int:
    """The process's umask (read by setting it and putting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success rename it onto ``path``.

    On any exception the temporary file is removed and the exception propagates.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror or exc}") from None
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if tmp_path.exists():
            os.chmod(tmp_path, 0o666 & ~current_umask())
        os.replace(tmp_path, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp_path.unlink()
        raise


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def atomic_write_with(path: str | os.PathLike[str], writer: Callable[[Path], None]) -> None:
    """Call ``writer(tmp_path)`` and rename the result onto ``path`` (e.g. ``torch.save``, ``savefig``)."""
    with atomic_path(path) as tmp:
        writer(tmp)


def remove_stale_temps(folder: str | os.PathLike[str]) -> list[Path]:
    """Delete the temporary files (``.NAME.*.tmp``) that a killed writer left in ``folder``."""
    gone = []
    for p in Path(folder).glob(".*.tmp"):
        with contextlib.suppress(OSError):
            p.unlink()
            gone.append(p)
    return gone


def check_writable_dir(path: str | os.PathLike[str]) -> Path:
    """Check, creating nothing, that ``path`` is or could be made a writable folder: it is a
    writable folder, or its nearest existing ancestor is one. :class:`UserError` otherwise."""
    path = Path(path)
    probe = path
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        raise UserError(f"cannot create output folder {path}: {probe} is not a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        what = "output folder" if probe == path else f"cannot create output folder {path}: folder"
        raise UserError(f"{what} {probe} is not writable")
    return path


def ensure_writable_dir(path: str | os.PathLike[str]) -> Path:
    """Create ``path`` if needed and check that files can be created in it.

    Raises :class:`UserError` naming the folder when it cannot be created or written.
    """
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create output folder {path}: {exc.strerror or exc}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise UserError(f"output folder {path} is not writable")
    try:
        fd, probe = tempfile.mkstemp(prefix=".probe.", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise UserError(f"output folder {path} is not writable: {exc.strerror or exc}") from None
    return path
