"""``pipesdfa train``: train one model with one learning rule; writes metrics.json and checkpoints."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from pipesdfa.errors import UserError

import pipesdfa.analog.feedback  # noqa: F401  (registers the "rram" feedback sampler)
from pipesdfa.analog.cli import add_hardware_args, hardware_overrides
from pipesdfa.data.catalog import CATALOG
from pipesdfa.learning import RULES, TEMPORAL_MODES
from pipesdfa.learning.feedback import FEEDBACK_MODES, SAMPLERS
from pipesdfa.surrogates import SURROGATES
from pipesdfa.workloads import WORKLOADS


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


def add_model_args(p: argparse.ArgumentParser) -> None:
    """Options shared by ``train`` and ``demo``-like commands: what to train and how."""
    g = p.add_argument_group("what to train")
    g.add_argument("--workload", choices=sorted(WORKLOADS), help="a registered workload (paper's or digits-mlp)")
    g.add_argument("--dataset", help=f"dataset name (instead of --workload): {', '.join(CATALOG)}")
    g.add_argument("--model", choices=["mlp", "convnet", "vgg11"], help="model family (with --dataset)")
    g.add_argument("--layers", type=positive_int, help="MLP weight layers, as in the paper's '2 x FC' (hidden = layers - 1)")
    g.add_argument("--hidden", type=positive_int, help="MLP hidden width (default 256)")
    g.add_argument("--neuron", choices=["lif", "if"], help="neuron model")
    g.add_argument("--tau", type=float, help="LIF membrane time constant in time steps (default 2)")
    g.add_argument("--init-gain", type=positive_float, help="multiply PyTorch's default weight init by this (default 1)")
    g.add_argument("--surrogate", choices=sorted(SURROGATES), help="surrogate gradient (default atan)")
    g.add_argument("--alpha", type=positive_float, help="surrogate width parameter")
    g.add_argument("--data-dir", help="root folder of the dataset's official files")
    r = p.add_argument_group("learning rule")
    r.add_argument("--method", choices=sorted(RULES), default="bptt", help="learning rule (default bptt)")
    r.add_argument("--feedback", choices=FEEDBACK_MODES, help="sdfa: one shared sliced matrix or one per layer (default shared)")
    r.add_argument("--distribution", choices=sorted(SAMPLERS), help="sdfa: feedback entries (default gaussian)")
    r.add_argument("--temporal", choices=TEMPORAL_MODES, help="sdfa: local BPTT inside a layer, or instantaneous (default local)")
    r.add_argument("--feedback-seed", type=int, help="sdfa: seed of the feedback matrices (default: --seed)")
    r.add_argument("--sdfa-impl", choices=["fast", "autograd"], help="sdfa: graph-free fast path (default) or the "
                   "autograd reference (same gradients)")
    r.add_argument("--sdfa-store", choices=["float", "half"], help="sdfa fast path: precision of the saved state "
                   "(default half: float16 surrogate derivatives, bfloat16 weight-gradient products, ~1e-3 relative "
                   "error; float = the autograd reference's gradients, more memory)")
    h = p.add_argument_group("hyper-parameters")
    h.add_argument("--T", type=positive_int, help="time steps")
    h.add_argument("--batch", type=positive_int, help="batch size")
    h.add_argument("--epochs", type=positive_int, help="epochs")
    h.add_argument("--lr", type=positive_float, help="learning rate")
    h.add_argument("--weight-decay", type=float, help="weight decay")
    h.add_argument("--loss", choices=["ce", "mse"], help="loss on the firing rates")
    h.add_argument("--optimizer", choices=["adam", "sgd"], help="optimiser (default adam, cosine schedule)")
    h.add_argument("--seed", type=int, default=0, help="seed of initialisation and batch order (default 0)")
    h.add_argument("--max-train", type=positive_int, help="use only N training samples (event datasets: the first of every class in turn; digits: the first N)")
    h.add_argument("--max-test", type=positive_int, help="use only N test samples (as --max-train)")
    h.add_argument("--device", default="cpu", help="cpu, cuda or auto (default cpu)")
    h.add_argument("--backend", default="auto", help="neuron kernel backend: torch (the reference), fused, triton, "
                   "auto (default: triton on CUDA, else fused)")
    h.add_argument("--num-workers", type=int, default=0, help="DataLoader workers for on-disk datasets")
    add_hardware_args(p)


def config_from_args(args: argparse.Namespace):
    """A :class:`TrainConfig` from parsed arguments (workload defaults, then explicit flags)."""
    from pipesdfa.errors import UserError
    from pipesdfa.train import TrainConfig, config_from_workload

    overrides = dict(
        neuron=args.neuron, tau=args.tau, init_gain=args.init_gain, surrogate=args.surrogate, alpha=args.alpha, T=args.T, batch=args.batch,
        epochs=args.epochs, lr=args.lr, weight_decay=args.weight_decay, loss=args.loss, optimizer=args.optimizer,
        method=args.method, feedback=args.feedback, distribution=args.distribution, temporal=args.temporal,
        feedback_seed=args.feedback_seed, sdfa_impl=args.sdfa_impl, sdfa_store=args.sdfa_store, seed=args.seed, data_dir=args.data_dir, max_train=args.max_train,
        max_test=args.max_test, device=args.device, backend=args.backend, num_workers=args.num_workers,
        out=getattr(args, "out", None), **hardware_overrides(args),
    )
    if args.workload:
        if args.dataset or args.model:
            raise UserError("give either --workload or --dataset/--model, not both")
        cfg = config_from_workload(args.workload, **overrides)
    else:
        if not (args.dataset and args.model):
            raise UserError("give --workload NAME, or both --dataset and --model")
        base = TrainConfig(dataset=args.dataset, model=args.model)
        cfg = TrainConfig.from_dict({**base.to_dict(), **{k: v for k, v in overrides.items() if v is not None}})
    if args.layers is not None or args.hidden is not None:
        if cfg.model != "mlp":
            raise UserError("--layers/--hidden apply to --model mlp only")
        if args.layers is not None and args.layers < 2:
            raise UserError(f"--layers counts weight layers and must be >= 2, got {args.layers}")
        n_hidden = (args.layers - 1) if args.layers is not None else len(cfg.hidden)
        width = args.hidden if args.hidden is not None else (cfg.hidden[0] if cfg.hidden else 256)
        cfg.hidden = (width,) * n_hidden
    return cfg.validate()


def register(sub) -> None:
    p = sub.add_parser("train", help="train an SNN with bptt, sdfa or output",
                       description="Train an SNN. Writes DIR/metrics.json, DIR/checkpoint.pt (each epoch, "
                                   "atomically) and DIR/learning_curve.png.")
    add_model_args(p)
    p.add_argument("--out", default=None, help="run folder (default runs/<workload or dataset>-<method>)")
    p.add_argument("--resume", metavar="CHECKPOINT", help="continue a run from its checkpoint file or run folder "
                   "(its saved config is used; the result is bit-identical to an uninterrupted run)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the final metrics as JSON")
    p.add_argument("--nproc", type=positive_int, default=1,
                   help="data-parallel worker processes on this machine (gloo on CPU, NCCL on CUDA); "
                        "the global batch --batch is split across them (default 1)")
    p.set_defaults(func=run)


def _train_worker(cfg, resume, progress) -> None:
    """One rank of ``--nproc N`` (module level: started by spawn)."""
    from pipesdfa.train import train

    train(cfg, resume=resume, progress=progress)


def run(args: argparse.Namespace) -> int:
    from pipesdfa.distributed import init_from_env, launch
    from pipesdfa.train import METRICS, load_checkpoint, train

    cfg = None
    if not args.resume:
        if args.out is None:
            args.out = f"runs/{args.workload or args.dataset}-{args.method}"
        cfg = config_from_args(args)
    if args.nproc > 1:
        if os.environ.get("WORLD_SIZE", "1") != "1":
            raise UserError("--nproc starts its own workers; do not combine it with torchrun")
        device = cfg.device if cfg is not None else load_checkpoint(args.resume)["config"].get("device", "cpu")
        launch(args.nproc, _train_worker, cfg, args.resume, not args.no_progress, device=device)
        out = Path(cfg.out) if cfg is not None else Path(load_checkpoint(args.resume)["path"]).parent
        metrics = json.loads((out / METRICS).read_text())
    else:
        ctx = init_from_env(cfg.device if cfg is not None else "cpu")  # under torchrun: join the group
        metrics = train(cfg, resume=args.resume, progress=not args.no_progress)
        if not ctx.is_main:
            return 0
    fin = metrics["final"]
    if args.json:
        print(json.dumps(fin, indent=2))
    else:
        print(f"final test accuracy {100 * (fin['test_acc'] or 0):.2f}%  ({fin['epochs']} epochs, "
              f"{fin['seconds']:.1f}s)  -> {metrics['config']['out']}/metrics.json")
    return 0
