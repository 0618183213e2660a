"""Does SDFA's gap to BPTT on the N-MNIST subset shrink with more training data? (issue 22, item 4)

    python benchmarks/nmnist_size_sweep.py --data-dir PATH/TO/shared/data/nmnist/slayerPytorch_NMNISTsmall
        [--models nmnist-mlp2 nmnist-mlp3] [--sizes 250 500 1000] [--folds 11] [--runs 3]
        [--rules bptt sdfa] [--epochs 50] [--jobs 2] [--resume] [--out benchmarks/results/nmnist_size_sweep.json]

The 1,100 labelled samples of the subset (its 1,000 training and 100 test samples pooled) are cut
into ``--folds`` stratified folds (``data.options: {folds, fold}``,
:func:`pipesdfa.data.splits.kfold_split`); run ``j`` of ``--runs`` tests on fold ``j`` and trains
with seed ``j`` on ``size`` samples of the other folds (``samples_per_class = size / 10``, drawn
with ``subset_seed = j``; the whole remainder for the largest size), of which the trainer's
stratified validation split takes 10 %. Every run is the workload's recipe (``pipesdfa train
--workload W``: T = 10, batch 128, Adam at 1e-2, 50 epochs, cross-entropy on the rates), the
same for both rules; the epoch is chosen on validation and test is read at that epoch.

Over its ``--runs`` folds a cell (workload, size, rule) has tested ``runs x 100`` distinct
samples; the JSON gives per cell the pooled accuracy with a 95 % bootstrap interval over those
samples (:func:`pipesdfa.studies.accuracy.stats.bootstrap_ci` on the concatenated correctness
strings) and per (workload, size) the paired gap BPTT - SDFA with its interval and McNemar's exact
test on the same samples. The JSON (``commit``, ``command``, ``machine``, ``runs``, ``cells``,
``gaps``) is rewritten after every run; ``--resume`` keeps the runs already recorded; a plot of
the gap against the training size is written next to it.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from pipesdfa.util.atomic import atomic_write_json

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench.machine import git_commit, machine_info  # noqa: E402
from bench.sweep import command_line, kept_runs, run_all  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FULL = 1000  # the largest size: everything outside the test fold (11 folds of the 1,100 samples)


def run_one(workload: str, size: int, folds: int, fold: int, rule: str, epochs: int, data_dir: str,
            tmp: str) -> dict[str, Any]:
    """One training run (module docstring); its selected-epoch record."""
    from pipesdfa.training.config import config_from_workload
    from pipesdfa.training.loop import train

    options: dict[str, Any] = {"folds": folds, "fold": fold, "subset_seed": fold}
    if size < FULL:
        options["samples_per_class"] = size // 10
    cfg = config_from_workload(workload, method=rule, seed=fold, epochs=epochs, threads=1, data_dir=data_dir,
                               data_options=options, out=str(Path(tmp) / f"{workload}-{size}-{fold}-{rule}"))
    t0 = time.perf_counter()
    m = train(cfg, progress=False, log=None)
    f = m["final"]
    v = m["dataset"].get("validation") or {}
    return {"workload": workload, "size": size, "fold": fold, "seed": fold, "rule": rule, "epochs": epochs,
            "n_train": v.get("train"), "n_val": v.get("val"), "n_test": m["dataset"].get("test"),
            "selected_epoch": f.get("selected_epoch"), "selected_val_acc": f.get("selected_val_acc"),
            "selected_test_acc": f.get("selected_test_acc"), "final_test_acc": f.get("test_acc"),
            "final_train_acc": f.get("train_acc"), "selected_test_correct": f.get("selected_test_correct"),
            "seconds": time.perf_counter() - t0}


def key(r: dict[str, Any]) -> tuple:
    return (r["workload"], r["size"], r["rule"], r["fold"])


def summarise(runs: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Cells (pooled accuracy and interval per workload, size, rule) and paired gaps per
    workload and size, over the folds both rules completed."""
    from pipesdfa.studies.accuracy.stats import bootstrap_ci, bootstrap_diff_ci, mcnemar

    by = {key(r): r for r in runs}
    cells, gaps = [], []
    for w, size in sorted({(r["workload"], r["size"]) for r in runs}):
        pooled: dict[str, str] = {}
        folds = sorted({r["fold"] for r in runs if (r["workload"], r["size"]) == (w, size)})
        both = [f for f in folds if all((w, size, rule, f) in by for rule in ("bptt", "sdfa"))]
        for rule in sorted({r["rule"] for r in runs if (r["workload"], r["size"]) == (w, size)}):
            rs = [by[(w, size, rule, f)] for f in folds if (w, size, rule, f) in by]
            s = "".join(r["selected_test_correct"] for r in rs)
            pooled[rule] = "".join(by[(w, size, rule, f)]["selected_test_correct"] for f in both)
            ci = bootstrap_ci([s])
            cells.append({"workload": w, "size": size, "rule": rule, "folds": [r["fold"] for r in rs],
                          "n_test": len(s), "test_acc": [100 * r["selected_test_acc"] for r in rs],
                          "pooled_acc": 100 * ci["mean"], "ci95": [100 * ci["lo"], 100 * ci["hi"]],
                          "selected_epochs": [r["selected_epoch"] for r in rs]})
        if both and "bptt" in pooled and "sdfa" in pooled:
            d = bootstrap_diff_ci([pooled["bptt"]], [pooled["sdfa"]])
            mc = mcnemar(pooled["bptt"], pooled["sdfa"])
            gaps.append({"workload": w, "size": size, "folds": both, "n_test": len(pooled["bptt"]),
                         "gap_points": 100 * d["mean"], "ci95": [100 * d["lo"], 100 * d["hi"]],
                         "mcnemar_p": mc["p_value"], "n_bptt_only": mc["n10"], "n_sdfa_only": mc["n01"]})
    return cells, gaps


def plot(gaps: list[dict[str, Any]], path: Path) -> None:
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for w in sorted({g["workload"] for g in gaps}):
        gs = sorted((g for g in gaps if g["workload"] == w), key=lambda g: g["size"])
        x = [g["size"] for g in gs]
        y = [g["gap_points"] for g in gs]
        err = [[g["gap_points"] - g["ci95"][0] for g in gs], [g["ci95"][1] - g["gap_points"] for g in gs]]
        ax.errorbar(x, y, yerr=err, marker="o", capsize=3, label=w)
    ax.axhline(0, color="grey", lw=0.8)
    ax.axhline(2, color="grey", lw=0.8, ls="--")
    ax.set_xscale("log")
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xticks(sorted({g["size"] for g in gaps}), [str(s) for s in sorted({g["size"] for g in gaps})])
    ax.set_xlabel("training samples (before the 10 % validation split)")
    ax.set_ylabel("BPTT - SDFA test accuracy (points)")
    ax.set_title("N-MNIST subset, k-fold: the gap vs training size (95 % CI)", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    tmp.replace(path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", required=True, help="the N-MNIST subset (SLAYER's NMNISTsmall layout)")
    ap.add_argument("--models", nargs="+", default=["nmnist-mlp2", "nmnist-mlp3"])
    ap.add_argument("--sizes", nargs="+", type=int, default=[250, 500, 1000])
    ap.add_argument("--folds", type=int, default=11)
    ap.add_argument("--runs", type=int, default=3, help="folds tested (run j: fold j, seed j)")
    ap.add_argument("--rules", nargs="+", default=["bptt", "sdfa"])
    ap.add_argument("--epochs", type=int, default=50)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "nmnist_size_sweep.json"))
    args = ap.parse_args(argv)
    if not Path(args.data_dir).is_dir():
        print(f"--data-dir {args.data_dir}: not a folder (the N-MNIST subset is in shared/data/nmnist)", file=sys.stderr)
        return 2
    for s in args.sizes:
        if s != FULL and (s % 10 or not 10 <= s < FULL):
            print(f"--sizes: {s} is neither {FULL} nor a multiple of 10 below it", file=sys.stderr)
            return 2
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    command = command_line()
    runs = kept_runs(out, args.resume)
    done = {key(r) for r in runs}
    todo = [(w, s, f, r) for w in args.models for s in args.sizes for f in range(args.runs) for r in args.rules
            if (w, s, r, f) not in done]
    doc: dict[str, Any] = {"command": command, "commit": git_commit(), "machine": machine_info(),
                           "protocol": {"folds": args.folds, "runs": args.runs, "epochs": args.epochs,
                                        "val_fraction": 0.1, "recipe": "the workload's (pipesdfa train --workload W)"}}

    def write() -> None:
        cells, gaps = summarise(runs)
        atomic_write_json(out, {**doc, "runs": runs, "cells": cells, "gaps": gaps})
        if gaps:
            plot(gaps, out.with_suffix(".png"))

    t0 = time.perf_counter()
    run_all(run_one, [(w, s, args.folds, f, r, args.epochs, args.data_dir) for w, s, f, r in todo], args.jobs,
            "nmnist size sweep", runs, write)
    for g in summarise(runs)[1]:
        print(f"{g['workload']:12s} {g['size']:5d}  gap {g['gap_points']:+6.2f} [{g['ci95'][0]:+.2f}, {g['ci95'][1]:+.2f}]"
              f"  McNemar p={g['mcnemar_p']:.3f}  (n={g['n_test']})")
    print(f"{len(todo)} runs in {time.perf_counter() - t0:.0f} s; wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
