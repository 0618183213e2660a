"""Every Python code block of README.md and docs/api.md runs as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = ["README.md", "docs/api.md"]


def python_blocks(path: Path) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", path.read_text(), flags=re.S | re.M)


@pytest.mark.parametrize("doc", DOCS)
def test_code_blocks_run(doc, tmp_path, monkeypatch):
    blocks = python_blocks(REPO / doc)
    assert blocks, f"{doc} has no python code block"
    monkeypatch.chdir(tmp_path)  # files the examples write land here
    namespace: dict = {"__name__": "__doc_example__"}
    for i, code in enumerate(blocks):
        try:
            exec(compile(code, f"{doc}[block {i}]", "exec"), namespace)
        except Exception as exc:  # noqa: BLE001 -- name the block that failed
            raise AssertionError(f"{doc}, python block {i} failed: {type(exc).__name__}: {exc}") from exc
