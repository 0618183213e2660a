"""Which RRAM device effect costs SDFA what on Braille? One effect removed at a time (issue 22, item 4).

    python benchmarks/device_ablation.py --data-dir ../shared/data [--workload braille-analog-mlp]
        [--epochs 100] [--seeds 0 1 2] [--jobs 2] [--resume] [--out benchmarks/results/device_ablation.json]

Every run is ``pipesdfa train --workload W --method sdfa`` (the workload's recipe, the trainer's 10 %
validation split, the epoch chosen on it) with, per arm:

* ``ideal`` -- float weights (no ``--hardware``);
* ``rram`` -- ``--hardware rram`` with the default device (``neurosim-default``: 60 levels, LTP/LTD
  nonlinearity 1.42 / 1.18, cycle-to-cycle sigma 0.003) and the default circuit (``w_max`` = 2 x
  the largest initial weight, stochastic pulse rounding);
* one arm per effect, the ``rram`` arm with that effect removed (``--set`` of the device / circuit
  key): ``levels`` 4096 instead of 60 (finer conductance steps), ``linear`` (``nu_ltp = nu_ltd =
  0``), ``no-c2c`` (``c2c_sigma = 0``), ``wide-w_max`` (``w_max_factor = 8``: no clipping of the
  weights the rule asks for, at coarser steps), ``accumulate`` (pulse rounding that keeps its
  remainder for the next update instead of rounding it away stochastically).

What removing an effect recovers is that arm's accuracy minus ``rram``'s, over the same seeds and
test samples: the JSON gives per arm the test accuracy at the validation-chosen epoch (mean over
seeds, 95 % bootstrap interval over seeds and test samples) and the paired difference to ``rram``
with its interval (:mod:`pipesdfa.studies.accuracy.stats`). The JSON (``commit``, ``command``,
``machine``, ``runs``, ``arms``) is rewritten after every run; ``--resume`` keeps finished runs.
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

#: arm -> (hardware, --set items); ``rram`` is the reference the other RRAM arms remove one effect from
ARMS: dict[str, tuple[str | None, list[str]]] = {
    "ideal": (None, []),
    "rram": ("rram", []),
    "levels": ("rram", ["levels=4096"]),
    "linear": ("rram", ["nu_ltp=0", "nu_ltd=0"]),
    "no-c2c": ("rram", ["c2c_sigma=0"]),
    "wide-w_max": ("rram", ["w_max_factor=8"]),
    "accumulate": ("rram", ["rounding=accumulate"]),
}


def run_one(workload: str, arm: str, seed: int, epochs: int, data_dir: str, tmp: str) -> dict[str, Any]:
    from pipesdfa.training.config import config_from_workload
    from pipesdfa.training.loop import train

    hardware, sets = ARMS[arm]
    extra: dict[str, Any] = {"hardware": hardware, "device_set": sets} if hardware else {}
    cfg = config_from_workload(workload, method="sdfa", seed=seed, epochs=epochs, threads=1, data_dir=data_dir,
                               out=str(Path(tmp) / f"{workload}-{arm}-{seed}"), **extra)
    t0 = time.perf_counter()
    m = train(cfg, progress=False, log=None)
    f = m["final"]
    return {"workload": workload, "arm": arm, "seed": seed, "epochs": epochs, "set": sets, "hardware": hardware,
            "selected_epoch": f.get("selected_epoch"), "selected_test_acc": f.get("selected_test_acc"),
            "selected_test_correct": f.get("selected_test_correct"), "final_test_acc": f.get("test_acc"),
            "final_train_acc": f.get("train_acc"), "seconds": time.perf_counter() - t0}


def summarise(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per arm: accuracy at the chosen epoch with its interval, and the paired difference to ``rram``."""
    from pipesdfa.studies.accuracy.stats import bootstrap_ci, bootstrap_diff_ci

    by = {(r["arm"], r["seed"]): r for r in runs}
    out = []
    for arm in ARMS:
        seeds = sorted(s for a, s in by if a == arm)
        if not seeds:
            continue
        ci = bootstrap_ci([by[(arm, s)]["selected_test_correct"] for s in seeds])
        row: dict[str, Any] = {"arm": arm, "set": ARMS[arm][1], "hardware": ARMS[arm][0], "seeds": seeds,
                               "test_acc": 100 * ci["mean"], "ci95": [100 * ci["lo"], 100 * ci["hi"]],
                               "final_test_acc": [100 * by[(arm, s)]["final_test_acc"] for s in seeds],
                               "final_train_acc": [100 * by[(arm, s)]["final_train_acc"] for s in seeds]}
        both = [s for s in seeds if ("rram", s) in by]
        if arm != "rram" and both:
            d = bootstrap_diff_ci([by[(arm, s)]["selected_test_correct"] for s in both],
                                  [by[("rram", s)]["selected_test_correct"] for s in both])
            row["minus_rram"] = {"points": 100 * d["mean"], "ci95": [100 * d["lo"], 100 * d["hi"]], "seeds": both}
        out.append(row)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--workload", default="braille-analog-mlp")
    ap.add_argument("--arms", nargs="+", default=list(ARMS), choices=list(ARMS))
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "device_ablation.json"))
    args = ap.parse_args(argv)
    if not Path(args.data_dir).is_dir():
        print(f"--data-dir {args.data_dir}: not a folder (the Braille data is in shared/data)", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    command = command_line()
    runs = kept_runs(out, args.resume)
    done = {(r["arm"], r["seed"]) for r in runs}
    todo = [(a, s) for s in args.seeds for a in args.arms if (a, s) not in done]
    doc = {"command": command, "commit": git_commit(), "machine": machine_info(), "workload": args.workload,
           "epochs": args.epochs, "arms": {a: {"hardware": h, "set": s} for a, (h, s) in ARMS.items()}}

    def write() -> None:
        atomic_write_json(out, {**doc, "runs": runs, "summary": summarise(runs)})

    t0 = time.perf_counter()
    run_all(run_one, [(args.workload, a, s, args.epochs, args.data_dir) for a, s in todo], args.jobs,
            "device ablation", runs, write)
    for r in summarise(runs):
        d = r.get("minus_rram")
        print(f"{r['arm']:12s} {r['test_acc']:6.2f} [{r['ci95'][0]:.2f}, {r['ci95'][1]:.2f}]"
              + (f"  vs rram {d['points']:+.2f} [{d['ci95'][0]:+.2f}, {d['ci95'][1]:+.2f}]" if d else ""))
    print(f"{len(todo)} runs in {time.perf_counter() - t0:.0f} s; wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
