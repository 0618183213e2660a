"""Write a generated Markdown block into a doc between ``<!-- NAME:start -->`` / ``<!-- NAME:end -->``."""

from __future__ import annotations

from pathlib import Path

from pipesdfa.util.atomic import atomic_write_text


def replace_block(doc: str | Path, name: str, text: str) -> None:
    path = Path(doc)
    src = path.read_text(encoding="utf-8")
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    a, b = src.find(start), src.find(end)
    if a < 0 or b < a:
        raise SystemExit(f"{path}: markers {start} ... {end} not found")
    atomic_write_text(path, src[: a + len(start)] + "\n" + text.rstrip() + "\n" + src[b:])


def publish(text: str, doc: str | Path | None, name: str) -> None:
    """Print ``text`` and, when ``doc`` is given, write it into ``doc``'s block ``name``."""
    print(text)
    if doc:
        replace_block(doc, name, text)

