"""Real-data accuracy of BPTT vs SDFA (mean and spread over seeds), on the files in
``../shared/data``: the full Braille set with ``braille-mlp`` and the N-MNIST subset
(1,000 train / 100 test) with ``nmnist-mlp2`` and ``nmnist-mlp5``.

    .venv/bin/python benchmarks/accuracy.py [--shared ../shared/data] [--epochs braille-mlp=20 ...]
        [--seeds 0 1 2] [--out benchmarks/results/accuracy.json] [--update-doc docs/datasets.md]

Every run is ``pipesdfa.train.train`` on the workload's config from ``workloads.py``, with
only ``epochs``, ``method`` and ``seed`` changed. Fewer epochs than the paper are used so
that the whole benchmark fits a 2-core CPU; the JSON and the table state the epochs used.
Results are written after every run, so an interrupted benchmark keeps what it measured.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402

from pipesdfa.atomic import atomic_write_json  # noqa: E402
from pipesdfa.threads import parse_threads  # noqa: E402
from pipesdfa.train import config_from_workload, train  # noqa: E402
from pipesdfa.workloads import get_workload  # noqa: E402

DEFAULT_EPOCHS = {"braille-mlp": 12, "nmnist-mlp2": 2, "nmnist-mlp5": 2}
DATA_NOTE = {"braille-mlp": "Braille, all 1,350 (seeded stratified 1,080 / 270), raw taxels -> sigma-delta theta=1",
             "nmnist-mlp2": "N-MNIST subset 1,000 / 100 (../shared/data)",
             "nmnist-mlp5": "N-MNIST subset 1,000 / 100 (../shared/data)"}
METHODS = ("bptt", "sdfa")


def summary(values: list[float]) -> dict:
    return {"n": len(values), "mean": statistics.fmean(values) if values else None,
            "std": statistics.stdev(values) if len(values) > 1 else 0.0 if values else None,
            "min": min(values, default=None), "max": max(values, default=None)}


def markdown(res: dict) -> str:
    lines = ["| workload | data | epochs (paper) | batch (paper) | BPTT test acc. (%) | SDFA test acc. (%) | SDFA - BPTT | paper BPTT / SDFA |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for wl, r in res["workloads"].items():
        b, s = r["summary"].get("bptt", {}), r["summary"].get("sdfa", {})

        def fmt(x):
            return f"{100 * x['mean']:.2f} ± {100 * x['std']:.2f} (n={x['n']})" if x and x.get("n") else "–"

        gap = (f"{100 * (s['mean'] - b['mean']):+.2f}" if b.get("n") and s.get("n") else "–")
        bt = f"{r.get('batch', '?')} ({r.get('paper_batch', '?')})"
        lines.append(f"| {wl} | {r['data']} | {r['epochs']} ({r['paper_epochs']}) | {bt} | {fmt(b)} | {fmt(s)} | {gap} | "
                     f"{r['paper_bp_acc']} / {r['paper_sdfa_acc']} |")
    lines += ["", f"Mean ± sample standard deviation of the final-epoch test accuracy over seeds "
                  f"{res['seeds']}; fewer epochs than the paper (2-core CPU, {res['threads']} torch thread). "
                  f"Command: `{res['command']}`. Wall time {res['wall_seconds'] / 60:.1f} min."]
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", default=os.environ.get("PIPESDFA_SHARED_DATA", str(REPO.parent / "shared" / "data")),
                    help="the real data (default $PIPESDFA_SHARED_DATA, else ../shared/data)")
    ap.add_argument("--workloads", nargs="+", default=list(DEFAULT_EPOCHS))
    ap.add_argument("--epochs", nargs="*", default=[], help="WORKLOAD=E overrides")
    ap.add_argument("--batch", nargs="*", default=[], help="WORKLOAD=B overrides (stated in the JSON and table)")
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--threads", type=parse_threads, default="auto",
                    help="torch threads per run: N or auto (default; pipesdfa.threads)")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "accuracy.json"))
    ap.add_argument("--update-doc", default=None, help="write the table into this Markdown file")
    ap.add_argument("--render-only", action="store_true", help="only render --out's JSON into --update-doc")
    args = ap.parse_args()
    if args.render_only:
        import json

        res = json.loads(Path(args.out).read_text(encoding="utf-8"))
        print(markdown(res))
        if args.update_doc:
            from _report import replace_block

            replace_block(args.update_doc, "accuracy", markdown(res))
        return 0
    shared = Path(args.shared)
    if not shared.is_dir():
        print(f"real data not found at {shared}; nothing to measure", file=sys.stderr)
        return 2
    epochs = dict(DEFAULT_EPOCHS)
    for item in args.epochs:
        k, _, v = item.partition("=")
        epochs[k] = int(v)
    batches = {k: int(v) for k, _, v in (item.partition("=") for item in args.batch)}
    cmd = "python benchmarks/accuracy.py " + " ".join(sys.argv[1:])
    res = {"benchmark": "accuracy", "command": cmd.strip(), "seeds": args.seeds, "threads": args.threads,
           "machine": {"python": platform.python_version(), "torch": torch.__version__,
                       "processor": platform.processor() or platform.machine()},
           "workloads": {}, "wall_seconds": 0.0}
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for wl in args.workloads:
            w = get_workload(wl)
            batch = batches.get(wl, w.batch)
            entry = {"data": DATA_NOTE.get(wl, w.dataset), "epochs": epochs[wl], "paper_epochs": w.epochs,
                     "batch": batch, "paper_batch": w.batch,
                     "paper_bp_acc": w.paper_bp_acc, "paper_sdfa_acc": w.paper_sdfa_acc, "runs": [], "summary": {}}
            res["workloads"][wl] = entry
            for method in METHODS:
                for seed in args.seeds:
                    cfg = config_from_workload(wl, epochs=epochs[wl], batch=batch, method=method, seed=seed,
                                               data_dir=str(shared), threads=args.threads,
                                               out=str(Path(tmp) / f"{wl}-{method}-{seed}"))
                    m = train(cfg, progress=False, log=None)
                    fin = m["final"]
                    run = {"method": method, "seed": seed, "test_acc": fin["test_acc"], "best_test_acc": fin["best_test_acc"],
                           "train_acc": fin["train_acc"], "seconds": fin["seconds"],
                           "test_acc_curve": [h["test_acc"] for h in m["epochs"]],
                           "dataset": {k: v for k, v in m["dataset"].items() if k != "cache"},
                           "config": {**m["config"], "data_dir": "../shared/data", "out": None}}
                    entry["runs"].append(run)
                    print(f"{wl:12s} {method:5s} seed {seed}: test {100 * fin['test_acc']:.2f}%  "
                          f"train {100 * fin['train_acc']:.2f}%  {fin['seconds']:.0f}s", flush=True)
                    entry["summary"][method] = summary([r["test_acc"] for r in entry["runs"] if r["method"] == method])
                    res["wall_seconds"] = time.perf_counter() - t_start
                    atomic_write_json(args.out, res)
    print(markdown(res))
    if args.update_doc:
        from _report import replace_block

        replace_block(args.update_doc, "accuracy", markdown(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
