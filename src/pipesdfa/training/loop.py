"""The training loop: epochs, metrics, atomic checkpoints, bit-identical resume, plots.

A run is fully described by a :class:`TrainConfig`. ``train(cfg)`` first checks everything
it can without writing (the config, the output folder, the memory the run needs, the data,
the batch against the training split), and only then creates ``cfg.out`` and writes:

* ``config.yaml`` before the first epoch: the resolved configuration (:mod:`pipesdfa.training.configfile`);
* ``checkpoint.pt`` after every epoch (atomically): model, rule state (SDFA feedback
  matrices), optimiser, schedule, epoch, metrics so far;
* ``metrics.json`` after every epoch (atomically; ``"status"`` running / finished / diverged) =
  ``{"config", "model", "dataset", "epochs": [...], "final": {...}, "runtime": {...}}`` and
  ``metrics.csv`` (one row per epoch), optionally TensorBoard scalars (:mod:`pipesdfa.training.logs`);
* ``learning_curve.png`` at the end.

Epoch entries: ``epoch, train_loss, train_acc, val_loss, val_acc, test_loss, test_acc, seconds,
samples_per_s, lr, input_rate, spike_rates`` (per block, on the test split) and, for SDFA,
``alignment`` (per hidden block, the cosine to BPTT's gradient on the first test batch); the
validation split and the epoch chosen on it: :mod:`pipesdfa.training.selection`.

A loss or weight that is not a finite number stops the run (:class:`~pipesdfa.training.guards.TrainingDiverged`,
exit 2): the checkpoint of the last good epoch stays, ``metrics.json`` says ``diverged``.
Threads: :mod:`pipesdfa.util.threads` (chosen once per run, recorded in ``config.yaml``).

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
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import torch

from pipesdfa.util.atomic import atomic_write_with, check_writable_dir, ensure_writable_dir, remove_stale_temps
from pipesdfa.training.checkpoint import CHECKPOINT, CHECKPOINT_VERSION, load_checkpoint, restore, save_checkpoint
from pipesdfa.training.configfile import resolved_config
from pipesdfa.data.catalog import CATALOG
from pipesdfa.data.registry import DatasetBundle, load_dataset
from pipesdfa.training.distributed import context as dist_context
from pipesdfa.util.errors import UserError
from pipesdfa.training.evaluation import batches, evaluate, to_time_first
from pipesdfa.training.guards import TrainingDiverged, check_batch, check_finite_params, check_memory, estimate_memory
from pipesdfa.learning import VARIANTS, Rule, alignment, make_rule
from pipesdfa.learning.feedback import ALIGNED
from pipesdfa.zoo.models import SpikingNet, build_model
from pipesdfa.snn.neurons import NeuronParams
from pipesdfa.training.init import init_samples, rate_init
from pipesdfa.training.config import HARDWARE, LOSSES, TrainConfig, config_from_workload, make_loss
from pipesdfa.training.logs import METRICS, RunLog, plot_learning_curve
from pipesdfa.training.selection import best_epoch, final_fields
from pipesdfa.data.splits import with_validation
from pipesdfa.training import finetune as ft; from pipesdfa.training import schedules as schedule
from pipesdfa.training.schedules import make_optimizer
from pipesdfa.util.threads import apply_threads, step_macs
from pipesdfa.zoo.workloads import build_spec, resolve

__all__ = ["TrainConfig", "config_from_workload", "train", "fit", "evaluate", "load_checkpoint", "make_loss", "make_optimizer",
           "build_run", "restore", "plan_run", "CHECKPOINT", "METRICS", "HARDWARE", "LOSSES", "CHECKPOINT_VERSION",
           "batches", "TrainingDiverged", "best_epoch"]


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
    init: Any = None  # rate_init's report for init="data", the base's for a fine-tuning run
    extra_tests: dict[str, Any] = field(default_factory=dict)  # {"unshifted": split} of a shifted run
    frozen: list[torch.nn.Parameter] = field(default_factory=list)  # adapt="last": the hidden blocks
    before: dict[str, Any] | None = None  # a fine-tuning run's base network on the test splits


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"device {name!r} requested but CUDA is not available")
    return torch.device(name)


def build_run(cfg: TrainConfig, fresh: bool = True) -> Run:
    """Load the data, build model, rule, optimiser and schedule from ``cfg`` (seeded); a run
    with a ``base`` starts from its weights (``fresh=False``: a checkpoint will be restored)."""
    cfg.validate()
    # max_train/max_test go to the loader, which trims the split before framing it.
    data = with_validation(load_dataset(cfg.dataset, T=cfg.T, data_dir=cfg.data_dir, seed=cfg.seed,
                                        max_train=cfg.max_train, max_test=cfg.max_test, **cfg.data_options,
                                        **ft.shift_options(cfg)), cfg.val_fraction, cfg.seed)
    spec = build_spec(cfg.model, data.input_shape, data.num_classes, cfg.hidden, name=cfg.workload or cfg.model)
    neuron = NeuronParams(kind=cfg.neuron, tau=cfg.tau, surrogate=cfg.surrogate, alpha=cfg.alpha)
    torch.manual_seed(cfg.seed)
    device = _device(cfg.device)
    model = build_model(spec, neuron, backend=cfg.backend)
    model.to(device)
    init_report = None
    if cfg.base is not None:
        init_report = ft.load_base(model, cfg) if fresh else None
    elif cfg.init == "data":
        n = init_samples(len(data.train), cfg.T, max(l.n_neurons for l in model.layers))  # type: ignore[arg-type]
        xb, _ = next(batches(data.train, torch.arange(n), n))  # type: ignore[arg-type]
        init_report = rate_init(model.blocks, to_time_first(xb, device), cfg.init_rate)
    else:
        scale_init(model, cfg.init_gain)
    hw = None
    hardware = cfg.hardware_setup()
    if hardware is not None:  # weight ops -> crossbars, before the rule and optimiser see them
        from pipesdfa.analog.training import AnalogTraining

        hw = AnalogTraining(model, *hardware, seed=cfg.seed)
    fb_seed = cfg.seed if cfg.feedback_seed is None else cfg.feedback_seed
    opts = dict(temporal=cfg.temporal, fast=cfg.sdfa_impl == "fast", store=cfg.sdfa_store, variant=cfg.sdfa_variant,
                **ft.feedback_options(cfg))
    if cfg.distribution == "rram":
        import pipesdfa.analog.feedback  # noqa: F401  (registers the "rram" feedback sampler)
    rule = make_rule(cfg.method, model, **(dict(opts, feedback_seed=fb_seed) if cfg.method == "sdfa" else {}))
    if hw is not None and cfg.method == "sdfa" and cfg.distribution == "rram":
        from pipesdfa.analog.feedback import refill_with_rram

        refill_with_rram(rule.feedback, hw.device, fb_seed)  # the feedback array is the same device
    if cfg.method == "sdfa" and cfg.distribution == ALIGNED and fresh:  # from the weights the run starts with
        ft.align_feedback(rule, model, hw, fb_seed)
    rule.to(device)
    params, frozen = ft.trainable(model, cfg.adapt)
    opt = make_optimizer(cfg.optimizer, rule.param_groups(params, cfg.lr), cfg.lr, cfg.weight_decay)
    sched = schedule.make_scheduler(opt, cfg.epochs, cfg.lr_restarts)
    return Run(cfg, data, model, rule, opt, sched, device, hw, init_report, ft.extra_tests(cfg), frozen)


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

def plan_run(cfg: TrainConfig) -> dict[str, Any]:
    """What can be known before loading data: the model's nominal layers (the catalog's input
    shape), the memory the run needs (refused when it exceeds what is available) and the
    work of one step (for the thread policy)."""
    rec = CATALOG[cfg.dataset]
    spec = build_spec(cfg.model, rec.input_shape, rec.num_classes, cfg.hidden, name=cfg.workload or cfg.model)
    layers = resolve(spec)
    est = estimate_memory(cfg, layers, rec.input_shape, rec.num_classes)
    check_memory(est, cfg)
    return {"memory": est, "work_macs": step_macs(layers, cfg.T, cfg.batch)}


def _start(cfg: TrainConfig | None, resume, epochs: int | None) -> tuple[TrainConfig, dict | None]:
    if resume is None:
        if cfg is None:
            raise ValueError("train() needs a config or a run to resume")
        return cfg, None
    from pipesdfa.training.resume import extend, open_run

    saved, state, _folder = open_run(resume)
    if cfg is not None:  # run-time fields only (the CLI has checked the rest)
        saved = replace(saved, threads=cfg.threads, num_workers=cfg.num_workers, tensorboard=cfg.tensorboard)
    return extend(saved, int(state["epoch"]) if state else 0, epochs), state


def train(cfg: TrainConfig | None = None, *, resume: str | os.PathLike[str] | None = None, epochs: int | None = None,
          progress: bool | None = None, log: Callable[[str], None] | None = print, log_every: int = 1) -> dict[str, Any]:
    """Train (or resume) a run and return its metrics dict (also written to ``metrics.json``).

    ``resume``: a run folder or checkpoint (:mod:`pipesdfa.training.resume`); ``epochs`` then extends
    it, and ``cfg``, if given, supplies only the run-time fields (threads, workers, TensorBoard).
    ``progress``: a bar per epoch (``None``: only when stderr is a terminal). ``log``: called
    with one line per epoch (every ``log_every``-th epoch and the last).
    """
    cfg, state = _start(cfg, resume, epochs)
    cfg.validate()
    dctx = dist_context()  # multi-process data parallel (pipesdfa.training.distributed); world 1 = plain run
    if dctx.world > 1 and cfg.method == "sdfa" and VARIANTS[cfg.sdfa_variant or "authors"].center:
        raise UserError(f"sdfa variant {cfg.sdfa_variant!r} centres the error over the batch; with --nproc each "
                        "worker sees only its shard of the batch, so it runs in one process only")
    out = Path(cfg.out)
    if dctx.is_main:
        check_writable_dir(out)
    if state is None and cfg.base is not None:
        ft.check_base(cfg)  # before any data is loaded
    plan = plan_run(cfg)
    if dctx.active and cfg.threads == "auto":  # the launcher split the cores between the workers
        threads, choice = torch.get_num_threads(), {"threads": torch.get_num_threads(), "reason": "nproc launcher"}
    else:
        c = apply_threads(cfg.threads, plan["work_macs"])
        threads, choice = c.threads, c.to_dict()
    run = build_run(replace(cfg, threads=threads), fresh=state is None)
    check_batch(cfg, len(run.data.train), run.data.name)  # type: ignore[arg-type]
    run.cfg = TrainConfig.from_values(resolved_config(run.cfg, run), "resolved config")
    cfg = run.cfg
    dctx.broadcast_state(run.model, run.rule)
    history: list[dict] = []
    start_epoch = 0
    loss_fn = make_loss(cfg.loss)
    if state is not None:
        restore(run, state)
        history = list(state["history"])
        start_epoch = int(state["epoch"])
        run.before = state.get("before")
    elif cfg.base is not None:  # the base network as deployed, before the first step
        run.before = ft.evaluate_before(run, loss_fn, run.init)
    if dctx.is_main:  # everything is validated: now the folder
        ensure_writable_dir(out)
        remove_stale_temps(out)
    runlog = RunLog(out, cfg.tensorboard, dctx.is_main)
    runlog.config(resolved_config(cfg, run))
    runtime = {"threads": choice, "nproc": dctx.world,
               "memory_estimate_mib": {k: round(v / 2**20, 1) for k, v in plan["memory"].to_dict().items()}}
    show = (sys.stderr.isatty() if progress is None else progress) and dctx.is_main
    try:
        for epoch in range(start_epoch, cfg.epochs):
            if epoch in cfg.lr_restarts:  # warm restart of the cosine schedule (pipesdfa.training.schedules)
                run.scheduler = schedule.restart(run.optimizer, cfg.lr, cfg.epochs, cfg.lr_restarts, epoch)
            rec = _train_epoch(run, epoch, loss_fn, dctx, show)
            history.append(rec)
            if dctx.is_main:
                save_checkpoint(out / CHECKPOINT, run, epoch + 1, history)
                runlog.epoch(history, _metrics(run, history, runtime, "running"))
            if log and dctx.is_main and ((epoch + 1) % log_every == 0 or epoch + 1 == cfg.epochs or epoch == 0):
                log(_epoch_line(rec, cfg))
    except TrainingDiverged:
        if dctx.is_main:
            runlog.final(_metrics(run, history, runtime, "diverged"))
        runlog.close()
        raise
    runlog.close()
    metrics = _metrics(run, history, runtime, "finished")
    metrics["nproc"] = dctx.world
    if dctx.is_main:
        runlog.final(metrics)
        if history:
            plot_learning_curve(history, out / "learning_curve.png", f"{cfg.workload or cfg.dataset}: {cfg.method}")
    return metrics


def _epoch_line(rec: dict, cfg: TrainConfig) -> str:
    rates = " ".join(f"{r:.3f}" for r in rec["spike_rates"])
    return (f"epoch {rec['epoch']:3d}/{cfg.epochs}  train loss {rec['train_loss']:.4f} acc {rec['train_acc']:.4f}"
            f"  test loss {rec['test_loss']:.4f} acc {rec['test_acc']:.4f}  rates {rates}  {rec['seconds']:.1f}s")


def _train_epoch(run: Run, epoch: int, loss_fn, dctx, show: bool) -> dict[str, Any]:
    """One epoch: the steps, the schedule, the evaluation; the epoch's metrics entry."""
    from tqdm import tqdm

    cfg = run.cfg
    run.model.train()
    t0 = time.perf_counter()
    n_train = len(run.data.train)  # type: ignore[arg-type]
    order = torch.randperm(n_train, generator=epoch_generator(cfg.seed, epoch))
    loss_sum = correct = 0.0
    seen = 0
    bar = tqdm(total=n_train, desc=f"epoch {epoch + 1}/{cfg.epochs} {cfg.method}", unit="sample",
               disable=not show, leave=False)
    try:
        for step, (xb, yb) in enumerate(batches(run.data.train, order, cfg.batch, cfg.num_workers, cfg.drop_last)):
            xb, yb = dctx.shard(xb, yb)
            x = to_time_first(xb, run.device)
            y = yb.to(run.device)
            run.optimizer.zero_grad(set_to_none=True)
            if y.shape[0] > 0:
                loss, rates = run.rule.compute_grads(x, y, loss_fn)
                ft.drop_frozen_grads(run.frozen)
            else:  # more ranks than samples in this global batch
                loss, rates = 0.0, torch.zeros(0, run.model.spec.num_classes, device=run.device)
            if not math.isfinite(loss):
                raise TrainingDiverged(f"training diverged at epoch {epoch + 1}, step {step + 1}: the loss is {loss}; "
                                       f"{_kept(cfg, epoch)}; lower --lr")
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
            bar.set_postfix(loss=f"{loss_sum / max(seen, 1):.4f}", acc=f"{correct / max(seen, 1):.3f}")
    finally:
        bar.close()
    seen, loss_sum, correct = dctx.sum([seen, loss_sum, correct])
    bad = check_finite_params(run.model)
    if bad is not None or not math.isfinite(loss_sum):
        what = f"weight {bad!r} is not finite" if bad else "the epoch's loss is not finite"
        raise TrainingDiverged(f"training diverged at epoch {epoch + 1}: {what}; {_kept(cfg, epoch)}; lower --lr")
    run.scheduler.step()
    if run.hw is not None:
        run.hw.end_epoch()
    train_seconds = time.perf_counter() - t0
    ev = evaluate(run.model, run.data.test, loss_fn, max(cfg.batch, 64), run.device, cfg.num_workers, run.rule)
    val = evaluate(run.model, run.data.val, loss_fn, max(cfg.batch, 64), run.device, cfg.num_workers) \
        if run.data.val is not None else {"loss": None, "acc": None}
    rec = {"epoch": epoch + 1, "train_loss": loss_sum / seen, "train_acc": correct / seen, "val_loss": val["loss"],
           "val_acc": val["acc"], "test_loss": ev["loss"], "test_acc": ev["acc"], "test_correct": ev["correct"],
           "seconds": time.perf_counter() - t0,
           "samples_per_s": seen / train_seconds, "lr": _base_lr(run.optimizer),
           "input_rate": ev["activity"]["input_rate"], "spike_rates": [l["rate"] for l in ev["activity"]["layers"]]}
    rec.update(ft.evaluate_extra(run, loss_fn))
    if cfg.method == "sdfa":
        rec["alignment"] = [a["cosine"] for a in _alignment(run, loss_fn)]
    rec["seconds"] = time.perf_counter() - t0
    rec["activity"], rec["ops"] = ev["activity"], ev["ops"]
    return rec


def _base_lr(opt: torch.optim.Optimizer) -> float:
    """The schedule's rate (a group's ``lr`` divided by its ``lr_scale``)."""
    g = opt.param_groups[0]
    return g["lr"] / g.get("lr_scale", 1.0)


def _kept(cfg: TrainConfig, epoch: int) -> str:
    if epoch == 0:
        return "no epoch finished, so there is no checkpoint"
    return f"the checkpoint of epoch {epoch} is kept in {Path(cfg.out) / CHECKPOINT}"


def _alignment(run: Run, loss_fn) -> list[dict]:
    n = min(len(run.data.test), run.cfg.batch)  # type: ignore[arg-type]
    xb, yb = next(batches(run.data.test, torch.arange(n), n))  # type: ignore[arg-type]
    return alignment(run.rule, to_time_first(xb, run.device), yb.to(run.device), loss_fn)


def _metrics(run: Run, history: list[dict], runtime: dict, status: str) -> dict[str, Any]:
    cfg = run.cfg
    last = history[-1] if history else {}
    final: dict[str, Any] = {
        "test_acc": last.get("test_acc"),
        "test_loss": last.get("test_loss"),
        "train_acc": last.get("train_acc"),
        **final_fields(history),
        "epochs": len(history),
        "seconds": sum(h["seconds"] for h in history),
        "activity": last.get("activity"),
        "ops": last.get("ops"),
        **{k: v for k, v in last.items() if k.startswith("test_acc_")},
    }
    if cfg.method == "sdfa" and history:
        final["alignment"] = [{"layer": l, "cosine": c} for l, c in enumerate(last.get("alignment", []))]
    hardware = run.hw.metrics() if run.hw is not None else {}
    return {
        **hardware,
        "status": status,
        "config": cfg.to_dict(),
        "rule": {"method": cfg.method, **run.rule.options()},
        "model": run.model.spec.to_dict(),
        "dataset": {"name": run.data.name, "train": len(run.data.train), "test": len(run.data.test),  # type: ignore[arg-type]
                    "input_shape": list(run.data.input_shape), "num_classes": run.data.num_classes,
                    "val": len(run.data.val) if run.data.val is not None else 0,  # type: ignore[arg-type]
                    "validation": run.data.meta.get("validation"),
                    **{k: v for k, v in run.data.meta.items() if isinstance(v, (str, int, float, list))}},
        "init": {"kind": "base", "base": cfg.base} if cfg.base else
                {"kind": cfg.init, **({"target_rate": cfg.init_rate, "layers": run.init} if cfg.init == "data"
                                      else {"gain": cfg.init_gain})},
        "epochs": [{k: v for k, v in h.items() if k not in ("activity", "ops", "test_correct")} for h in history],
        "final": final,
        "activity": last.get("activity"),
        "runtime": runtime,
        **ft.finetune_metrics(run, history),
    }



#: The public name of :func:`train` (``pipesdfa.fit``; ``pipesdfa.training.loop`` is this module).
fit = train
