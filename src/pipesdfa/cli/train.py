"""``pipesdfa train``: train one model with one learning rule; writes a run folder.

Where the configuration comes from, in order (later wins): the workload's settings
(``--workload``) or the defaults of a composed model (``--dataset --model``), the keys of
``--config FILE.yaml`` (:mod:`pipesdfa.training.configfile`), then the flags given on the command line.
``--resume RUN`` takes the run's own configuration; flags may only agree with it
(:mod:`pipesdfa.training.resume`), except ``--epochs`` (extends) and the run-time flags.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from pipesdfa.util.errors import UserError

import pipesdfa.analog.feedback  # noqa: F401  (registers the "rram" feedback sampler)
from pipesdfa.cli.analog_args import add_hardware_args, hardware_overrides
from pipesdfa.data.catalog import CATALOG
from pipesdfa.learning import RULES, TEMPORAL_MODES, VARIANTS
from pipesdfa.learning.feedback import ALIGNED, FEEDBACK_MODES, SAMPLERS
from pipesdfa.learning.sdfa_variants import COMPOSED
from pipesdfa.util.names import choice
from pipesdfa.training.config import INITS, MODELS
from pipesdfa.snn.kernels.precision import PRECISIONS
from pipesdfa.snn.surrogates import SURROGATES
from pipesdfa.util.threads import add_threads_arg
from pipesdfa.zoo.workloads import WORKLOADS


def positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if v <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {v}")
    return v


def positive_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not v > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {v}")
    return v


#: flag -> TrainConfig field, for the flags that map one to one (None = not given).
FLAG_FIELDS = {
    "--neuron": "neuron", "--tau": "tau", "--init": "init", "--init-gain": "init_gain", "--init-rate": "init_rate",
    "--val-fraction": "val_fraction",
    "--surrogate": "surrogate", "--alpha": "alpha", "--T": "T", "--batch": "batch", "--epochs": "epochs",
    "--lr": "lr", "--weight-decay": "weight_decay", "--loss": "loss", "--optimizer": "optimizer",
    "--method": "method", "--feedback": "feedback", "--distribution": "distribution", "--temporal": "temporal",
    "--feedback-seed": "feedback_seed", "--sdfa-impl": "sdfa_impl", "--sdfa-store": "sdfa_store",
    "--sdfa-variant": "sdfa_variant", "--drop-last": "drop_last", "--seed": "seed",
    "--data-dir": "data_dir", "--max-train": "max_train", "--max-test": "max_test", "--device": "device",
    "--backend": "backend", "--precision": "precision", "--num-workers": "num_workers", "--threads": "threads", "--out": "out",
    "--hardware": "hardware", "--device-preset": "device_preset", "--set": "device_set",
    "--shift": "shift", "--shift-seed": "shift_seed", "--samples-per-class": "samples_per_class",
}


def add_sdfa_args(r) -> None:
    """SDFA's options (``train`` and ``finetune``): feedback, distribution, temporal mode, seed, path."""
    r.add_argument("--feedback", choices=FEEDBACK_MODES, help="sdfa: one shared sliced matrix or one per layer "
                   "(default: shared for a workload, independent for a composed model)")
    r.add_argument("--distribution", choices=sorted(SAMPLERS) + [ALIGNED],
                   help="sdfa: feedback entries (default: gaussian for a workload, aligned for a composed model; "
                        "aligned: the products of the forward weights the run starts with, through the linearised "
                        "chain with convolutions, one matrix per layer)")
    r.add_argument("--temporal", choices=TEMPORAL_MODES, help="sdfa: local BPTT inside a layer, or instantaneous (default local)")
    r.add_argument("--feedback-seed", type=int, help="sdfa: seed of the feedback matrices (default: --seed)")
    r.add_argument("--sdfa-impl", choices=["fast", "autograd"], help="sdfa: graph-free fast path (default) or the "
                   "autograd reference (same gradients)")
    r.add_argument("--sdfa-store", choices=["float", "half"], help="sdfa fast path: precision of the saved state "
                   "(default half: float16 surrogate derivatives, bfloat16 weight-gradient products, ~1e-3 relative "
                   "error; float = the autograd reference's gradients, more memory)")
    r.add_argument("--sdfa-variant", type=choice("sdfa variant", VARIANTS), metavar="NAME",
                   help=f"sdfa: the rule's variant: {', '.join(VARIANTS)} (default: authors, the paper's rule, "
                        f"with --workload; {COMPOSED} for a model composed with --dataset/--model; "
                        "docs/accuracy.md)")


def add_model_args(p: argparse.ArgumentParser) -> None:
    """Options shared by ``train`` and ``demo``-like commands: what to train and how."""
    g = p.add_argument_group("what to train")
    g.add_argument("--workload", type=choice("workload", sorted(WORKLOADS)), metavar="NAME",
                   help=f"a registered workload: {', '.join(sorted(WORKLOADS))}")
    g.add_argument("--dataset", type=choice("dataset", CATALOG), metavar="NAME",
                   help=f"dataset name (instead of --workload): {', '.join(CATALOG)}")
    g.add_argument("--model", type=choice("model", MODELS), metavar="NAME", help="model family (with --dataset): "
                   + ", ".join(MODELS))
    g.add_argument("--layers", type=positive_int, help="MLP weight layers, as in the paper's '2 x FC' (hidden = layers - 1)")
    g.add_argument("--hidden", type=positive_int, help="MLP hidden width (default 256)")
    g.add_argument("--neuron", choices=["lif", "if"], help="neuron model")
    g.add_argument("--tau", type=float, help="LIF membrane time constant in time steps (default 2)")
    g.add_argument("--init", choices=INITS, help="weight init: data (every hidden block fires at --init-rate on the "
                   "first training samples; the default of --dataset/--model) or default (PyTorch's init times "
                   "--init-gain; the workloads')")
    g.add_argument("--init-gain", type=positive_float, help="with --init default: multiply PyTorch's init by this")
    g.add_argument("--init-rate", type=positive_float, help="with --init data: target spikes per neuron per step "
                   "(default 0.1)")
    g.add_argument("--val-fraction", type=float, help="share of each class's training samples held out for "
                   "validation (stratified, seeded by --seed); the epoch is chosen on it (default 0.1; 0: none)")
    g.add_argument("--surrogate", choices=sorted(SURROGATES), help="surrogate gradient (default atan)")
    g.add_argument("--alpha", type=positive_float, help="surrogate width parameter")
    g.add_argument("--data-dir", help="root folder of the dataset's official files")
    g.add_argument("--data-option", dest="data_option", action="append", default=[], metavar="KEY=VALUE",
                   help="an option of the dataset's loader, e.g. stats=all for braille-analog (repeatable; "
                        "integers, numbers, true/false and comma-separated lists are read as such)")
    r = p.add_argument_group("learning rule")
    r.add_argument("--method", type=choice("method", sorted(RULES)), metavar="NAME",
                   help=f"learning rule: {', '.join(sorted(RULES))} (default bptt)")
    add_sdfa_args(r)
    h = p.add_argument_group("hyper-parameters")
    h.add_argument("--T", type=positive_int, help="time steps")
    h.add_argument("--batch", type=positive_int, help="batch size (at most the training split)")
    h.add_argument("--epochs", type=positive_int, help="epochs (with --resume: a larger number extends the run)")
    h.add_argument("--lr", type=positive_float, help="learning rate")
    h.add_argument("--weight-decay", type=float, help="weight decay")
    h.add_argument("--loss", choices=["ce", "mse"], help="loss on the firing rates")
    h.add_argument("--optimizer", choices=["adam", "sgd"], help="optimiser (default adam, cosine schedule)")
    h.add_argument("--seed", type=int, help="seed of initialisation and batch order (default 0)")
    h.add_argument("--drop-last", action="store_true", default=None,
                   help="leave out each epoch's last training batch when it is incomplete (braille-analog-mlp does)")
    h.add_argument("--max-train", type=positive_int, help="use only N training samples (event datasets: the first of every class in turn; digits: the first N)")
    h.add_argument("--max-test", type=positive_int, help="use only N test samples (as --max-train)")
    h.add_argument("--shift", metavar="NAME[:KEY=V,...]", help="a user's device: shift the data (data/shifts.py; "
                   "pipesdfa data info NAME --shift S shows what it does); the run also tests on the unshifted split")
    h.add_argument("--shift-seed", type=int, help="seed of the shifted device and its noise (default 0)")
    h.add_argument("--samples-per-class", type=positive_int, metavar="K",
                   help="train on K samples per class of the training split, drawn with --seed")
    h.add_argument("--device", help="cpu, cuda or auto (default cpu)")
    h.add_argument("--backend", help="neuron kernel backend: torch (the reference), fused, triton, "
                   "auto (default: triton on CUDA, else fused)")
    h.add_argument("--precision", choices=PRECISIONS, help="dense layers' matrix products: fp32 (default) or bf16 "
                   "(bfloat16 operands on the CPU's/GPU's bf16 units, float32 master weights and membrane; "
                   "docs/performance.md)")
    h.add_argument("--num-workers", type=int, help="DataLoader workers for on-disk datasets (default 0)")
    add_threads_arg(h)
    add_hardware_args(p)


def _option_value(text: str) -> Any:
    """``"3" -> 3``, ``"0.5" -> 0.5``, ``"true"/"false" -> bool``, ``"1,2" -> [1, 2]``, else the text."""
    if "," in text:
        return [_option_value(t) for t in text.split(",")]
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def parse_data_options(items: list[str], flag: str = "--data-option") -> dict[str, Any]:
    """``["stats=all", "repeat=2"] -> {"stats": "all", "repeat": 2}`` (later items win; a
    :class:`UserError` naming ``flag`` for an item that is not ``KEY=VALUE``)."""
    out: dict[str, Any] = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq or not key.strip() or not value:
            raise UserError(f"{flag} {item!r}: expected KEY=VALUE")
        out[key.strip().replace("-", "_")] = _option_value(value)
    return out


def given_flags(args: argparse.Namespace) -> dict[str, tuple[str, object]]:
    """``{field: (flag, value)}`` for every flag given on the command line (not None)."""
    out = {}
    for flag, fname in FLAG_FIELDS.items():
        v = hardware_overrides(args).get(fname) if fname in ("hardware", "device_preset", "device_set") \
            else getattr(args, flag.lstrip("-").replace("-", "_"), None)
        if v is not None:
            out[fname] = (flag, v)
    options = parse_data_options(getattr(args, "data_option", None) or [])
    if options:
        out["data_options"] = ("--data-option", options)
    return out


def _hidden(args: argparse.Namespace, model: str, hidden: tuple[int, ...]) -> tuple[int, ...] | None:
    if args.layers is None and args.hidden is None:
        return None
    if model != "mlp":
        raise UserError("--layers/--hidden apply to --model mlp only")
    if args.layers is not None and args.layers < 2:
        raise UserError(f"--layers counts weight layers and must be >= 2, got {args.layers}")
    n_hidden = (args.layers - 1) if args.layers is not None else len(hidden)
    width = args.hidden if args.hidden is not None else (hidden[0] if hidden else 256)
    return (width,) * n_hidden


def config_from_args(args: argparse.Namespace):
    """A :class:`TrainConfig` from parsed arguments (module docstring: defaults, file, flags);
    an error names the config file when one was given."""
    try:
        return _config_from_args(args)
    except UserError as exc:
        if getattr(args, "config", None) and str(args.config) not in str(exc):
            raise UserError(f"{exc} (configuration from {args.config} and the command line)") from None
        raise


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``over``'s values, section by section."""
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _config_from_args(args: argparse.Namespace):
    from pipesdfa.training.configfile import read_config_file
    from pipesdfa.training.loop import TrainConfig, config_from_workload

    file = read_config_file(args.config) if getattr(args, "config", None) else {}
    source = args.config or "the command line"
    flags = {k: v for k, (_, v) in given_flags(args).items()}
    if args.workload and (args.dataset or args.model):
        raise UserError("give either --workload or --dataset/--model, not both")
    workload = args.workload or (file.get("workload") if not (args.dataset or args.model) else None)
    if workload:
        cfg = config_from_workload(workload)
    else:
        dataset = args.dataset or file.get("data", {}).get("dataset")
        model = args.model or file.get("model", {}).get("name")
        if not (dataset and model):
            raise UserError("give --workload NAME, or both --dataset and --model (on the command line or in --config "
                            "as data.dataset and model.name)")
        cfg = TrainConfig.from_flat(dataset=dataset, model=model)
    cfg = TrainConfig.from_values(_merge(cfg.to_dict(), file), source)
    if args.workload:
        cfg.workload = args.workload
    elif args.dataset or args.model:
        cfg.workload = None
        cfg = cfg.updated(source, **{k: getattr(args, k) for k in ("dataset", "model") if getattr(args, k)})
    if "data_options" in flags:  # the flags' options add to (and win over) the file's
        flags["data_options"] = {**cfg.data.options, **flags["data_options"]}
    if "init_gain" in flags and "init" not in flags:  # a gain asks for PyTorch's init scaled by it
        flags["init"] = "default"
    cfg = cfg.updated(source, **flags)
    hidden = _hidden(args, cfg.model.name, tuple(cfg.model.hidden))
    if hidden is not None:
        cfg.model.hidden = hidden
    if "out" not in flags and "out" not in file.get("runtime", {}):
        cfg.runtime.out = f"runs/{cfg.workload or cfg.data.dataset}-{cfg.rule.method}"
    return cfg.validate()


def register(sub) -> None:
    p = sub.add_parser("train", help="train an SNN with bptt, sdfa or output",
                       description="Train an SNN. Writes DIR/config.yaml (the resolved configuration), "
                                   "DIR/checkpoint.pt and DIR/metrics.json (atomically, after every epoch), "
                                   "DIR/metrics.csv and DIR/learning_curve.png (docs/training.md).")
    p.add_argument("--config", metavar="FILE.yaml", help="read the configuration from a YAML/JSON file (sections data, "
                   "model, rule, optim, hardware, finetune, runtime, e.g. a run's config.yaml); flags override it")
    add_model_args(p)
    p.add_argument("--out", default=None, help="run folder (default runs/<workload or dataset>-<method>)")
    p.add_argument("--resume", metavar="RUN", help="continue a run from its folder or checkpoint file with its own "
                   "config (bit-identical to an uninterrupted run); flags must agree with the run, except "
                   "--epochs N, which extends it (the cosine schedule restarts at the old end)")
    p.add_argument("--tensorboard", action="store_true", default=None,
                   help="also write TensorBoard scalars to DIR/tensorboard (needs pip install 'pipesdfa[tensorboard]')")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (there is none unless stderr is a terminal)")
    p.add_argument("--json", action="store_true", help="print the final metrics as JSON")
    p.add_argument("--nproc", type=positive_int, default=1,
                   help="data-parallel worker processes on this machine (gloo on CPU, NCCL on CUDA); "
                        "the global batch --batch is split across them (default 1)")
    p.set_defaults(func=run)


def resume_config(args: argparse.Namespace):
    """The config of ``--resume RUN`` after checking the flags against it (or exit 2)."""
    from pipesdfa.training.resume import continued, open_run

    if args.config:
        raise UserError("--config does not combine with --resume: a resumed run uses its own config.yaml")
    cfg, state, folder = open_run(args.resume)
    given = given_flags(args)
    for name in ("workload", "dataset", "model"):
        v = getattr(args, name)
        if v is not None:
            given[name] = (f"--{name}", v)
    hidden = _hidden(args, cfg.model.name, tuple(cfg.model.hidden))
    if hidden is not None:
        given["hidden"] = ("--layers/--hidden", list(hidden))
    return continued(cfg, state, folder, given, args.tensorboard, args.epochs), folder


def _train_worker(cfg, resume, epochs, progress) -> None:
    """One rank of ``--nproc N`` (module level: started by spawn)."""
    from pipesdfa.training.loop import train

    train(cfg, resume=resume, epochs=epochs, progress=progress)


def run(args: argparse.Namespace) -> int:
    from pipesdfa.training.distributed import init_from_env, launch
    from pipesdfa.training.loop import METRICS, train

    if args.resume:
        cfg, folder = resume_config(args)
        resume, epochs = folder, args.epochs
    else:
        cfg = config_from_args(args)
        if args.tensorboard:
            cfg.runtime.tensorboard = True
        if (Path(cfg.runtime.out) / "checkpoint.pt").is_file():
            raise UserError(f"--out {cfg.runtime.out} already holds a run (checkpoint.pt): --resume {cfg.runtime.out} continues it; "
                            f"give another --out for a new run")
        resume, epochs = None, None
    if cfg.runtime.tensorboard:
        from pipesdfa.training.logs import require_tensorboard

        require_tensorboard()
    progress = False if args.no_progress else None
    if args.nproc > 1:
        if os.environ.get("WORLD_SIZE", "1") != "1":
            raise UserError("--nproc starts its own workers; do not combine it with torchrun")
        launch(args.nproc, _train_worker, cfg, resume, epochs, progress, device=cfg.runtime.device)
        metrics = json.loads((Path(cfg.runtime.out) / METRICS).read_text())
    else:
        ctx = init_from_env(cfg.runtime.device)  # under torchrun: join the group
        metrics = train(cfg, resume=resume, epochs=epochs, progress=progress)
        if not ctx.is_main:
            return 0
    fin = metrics["final"]
    if args.json:
        print(json.dumps(fin, indent=2))
    else:
        print(f"final test accuracy {100 * (fin['test_acc'] or 0):.2f}%  ({fin['epochs']} epochs, "
              f"{fin['seconds']:.1f}s)  -> {metrics['config']['runtime']['out']}/metrics.json")
    return 0
