"""Every result under docs/results is declared in docs/results/provenance.json and is current:
it records the commit and the exact command that made it, and no dependency changed after that
commit. Skips cleanly outside a git checkout; a result the manifest marks stale is an expected
failure that names the reason (so it cannot pass silently).

A change to a dependency that cannot alter a result (a default the result's runs all override)
may be declared in the result's ``unaffected_by``: ``{"commit", "why", "evidence"}``, the
evidence being a test (``tests/FILE.py::NAME``) that fails if the claim stops being true. Such
a commit is skipped when finding the last change; every other change still makes it stale."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "results"
MANIFEST = RESULTS / "provenance.json"


def git(repo: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=30)


def in_git_checkout(repo: Path) -> bool:
    return shutil.which("git") is not None and git(repo, "rev-parse", "--is-inside-work-tree").stdout.strip() == "true"


def freshness(repo: Path, commit: str, depends: list[str], unaffected: list[str] = ()) -> str | None:
    """``None`` when ``commit`` is in ``repo`` and contains the last change to every path of
    ``depends`` (the commits of ``unaffected`` aside); else why not."""
    if not commit or commit.endswith(("-dirty", "+dirty")):
        return f"recorded commit {commit!r} is not a clean commit"
    full = git(repo, "rev-parse", "--verify", "--quiet", f"{commit}^{{commit}}")
    if full.returncode != 0:
        return f"recorded commit {commit} is not in this repository"
    skip = set()
    for u in unaffected:
        h = git(repo, "rev-parse", "--verify", "--quiet", f"{u}^{{commit}}")
        if h.returncode != 0:
            return f"unaffected_by names commit {u}, which is not in this repository"
        skip.add(h.stdout.strip())
    changes = git(repo, "log", "--format=%H", "--", *depends).stdout.split()
    last = next((h for h in changes if h not in skip), "")
    if last and git(repo, "merge-base", "--is-ancestor", last, full.stdout.strip()).returncode != 0:
        return f"recorded commit {commit} is older than {last[:10]}, the last change to {', '.join(depends)}"
    return None


def check_unaffected(name: str, entries: list[dict]) -> None:
    """Every ``unaffected_by`` entry names a commit, says why, and points at a test that exists."""
    for e in entries:
        assert set(e) == {"commit", "why", "evidence"} and e["why"].strip(), f"{name}: unaffected_by entry {e}"
        path, _, test = e["evidence"].partition("::")
        f = ROOT / path
        assert f.is_file() and f"def {test}(" in f.read_text(encoding="utf-8"), \
            f"{name}: unaffected_by evidence {e['evidence']!r} is not a test in this repository"


def _manifest() -> dict:
    return json.loads(MANIFEST.read_text(encoding="utf-8"))["results"]


def test_every_result_is_declared():
    declared = set(_manifest())
    found = {p.relative_to(RESULTS).as_posix() for p in RESULTS.rglob("*.json") if p != MANIFEST}
    assert not found - declared, f"results missing from {MANIFEST.name}: {sorted(found - declared)}"
    assert not declared - found, f"{MANIFEST.name} declares results that do not exist: {sorted(declared - found)}"
    for name, entry in _manifest().items():
        assert entry["depends"] and all((ROOT / d).exists() for d in entry["depends"]), name


@pytest.mark.parametrize("name", sorted(_manifest()))
def test_result_is_current(name):
    entry = _manifest()[name]
    if "stale" in entry:
        pytest.xfail(f"STALE {name}: {entry['stale']}")
    doc = json.loads((RESULTS / name).read_text(encoding="utf-8"))
    doc = {**doc.get("provenance", {}), **doc}  # the explore files keep theirs in a block of their own
    assert doc.get("command"), f"{name} records no command"
    assert doc.get("commit"), f"{name} records no commit"
    if not in_git_checkout(ROOT):
        pytest.skip("not in a git checkout")
    if git(ROOT, "rev-parse", "--is-shallow-repository").stdout.strip() == "true":
        pytest.skip("shallow clone: history too short to compare commits")
    check_unaffected(name, entry.get("unaffected_by", []))
    why = freshness(ROOT, doc["commit"], entry["depends"], [e["commit"] for e in entry.get("unaffected_by", [])])
    assert why is None, f"{name}: {why}"


def test_freshness_check_on_a_scratch_repository(tmp_path):
    if shutil.which("git") is None:
        pytest.skip("git not installed")
    repo = tmp_path / "r"
    repo.mkdir()
    env = ["-c", "user.name=t", "-c", "user.email=t@t"]
    git(repo, "init", "-q")
    (repo / "code").mkdir()
    (repo / "code" / "a.py").write_text("1\n")
    (repo / "other.txt").write_text("x\n")
    git(repo, "add", ".")
    git(repo, *env, "commit", "-qm", "one")
    first = git(repo, "rev-parse", "HEAD").stdout.strip()
    assert freshness(repo, first, ["code"]) is None
    (repo / "other.txt").write_text("y\n")
    git(repo, *env, "commit", "-qam", "two")
    assert freshness(repo, first, ["code"]) is None  # an unrelated change keeps it current
    (repo / "code" / "a.py").write_text("2\n")
    git(repo, *env, "commit", "-qam", "three")
    assert "is older than" in freshness(repo, first, ["code"])
    third = git(repo, "rev-parse", "HEAD").stdout.strip()
    assert freshness(repo, first, ["code"], [third[:8]]) is None  # declared not to affect it
    (repo / "code" / "a.py").write_text("3\n")
    git(repo, *env, "commit", "-qam", "four")
    assert "is older than" in freshness(repo, first, ["code"], [third])  # a later change still counts
    assert "not in this repository" in freshness(repo, first, ["code"], ["f" * 40])
    assert "not in this repository" in freshness(repo, "0" * 40, ["code"])
    assert "not a clean commit" in freshness(repo, first[:7] + "-dirty", ["code"])


def test_unaffected_by_needs_a_reason_and_a_test_that_exists():
    ok = {"commit": "abc", "why": "a default every run overrides",
          "evidence": "tests/test_results_provenance.py::test_unaffected_by_needs_a_reason_and_a_test_that_exists"}
    check_unaffected("r", [ok])
    for bad in ({**ok, "why": " "}, {**ok, "evidence": "tests/test_results_provenance.py::no_such_test"},
                {k: v for k, v in ok.items() if k != "evidence"}):
        with pytest.raises(AssertionError):
            check_unaffected("r", [bad])


def test_code_commit_is_head_and_dirty_only_for_code(tmp_path):
    """``pipesdfa.util.git.code_commit`` (every study's and benchmark's recorded commit), run from a
    copy of the module inside a scratch checkout: ``HEAD``, abbreviated on request; ``+dirty`` for
    an uncommitted change to tracked code anywhere in the checkout, not for results a command
    rewrites (docs/results, benchmarks/results) nor for untracked files."""
    import importlib.util

    if not shutil.which("git"):
        pytest.skip("no git")
    repo = tmp_path / "repo"
    pkg = repo / "src" / "pkg"
    pkg.mkdir(parents=True)
    shutil.copy(ROOT / "src" / "pipesdfa" / "util" / "git.py", pkg / "git.py")
    for f in ("docs/results/r.json", "benchmarks/results/b.json", "other/code.py"):
        (repo / f).parent.mkdir(parents=True, exist_ok=True)
        (repo / f).write_text("1\n")
    env = ["-c", "user.name=t", "-c", "user.email=t@t"]
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, *env, "commit", "-qm", "one")
    spec = importlib.util.spec_from_file_location("scratch_git", pkg / "git.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    head = git(repo, "rev-parse", "HEAD").stdout.strip()
    assert mod.code_commit() == head and mod.code_commit(7) == head[:7]
    (repo / "docs/results/r.json").write_text("2\n")
    (repo / "benchmarks/results/b.json").write_text("2\n")
    (repo / "new.py").write_text("untracked\n")
    assert mod.code_commit(10) == head[:10]  # results and untracked files are not code
    (repo / "other/code.py").write_text("2\n")  # outside the module's own folder: still the code
    assert mod.code_commit(10) == head[:10] + "+dirty"
