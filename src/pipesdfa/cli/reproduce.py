"""``pipesdfa reproduce SUBJECT``: regenerate a result of the paper (one function per subject).

* ``hardware`` -- the paper's nine workloads on PipeLayer and PipeSDFA: ``DIR/hardware.json``
  (rows with every ratio and its range, checks, the configuration with sources),
  ``DIR/hardware.md``, ``DIR/constants.md``, ``DIR/gantt.png``, ``DIR/energy_breakdown.png``,
  ``DIR/ratio_ranges.png`` and ``DIR/sensitivity.png``;
* ``validation`` -- published figures recomputed through the engine: ``DIR/validation.json``
  and ``DIR/validation.md``;
* ``personalisation`` -- pre-trained networks adapted to device shifts, each adaptation priced on
  both accelerators (:mod:`pipesdfa.cli.personalise`);
* ``accuracy`` -- the accuracy table (BPTT, SDFA and its variants, output-only) where the data
  exists (:mod:`pipesdfa.cli.reproduce_accuracy`).

``personalisation`` and ``accuracy`` share ``--data-dir``, ``--seeds`` and ``--lr`` (the parser
keeps one definition of each, accuracy's, which says what each subject does with it).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable

from pipesdfa.util.atomic import atomic_write_json, atomic_write_text, ensure_writable_dir
from pipesdfa.cli import reproduce_accuracy
from pipesdfa.cli.hwargs import add_config_args, config_from_args
from pipesdfa.util.errors import UserError
from pipesdfa.cli.personalise import add_args as add_personalisation_args
from pipesdfa.zoo.workloads import PAPER_WORKLOADS, WORKLOADS

SUBJECTS: dict[str, Callable[[argparse.Namespace], int]] = {"accuracy": reproduce_accuracy.run}


def subject(name: str) -> Callable[[Callable[[argparse.Namespace], int]], Callable[[argparse.Namespace], int]]:
    def deco(fn: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
        SUBJECTS[name] = fn
        return fn
    return deco


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("reproduce", help="reproduce a result (hardware, validation, personalisation, accuracy)",
                       description="Reproduce a result: the hardware comparison over the paper's nine workloads, "
                                   "the validation of the cost engine against published figures, the "
                                   "personalisation study, or the accuracy table (BPTT vs SDFA) where the data "
                                   "exists.", conflict_handler="resolve")
    p.add_argument("subject", choices=["hardware", "validation", "personalisation", "accuracy"],
                   help="what to reproduce")
    add_config_args(p)
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--workloads", nargs="+", default=None, metavar="NAME",
                   help="subset of workloads (default: hardware, the nine of the paper; accuracy, the table's)")
    p.add_argument("--samples", type=int, default=None, help="hardware: samples per workload (default: one epoch)")
    p.add_argument("--gantt-workload", default="dvs-convnet", metavar="NAME",
                   help="hardware: workload of the Gantt chart (two batches, default dvs-convnet)")
    p.add_argument("--sweep-workload", default="dvs-vgg11", metavar="NAME",
                   help="hardware: workload of the sensitivity chart (default dvs-vgg11)")
    p.add_argument("--no-sweeps", action="store_true",
                   help="hardware: skip the sweep of uncertain constants (ranges collapse to the point value)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--explore", type=int, default=0, metavar="N",
                   help="hardware: also search N designs per machine for every --explore-workloads workload at HBM2 "
                        "and LPDDR5 under equal area (pipesdfa explore) and report best vs best: "
                        "DIR/explore-<workload>-<dram>.json, DIR/explore.md (default 0: off)")
    p.add_argument("--explore-workloads", nargs="+", default=None, metavar="NAME",
                   help="hardware --explore: workloads to search (default every registered workload)")
    p.add_argument("--explore-search", default="nsga2", choices=["random", "nsga2", "grid"],
                   help="hardware --explore: search (default nsga2)")
    p.add_argument("--explore-polish", type=int, default=3, metavar="R",
                   help="hardware --explore: coordinate-descent rounds from each machine's best designs (default 3)")
    p.add_argument("--jobs", default="1", metavar="J", help="hardware --explore: processes, or 'ray' (default 1)")
    add_personalisation_args(p)
    reproduce_accuracy.add_args(p)  # after personalisation's: its --data-dir/--seeds/--lr replace those
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.subject != "accuracy":
        reproduce_accuracy.reject_accuracy_options(args)
    if args.subject == "personalisation":  # --workloads and --lr as it reads them
        args.workloads = args.workloads or list(PAPER_WORKLOADS)
        args.lr = reproduce_accuracy.single_lr(args.lr)
    return SUBJECTS[args.subject](args)


def _gantt(workload: str, cfg, path: Path) -> None:
    from pipesdfa.hw import plots
    from pipesdfa.hw.engine import simulate_detailed
    from pipesdfa.hw.report import TSP
    from pipesdfa.hw.schedule import run_des
    from pipesdfa.hw.timing import build_batches
    from pipesdfa.zoo.workloads import get_workload

    w = get_workload(workload)
    scheds = {}
    for label, arch, c in (("pipelayer (as published)", "pipelayer", cfg),
                           ("pipelayer (time-step pipelined)", "pipelayer", cfg.with_overrides(TSP, "gantt")),
                           ("pipesdfa", "pipesdfa", cfg)):
        d = simulate_detailed(workload, arch, config=c, samples=2 * w.batch)
        scheds[label] = run_des(build_batches(d.mapping, c.params, d.stages, [w.batch, w.batch],
                                              d.run["memory"]["max_in_flight"]))
    plots.plot_gantt(scheds, path, f"{workload}: two batches of {w.batch}, T={w.T}, preset {cfg.preset}")


def _provenance() -> dict[str, str | None]:
    """The commit of the code and the command that made a result file (docs/results/provenance.json)."""
    import shlex

    from pipesdfa.util.git import code_commit

    return {"commit": code_commit(10), "command": "pipesdfa " + " ".join(shlex.quote(a) for a in sys.argv[1:])}


@subject("hardware")
def run_hardware(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from pipesdfa.hw import plots, report, uncertainty

    args.workloads = args.workloads or list(PAPER_WORKLOADS)
    for name in args.workloads + [args.gantt_workload, args.sweep_workload]:
        if name not in WORKLOADS:
            raise UserError(f"unknown workload {name!r}; expected one of: {', '.join(WORKLOADS)}")
    if args.samples is not None and args.samples < 1:
        raise UserError(f"--samples must be >= 1, got {args.samples}")
    out = ensure_writable_dir(args.out)
    cfg = config_from_args(args)
    n_pts = 0 if args.no_sweeps else sum(len(f.points) for f in uncertainty.factors(cfg))
    rows = []
    with tqdm(total=len(args.workloads) * (n_pts + 3), desc="hardware", disable=args.no_progress or not sys.stderr.isatty(),
              leave=False) as bar:
        for w in args.workloads:
            bar.set_postfix_str(w)
            rows.append(report.compare_all(w, cfg, sweeps=not args.no_sweeps, progress=bar.update,
                                           samples=args.samples))
            bar.update(3)
    doc = {
        "preset": cfg.preset,
        "device_preset": cfg.device_preset,
        "ratios": "PipeLayer / PipeSDFA",
        "rows": rows,
        "checks": report.checks(rows),
        "sweep_factors": [{"name": f.name, "source": f.source, "points": [p[0] for p in f.points]}
                          for f in uncertainty.factors(cfg)] if not args.no_sweeps else [],
        "config": cfg.to_dict(),
        "sources": cfg.sources,
        **_provenance(),
    }
    atomic_write_json(out / "hardware.json", doc)
    atomic_write_text(out / "hardware.md", report.markdown_table(rows, cfg.preset))
    atomic_write_text(out / "constants.md", report.constants_markdown(cfg))
    _gantt(args.gantt_workload, cfg, out / "gantt.png")
    plots.plot_energy_breakdown(rows, out / "energy_breakdown.png", cfg.preset)
    plots.plot_ratio_ranges(rows, out / "ratio_ranges.png", cfg.preset,
                            (report.PAPER_TIME_RANGE, report.PAPER_ENERGY_RANGE))
    by = {r["workload"]: r for r in rows}
    if not args.no_sweeps and args.sweep_workload in by:
        plots.plot_sensitivity(by[args.sweep_workload], out / "sensitivity.png",
                               f"{args.sweep_workload}, preset {cfg.preset}: one uncertain constant at a time")
    if args.explore:
        _explore(args, cfg, out)
    print(report.markdown_table(rows, cfg.preset), end="")
    c = doc["checks"]
    print(f"time ratio {c['time_ratio_range'][0]:.2f}x..{c['time_ratio_range'][1]:.2f}x, "
          f"energy ratio {c['energy_ratio_range'][0]:.2f}x..{c['energy_ratio_range'][1]:.2f}x "
          f"(paper {report.PAPER_TIME_RANGE[0]}-{report.PAPER_TIME_RANGE[1]}x, "
          f"{report.PAPER_ENERGY_RANGE[0]}-{report.PAPER_ENERGY_RANGE[1]}x); wrote {out}")
    return 0


def _explore(args: argparse.Namespace, cfg, out: Path) -> None:
    """Best vs best at equal area for every workload at both DRAM presets (studies.exploration.headline)."""
    import shlex

    from pipesdfa.studies.exploration.headline import explore_workloads, headline_markdown

    names = args.explore_workloads or list(WORKLOADS)
    for name in names:
        if name not in WORKLOADS:
            raise UserError(f"unknown workload {name!r}; expected one of: {', '.join(WORKLOADS)}")
    command = "pipesdfa " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv[1:2] == ["reproduce"] else ""
    show = not args.no_progress and sys.stderr.isatty()
    docs = explore_workloads(names, cfg, out, points=args.explore, search=args.explore_search, jobs=args.jobs,
                             polish=args.explore_polish, command=command, progress=(lambda s: print(f"explore {s}", file=sys.stderr)) if show else None)
    table = headline_markdown(docs)
    atomic_write_text(out / "explore.md", table)
    print(table, end="")


@subject("validation")
def run_validation(args: argparse.Namespace) -> int:
    from pipesdfa.hw.validation import TOLERANCE, markdown, validation_rows

    out = ensure_writable_dir(args.out)
    rows = validation_rows()
    ok = [r for r in rows if r["within_tolerance"]]
    doc = {"tolerance": TOLERANCE, "rows": rows, "matched": len(ok), "sources_matched": sorted({r["source"] for r in ok}),
           **_provenance()}
    atomic_write_json(out / "validation.json", doc)
    atomic_write_text(out / "validation.md", markdown(rows))
    print(markdown(rows), end="")
    print(f"{len(ok)} of {len(rows)} published figures within {TOLERANCE:.0%} "
          f"({len(doc['sources_matched'])} sources); wrote {out}")
    return 0


@subject("personalisation")
def run_personalisation(args: argparse.Namespace) -> int:
    """Adapt pre-trained networks to device shifts and price the adaptation (pipesdfa.studies.personalisation)."""
    from pipesdfa.cli.personalise import run as personalise

    return personalise(args)
