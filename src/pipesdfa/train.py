"""The training loop: epochs, metrics, atomic checkpoints, bit-identical resume, plots.

A run is fully described by a :class:`TrainConfig`. ``train(cfg)`` writes into ``cfg.out``:

* ``checkpoint.pt`` after every epoch (atomically): model, rule state (SDFA feedback
  matrices), optimiser, schedule, epoch, metrics so far;
* ``metrics.json`` = ``{"config", "model", "dataset", "epochs": [...], "final": {...}}``;
* ``learning_curve.png``.

``hardware="rram"`` trains on simulated RRAM crossbars (:mod:`pipesdfa.analog`): the weight
ops are swapped for analog ones before the rule and optimiser are built, every optimiser step
is committed to the devices as pulse counts, and ``metrics.json`` gains ``"hardware"``,
``"device"``, ``"analog"`` and ``"pulses"``.

Determinism: the model is initialised from ``seed``; epoch ``k`` visits the training set in
the order ``randperm(N, generator=seed_for(seed, k))``, so a resumed run sees exactly the
batches the uninterrupted run would have seen and ends bit-identical (same machine).
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from pipesdfa.atomic import atomic_write_json, atomic_write_with, ensure_writable_dir
from pipesdfa.checkpoint import CHECKPOINT, CHECKPOINT_VERSION, load_checkpoint, restore, save_checkpoint
from pipesdfa.data.registry import DatasetBundle, load_dataset
from pipesdfa.distributed import context as dist_context
from pipesdfa.errors import UserError
from pipesdfa.evaluation import batches, evaluate, to_time_first
from pipesdfa.learning import Rule, alignment, make_rule
from pipesdfa.models import SpikingNet, build_model
from pipesdfa.neurons import NeuronParams
from pipesdfa.runconfig import HARDWARE, LOSSES, TrainConfig, config_from_workload, make_loss
from pipesdfa.workloads import build_spec

__all__ = ["TrainConfig", "config_from_workload", "train", "fit", "evaluate", "load_checkpoint", "make_loss", "make_optimizer",
           "build_run", "restore", "CHECKPOINT", "METRICS", "HARDWARE", "LOSSES", "CHECKPOINT_VERSION", "batches"]

METRICS = "metrics.json"


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """The generator that orders epoch ``epoch`` (independent of anything else)."""
    return torch.Generator().manual_seed(seed * 1_000_003 + epoch)


@dataclass
class Run:
    """A built run: config, data, model, rule, optimiser, schedule."""

    cfg: TrainConfig
    data: DatasetBundle
    model: SpikingNet
    rule: Rule
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    device: torch.device
    hw: Any = None  # pipesdfa.analog.AnalogTraining for hardware="rram"


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"device {name!r} requested but CUDA is not available")
    return torch.device(name)


def build_run(cfg: TrainConfig) -> Run:
    """Load the data, build model, rule, optimiser and schedule from ``cfg`` (seeded)."""
    cfg.validate()
    # max_train/max_test go to the loader, which trims the split before framing it.
    data = load_dataset(cfg.dataset, T=cfg.T, data_dir=cfg.data_dir, seed=cfg.seed, max_train=cfg.max_train,
                        max_test=cfg.max_test, **cfg.data_options)
    spec = build_spec(cfg.model, data.input_shape, data.num_classes, cfg.hidden, name=cfg.workload or cfg.model)
    neuron = NeuronParams(kind=cfg.neuron, tau=cfg.tau, surrogate=cfg.surrogate, alpha=cfg.alpha)
    torch.manual_seed(cfg.seed)
    device = _device(cfg.device)
    model = build_model(spec, neuron, backend=cfg.backend)
    scale_init(model, cfg.init_gain)
    model.to(device)
    hw = None
    hardware = cfg.hardware_setup()
    if hardware is not None:  # weight ops -> crossbars, before the rule and optimiser see them
        from pipesdfa.analog.training import AnalogTraining

        hw = AnalogTraining(model, *hardware, seed=cfg.seed)
    fb_seed = cfg.seed if cfg.feedback_seed is None else cfg.feedback_seed
    opts = dict(feedback=cfg.feedback, distribution=cfg.distribution, temporal=cfg.temporal,
                fast=cfg.sdfa_impl == "fast", store=cfg.sdfa_store)
    if cfg.distribution == "rram":
        import pipesdfa.analog.feedback  # noqa: F401  (registers the "rram" feedback sampler)
    rule = make_rule(cfg.method, model, **(dict(opts, feedback_seed=fb_seed) if cfg.method == "sdfa" else {}))
    if hw is not None and cfg.method == "sdfa" and cfg.distribution == "rram":
        from pipesdfa.analog.feedback import refill_with_rram

        refill_with_rram(rule.feedback, hw.device, fb_seed)  # the feedback array is the same device
    rule.to(device)
    opt = make_optimizer(cfg.optimizer, model.parameters(), cfg.lr, cfg.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs)
    return Run(cfg, data, model, rule, opt, sched, device, hw)


def make_optimizer(name: str, params, lr: float, weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """``adam`` (Adam) or ``sgd`` (SGD, momentum 0.9), PyTorch's fused single-kernel
    implementation where it exists for the parameters (floating point, CPU or CUDA): one
    kernel over all parameters instead of several multi-tensor passes, which is several
    times faster on a CPU. Same update rule; rounding may differ."""
    params = list(params)
    fused = bool(params) and all(p.is_floating_point() and p.device.type in ("cpu", "cuda") for p in params)

    def build(**kw) -> torch.optim.Optimizer:
        if name == "adam":
            return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, **kw)
        if name == "sgd":
            return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=weight_decay, **kw)
        raise UserError(f"optimizer {name!r} unknown; expected 'adam' or 'sgd'")

    if fused:
        try:
            return build(fused=True)
        except (RuntimeError, TypeError):  # no fused kernel for this device/dtype in this torch
            pass
    return build()


def scale_init(model: SpikingNet, gain: float) -> None:
    """Multiply every weight by ``gain`` after PyTorch's default initialisation.

    PyTorch's default ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))`` (SpikingJelly's, hence the
    authors') leaves deep spiking layers nearly silent at initialisation when inputs are
    sparse; ``gain > 1`` restores activity (it matters most for the output-only baseline,
    whose hidden layers never learn).
    """
    if gain != 1.0:
        with torch.no_grad():
            for blk in model.blocks:
                blk.weight.mul_(gain)


# ----------------------------------------------------------------------------- the loop

def plot_learning_curve(history: list[dict], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ep = [h["epoch"] for h in history]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.4))
    a1.plot(ep, [h["train_loss"] for h in history], "o-", label="train")
    a1.plot(ep, [h["test_loss"] for h in history], "s-", label="test")
    a1.set_xlabel("epoch")
    a1.set_ylabel("loss")
    a1.legend()
    a2.plot(ep, [100 * h["train_acc"] for h in history], "o-", label="train")
    a2.plot(ep, [100 * h["test_acc"] for h in history], "s-", label="test")
    a2.set_xlabel("epoch")
    a2.set_ylabel("accuracy (%)")
    a2.legend()
    fig.suptitle(title)
    fig.tight_layout()
    atomic_write_with(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110))
    plt.close(fig)


def train(cfg: TrainConfig | None = None, *, resume: str | os.PathLike[str] | None = None,
          progress: bool = True, log: Callable[[str], None] | None = print) -> dict[str, Any]:
    """Train (or resume) a run and return its metrics dict (also written to ``metrics.json``)."""
    state = None
    if resume is not None:
        state = load_checkpoint(resume)
        cfg = TrainConfig.from_dict(state["config"])
        cfg.out = str(Path(state["path"]).parent)
    if cfg is None:
        raise ValueError("train() needs a config or a checkpoint to resume")
    cfg.validate()
    dctx = dist_context()  # multi-process data parallel (pipesdfa.distributed); world 1 = plain run
    out = ensure_writable_dir(cfg.out) if dctx.is_main else Path(cfg.out)
    run = build_run(cfg)
    dctx.broadcast_state(run.model, run.rule)
    history: list[dict] = []
    start_epoch = 0
    if state is not None:
        restore(run, state)
        history = list(state["history"])
        start_epoch = int(state["epoch"])
    loss_fn = make_loss(cfg.loss)
    n_train = len(run.data.train)  # type: ignore[arg-type]
    title = f"{cfg.workload or cfg.dataset}: {cfg.method}"
    from tqdm.auto import tqdm

    for epoch in range(start_epoch, cfg.epochs):
        run.model.train()
        t0 = time.perf_counter()
        order = torch.randperm(n_train, generator=epoch_generator(cfg.seed, epoch))
        loss_sum = correct = 0.0
        seen = 0
        bar = tqdm(total=n_train, desc=f"epoch {epoch + 1}/{cfg.epochs} {cfg.method}", unit="sample",
                   disable=not progress or not dctx.is_main, leave=False)
        for xb, yb in batches(run.data.train, order, cfg.batch, cfg.num_workers):
            xb, yb = dctx.shard(xb, yb)
            x = to_time_first(xb, run.device)
            y = yb.to(run.device)
            run.optimizer.zero_grad(set_to_none=True)
            if y.shape[0] > 0:
                loss, rates = run.rule.compute_grads(x, y, loss_fn)
            else:  # more ranks than samples in this global batch
                loss, rates = 0.0, torch.zeros(0, run.model.spec.num_classes, device=run.device)
            dctx.reduce_grads(run.model, y.shape[0])
            run.optimizer.step()
            if run.hw is not None:
                run.hw.after_step()  # the step becomes pulse counts on the crossbars
            dctx.sync_buffers(run.model)
            b = y.shape[0]
            seen += b
            loss_sum += loss * b
            correct += float((rates.argmax(1) == y).sum())
            bar.update(b)
            bar.set_postfix(loss=f"{loss_sum / seen:.4f}", acc=f"{correct / seen:.3f}")
        bar.close()
        seen, loss_sum, correct = dctx.sum([seen, loss_sum, correct])
        run.scheduler.step()
        if run.hw is not None:
            run.hw.end_epoch()
        train_seconds = time.perf_counter() - t0
        ev = evaluate(run.model, run.data.test, loss_fn, max(cfg.batch, 64), run.device, cfg.num_workers, run.rule)
        seconds = time.perf_counter() - t0
        if not math.isfinite(loss_sum):
            raise UserError(f"training diverged at epoch {epoch + 1} (loss is not finite); lower --lr")
        rec = {"epoch": epoch + 1, "train_loss": loss_sum / seen, "train_acc": correct / seen,
               "test_loss": ev["loss"], "test_acc": ev["acc"], "seconds": seconds,
               "samples_per_s": seen / train_seconds, "lr": run.optimizer.param_groups[0]["lr"],
               "activity": ev["activity"], "ops": ev["ops"]}
        history.append(rec)
        if dctx.is_main:
            save_checkpoint(out / CHECKPOINT, run, epoch + 1, history)
        if log and dctx.is_main:
            log(f"epoch {epoch + 1:3d}/{cfg.epochs}  train loss {rec['train_loss']:.4f} acc {rec['train_acc']:.4f}"
                f"  test loss {rec['test_loss']:.4f} acc {rec['test_acc']:.4f}  {seconds:.1f}s")
    metrics = _metrics(run, history, loss_fn)
    metrics["nproc"] = dctx.world
    if dctx.is_main:
        atomic_write_json(out / METRICS, metrics)
        if history:
            plot_learning_curve(history, out / "learning_curve.png", title)
    return metrics


def _metrics(run: Run, history: list[dict], loss_fn) -> dict[str, Any]:
    cfg = run.cfg
    last = history[-1] if history else {}
    final: dict[str, Any] = {
        "test_acc": last.get("test_acc"),
        "test_loss": last.get("test_loss"),
        "train_acc": last.get("train_acc"),
        "best_test_acc": max((h["test_acc"] for h in history), default=None),
        "epochs": len(history),
        "seconds": sum(h["seconds"] for h in history),
        "activity": last.get("activity"),
        "ops": last.get("ops"),
    }
    if cfg.method == "sdfa" and history:
        xb, yb = next(batches(run.data.test, torch.arange(min(len(run.data.test), cfg.batch)), cfg.batch))  # type: ignore[arg-type]
        final["alignment"] = alignment(run.rule, to_time_first(xb, run.device), yb.to(run.device), loss_fn)
    hardware = run.hw.metrics() if run.hw is not None else {}
    return {
        **hardware,
        "config": cfg.to_dict(),
        "rule": {"method": cfg.method, **run.rule.options()},
        "model": run.model.spec.to_dict(),
        "dataset": {"name": run.data.name, "train": len(run.data.train), "test": len(run.data.test),  # type: ignore[arg-type]
                    "input_shape": list(run.data.input_shape), "num_classes": run.data.num_classes,
                    **{k: v for k, v in run.data.meta.items() if isinstance(v, (str, int, float, list))}},
        "epochs": [{k: v for k, v in h.items() if k not in ("activity", "ops")} for h in history],
        "final": final,
        "activity": last.get("activity"),
    }


#: The public name of :func:`train` (``pipesdfa.fit``; ``pipesdfa.train`` is this module).
fit = train
