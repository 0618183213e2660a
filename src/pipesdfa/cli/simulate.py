"""``pipesdfa simulate``: simulated training time, energy and area of a workload or a training run."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from pipesdfa.util.atomic import atomic_write_json
from pipesdfa.cli.hwargs import add_config_args, config_from_args
from pipesdfa.util.errors import UserError
from pipesdfa.hw.activity import read_metrics
from pipesdfa.hw.archs import ARCH_NAMES
from pipesdfa.hw.engine import simulate_detailed
from pipesdfa.hw.runs import RunSpec, check_same_model, read_run
from pipesdfa.studies.personalisation.setup_cost import run_feedback_setup
from pipesdfa.zoo.workloads import WORKLOADS


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("simulate", help="simulate training a workload or a training run on PipeLayer / PipeSDFA",
                       description="Simulated training cost (time, energy, area, breakdowns) of a workload, or of "
                                   "the model, T, batch, spike rates and device of a pipesdfa train run.")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--workload", choices=list(WORKLOADS), metavar="NAME", help=f"one of: {', '.join(WORKLOADS)}")
    src.add_argument("--checkpoint", metavar="RUN",
                     help="a pipesdfa train run folder (or its metrics.json / checkpoint.pt): simulate its model, T, "
                          "batch, measured activity and device")
    p.add_argument("--arch", action="append", choices=list(ARCH_NAMES), default=[],
                   help="architecture (repeatable; default all)")
    add_config_args(p)
    p.add_argument("--T", type=int, default=None, help="time steps (default: the workload's or the run's)")
    p.add_argument("--batch", type=int, default=None, help="batch size (default: the workload's or the run's)")
    p.add_argument("--samples", type=int, default=None, help="training samples (default: one epoch)")
    p.add_argument("--activity", default=None, metavar="FILE",
                   help="a training run's metrics.json of the same workload: its spike rates, pulses and device "
                        "(default rates otherwise)")
    p.add_argument("--json", action="store_true", help="print {\"runs\": [...]} as JSON")
    p.add_argument("--out", default=None, metavar="FILE", help="also write the JSON to FILE")
    p.set_defaults(func=run)


def _activity_file(path: str, workload: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(activity dict, hardware overrides)`` of ``--activity FILE``; a run of another model is refused."""
    d = read_metrics(path)
    if "model" in d and "config" in d:
        run = read_run(path)
        check_same_model(run, workload)
        return run.metrics, run.overrides
    return d, {}


def run(args: argparse.Namespace) -> int:
    run_spec: RunSpec | None = None
    device: dict[str, Any] = {}
    activity: Any = None
    if args.checkpoint:
        if args.activity:
            raise UserError("--activity and --checkpoint both give the activity; --checkpoint RUN uses the run's own")
        run_spec = read_run(args.checkpoint)
        device, activity = run_spec.overrides, run_spec.metrics
    elif args.activity:
        activity, device = _activity_file(args.activity, args.workload)
    cfg = config_from_args(args, base=device)
    archs = args.arch or list(ARCH_NAMES)
    if run_spec is not None:
        model: Any = run_spec.spec
        T = args.T if args.T is not None else run_spec.T
        batch = args.batch if args.batch is not None else run_spec.batch
        epoch = run_spec.train_samples
    else:
        model, T, batch, epoch = args.workload, args.T, args.batch, None
    runs = []
    for a in archs:
        r = simulate_detailed(model, a, config=cfg, T=T, batch=batch, samples=args.samples, activity=activity,
                              epoch_samples=epoch).run
        if run_spec is not None:
            r["source"] = {"checkpoint": run_spec.path, "workload": run_spec.workload, "method": run_spec.method}
            r["workload"] = run_spec.name
            if a == "pipesdfa" and (setup := run_feedback_setup(run_spec, cfg.params)) is not None:
                r["feedback_setup"] = setup
        runs.append(r)
    doc = {"preset": cfg.preset, "device_preset": cfg.device_preset, "runs": runs}
    if args.out:
        atomic_write_json(args.out, doc)
    if args.json:
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
        return 0
    name = runs[0]["workload"]
    print(f"{name}  preset {cfg.preset}  device {cfg.device_preset}  T={runs[0]['T']} batch={runs[0]['batch']} "
          f"samples={runs[0]['samples']}")
    print(f"{'arch':10s} {'time (s)':>12s} {'energy (J)':>12s} {'area (mm^2)':>12s} {'chips':>6s} {'DRAM (MB)':>10s}"
          "  top energy phases")
    for r in runs:
        if "feedback_setup" in r:
            f = r["feedback_setup"]
            print(f"  {r['arch']}: + one-off programming of the aligned feedback, {f['energy_j']:.3g} J and "
                  f"{f['time_s']:.3g} s ({f['cells']} cells), not in the totals")
    for r in runs:
        top = ", ".join(f"{k} {v / r['energy_j']:.0%}" for k, v in list(r["breakdown"]["phase"].items())[:3])
        print(f"{r['arch']:10s} {r['time_s']:12.4g} {r['energy_j']:12.4g} {r['area_mm2']:12.4g} {r['chips']:6d} "
              f"{r['memory']['dram_bytes'] / 1e6:10.4g}  {top}")
    if len(runs) >= 2 and runs[1]["time_s"] > 0 and runs[1]["energy_j"] > 0:
        print(f"ratio {runs[0]['arch']}/{runs[1]['arch']}: time {runs[0]['time_s'] / runs[1]['time_s']:.2f}x, "
              f"energy {runs[0]['energy_j'] / runs[1]['energy_j']:.2f}x")
    return 0
