"""The commit of the code a result was made with: one answer for every study and benchmark."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Sequence

__all__ = ["code_commit", "run_commits", "RESULT_DIRS"]

#: Folders of results, not code: a command rewrites them as it runs (and benchmarks running side
#: by side rewrite each other's), so changes there do not make the code's commit dirty.
RESULT_DIRS = ("docs/results", "benchmarks/results")


def code_commit(length: int | None = None) -> str | None:
    """``HEAD`` of the checkout this package runs from (its first ``length`` hex digits; all 40 by
    default), with ``+dirty`` when a tracked file outside :data:`RESULT_DIRS` has uncommitted
    changes anywhere in the checkout; ``None`` outside a git checkout or without git."""
    here = Path(__file__).resolve().parent
    args = ["git", "rev-parse", "HEAD"] if length is None else ["git", "rev-parse", f"--short={length}", "HEAD"]
    try:
        head = subprocess.run(args, cwd=here, capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ":(top)",
                                *(f":(top,exclude){d}" for d in RESULT_DIRS)], cwd=here,
                               capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    if head.returncode != 0 or not head.stdout.strip():
        return None
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def run_commits(labels: Sequence[str | None], commit: str | None, what: str = "runs") -> list[str]:
    """The distinct commits (``str``; ``"None"`` for a run that recorded none) that trained a
    study's runs, given each run's recorded ``runtime.commit``; warns on stderr when any differs
    from ``commit``, the code assembling the study (a reused run folder of other code)."""
    labels = list(labels)
    distinct = sorted({str(c) for c in labels})
    other = sum(c != commit for c in labels)
    if other:
        print(f"warning: {other} of {len(labels)} {what} were trained by other code than {commit} (run commits: "
              f"{', '.join(distinct)}; reused run folders): rerun into an empty --out for a result of one commit",
              file=sys.stderr)
    return distinct
