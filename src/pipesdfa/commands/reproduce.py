"""``pipesdfa reproduce hardware``: the paper's nine workloads on PipeLayer and PipeSDFA.

Writes ``DIR/hardware.json`` (rows, checks, the full configuration with sources),
``DIR/hardware.md`` (the table), ``DIR/constants.md`` (every constant with its source),
``DIR/gantt.png``, ``DIR/energy_breakdown.png`` and ``DIR/sensitivity.png``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tqdm import tqdm

from pipesdfa.atomic import atomic_write_json, atomic_write_text, ensure_writable_dir
from pipesdfa.commands._hwargs import add_config_args, config_from_args
from pipesdfa.errors import UserError
from pipesdfa.hw import plots, report
from pipesdfa.hw.dataflow import build_batches, stage_times
from pipesdfa.hw.energy import chips_needed
from pipesdfa.hw.mapping import ARCHS, map_layers
from pipesdfa.hw.schedule import run_des
from pipesdfa.hw.timing import max_in_flight
from pipesdfa.workloads import PAPER_WORKLOADS, WORKLOADS, get_workload, resolve


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("reproduce", help="reproduce a result of the paper (hardware)",
                       description="Reproduce the paper's hardware comparison over its nine workloads.")
    p.add_argument("subject", choices=["hardware"], help="what to reproduce")
    add_config_args(p, "pipelayer-2017")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--workloads", nargs="+", default=list(PAPER_WORKLOADS), metavar="NAME",
                   help="subset of workloads (default: the nine of the paper)")
    p.add_argument("--samples", type=int, default=None, help="samples per workload (default: one epoch)")
    p.add_argument("--gantt-workload", default="dvs-convnet", metavar="NAME",
                   help="workload of the Gantt chart (two batches, default dvs-convnet)")
    p.add_argument("--sweep-workload", default="nmnist-mlp3", metavar="NAME",
                   help="workload of the sensitivity sweep (default nmnist-mlp3)")
    p.add_argument("--no-sweeps", action="store_true", help="skip the T and sensitivity sweeps (faster)")
    p.set_defaults(func=run)


def _gantt(workload: str, cfg, path: Path) -> None:
    w = get_workload(workload)
    spec = w.model_spec()
    layers = resolve(spec)
    scheds = {}
    for arch in ARCHS:
        m = map_layers(layers, cfg.params, arch, spec.num_classes * spec.vote)
        st = stage_times(m, cfg.params, w.T)
        K = max_in_flight(m, cfg.params, w.T, chips_needed(m, cfg.params))
        scheds[arch] = run_des(build_batches(m, cfg.params, st, [w.batch, w.batch], K))
    plots.plot_gantt(scheds, path, f"{workload}: two batches of {w.batch}, T={w.T}, preset {cfg.preset}")


def run(args: argparse.Namespace) -> int:
    for name in args.workloads + [args.gantt_workload, args.sweep_workload]:
        if name not in WORKLOADS:
            raise UserError(f"unknown workload {name!r}; expected one of: {', '.join(WORKLOADS)}")
    if args.samples is not None and args.samples < 1:
        raise UserError(f"--samples must be >= 1, got {args.samples}")
    out = ensure_writable_dir(args.out)
    cfg = config_from_args(args)
    bar = tqdm(args.workloads, desc="workloads", leave=False)
    rows = [report.compare(w, cfg, samples=args.samples) for w in bar]
    t_series = {}
    sweeps = {}
    if not args.no_sweeps:
        for w in tqdm(args.workloads, desc="T sweep", leave=False):
            t_series[w] = report.ratio_vs_T(w, cfg, samples=args.samples)
        with tqdm(total=21, desc="sensitivity sweep", leave=False) as sbar:
            sweeps = report.sensitivity(args.sweep_workload, cfg, samples=args.samples, progress=lambda: sbar.update())
    doc = {
        "preset": cfg.preset,
        "ratios": "PipeLayer / PipeSDFA",
        "rows": rows,
        "checks": report.checks(rows, t_series or None),
        "ratio_vs_T": t_series,
        "sensitivity": {"workload": args.sweep_workload, "sweeps": sweeps},
        "config": cfg.to_dict(),
        "sources": cfg.sources,
    }
    atomic_write_json(out / "hardware.json", doc)
    atomic_write_text(out / "hardware.md", report.markdown_table(rows, cfg.preset))
    atomic_write_text(out / "constants.md", report.constants_markdown(cfg))
    _gantt(args.gantt_workload, cfg, out / "gantt.png")
    plots.plot_energy_breakdown(rows, out / "energy_breakdown.png", cfg.preset)
    if sweeps:
        plots.plot_sensitivity(sweeps, out / "sensitivity.png", f"{args.sweep_workload}, preset {cfg.preset}")
    print(report.markdown_table(rows, cfg.preset), end="")
    c = doc["checks"]
    print(f"time ratio {c['time_ratio_range'][0]:.2f}x..{c['time_ratio_range'][1]:.2f}x, "
          f"energy ratio {c['energy_ratio_range'][0]:.2f}x..{c['energy_ratio_range'][1]:.2f}x; wrote {out}")
    return 0
