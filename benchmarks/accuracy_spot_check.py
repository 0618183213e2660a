"""Compare a rerun of some accuracy-table runs with the committed table, run by run.

    pipesdfa reproduce accuracy --workloads braille-analog-mlp digits-mlp --seeds 0 \
        --data-dir ../shared/data --out runs/spot
    python benchmarks/accuracy_spot_check.py runs/spot/accuracy.json \
        [--against docs/results/accuracy/accuracy.json] [--out benchmarks/results/accuracy_spot_check.json]

Rows are matched on (workload, method, variant, seed, epochs, batch, lr, init_gain). For each
pair: final and best accuracy and best epoch of both, the largest difference of their
per-epoch test-accuracy curves, and the first epoch at which the curves part (``None`` when
they are identical). The committed table may come from older code (its ``commit``); this says
whether the code of the rerun still trains the same networks.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from pipesdfa.util.atomic import atomic_write_json  # noqa: E402

KEY = ("workload", "method", "variant", "seed", "epochs", "batch", "lr", "init_gain")


def compare(new: dict, old: dict) -> list[dict]:
    """One entry per row of ``new`` that ``old`` also has (see the module docstring)."""
    by_key = {tuple(r[k] for k in KEY): r for r in old["rows"] if r.get("final_acc") is not None}
    out = []
    for r in new["rows"]:
        o = by_key.get(tuple(r[k] for k in KEY))
        if o is None or r.get("final_acc") is None:
            continue
        diffs = [abs(a - b) for a, b in zip(r["curve"], o["curve"])]
        parted = next((i + 1 for i, d in enumerate(diffs) if d != 0.0), None)
        out.append({**{k: r[k] for k in KEY},
                    "final_acc": [r["final_acc"], o["final_acc"]], "best_acc": [r["best_acc"], o["best_acc"]],
                    "best_epoch": [r["best_epoch"], o["best_epoch"]], "max_curve_diff": max(diffs, default=0.0),
                    "first_epoch_that_differs": parted, "identical": parted is None})
    return out


def markdown(doc: dict) -> str:
    lines = ["| workload | rule | seed | epochs | final % (rerun / table) | best % (rerun / table) | best epoch | "
             "largest curve difference (points) | curves part at epoch |", "|---|---|---:|---:|---|---|---|---:|---|"]
    for c in doc["pairs"]:
        rule = c["method"] + (f":{c['variant']}" if c["variant"] not in (None, "authors") else "")
        lines.append(f"| {c['workload']} | {rule} | {c['seed']} | {c['epochs']} | "
                     f"{100 * c['final_acc'][0]:.2f} / {100 * c['final_acc'][1]:.2f} | "
                     f"{100 * c['best_acc'][0]:.2f} / {100 * c['best_acc'][1]:.2f} | "
                     f"{c['best_epoch'][0]} / {c['best_epoch'][1]} | {100 * c['max_curve_diff']:.2f} | "
                     f"{c['first_epoch_that_differs'] or 'never (identical)'} |")
    lines += ["", f"Rerun: commit {doc['rerun_commit']}; table: commit {doc['table_commit']}. "
                  f"Command: `{doc['command']}` after `{doc['rerun_command']}`."]
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("rerun", help="accuracy.json of the rerun")
    ap.add_argument("--against", default=str(REPO / "docs" / "results" / "accuracy" / "accuracy.json"))
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "accuracy_spot_check.json"))
    ap.add_argument("--update-doc", default=None, help="also write the table into this Markdown file")
    args = ap.parse_args()
    new, old = (json.loads(Path(p).read_text()) for p in (args.rerun, args.against))
    pairs = compare(new, old)
    if not pairs:
        print(f"no run of {args.rerun} is in {args.against}", file=sys.stderr)
        return 2
    doc = {"benchmark": "accuracy_spot_check", "rerun_commit": new.get("commit"), "table_commit": old.get("commit"),
           "rerun_command": new.get("command"), "rerun_machine": new.get("machine"),
           "command": "python benchmarks/accuracy_spot_check.py RERUN/accuracy.json", "pairs": pairs}
    atomic_write_json(args.out, doc)
    from bench.report import publish

    publish(markdown(doc), args.update_doc, "accuracy-spot-check")
    return 0


if __name__ == "__main__":
    sys.exit(main())
