"""docs/cli.md names every subcommand and flag the parser has; README.md stays a newcomer's page
(<= 250 lines) linking the docs pages, its tables rendered, its architecture paragraph floor by floor."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from pipesdfa.cli.main import build_parser

REPO = Path(__file__).resolve().parents[1]


def _synopsis() -> list[str]:
    text = (REPO / "docs" / "cli.md").read_text()
    block = re.search(r"## Synopsis\n\n```\n(.*?)^```", text, flags=re.S | re.M)
    assert block, "docs/cli.md has no ## Synopsis code block"
    return block.group(1).splitlines()


def _entries(lines: list[str]) -> dict[str, str]:
    """'pipesdfa CMD [SUB]' -> the text of its synopsis entry (its first line and the indented rest)."""
    out: dict[str, str] = {}
    key = None
    for line in lines:
        if line.startswith("pipesdfa "):
            words = line.split()
            key = " ".join(words[:3] if words[1] in ("data", "reproduce") else words[:2])
            out[key] = out.get(key, "") + line + "\n"
        elif key is not None:
            out[key] += line + "\n"
    return out


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:  # noqa: SLF001 -- argparse keeps its subparsers here
        if isinstance(action, argparse._SubParsersAction):  # noqa: SLF001
            return dict(action.choices)
    return {}


def _flags(parser: argparse.ArgumentParser) -> set[str]:
    return {s for a in parser._actions for s in a.option_strings  # noqa: SLF001
            if s.startswith("--") and s != "--help"}


def test_cli_md_synopsis_names_every_subcommand_and_flag():
    entries = _entries(_synopsis())
    missing = []
    for name, sub in _subparsers(build_parser()).items():
        nested = _subparsers(sub)
        if name == "reproduce":  # one parser for every subject: each flag in some subject's entry
            subjects = next(a.choices for a in sub._actions if not a.option_strings)  # noqa: SLF001
            keys = [f"pipesdfa reproduce {s}" for s in subjects]
            assert all(k in entries for k in keys), [k for k in keys if k not in entries]
            text = "".join(entries[k] for k in keys)
            missing += [f"reproduce {f}" for f in sorted(_flags(sub)) if not re.search(rf"{f}\b", text)]
            continue
        for full, parser in ({f"{name} {n}": p for n, p in nested.items()} if nested else {name: sub}).items():
            text = entries.get(f"pipesdfa {full}")
            assert text is not None, f"docs/cli.md has no synopsis entry for 'pipesdfa {full}'"
            missing += [f"{full} {f}" for f in sorted(_flags(parser)) if not re.search(rf"{f}(?![\w-])", text)]
    assert not missing, f"flags the parser has and docs/cli.md's synopsis lacks: {missing}"


def test_readme_is_short_and_links_to_the_docs_pages():
    text = (REPO / "README.md").read_text()
    assert len(text.splitlines()) <= 250, len(text.splitlines())
    for page in ("cli", "training", "hardware", "accuracy", "personalisation", "performance", "architecture"):
        assert f"](docs/{page}.md" in text, f"README.md does not link docs/{page}.md"


def test_readme_and_docs_tables_are_rendered_from_the_committed_results():
    import importlib.util

    spec = importlib.util.spec_from_file_location("render_readme", REPO / "benchmarks" / "render_readme.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    stale = [p for p in mod.PAGES if mod.render((REPO / p).read_text()) != (REPO / p).read_text()]
    assert not stale, f"run python benchmarks/render_readme.py: {stale} out of date"
    readme = (REPO / "README.md").read_text()
    for name in ("accuracy", "hardware", "peers"):  # the summaries of results the current code produced
        a, b = readme.index(f"<!-- {name}-summary:start -->"), readme.index(f"<!-- {name}-summary:end -->")
        assert "\n| " in readme[a:b], f"README's {name} summary is empty"


def test_architecture_picture_and_paragraph_follow_the_floors():
    import importlib.util

    from test_structure import FLOORS, PKG

    spec = importlib.util.spec_from_file_location("architecture", REPO / "docs" / "architecture.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    folders = {p.name for p in PKG.iterdir() if p.is_dir() and (p / "__init__.py").is_file()}
    assert set(mod.CONTENTS) == set(FLOORS) == folders
    assert (REPO / "docs" / "architecture.png").is_file()
    readme = (REPO / "README.md").read_text()
    para = readme[readme.index("## Architecture"):].split("\n## ")[0]
    where = [para.find(f"`{name}/`") for name in sorted(FLOORS, key=FLOORS.get)]
    assert -1 not in where and where == sorted(where), "README's Architecture paragraph: every folder, floor by floor"
