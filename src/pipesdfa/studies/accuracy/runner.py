"""Run the accuracy table: every :class:`~pipesdfa.studies.accuracy.plan.RunSpec` in turn, one process.

Each run trains in ``DIR/runs/<folder>`` with :func:`pipesdfa.training.loop.train` (its own
``metrics.json``, ``learning_curve.png`` and, while it runs, ``checkpoint.pt``). After every
run ``DIR/accuracy.json`` is rewritten (atomically), so an interrupted table keeps what it
measured; at the end ``DIR/accuracy.md`` and the learning-curve plots are written.

* A run folder whose ``metrics.json`` holds the same configuration (its ``out`` and
  ``data_dir`` aside) is reused, not retrained; one with only a matching ``checkpoint.pt``
  is resumed from it (bit-identical to an uninterrupted run). ``fresh=True`` retrains all.
* A run that fails (missing data, divergence, any exception) becomes a row with
  ``final_acc = None`` and its ``error``; the other runs go on. A workload whose data cannot
  be loaded fails all its runs at once, with the loader's message.
* The checkpoint of a finished run is deleted unless ``keep_checkpoints``.
"""

from __future__ import annotations

import json
import platform
import re
import time
import traceback
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from pipesdfa.studies.accuracy.plan import RunSpec
from pipesdfa.studies.accuracy.plots import plot_curves
from pipesdfa.studies.accuracy.report import document
from pipesdfa.util.atomic import atomic_write_json, atomic_write_text, ensure_writable_dir
from pipesdfa.training.config import flat_view
from pipesdfa.training.configfile import resolved_config
from pipesdfa.data.registry import load_dataset
from pipesdfa.util.errors import UserError
from pipesdfa.util.git import code_commit, run_commits
from pipesdfa.training.loop import CHECKPOINT, METRICS, TrainConfig, load_checkpoint, train
from pipesdfa.zoo.workloads import get_workload
from pipesdfa.learning import takes_option

__all__ = ["run_table", "row_from_metrics", "workload_meta"]

#: Config fields that may differ between a stored run and the planned one (where it ran, and
#: what the run resolved at run time: threads, backend, device, split sizes).
_IGNORED = ("out", "data_dir", "threads", "backend", "device", "max_train", "max_test")


def _same_config(stored: dict[str, Any], planned: TrainConfig) -> bool:
    """Whether a stored run (its resolved ``config``) is the planned one: both resolved
    (:func:`pipesdfa.training.configfile.resolved_config`), every planned key equal but the ignored ones."""
    want = flat_view(resolved_config(planned))
    if not isinstance(stored.get("data"), dict) or "val_fraction" not in stored["data"]:
        return False  # a run from before the validation split
    try:
        have = flat_view(resolved_config(TrainConfig.from_dict(stored)))
    except (UserError, TypeError):
        return False
    return all(have.get(k) == v for k, v in want.items() if k not in _IGNORED)


_TEST_ACC = re.compile(r"test loss \S+ acc (\S+)")


def row_from_metrics(spec: RunSpec, m: dict[str, Any], folder: str, reused: bool) -> dict[str, Any]:
    """One ``accuracy.json`` row (accuracies as fractions) from a run's ``metrics.json``."""
    fin = m["final"]
    return {"workload": spec.workload, "method": spec.method.method,
            "variant": spec.method.variant if takes_option(spec.method.method, "variant") else None,
            "seed": spec.seed, "final_acc": fin["test_acc"], "best_acc": fin["best_test_acc"],
            "best_epoch": fin["best_epoch"], "epochs": spec.epochs, "batch": spec.batch, "lr": spec.lr,
            "init_gain": spec.init_gain, "seconds": fin["seconds"], "train_acc": fin["train_acc"],
            "curve": [h["test_acc"] for h in m["epochs"]], "val_curve": [h.get("val_acc") for h in m["epochs"]],
            "selected_acc": fin.get("selected_test_acc"), "selected_epoch": fin.get("selected_epoch"),
            "selected_val_acc": fin.get("selected_val_acc"), "test_correct": fin.get("test_correct"),
            "selected_test_correct": fin.get("selected_test_correct"),
            "split": {"train": m["dataset"]["train"], "val": m["dataset"].get("val", 0), "test": m["dataset"]["test"]},
            "run": folder, "reused": reused, "error": None,
            "run_commit": (m.get("runtime") or {}).get("commit")}  # the code that trained it


def _failed_row(spec: RunSpec, folder: str, error: str) -> dict[str, Any]:
    return {"workload": spec.workload, "method": spec.method.method,
            "variant": spec.method.variant if takes_option(spec.method.method, "variant") else None,
            "seed": spec.seed, "final_acc": None, "best_acc": None, "best_epoch": None, "epochs": spec.epochs,
            "batch": spec.batch, "lr": spec.lr, "init_gain": spec.init_gain, "seconds": None, "train_acc": None,
            "curve": [], "selected_acc": None, "selected_epoch": None, "run": folder,
            "reused": False, "error": error}


def workload_meta(name: str, dataset: dict[str, Any] | None = None) -> dict[str, Any]:
    """What the table shows about a workload: the paper's numbers and budget, and the data."""
    w = get_workload(name)
    data = "-"
    if dataset:
        data = f"{dataset['name']}, {dataset['train']:,} train / {dataset['test']:,} test"
    return {"dataset": w.dataset, "data": data, "T": w.T, "paper_epochs": w.epochs, "paper_batch": w.batch,
            "paper_lr": w.lr, "init_gain": w.init_gain, "paper_bp_acc": w.paper_bp_acc,
            "paper_sdfa_acc": w.paper_sdfa_acc}


def _check_data(spec: RunSpec, data_dir: str | None) -> str | None:
    """``None`` when the workload's data loads (two samples), else the loader's message."""
    cfg = spec.config(data_dir, "unused")
    try:
        load_dataset(cfg.data.dataset, T=cfg.data.T, data_dir=cfg.data.dir, seed=0, max_train=1, max_test=1,
                     **cfg.data.options)
    except UserError as exc:
        return str(exc)
    return None


def _one(spec: RunSpec, run_dir: Path, data_dir: str | None, fresh: bool, keep_checkpoints: bool,
         log: Callable[[str], None] | None, threads: int | str = "auto") -> tuple[dict[str, Any], bool]:
    """Train (or reuse, or resume) one run; returns its metrics and whether it was reused."""
    cfg = spec.config(data_dir, str(run_dir), threads)
    metrics_path, ckpt = run_dir / METRICS, run_dir / CHECKPOINT
    if not fresh and metrics_path.is_file():
        try:
            m = json.loads(metrics_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            m = None
        if m and _same_config(m.get("config", {}), cfg) and len(m.get("epochs", [])) == spec.epochs:
            return m, True
    resume = None
    if not fresh and ckpt.is_file():
        try:
            state = load_checkpoint(ckpt)
            if _same_config(state["config"], cfg):
                resume = ckpt
        except UserError:
            pass
    m = train(None if resume else cfg, resume=resume, progress=False, log=log)
    if not keep_checkpoints and ckpt.is_file():
        ckpt.unlink()
    return m, False


def run_table(specs: Sequence[RunSpec], out: str | Path, *, data_dir: str | None = None, command: str = "",
              fresh: bool = False, keep_checkpoints: bool = False, progress: bool = True,
              echo: Callable[..., None] | None = print, threads: int | str = "auto") -> dict[str, Any]:
    """Run every spec (``threads``: every run's thread policy, :mod:`pipesdfa.util.threads`); write
    ``accuracy.json`` (after each run), ``accuracy.md`` and the plots."""
    from tqdm.auto import tqdm

    out = ensure_writable_dir(out)
    runs_root = out / "runs"
    doc: dict[str, Any] = {
        "command": command,
        "machine": {"python": platform.python_version(), "torch": torch.__version__,
                    "processor": platform.processor() or platform.machine(), "threads": torch.get_num_threads()},
        "data_dir": data_dir,
        "commit": code_commit(7),
        "workloads": {},
        "rows": [],
        "wall_seconds": 0.0,
    }
    t_start = time.perf_counter()
    bad_data: dict[str, str | None] = {}
    bar = tqdm(total=sum(s.epochs for s in specs), desc="reproduce accuracy", unit="epoch", disable=not progress)
    say = (lambda s: bar.write(s)) if progress else (lambda s: echo(s, flush=True)) if echo else (lambda s: None)
    try:
        for i, spec in enumerate(specs):
            folder = spec.folder()
            run_dir = runs_root / folder
            doc["workloads"].setdefault(spec.workload, workload_meta(spec.workload))
            if spec.workload not in bad_data:
                bad_data[spec.workload] = _check_data(spec, data_dir)
            where = f"[{i + 1}/{len(specs)}] {spec.workload} {spec.method.label} seed {spec.seed}"
            bar.set_postfix_str(where)
            error = bad_data[spec.workload]
            done = [0]  # epochs of this run counted on the bar
            if error is None:
                def log(line: str, _where=where, _done=done) -> None:
                    bar.update(1)
                    _done[0] += 1
                    words, acc = line.split(), _TEST_ACC.search(line)
                    bar.set_postfix_str(f"{_where}: {' '.join(words[:2])} test acc {acc.group(1) if acc else '?'}")

                try:
                    m, reused = _one(spec, run_dir, data_dir, fresh, keep_checkpoints, log, threads)
                    row = row_from_metrics(spec, m, folder, reused)
                    if doc["workloads"][spec.workload]["data"] == "-":
                        doc["workloads"][spec.workload] = workload_meta(spec.workload, m.get("dataset"))
                    bar.update(spec.epochs - done[0])  # reused or resumed epochs
                    sel = "-" if row["selected_acc"] is None else f"{100 * row['selected_acc']:.2f} %"
                    say(f"{where}: final {100 * row['final_acc']:.2f} %, at the validation-chosen epoch "
                        f"{row['selected_epoch']} {sel}, {row['seconds']:.0f} s{' (reused)' if reused else ''}")
                except KeyboardInterrupt:
                    raise
                except Exception as exc:  # noqa: BLE001 -- one failing run must not stop the table
                    error = f"{type(exc).__name__}: {exc}" if not isinstance(exc, UserError) else str(exc)
                    if not isinstance(exc, UserError):
                        traceback.print_exc()
            if error is not None:
                row = _failed_row(spec, folder, error)
                bar.update(spec.epochs - done[0])
                say(f"{where}: FAILED: {error}")
            doc["rows"].append(row)
            doc["wall_seconds"] = time.perf_counter() - t_start
            atomic_write_json(out / "accuracy.json", doc)
    finally:
        bar.close()
    doc["run_commits"] = run_commits([r.get("run_commit") for r in doc["rows"] if r.get("error") is None],
                                     doc["commit"])
    atomic_write_json(out / "accuracy.json", doc)
    atomic_write_text(out / "accuracy.md", document(doc))
    plot_curves(doc["rows"], out)
    return doc
