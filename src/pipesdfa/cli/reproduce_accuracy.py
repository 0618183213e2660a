"""``pipesdfa reproduce accuracy``: the accuracy table (BPTT, SDFA and its variants, output-only).

Hooked into ``pipesdfa reproduce`` (:mod:`pipesdfa.cli.reproduce`), which adds
:func:`add_args` to its parser and calls :func:`run` for the subject ``accuracy``. Writes
``DIR/accuracy.json`` (``{"rows": [{"workload", "method", "variant", "seed", "final_acc",
"selected_acc", "selected_epoch", "selected_val_acc", "test_correct", "best_acc", "best_epoch",
"epochs", "batch", "seconds", ...}]}``, accuracies as fractions; ``selected_*``: at the epoch
chosen on the run's validation split), ``DIR/accuracy.md`` (first the table chosen on
validation: per workload and rule the ``--lr`` value with the best validation accuracy, test at
the chosen and at the last epoch with 95 % bootstrap intervals, McNemar against BPTT) and ``DIR/curves-<workload>.png``; the runs themselves live in
``DIR/runs/`` (see :mod:`pipesdfa.studies.accuracy.runner`).
"""

from __future__ import annotations

import argparse
import shlex
import sys

from pipesdfa.util.errors import UserError

__all__ = ["add_args", "run", "reject_accuracy_options", "single_lr", "SHARED"]


def add_args(p: argparse.ArgumentParser) -> None:
    """Options of the ``accuracy`` subject (``--workloads`` and ``--out`` are shared)."""
    g = p.add_argument_group("accuracy (reproduce accuracy)")
    g.add_argument("--methods", nargs="+", metavar="RULE", default=None,
                   help="rules to train: bptt, sdfa (the authors' rule), sdfa:VARIANT, output "
                        "(default: all of them, every SDFA variant included)")
    g.add_argument("--seeds", nargs="+", type=int, metavar="S", default=None,
                   help="accuracy: seeds (default 0 1 2); personalisation: seeds (default: the budget's)")
    g.add_argument("--epochs", nargs="+", metavar="[W=]E", default=None,
                   help="epochs per workload (W=E) or for all (E); default: the workload's (the paper's)")
    g.add_argument("--batch", nargs="+", metavar="[W=]B", default=None, help="batch size per workload, as --epochs")
    g.add_argument("--lr", nargs="+", metavar="[W=]LR[,LR...]", default=None,
                   help="accuracy: learning rate(s) per workload, as --epochs; several rates give one group of "
                        "runs each. personalisation: one rate LR for every adaptation (default: the pre-trained "
                        "run's)")
    g.add_argument("--init-gain", nargs="+", metavar="[W=]G[,G...]", default=None,
                   help="initial weight gain(s) per workload (PyTorch's default init times G), as --lr")
    g.add_argument("--data-dir", metavar="ROOT", default=None,
                   help="root folder of the real datasets (personalisation: the folder holding braille/; the "
                        "Braille study is skipped without it)")
    g.add_argument("--fresh", action="store_true",
                   help="retrain every run (default: reuse finished runs in DIR/runs with the same configuration "
                        "and resume interrupted ones)")
    g.add_argument("--keep-checkpoints", action="store_true", help="keep every run's checkpoint.pt")
    # the other subjects' options and their defaults, read off the parser (accuracy refuses them)
    _OTHERS_ONLY.update({d: p.get_default(d) for d in _OTHER_DESTS})


#: Accuracy's options, with their defaults (the other subjects refuse them when given, except the
#: ones they share: personalisation reads --data-dir, --seeds and --lr too).
_ACCURACY_ONLY = {"methods": None, "seeds": None, "epochs": None, "batch": None, "lr": None, "init_gain": None,
                  "data_dir": None, "fresh": False, "keep_checkpoints": False}
SHARED = {"personalisation": ("seeds", "lr", "data_dir")}
#: The other subjects' options (hardware's ``--set``, ``--config``, ..., personalisation's
#: ``--budget``, ...) that ``accuracy`` refuses.
_OTHER_DESTS = ("preset", "overrides", "config_files", "samples", "gantt_workload", "sweep_workload", "no_sweeps",
                "budget", "ks", "pretrain")
_OTHERS_ONLY: dict = {}
_FLAGS = {"overrides": "set", "config_files": "config"}


def _given(args: argparse.Namespace, defaults: dict) -> list[str]:
    return ["--" + k.replace("_", "-") for k, v in defaults.items() if getattr(args, k, v) != v]


def reject_accuracy_options(args: argparse.Namespace) -> None:
    """For the other subjects: a clear error if an option only accuracy reads was given."""
    shared = SHARED.get(args.subject, ())
    given = _given(args, {k: v for k, v in _ACCURACY_ONLY.items() if k not in shared})
    if given:
        raise UserError(f"{', '.join(given)} apply to 'reproduce accuracy'"
                        + (f" (and {', '.join('--' + k.replace('_', '-') for k in shared)} to '{args.subject}')"
                           if shared else " only"))


def single_lr(values: list[str] | None) -> float | None:
    """``--lr`` as another subject reads it: one number (``None`` when not given)."""
    if values is None:
        return None
    if len(values) != 1 or "=" in values[0] or "," in values[0]:
        raise UserError(f"--lr {' '.join(values)}: this subject takes one learning rate, e.g. --lr 1e-3")
    try:
        return float(values[0])
    except ValueError:
        raise UserError(f"--lr {values[0]!r}: expected a number") from None


def command_line(args: argparse.Namespace) -> str:
    """The command as a user would type it, from the parsed options (stored in accuracy.json)."""
    parts = ["pipesdfa", "reproduce", "accuracy"]
    for flag, value in (("--workloads", args.workloads), ("--methods", args.methods), ("--seeds", args.seeds),
                        ("--epochs", args.epochs), ("--batch", args.batch), ("--lr", args.lr),
                        ("--init-gain", args.init_gain)):
        if value:
            parts += [flag, *map(str, value)]
    if args.data_dir:
        parts += ["--data-dir", args.data_dir]
    parts += ["--out", str(args.out)]
    return " ".join(shlex.quote(p) for p in parts)


def run(args: argparse.Namespace) -> int:
    from pipesdfa.studies.accuracy.plan import (TABLE_WORKLOADS, default_methods, parse_assignments, parse_method,
                                        plan_runs)
    from pipesdfa.studies.accuracy.report import compact_markdown
    from pipesdfa.studies.accuracy.runner import run_table

    given = ["--" + _FLAGS.get(d, d).replace("_", "-") for d, v in _OTHERS_ONLY.items() if getattr(args, d, v) != v]
    if given:
        raise UserError(f"{', '.join(given)} apply to 'reproduce hardware' or 'personalisation', not 'accuracy'")
    workloads = list(args.workloads or TABLE_WORKLOADS)
    methods = [parse_method(m) for m in args.methods] if args.methods else default_methods()
    seeds = args.seeds if args.seeds is not None else [0, 1, 2]
    if len(set(seeds)) != len(seeds):
        raise UserError(f"--seeds: {seeds} repeats a seed")
    specs = plan_runs(workloads, methods, seeds,
                      epochs=parse_assignments(args.epochs or [], "--epochs", int, workloads),
                      batches=parse_assignments(args.batch or [], "--batch", int, workloads),
                      lrs=parse_assignments(args.lr or [], "--lr", float, workloads),
                      gains=parse_assignments(args.init_gain or [], "--init-gain", float, workloads))
    command = command_line(args)
    doc = run_table(specs, args.out, data_dir=args.data_dir, command=command, fresh=args.fresh,
                    keep_checkpoints=args.keep_checkpoints,
                    progress=not args.no_progress and sys.stderr.isatty(),
                    threads=getattr(args, "threads", None) or "auto")
    print(compact_markdown(doc), end="")
    failed = sum(r["final_acc"] is None for r in doc["rows"])
    print(f"{len(doc['rows']) - failed} of {len(doc['rows'])} runs done; wrote {args.out}/accuracy.json, "
          f"accuracy.md and the learning curves")
    return 1 if failed else 0
