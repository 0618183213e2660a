"""``pipesdfa simulate``: simulated training time, energy and area of one workload per architecture."""

from __future__ import annotations

import argparse
import json
import sys

from pipesdfa.atomic import atomic_write_json
from pipesdfa.commands._hwargs import add_config_args, config_from_args
from pipesdfa.hw.engine import simulate_detailed
from pipesdfa.hw.mapping import ARCHS
from pipesdfa.workloads import WORKLOADS


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("simulate", help="simulate training a workload on PipeLayer / PipeSDFA",
                       description="Simulated training cost (time, energy, area, breakdowns) of one workload.")
    p.add_argument("--workload", required=True, choices=list(WORKLOADS), metavar="NAME",
                   help=f"one of: {', '.join(WORKLOADS)}")
    p.add_argument("--arch", action="append", choices=list(ARCHS), default=[],
                   help="architecture (repeatable; default both)")
    add_config_args(p, "pipelayer-2017")
    p.add_argument("--T", type=int, default=None, help="time steps (default: the workload's)")
    p.add_argument("--batch", type=int, default=None, help="batch size (default: the workload's)")
    p.add_argument("--samples", type=int, default=None, help="training samples (default: one epoch)")
    p.add_argument("--activity", default=None, metavar="FILE",
                   help="a training run's metrics.json with per-layer spike rates (default rates otherwise)")
    p.add_argument("--json", action="store_true", help="print {\"runs\": [...]} as JSON")
    p.add_argument("--out", default=None, metavar="FILE", help="also write the JSON to FILE")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    archs = args.arch or list(ARCHS)
    runs = [simulate_detailed(args.workload, a, config=cfg, T=args.T, batch=args.batch, samples=args.samples,
                              activity=args.activity).run for a in archs]
    doc = {"preset": cfg.preset, "runs": runs}
    if args.out:
        atomic_write_json(args.out, doc)
    if args.json:
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
        return 0
    print(f"{args.workload}  preset {cfg.preset}")
    print(f"{'arch':10s} {'time (s)':>12s} {'energy (J)':>12s} {'area (mm^2)':>12s}  top energy phases")
    for r in runs:
        top = ", ".join(f"{k} {v / r['energy_j']:.0%}" for k, v in list(r["breakdown"]["phase"].items())[:3])
        print(f"{r['arch']:10s} {r['time_s']:12.4g} {r['energy_j']:12.4g} {r['area_mm2']:12.4g}  {top}")
    if len(runs) == 2 and runs[1]["time_s"] > 0 and runs[1]["energy_j"] > 0:
        print(f"ratio {runs[0]['arch']}/{runs[1]['arch']}: time {runs[0]['time_s'] / runs[1]['time_s']:.2f}x, "
              f"energy {runs[0]['energy_j'] / runs[1]['energy_j']:.2f}x")
    return 0
