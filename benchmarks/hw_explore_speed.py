"""Benchmark: design-space exploration speed (``pipesdfa explore``) on one workload.

Two measurements, both machines, in one run:

* **per point**: in-process wall time of :meth:`pipesdfa.hw.evaluate.Evaluator.evaluate` on
  ``--per-point`` random design points that fit the budget (the schedule and the energy are
  computed) and on the hand-picked design (median and 90th percentile, ms); target <= 20 ms
  for dvs-convnet;
* **search**: wall time of a ``--points``-point random search of both machines with ``--jobs``
  processes, as ``pipesdfa explore`` runs it (target: 2,000 points in <= 180 s on 2 cores).

The search's best designs are checked against an independent random search (another seed,
``--check-points`` points): the JSON records by how much, if at all, it beats them.

    python benchmarks/hw_explore_speed.py --out benchmarks/results/hw_explore_speed.json
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import shlex
import statistics
import sys
import time

from pipesdfa.hw.archs import ARCH_NAMES
from pipesdfa.hw.config import load_config
from pipesdfa.hw.evaluate import Evaluator
from pipesdfa.studies.exploration import STRICT, make_plan, run_exploration, summarise
from pipesdfa.studies.exploration.headline import equal_area_budget
from pipesdfa.studies.exploration.report import git_commit
from pipesdfa.util.atomic import atomic_write_json


def _ms(xs: list[float]) -> dict[str, float]:
    xs = sorted(xs)
    return {"median_ms": 1e3 * statistics.median(xs), "p90_ms": 1e3 * xs[int(0.9 * (len(xs) - 1))],
            "min_ms": 1e3 * xs[0], "n": len(xs)}


def per_point(plan, arch: str, n: int, seed: int) -> dict:
    ev = Evaluator(plan.problem, arch)
    ev.evaluate(ev.space.default_point())  # warm: imports, first-call caches
    t0 = time.perf_counter()
    ev.evaluate(ev.space.default_point())
    default_s = time.perf_counter() - t0
    rng = random.Random(seed)
    feasible, over = [], []
    tries = 0
    while len(feasible) < n and tries < 50 * n:
        tries += 1
        pt = ev.space.sample(rng)
        t0 = time.perf_counter()
        r = ev.evaluate(pt)
        (feasible if r["feasible"] else over).append(time.perf_counter() - t0)
    return {"default_ms": 1e3 * default_s, "feasible": _ms(feasible), "over_budget": _ms(over) if over else None}


def _best_gap(doc: dict, check: dict) -> dict:
    """How much the check search's best beats the reported best (> 0: by that fraction)."""
    out = {}
    for arch, a in doc["archs"].items():
        c = check["archs"][arch]
        out[arch] = {"time": a["best_time"]["time_s"] / c["best_time"]["time_s"] - 1,
                     "energy": a["best_energy"]["energy_j"] / c["best_energy"]["energy_j"] - 1}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workload", default="dvs-convnet")
    ap.add_argument("--preset", default="pipelayer-2017")
    ap.add_argument("--per-point", type=int, default=100, help="feasible random points timed per machine")
    ap.add_argument("--points", type=int, default=2000, help="points per machine of the timed random search")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--check-points", type=int, default=0,
                    help="points of an independent random search (seed+1) checked against the first (0: none)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    cfg = load_config(args.preset).with_overrides(dict(STRICT), "benchmark")
    budget = equal_area_budget(args.workload, cfg)
    plan = make_plan(cfg=cfg, budget_mm2=budget, workload=args.workload, points=args.points, search="random",
                     jobs=args.jobs, seed=args.seed)
    points = {a: per_point(plan, a, args.per_point, args.seed) for a in ARCH_NAMES}
    for a, r in points.items():
        print(f"{a:10s} per feasible point median {r['feasible']['median_ms']:.1f} ms "
              f"(p90 {r['feasible']['p90_ms']:.1f}), hand-picked {r['default_ms']:.1f} ms", file=sys.stderr)
    t0 = time.perf_counter()
    found = run_exploration(plan, progress=False)
    search_s = time.perf_counter() - t0
    doc = summarise(plan, found)
    print(f"random search {args.points} points x {len(ARCH_NAMES)} machines, {args.jobs} jobs: {search_s:.1f} s",
          file=sys.stderr)
    out = {
        "benchmark": "hw_explore_speed", "workload": args.workload, "preset": args.preset, "budget_mm2": budget,
        "per_point": points, "per_point_target_ms": 20.0,
        "search": {"points_per_machine": args.points, "machines": list(ARCH_NAMES), "jobs": args.jobs,
                   "wall_s": search_s, "target_s": 180.0,
                   "feasible": {a: v["feasible"] for a, v in doc["archs"].items()},
                   "best_time_s": {a: v["best_time"]["time_s"] for a, v in doc["archs"].items()},
                   "best_energy_j": {a: v["best_energy"]["energy_j"] for a, v in doc["archs"].items()},
                   "ratios": doc["ratios"]},
        "commit": git_commit(), "command": "python " + " ".join(shlex.quote(a) for a in sys.argv),
        "python": platform.python_version(), "cpus": os.cpu_count(), "load_avg": list(os.getloadavg()),
    }
    if args.check_points:
        import dataclasses

        check_plan = dataclasses.replace(plan, points=args.check_points, seed=args.seed + 1)
        check = summarise(check_plan, run_exploration(check_plan, progress=False))
        out["independent_check"] = {"points": args.check_points, "seed": args.seed + 1,
                                    "reported_best_over_check_best_minus_1": _best_gap(doc, check)}
    if args.out:
        atomic_write_json(args.out, out)
    print(f"wrote {args.out}" if args.out else out, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
