"""``pipesdfa finetune``: adapt a trained run to a user's shifted data on a few labelled samples.

``pipesdfa finetune --checkpoint BASE --shift S [--samples-per-class K] --method M [--layers
last|all] [--hardware rram ...] --epochs E --out DIR`` starts from the weights of the run
``BASE`` (its folder or ``checkpoint.pt``), keeps its model, neuron, ``T`` and test split, and
trains with rule ``M`` on ``K`` samples per class of the shifted training split (drawn with
``--seed``); every epoch evaluates the shifted and the unshifted test split. The run folder,
``config.yaml``, ``checkpoint.pt``, ``metrics.json`` (with a ``finetune`` block: the base, the
shift, the accuracy before and after) and ``--resume`` are those of ``pipesdfa train``
(docs/training.md); the run itself is :func:`pipesdfa.training.loop.train` of the config built by
:func:`pipesdfa.training.finetune.finetune_config`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from pipesdfa.cli.analog_args import add_hardware_args, hardware_overrides
from pipesdfa.cli.train import add_sdfa_args, positive_float, positive_int
from pipesdfa.data.catalog import CATALOG
from pipesdfa.data.shifts import SHIFTS
from pipesdfa.util.errors import UserError
from pipesdfa.learning.feedback import ALIGNED
from pipesdfa.util.names import choice
from pipesdfa.util.threads import add_threads_arg

METHODS = ("sdfa", "bptt", "output")

#: flag -> TrainConfig field of the flags that change what is trained (checked on --resume).
FLAG_FIELDS = {
    "--checkpoint": "base", "--shift": "shift", "--shift-seed": "shift_seed",
    "--samples-per-class": "samples_per_class",
    "--method": "method", "--layers": "adapt", "--feedback": "feedback", "--distribution": "distribution",
    "--temporal": "temporal", "--feedback-seed": "feedback_seed", "--sdfa-impl": "sdfa_impl",
    "--sdfa-store": "sdfa_store", "--sdfa-variant": "sdfa_variant", "--epochs": "epochs", "--lr": "lr",
    "--batch": "batch",
    "--weight-decay": "weight_decay", "--optimizer": "optimizer", "--seed": "seed", "--max-test": "max_test",
    "--data-dir": "data_dir", "--threads": "threads", "--out": "out",
    "--hardware": "hardware", "--device-preset": "device_preset", "--set": "device_set",
}


def register(sub) -> None:
    p = sub.add_parser("finetune", help="adapt a trained run to shifted data on a few samples per class",
                       description="Adapt the network of a trained run to a user's device (a data shift) on K "
                                   "labelled samples per class, with SDFA, BPTT or the output layer only, on ideal "
                                   "weights or simulated RRAM; evaluates the shifted and the unshifted test split. "
                                   "Writes a run folder like pipesdfa train (docs/training.md).")
    p.add_argument("--checkpoint", metavar="BASE", help="the trained run to start from (folder or checkpoint.pt)")
    p.add_argument("--dataset", type=choice("dataset", CATALOG), metavar="NAME",
                   help="the data to adapt on (default: the checkpoint's); a checkpoint of another dataset is refused")
    p.add_argument("--shift", metavar="NAME[:KEY=V,...]",
                   help=f"the user's device (data/shifts.py): {', '.join(SHIFTS)}")
    p.add_argument("--shift-seed", type=int, help="seed of the shifted device and its noise (default 0)")
    p.add_argument("--samples-per-class", type=positive_int, metavar="K",
                   help="labelled samples per class of the shifted training split (default: all of it)")
    p.add_argument("--method", choices=METHODS, help="learning rule of the adaptation (default sdfa)")
    p.add_argument("--layers", choices=["all", "last"], help="adapt every block (default) or the output block only "
                   "(--method output adapts the output block only)")
    r = p.add_argument_group("sdfa")
    add_sdfa_args(r)
    h = p.add_argument_group("hyper-parameters (default: the base run's)")
    h.add_argument("--epochs", type=positive_int, help="epochs over the K x classes samples (default 10)")
    h.add_argument("--lr", type=positive_float, help="learning rate")
    h.add_argument("--batch", type=positive_int, help="batch size (default: the base's, at most the training split)")
    h.add_argument("--optimizer", choices=["adam", "sgd"], help="optimiser")
    h.add_argument("--weight-decay", type=float, help="weight decay")
    h.add_argument("--seed", type=int, help="seed of the samples drawn, the batch order and the feedback (default 0)")
    h.add_argument("--max-test", type=positive_int, help="test samples (default: the base's test split)")
    h.add_argument("--data-dir", help="root folder of the dataset's files (default: the base's)")
    add_threads_arg(h)
    add_hardware_args(p)
    p.add_argument("--out", help="run folder (required for a new run)")
    p.add_argument("--resume", metavar="RUN", help="continue a fine-tuning run (flags must agree with it; --epochs N "
                   "extends it)")
    p.add_argument("--tensorboard", action="store_true", default=None, help="also write TensorBoard scalars")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the finetune block of metrics.json as JSON")
    p.set_defaults(func=run)


def _given(args: argparse.Namespace) -> dict[str, tuple[str, object]]:
    hw = hardware_overrides(args)
    out = {}
    for flag, field in FLAG_FIELDS.items():
        v = hw.get(field) if field in hw else getattr(args, flag.lstrip("-").replace("-", "_"), None)
        if flag == "--checkpoint":
            v = args.checkpoint
        if v is not None:
            out[field] = (flag, v)
    return out


def new_config(args: argparse.Namespace):
    """The config of a new fine-tuning run from the flags (module docstring)."""
    from pipesdfa.training.checkpoint import load_checkpoint
    from pipesdfa.training.finetune import finetune_config
    from pipesdfa.training.config import TrainConfig

    if not args.checkpoint:
        raise UserError("give --checkpoint BASE (the trained run to adapt), or --resume RUN")
    if not args.out:
        raise UserError("give --out DIR (the run folder of the adaptation)")
    if (Path(args.out) / "checkpoint.pt").is_file():
        raise UserError(f"--out {args.out} already holds a run (checkpoint.pt): --resume {args.out} continues it; "
                        "give another --out for a new run")
    state = load_checkpoint(args.checkpoint)
    base = TrainConfig.from_values(state["config"], f"checkpoint {state['path']}: field 'config'")
    if args.dataset is not None and args.dataset != base.data.dataset:
        raise UserError(f"checkpoint {state['path']} is a run of dataset {base.data.dataset!r}, not {args.dataset!r}: "
                        f"give a checkpoint trained on {args.dataset}")
    if args.shift is not None:
        from pipesdfa.data.shifting import resolve_shift

        resolve_shift(base.data.dataset, args.shift, args.shift_seed or 0)
    method = args.method or "sdfa"
    if method == "output" and args.layers == "all":
        raise UserError("--method output adapts the output block only; drop --layers all")
    batch = args.batch
    if batch is None and args.samples_per_class is not None:
        batch = min(base.optim.batch, args.samples_per_class * CATALOG[base.data.dataset].num_classes)
    changes = {k: v for k, (_, v) in _given(args).items() if k not in ("base", "out")}
    changes.update(method=method, adapt="last" if method == "output" else (args.layers or "all"),
                   epochs=args.epochs or 10, batch=batch, out=args.out)
    if args.distribution == ALIGNED and args.feedback is None:
        changes["feedback"] = "independent"
    if args.tensorboard:
        changes["tensorboard"] = True
    return finetune_config(base, state["path"], **changes)


def resume_config(args: argparse.Namespace):
    """The config of ``--resume RUN`` after checking the flags against it (or exit 2)."""
    from pipesdfa.training.resume import continued, open_run

    cfg, state, folder = open_run(args.resume)
    if cfg.finetune.base is None:
        raise UserError(f"{folder} is not a fine-tuning run (its config has no base); continue it with "
                        f"pipesdfa train --resume {folder}")
    given = _given(args)
    if "base" in given and Path(given["base"][1]).resolve() not in (Path(cfg.finetune.base).resolve(),
                                                                    Path(cfg.finetune.base).resolve().parent):
        raise UserError(f"--checkpoint {given['base'][1]} contradicts the run in {folder} (base {cfg.finetune.base}); --resume "
                        "continues a run from its own base")
    given.pop("base", None)
    if "shift" in given:  # compare the canonical form
        from pipesdfa.data.shifting import resolve_shift

        given["shift"] = ("--shift", resolve_shift(cfg.data.dataset, given["shift"][1], cfg.finetune.shift_seed).spec)
    return continued(cfg, state, folder, given, args.tensorboard, args.epochs), folder


def run(args: argparse.Namespace) -> int:
    from pipesdfa.training.loop import train

    if args.resume:
        cfg, folder = resume_config(args)
        metrics = train(cfg, resume=folder, epochs=args.epochs, progress=False if args.no_progress else None)
    else:
        cfg = new_config(args)
        metrics = train(cfg, progress=False if args.no_progress else None)
    ft = metrics["finetune"]
    if args.json:
        print(json.dumps(ft, indent=2))
        return 0
    b, a = ft["before"], ft["after"]
    line = (f"adapted with {cfg.rule.method} on {ft['train_samples']} samples ({ft['shift'] or 'no shift'}): "
            f"shifted test {100 * b['test_acc']:.2f}% -> {100 * (a['test_acc'] or 0):.2f}%")
    if "test_acc_unshifted" in b:
        line += f", unshifted {100 * b['test_acc_unshifted']:.2f}% -> {100 * (a['test_acc_unshifted'] or 0):.2f}%"
    print(f"{line}  -> {cfg.runtime.out}/metrics.json")
    return 0
