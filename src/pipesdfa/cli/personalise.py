"""``pipesdfa reproduce personalisation``: options and the run (registered in ``commands/reproduce.py``).

Writes ``DIR/personalisation.json`` = ``{"rows": [{"workload", "shift", "k", "method",
"feedback", "hardware", "seed", "acc_before", "acc_after", "acc_unshifted_after", "sim":
{"pipesdfa": {"time_s", "energy_j"}, "pipelayer": {...}}, ...}], "summary", "acceptance",
"skipped", "budget", "hardware_config", "command", "commit"}`` (``commit``: the code's, ``git
describe --dirty``), ``DIR/personalisation.md`` (the table),
``DIR/recovery.png`` (accuracy recovered vs K per arm) and ``DIR/energy.png`` (accuracy
recovered vs simulated energy), and keeps every run folder under ``DIR/runs/`` (a second call
reuses the finished runs and resumes an interrupted one).
"""

from __future__ import annotations

import argparse
import platform
import sys

from pipesdfa.util.errors import UserError

__all__ = ["add_args", "run"]


def add_args(p: argparse.ArgumentParser) -> None:
    from pipesdfa.studies.personalisation.plan import BUDGETS

    g = p.add_argument_group("personalisation")
    g.add_argument("--budget", choices=sorted(BUDGETS), default="full",
                   help="personalisation: full (digits-mlp and braille-mlp, 3 shifts each, K = 1, 5, 20, 6 arms, "
                        "3 seeds) or tiny (a small digits network, for tests)")
    g.add_argument("--data-dir", default=None, metavar="ROOT",
                   help="personalisation: folder holding braille/ (the Braille study is skipped without it)")
    g.add_argument("--seeds", type=int, nargs="+", default=None, help="personalisation: seeds (default: the budget's)")
    g.add_argument("--ks", type=int, nargs="+", default=None, metavar="K",
                   help="personalisation: samples per class, a subset of the budget's (default: all of them)")
    g.add_argument("--pretrain", choices=["bptt", "sdfa"], default="bptt",
                   help="personalisation: the rule that pre-trains each network (default bptt). With sdfa the "
                        "random-B SDFA arm adapts with the pre-training's own feedback matrices, and the RRAM arm of "
                        "random B (a device-sampled B the network never aligned with) is left out")
    g.add_argument("--lr", type=float, default=None,
                   help="personalisation: learning rate of every adaptation (default: the pre-trained run's)")


def _studies(budget, args: argparse.Namespace):
    from pipesdfa.zoo.workloads import PAPER_WORKLOADS

    names = [s.workload for s in budget.studies]
    if list(args.workloads) == list(PAPER_WORKLOADS):  # --workloads not given: the budget's studies
        return list(budget.studies)
    bad = [w for w in args.workloads if w not in names]
    if bad:
        raise UserError(f"--workloads {bad[0]}: the {budget.name} personalisation budget has "
                        f"{', '.join(names)}")
    return [s for s in budget.studies if s.workload in args.workloads]


def _data_missing(study, data_dir: str | None) -> str | None:
    if not study.needs_data:
        return None
    if data_dir is None:
        return "no --data-dir (the folder holding braille/)"
    from pipesdfa.data.layouts import find_braille

    try:
        find_braille(data_dir, source="raw")
    except UserError as exc:
        return str(exc)
    return None


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    import torch
    from tqdm import tqdm

    from pipesdfa.util.atomic import atomic_write_json, atomic_write_text, ensure_writable_dir
    from pipesdfa.cli.hwargs import config_from_args
    from pipesdfa.studies.personalisation import plots, report
    from pipesdfa.studies.personalisation.plan import BUDGETS
    from pipesdfa.studies.personalisation.runner import study_rows
    from pipesdfa.util.git import code_commit, run_commits

    budget = BUDGETS[args.budget]
    if args.seeds:
        budget = replace(budget, seeds=tuple(dict.fromkeys(args.seeds)))
    if args.ks:
        bad = [k for k in args.ks if k not in budget.epochs]
        if bad:
            raise UserError(f"--ks {bad[0]}: the {budget.name} budget adapts on K in {', '.join(map(str, budget.ks))}")
        budget = replace(budget, ks=tuple(dict.fromkeys(args.ks)))
    if args.lr is not None:
        if not args.lr > 0:
            raise UserError(f"--lr must be > 0, got {args.lr}")
        budget = replace(budget, adapt={**budget.adapt, "lr": args.lr})
    if args.pretrain != "bptt":
        budget = replace(budget, studies=tuple(replace(s, pretrain={**s.pretrain, "method": args.pretrain})
                                               for s in budget.studies),
                         arms=tuple(a for a in budget.arms if not (a.method == "sdfa" and a.hardware == "rram"
                                                                   and a.distribution != "aligned")))
    studies = _studies(budget, args)
    hw = config_from_args(args)  # checked before any training
    out = ensure_writable_dir(args.out)
    threads = torch.get_num_threads()
    commit = code_commit(7)  # before any output file changes the checkout
    rows, skipped, todo = [], [], []
    for s in studies:
        why = _data_missing(s, args.data_dir)
        (skipped.append({"workload": s.workload, "reason": why}) if why else todo.append(s))
    n = sum(len(s.shifts) for s in todo) * len(budget.ks) * len(budget.arms) * len(budget.seeds)
    with tqdm(total=n, desc="personalisation", unit="run", disable=args.no_progress or not sys.stderr.isatty(),
              leave=False) as bar:
        def tick(what: str) -> None:
            bar.set_postfix_str(what, refresh=False)
            if "pre-training" not in what:
                bar.update(1)

        for s in todo:
            rows += study_rows(s, budget, out / "runs", args.data_dir, threads,
                               lambda device: config_from_args(args, base=device), tick)
    summary = report.summarise(rows)
    acc = report.acceptance(summary)
    command = f"pipesdfa reproduce personalisation --budget {budget.name}"
    for flag, v in (("--data-dir", args.data_dir), ("--seeds", args.seeds), ("--ks", args.ks), ("--pretrain", None if args.pretrain == "bptt" else args.pretrain),
                    ("--lr", args.lr)):
        if v is not None:
            command += f" {flag} {' '.join(map(str, v)) if isinstance(v, list) else v}"
    if list(args.workloads) != [s.workload for s in budget.studies] and studies != list(budget.studies):
        command += " --workloads " + " ".join(s.workload for s in studies)
    doc = {"command": f"{command} --out {args.out}", "commit": commit, "budget": {
        "name": budget.name, "ks": list(budget.ks), "seeds": list(budget.seeds),
        "epochs": {str(k): v for k, v in budget.epochs.items() if k in budget.ks},
        "adapt": dict(budget.adapt), "arms": [a.label for a in budget.arms],
        "studies": [{"workload": s.workload, "shifts": list(s.shifts), "pretrain": dict(s.pretrain)}
                    for s in studies]},
        "hardware_config": {"preset": hw.preset, "device_preset": hw.device_preset},
        # the thread count changes floating-point sums (the last digits of a run): rerun with the same
        "machine": {"python": platform.python_version(), "torch": torch.__version__,
                    "processor": platform.processor() or platform.machine(), "threads": threads},
        # the code that trained each adaptation (a finished run folder is reused by configuration)
        "run_commits": run_commits([r.get("run_commit") for r in rows], commit, "adaptations"),
        "rows": rows, "summary": summary, "acceptance": acc, "skipped": skipped}
    atomic_write_json(out / "personalisation.json", doc)
    table = report.markdown(summary)
    atomic_write_text(out / "personalisation.md", f"<!-- {doc['command']} -->\n" + table)
    if summary:
        plots.plot_recovery(summary, out / "recovery.png")
        plots.plot_energy(summary, out / "energy.png")
    print(report.markdown(summary, ks=[max(budget.ks)]), end="")
    for s in skipped:
        print(f"skipped {s['workload']}: {s['reason']}")
    for w, v in acc["workloads"].items():
        best = [f"{x['shift']} (drop {100 * x['drop']:.1f} pts, SDFA share of BPTT's recovery at K={x['k']}: "
                + ", ".join(f"{a} {100 * r:.0f} %" for a, r in x["sdfa_share_of_bptt"].items() if r is not None)
                + ")" for x in v["shifts"] if x["counts"]]
        by = [a for a, x in v["by_arm"].items() if x["met"]]
        print(f"{w}: {'met by ' + ', '.join(by) if by else 'not met'}: "
              + ("; ".join(best) or "no shift costs 10 points"))
    print(f"wrote {out}/personalisation.json, personalisation.md, recovery.png, energy.png ({len(rows)} runs)")
    return 0
