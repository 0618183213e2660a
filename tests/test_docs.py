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


def test_docs_cite_docs_paper_md_not_the_absent_paper_md():
    """README, docs and docstrings cite docs/paper.md (PAPER.md is not in the repository).
    Left out: the hardware simulator's files (its owner's), whose generated tables repeat them."""
    assert (REPO / "docs" / "paper.md").is_file() and not (REPO / "PAPER.md").exists()
    files = [REPO / "README.md", *(REPO / "docs").glob("*.md"),
             *(p for p in (REPO / "src" / "pipesdfa").rglob("*.py") if "hw" not in p.parts)]
    bad = [str(p.relative_to(REPO)) for p in files if re.search(r"(?<!docs/)PAPER\.md", p.read_text())]
    assert not bad, bad


def test_readme_links_point_at_files():
    text = (REPO / "README.md").read_text()
    for target in re.findall(r"\]\(((?:docs|benchmarks)/[^)#]+)", text):
        assert (REPO / target).exists(), target
