"""``pipesdfa explore``: search every resource split of PipeLayer and PipeSDFA under one area budget.

The design space, evaluation and fronts live in :mod:`pipesdfa.hw.design`,
:mod:`pipesdfa.hw.evaluate` and :mod:`pipesdfa.hw.pareto`; the search and its report in
:mod:`pipesdfa.studies.exploration`. This module holds the arguments only.
"""

from __future__ import annotations

import argparse
import shlex
import sys

from pipesdfa.cli.hwargs import add_config_args, config_from_args
from pipesdfa.hw.archs import ARCH_NAMES
from pipesdfa.hw.endurance import ENDURANCE_LEVELS
from pipesdfa.hw.config.keys import parse_set
from pipesdfa.hw.config.presets import DRAM_PRESETS
from pipesdfa.util.atomic import check_writable_dir
from pipesdfa.zoo.workloads import WORKLOADS


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("explore", help="search both accelerators' resource splits under one area budget",
                       description="Design-space exploration: every resource the mapping fixes or caps (copies per "
                                   "layer and per transposed copy, gradient arrays, feedback copies, buffer per tile, "
                                   "ADCs per group, gradient technology, PipeLayer's transpose and time-step options) "
                                   "searched per machine under the same area budget; writes DIR/explore.json "
                                   "(Pareto fronts, best designs, best-vs-best ratios), DIR/pareto.png and "
                                   "DIR/pareto.html. Both machines run strict update semantics unless --set says "
                                   "otherwise.")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--workload", choices=list(WORKLOADS), metavar="NAME", help=f"one of: {', '.join(WORKLOADS)}")
    src.add_argument("--checkpoint", metavar="RUN",
                     help="a pipesdfa train run folder: explore for its model, T, batch, activity and device")
    p.add_argument("--arch", action="append", choices=list(ARCH_NAMES), default=[],
                   help="architecture (repeatable; default all)")
    p.add_argument("--budget-mm2", type=float, required=True, metavar="X", help="silicon area budget (mm^2)")
    p.add_argument("--dram", default="hbm2", choices=list(DRAM_PRESETS), help="off-chip memory preset (default hbm2)")
    p.add_argument("--points", type=int, default=200, metavar="N", help="design points per machine (default 200)")
    p.add_argument("--search", default="random", choices=["random", "nsga2", "grid"],
                   help="random draws, optuna's NSGA-II, or an evenly spaced grid (default random)")
    p.add_argument("--jobs", default="1", metavar="J", help="processes (joblib), or 'ray' for a Ray cluster (default 1)")
    p.add_argument("--seed", type=int, default=0, help="search seed (default 0)")
    p.add_argument("--polish", type=int, default=0, metavar="R",
                   help="then refine the fastest and the most frugal design by coordinate descent, at most R rounds "
                        "each (every design one variable away; default 0)")
    p.add_argument("--fix", action="append", default=[], metavar="VAR=VALUE",
                   help="pin a design variable, e.g. --fix gradient.technology=rram (repeatable)")
    p.add_argument("--min-epochs", type=float, default=0.0, metavar="E",
                   help="lifetime constraint: designs whose most-written RRAM cell survives fewer training epochs "
                        "at --endurance are infeasible (default 0: none)")
    p.add_argument("--endurance", type=float, default=1e9, choices=list(ENDURANCE_LEVELS),
                   help="write cycles per RRAM cell for --min-epochs (default 1e9)")
    add_config_args(p)
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pipesdfa.studies.exploration import STRICT, make_plan, run_exploration, summarise, write_outputs

    check_writable_dir(args.out)
    common = dict(budget_mm2=args.budget_mm2, dram=args.dram, archs=args.arch, points=args.points,
                  search=args.search, jobs=args.jobs, seed=args.seed, fix=parse_set(args.fix, "--fix"),
                  min_epochs=args.min_epochs, endurance=args.endurance, polish=args.polish)
    if args.checkpoint:
        from pipesdfa.hw.runs import read_run

        rs = read_run(args.checkpoint)
        cfg = config_from_args(args, base={**STRICT, **rs.overrides})
        plan = make_plan(cfg=cfg, spec=rs.spec, T=rs.T, batch=rs.batch, epoch_samples=rs.train_samples,
                         activity=rs.metrics, name=rs.name,
                         source={"checkpoint": rs.path, "workload": rs.workload, "method": rs.method}, **common)
    else:
        cfg = config_from_args(args, base=STRICT)
        plan = make_plan(cfg=cfg, workload=args.workload, **common)
    found = run_exploration(plan, progress=not args.no_progress)
    command = "pipesdfa " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv[1:2] == ["explore"] else ""
    doc = summarise(plan, found, command)
    write_outputs(doc, found, args.out)
    _print(doc)
    return 0


def _print(doc: dict) -> None:
    print(f"{doc['workload']}: budget {doc['budget_mm2']:g} mm^2, {doc['dram']}, {doc['semantics']} updates, "
          f"{doc['search']} search")
    print(f"{'arch':10s} {'feasible':>9s} {'best time (s)':>14s} {'best energy (J)':>16s} {'default t (s)':>14s} "
          f"{'default E (J)':>14s}")
    for arch, a in doc["archs"].items():
        d = a["default"]
        print(f"{arch:10s} {a['feasible']:>4d}/{a['evaluated']:<4d} {a['best_time']['time_s']:14.4g} "
              f"{a['best_energy']['energy_j']:16.4g} {d.get('time_s', float('nan')):14.4g} "
              f"{d.get('energy_j', float('nan')):14.4g}")
    r = doc["ratios"]
    if r:
        dt = "-" if r["default_time"] is None else f"{r['default_time']:.2f}x"
        de = "-" if r["default_energy"] is None else f"{r['default_energy']:.2f}x"
        print(f"{doc['ratio']}: best vs best time {r['time_best_vs_best']:.2f}x, energy "
              f"{r['energy_best_vs_best']:.2f}x, hypervolume {r['hypervolume_ratio']:.2f}x "
              f"(hand-picked: time {dt}, energy {de})")
