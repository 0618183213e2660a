"""The loop of a benchmark sweep: its command line, the runs a ``--resume`` keeps, and the runs
still to do in parallel worker processes, the result file rewritten after each one."""

from __future__ import annotations

import json
import shlex
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, Sequence


def command_line() -> str:
    """``python benchmarks/NAME.py ARGS``, as this process was started (relative paths kept)."""
    return "python " + " ".join(shlex.quote(a) for a in [Path(sys.argv[0]).as_posix(), *sys.argv[1:]])


def kept_runs(out: Path, resume: bool) -> list[dict[str, Any]]:
    """The ``runs`` of an earlier result file at ``out`` when resuming, else none."""
    return json.loads(out.read_text())["runs"] if resume and out.is_file() else []


def run_all(fn: Callable[..., dict[str, Any]], todo: Sequence[tuple], jobs: int, desc: str,
            runs: list[dict[str, Any]], write: Callable[[], None]) -> None:
    """``fn(*args, tmp)`` for every ``args`` of ``todo`` in ``jobs`` processes (joblib, results in
    the order they finish, a tqdm bar); each record is appended to ``runs`` and ``write()`` called,
    so an interrupted sweep keeps what it measured. ``tmp``: a scratch folder for the run folders."""
    from joblib import Parallel, delayed
    from tqdm import tqdm

    with tempfile.TemporaryDirectory() as tmp:
        results = Parallel(n_jobs=jobs, return_as="generator_unordered")(delayed(fn)(*a, tmp) for a in todo)
        for rec in tqdm(results, total=len(todo), desc=desc, unit="run"):
            runs.append(rec)
            write()
    write()
