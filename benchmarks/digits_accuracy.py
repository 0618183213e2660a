"""Accuracy of the learning rules on the embedded digits-mlp workload, over several seeds.

    python benchmarks/digits_accuracy.py [--seeds 0 1 2] [--sdfa-store half] [--out FILE.json]

Writes ``{"machine", "workload", "config", "rows": [{"method", "temporal", "seeds", "test_acc":
[...], "mean", "std", "seconds_mean"}]}``; ``benchmarks/render_readme.py`` turns it into the
digits table of docs/accuracy.md.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from pipesdfa.util.atomic import atomic_write_json
from pipesdfa.training.config import flat_view
from pipesdfa.training.loop import config_from_workload, train
from bench.machine import machine_info

VARIANTS = [("bptt", None), ("sdfa", "local"), ("sdfa", "instantaneous"), ("output", None)]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--workload", default="digits-mlp")
    ap.add_argument("--out", default="benchmarks/results/digits_accuracy.json")
    ap.add_argument("--backend", default=None, help="neuron backend (default: the config's)")
    ap.add_argument("--reference", action="store_true",
                    help="plain reference paths: torch neuron backend and the autograd SDFA rule")
    ap.add_argument("--sdfa-store", choices=["float", "half"], default=None,
                    help="precision of the SDFA fast path's saved state (default: the config's)")
    args = ap.parse_args(argv)
    impl = dict(backend=args.backend)
    if args.sdfa_store:
        impl["sdfa_store"] = args.sdfa_store
    if args.reference:
        impl = dict(backend="torch", sdfa_impl="autograd")
    rows = []
    t_start = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        for method, temporal in VARIANTS:
            accs, secs = [], []
            for seed in args.seeds:
                # the SDFA-only options (store, impl) go to SDFA runs only; the config refuses them elsewhere
                opts = {k: v for k, v in impl.items() if method == "sdfa" or not k.startswith("sdfa_")}
                cfg = config_from_workload(args.workload, method=method, temporal=temporal, seed=seed,
                                           **opts, out=str(Path(tmp) / f"{method}-{temporal}-{seed}"))
                m = train(cfg, progress=False, log=None)
                accs.append(m["final"]["test_acc"])
                secs.append(m["final"]["seconds"])
                print(f"{method:7s} {temporal or '':13s} seed {seed}: {100 * accs[-1]:.2f}%", flush=True)
            rows.append({"method": method, "temporal": temporal, "seeds": args.seeds, "test_acc": accs,
                         "mean": statistics.mean(accs), "std": statistics.stdev(accs) if len(accs) > 1 else 0.0,
                         "seconds_mean": statistics.mean(secs)})
    cfg = config_from_workload(args.workload, **impl)
    result = {
        "command": "python benchmarks/digits_accuracy.py " + " ".join(sys.argv[1:]),
        "machine": machine_info(),
        "workload": args.workload,
        "config": {k: v for k, v in flat_view(cfg.to_dict()).items() if k not in ("out", "data_dir")},
        "rows": rows,
        "wall_seconds": time.time() - t_start,
    }
    atomic_write_json(args.out, result)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
