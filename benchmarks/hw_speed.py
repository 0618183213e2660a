"""Benchmark: wall time to simulate one training epoch of a workload (default ncaltech-vgg11).

Runs both architectures with each preset, ``--repeat`` times, and writes JSON::

    python benchmarks/hw_speed.py --out runs/bench/hw_speed.json

The acceptance target is one epoch of ncaltech-vgg11 in under 2 s on this machine. The
fast-path result is checked against the full discrete-event run on a shortened epoch in the
same process (``parity_samples``), so the number we time is the number we trust.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

from pipesdfa.util.atomic import atomic_write_json
from pipesdfa.hw.engine import simulate_detailed
from pipesdfa.hw.config.presets import PRESETS
from bench.machine import machine_info


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workload", default="ncaltech-vgg11")
    ap.add_argument("--presets", nargs="+", default=list(PRESETS))
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--parity-samples", type=int, default=200)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    results = []
    for preset in args.presets:
        for arch in ("pipelayer", "pipesdfa"):
            times = []
            run = None
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                d = simulate_detailed(args.workload, arch, preset=preset)
                times.append(time.perf_counter() - t0)
                run = d.run
            fast = simulate_detailed(args.workload, arch, preset=preset, samples=args.parity_samples)
            full = simulate_detailed(args.workload, arch, preset=preset, samples=args.parity_samples, fast=False)
            results.append({
                "preset": preset, "arch": arch, "samples": run["samples"],
                "wall_s_median": statistics.median(times), "wall_s_all": times,
                "simulated_time_s": run["time_s"], "fast_path": run["schedule"]["fast_path"],
                "parity_samples": args.parity_samples,
                "parity_fast_equals_full": fast.timing.makespan_ticks == full.timing.makespan_ticks,
            })
            print(f"{preset:18s} {arch:10s} {statistics.median(times):.3f} s  parity={results[-1]['parity_fast_equals_full']}",
                  file=sys.stderr)
    doc = {"benchmark": "hw_speed", "workload": args.workload, "target_s": 2.0,
           "max_wall_s": max(r["wall_s_median"] for r in results),
           "all_under_target": all(r["wall_s_median"] < 2.0 for r in results),
           "machine": machine_info(), "results": results}
    text = json.dumps(doc, indent=2)
    if args.out:
        atomic_write_json(args.out, doc)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
