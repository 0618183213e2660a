"""The package's shape: folders in layers (each imports only from folders below it), module sizes,
what learning/ may import, no import circles."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PKG = SRC / "pipesdfa"
#: The package's folders from the ground up: a module may import its own folder and folders on a
#: lower floor, never one on its own floor or above (README, "Architecture").
FLOORS: dict[str, int] = {
    "util": 0,
    "snn": 1, "data": 1,
    "zoo": 2, "learning": 2,
    "hw": 3, "interop": 3,
    "analog": 4,
    "training": 5,
    "studies": 6,
    "cli": 7,
}


def module_name(path: Path) -> str:
    rel = path.relative_to(SRC).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in PKG.rglob("*.py")}


def imports_of(path: Path) -> set[str]:
    """Every pipesdfa module ``path`` imports, at module level or inside functions."""
    name = module_name(path)
    pkg = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(pkg.split(".")[: len(pkg.split(".")) - node.level + 1] + ([base] if base else []))
            for a in node.names:  # "from pkg import submodule" imports the submodule, not the package body
                out.add(f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base)
    return {m for m in out if m.startswith("pipesdfa")}


def test_no_module_over_400_lines():
    long = {str(p.relative_to(SRC)): n for p in PKG.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > 400}
    assert not long, long


def test_learning_imports_no_models_analog_or_hw():
    bad = {}
    for name, path in MODULES.items():
        if name.startswith("pipesdfa.learning"):
            hits = {m for m in imports_of(path)
                    if m.split(".")[1] in ("zoo", "analog", "hw", "training", "data", "studies", "cli")}
            if hits:
                bad[name] = sorted(hits)
    assert not bad, bad
    code = ("import sys, pipesdfa.learning as l; l.SDFA; "
            "print(sorted(m for m in sys.modules if m.split('.')[:2] in (['pipesdfa', 'zoo'], "
            "['pipesdfa', 'analog'], ['pipesdfa', 'hw'], ['pipesdfa', 'data'])))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", out


def _cycles(names: set[str]) -> list[list[str]]:
    graph = {n: {m for m in imports_of(MODULES[n]) if m in names and m != n} for n in names}
    cycles, state = [], {}

    def visit(n, stack):
        state[n] = 1
        stack.append(n)
        for m in sorted(graph[n]):
            if state.get(m) == 1:
                cycles.append(stack[stack.index(m):] + [m])
            elif m not in state:
                visit(m, stack)
        stack.pop()
        state[n] = 2

    for n in sorted(names):
        if n not in state:
            visit(n, [])
    return cycles


def test_no_import_circles_in_data_or_between_neurons_and_kernels():
    data = {n for n in MODULES if n.startswith("pipesdfa.data")}
    assert not _cycles(data), _cycles(data)
    core = {n for n in MODULES if n.startswith("pipesdfa.snn.kernels")} | {"pipesdfa.snn.neurons", "pipesdfa.snn.dynamics",
                                                                      "pipesdfa.snn.surrogates"}
    assert not _cycles(core), _cycles(core)


def test_the_cycle_finder_finds_one(tmp_path, monkeypatch):
    """The check above can fail: two modules importing each other are reported."""
    a, b = tmp_path / "a.py", tmp_path / "b.py"
    a.write_text("import pipesdfa.data.b\n")
    b.write_text("from pipesdfa.data import a\n")
    monkeypatch.setitem(MODULES, "pipesdfa.data.a", a)
    monkeypatch.setitem(MODULES, "pipesdfa.data.b", b)
    monkeypatch.setattr(sys.modules[__name__], "module_name",
                        lambda p: {a: "pipesdfa.data.a", b: "pipesdfa.data.b"}.get(p) or module_name(p))
    assert _cycles({"pipesdfa.data.a", "pipesdfa.data.b"})


def folder_of(name: str) -> str | None:
    parts = name.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in FLOORS) else None


def test_every_module_lives_in_a_layer_folder():
    """No flat modules beside the folders: only the package's face and ``__main__`` sit at the top."""
    flat = sorted(p.name for p in PKG.glob("*.py") if p.name not in ("__init__.py", "__main__.py"))
    assert not flat, flat
    folders = sorted(p.name for p in PKG.iterdir() if p.is_dir() and p.name != "__pycache__")
    assert folders == sorted(FLOORS), folders


def back_up_imports(modules: dict[str, Path]) -> dict[str, list[str]]:
    bad = {}
    for name, path in modules.items():
        here = folder_of(name)
        if here is None:
            continue
        hits = sorted(m for m in imports_of(path)
                      if (there := folder_of(m)) is not None and there != here and FLOORS[there] >= FLOORS[here])
        if hits:
            bad[name] = hits
    return bad


def test_no_import_from_a_folder_on_the_same_floor_or_above():
    assert not back_up_imports(MODULES), back_up_imports(MODULES)


def test_the_layer_check_finds_an_import_back_up(tmp_path, monkeypatch):
    """The check above can fail: a util module importing the trainer is reported."""
    bad = tmp_path / "bad.py"
    bad.write_text("from pipesdfa.training.loop import train\n")
    monkeypatch.setattr(sys.modules[__name__], "module_name",
                        lambda p: "pipesdfa.util.bad" if p == bad else module_name(p))
    assert back_up_imports({"pipesdfa.util.bad": bad}) == {"pipesdfa.util.bad": ["pipesdfa.training.loop"]}


def test_no_import_cycle_anywhere():
    names = set(MODULES)
    assert not _cycles(names), _cycles(names)


def test_train_is_the_function():
    import pipesdfa
    from pipesdfa.training.loop import train

    assert pipesdfa.train is train and pipesdfa.fit is train


RULE_NAME_COMPARISON = __import__("re").compile(
    r"\b(method|rule)\s*[=!]=\s*[\"']|[=!]=\s*[\"'](sdfa|bptt|output)[\"']|[\"'](sdfa|bptt|output)[\"']\s*[=!]=")


def rule_name_comparisons(modules: dict[str, Path]) -> list[str]:
    """``file:line`` of every comparison with a rule's name outside learning/ and cli/."""
    hits = []
    for name, path in modules.items():
        if folder_of(name) in ("learning", "cli"):
            continue
        for i, line in enumerate(path.read_text().splitlines(), 1):
            if RULE_NAME_COMPARISON.search(line):
                hits.append(f"{path.relative_to(SRC)}:{i}")
    return hits


def test_only_learning_and_cli_know_rules_by_name():
    """The loop, the studies and the rest ask a rule (or learning/'s predicates), never its name."""
    assert not rule_name_comparisons(MODULES), rule_name_comparisons(MODULES)


def test_the_rule_name_check_finds_one(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text('if cfg.rule.method == "sdfa":\n    pass\n')
    good = tmp_path / "good.py"
    good.write_text('if takes_option(cfg.rule.method, "distribution"):\n    pass\n')
    assert RULE_NAME_COMPARISON.search(bad.read_text()) and not RULE_NAME_COMPARISON.search(good.read_text())
