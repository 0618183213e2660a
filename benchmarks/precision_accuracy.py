"""Test accuracy with ``precision="bf16"`` against ``fp32``, same workloads, rules and seeds.

    python benchmarks/precision_accuracy.py [--workload W ...] [--methods bptt sdfa] [--seeds 0 1 2]
        [--epochs N] [--max-train N] --out benchmarks/results/precision_accuracy.json
    python benchmarks/precision_accuracy.py --table FILE.json [FILE2.json ...] [--doc DOC.md]

Per workload, rule and seed, two runs of ``pipesdfa.train`` that differ only in precision:
``fp32`` (SDFA with ``sdfa_store="float"``) and ``bf16`` (dense products on bfloat16 operands,
SDFA ``sdfa_store="half"``; :mod:`pipesdfa.snn.kernels.precision`). ``--epochs``/``--max-train``
shorten a run (recorded per row as ``reduced``). The check: the mean test accuracy over the
seeds of ``bf16`` within ``--limit`` points (default 0.5) of ``fp32``'s, per workload and rule.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from pipesdfa.training.loop import config_from_workload, train
from pipesdfa.util.atomic import atomic_write_json

from bench.machine import machine_info

PRECISIONS = {"fp32": {"precision": "fp32", "sdfa_store": "float"},
              "bf16": {"precision": "bf16", "sdfa_store": "half"}}


def run(args) -> dict:
    rows = []
    t_start = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        for workload in args.workload:
            for method in args.methods:
                accs: dict[str, list[float]] = {p: [] for p in PRECISIONS}
                secs: dict[str, list[float]] = {p: [] for p in PRECISIONS}
                for seed in args.seeds:
                    for prec, opts in PRECISIONS.items():
                        over = dict(opts) if method == "sdfa" else {"precision": opts["precision"]}
                        cfg = config_from_workload(workload, method=method, seed=seed, epochs=args.epochs,
                                                   max_train=args.max_train, data_dir=args.data, threads=1,
                                                   out=str(Path(tmp) / f"{workload}-{method}-{prec}-{seed}"), **over)
                        t0 = time.time()
                        m = train(cfg, progress=False, log=None)
                        secs[prec].append(time.time() - t0)
                        accs[prec].append(100 * m["final"]["test_acc"])
                        print(f"{workload:20s} {method:5s} {prec} seed {seed}: {accs[prec][-1]:.2f}% "
                              f"({secs[prec][-1]:.0f} s)", flush=True)
                mean = {p: statistics.mean(v) for p, v in accs.items()}
                rows.append({"workload": workload, "method": method, "seeds": args.seeds, "test_acc": accs,
                             "mean": mean, "gap_points": mean["bf16"] - mean["fp32"],
                             "within_limit": abs(mean["bf16"] - mean["fp32"]) <= args.limit,
                             "seconds_mean": {p: statistics.mean(v) for p, v in secs.items()},
                             "epochs": cfg.optim.epochs, "max_train": args.max_train,
                             "reduced": args.epochs is not None or args.max_train is not None})
    return {"rows": rows, "limit_points": args.limit, "wall_seconds": round(time.time() - t_start, 1)}


def table(res: dict) -> str:
    out = ["| workload | rule | epochs | seeds | fp32 % (mean) | bf16 % (mean) | bf16 - fp32 (points) | "
           f"within {res['limit_points']} |", "|---|---|---|---|---|---|---|---|"]
    for r in res["rows"]:
        red = " (reduced)" if r["reduced"] else ""
        out.append(f"| {r['workload']} | {r['method']} | {r['epochs']}{red} | {', '.join(map(str, r['seeds']))} | "
                   f"{r['mean']['fp32']:.2f} | {r['mean']['bf16']:.2f} | {r['gap_points']:+.2f} | "
                   f"{'yes' if r['within_limit'] else 'no'} |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workload", nargs="+", default=["digits-mlp"])
    ap.add_argument("--methods", nargs="+", default=["bptt", "sdfa"])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--epochs", type=int, default=None, help="fewer epochs than the workload's (a reduced run)")
    ap.add_argument("--max-train", type=int, default=None, help="fewer training samples (a reduced run)")
    ap.add_argument("--data", default=None, help="data folder (default: the loaders' own)")
    ap.add_argument("--limit", type=float, default=0.5, help="largest allowed |bf16 - fp32| in points")
    ap.add_argument("--out")
    ap.add_argument("--table", nargs="+", metavar="JSON", help="print the Markdown table of result files and exit")
    ap.add_argument("--doc", metavar="MD", help="with --table: also write it into DOC between "
                    "<!-- precision-accuracy:start/end -->")
    args = ap.parse_args(argv)
    if args.table:
        from bench.report import publish

        docs = [json.loads(Path(p).read_text()) for p in args.table]
        publish(table({"rows": [r for d in docs for r in d["rows"]], "limit_points": docs[0]["limit_points"]})
                + "\n\nCommands: " + "; ".join(f"`{d['command']}` ({d['wall_seconds'] / 60:.0f} min)" for d in docs)
                + ".", args.doc, "precision-accuracy")
        return 0
    if not args.out:
        ap.error("--out FILE.json is required")
    res = {"command": "python benchmarks/precision_accuracy.py " + " ".join(argv if argv is not None else sys.argv[1:]),
           "machine": machine_info()}
    res.update(run(args))
    atomic_write_json(args.out, res)
    print(table(res))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
