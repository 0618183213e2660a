"""The training loop: epochs, metrics, atomic checkpoints, bit-identical resume, plots.

A run is fully described by a :class:`TrainConfig`. ``train(cfg)`` first checks everything
it can without writing (the config, the output folder, the memory the run needs, the data,
the batch against the training split), and only then creates ``cfg.runtime.out`` and writes:

* ``config.yaml`` before the first epoch: the resolved configuration (:mod:`pipesdfa.training.configfile`);
* ``checkpoint.pt`` after every epoch (atomically): model, rule state (SDFA feedback
  matrices), optimiser, schedule, epoch, metrics so far;
* ``metrics.json`` after every epoch (atomically; ``"status"`` running / finished / diverged) =
  ``{"config", "model", "dataset", "epochs": [...], "final": {...}, "runtime": {...}}`` and
  ``metrics.csv`` (one row per epoch), optionally TensorBoard scalars (:mod:`pipesdfa.training.logs`);
* ``learning_curve.png`` at the end.

Epoch entries (the validation split and the epoch chosen on it: :mod:`pipesdfa.training.selection`):
``epoch, train_loss, train_acc, val_loss, val_acc, test_loss, test_acc, seconds, samples_per_s, lr,
input_rate, spike_rates`` (per block, on the test split) and, for SDFA, ``alignment`` (per
hidden block, the cosine to BPTT's gradient on the first test batch, :mod:`pipesdfa.learning.alignment`).

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

import pipesdfa.analog.feedback  # noqa: F401  (registers the "rram" feedback sampler)
import pipesdfa.training.finetune  # noqa: F401  (registers its loop hook)
import pipesdfa.training.hardware  # noqa: F401  (registers its loop hook)
from pipesdfa.data.catalog import CATALOG
from pipesdfa.data.registry import DatasetBundle, load_dataset
from pipesdfa.data.splits import with_validation
from pipesdfa.training.selection import best_epoch, final_fields
from pipesdfa.learning import RULES, Rule, make_rule
from pipesdfa.snn.blocks import set_precision
from pipesdfa.snn.neurons import NeuronParams
from pipesdfa.training import schedules as schedule
from pipesdfa.training.checkpoint import CHECKPOINT, CHECKPOINT_VERSION, load_checkpoint, restore, save_checkpoint
from pipesdfa.training.config import HARDWARE, LOSSES, TrainConfig, config_from_workload, make_loss
from pipesdfa.training.configfile import resolved_config
from pipesdfa.training.distributed import context as dist_context
from pipesdfa.training.evaluation import batches, evaluate, to_time_first
from pipesdfa.training.guards import (TrainingDiverged, check_batch, check_finite_params, check_memory, estimate_memory,
                                      step_samples)
from pipesdfa.training.hooks import LoopHook, active_hooks
from pipesdfa.training.init import initialise, scale_init
from pipesdfa.training.logs import METRICS, RunLog, plot_learning_curve
from pipesdfa.training.schedules import make_optimizer
from pipesdfa.util.atomic import check_writable_dir, ensure_writable_dir, remove_stale_temps
from pipesdfa.util.errors import UserError
from pipesdfa.util.git import code_commit
from pipesdfa.util.threads import apply_threads, step_macs
from pipesdfa.zoo.models import SpikingNet, zoo_network
from pipesdfa.zoo.workloads import build_spec, resolve

__all__ = ["TrainConfig", "config_from_workload", "train", "fit", "evaluate", "load_checkpoint", "make_loss", "make_optimizer",
           "build_run", "restore", "plan_run", "CHECKPOINT", "METRICS", "HARDWARE", "LOSSES", "CHECKPOINT_VERSION",
           "batches", "TrainingDiverged", "best_epoch", "scale_init"]


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """The generator that orders epoch ``epoch`` (independent of anything else)."""
    return torch.Generator().manual_seed(seed * 1_000_003 + epoch)


@dataclass
class Run:
    """A built run: config, data, model, rule, optimiser, schedule, and what the loop's hooks
    (:mod:`pipesdfa.training.hooks`) keep in it."""

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


def build_run(cfg: TrainConfig, fresh: bool = True, hooks: list[LoopHook] | None = None) -> Run:
    """Load the data, build model, rule, optimiser and schedule from ``cfg`` (seeded); the loop's
    plug-ins (``hooks``, default :func:`~pipesdfa.training.hooks.active_hooks`) add their parts, e.g.
    a fine-tuning run starts from its base's weights (``fresh=False``: a checkpoint will be restored)."""
    if hooks is None:  # train() has validated the config and found its hooks
        cfg.validate()
        hooks = active_hooks(cfg)
    d, m = cfg.data, cfg.model
    device = _device(cfg.runtime.device)
    loader = {k: v for h in hooks for k, v in h.loader_options(cfg).items()}
    options = cfg.rule_kwargs()
    for h in hooks:
        options = h.rule_options(options)
    extra = {k: v for h in hooks for k, v in h.extra_tests(cfg).items()}
    # max_train/max_test go to the loader, which trims the split before framing it.
    data = with_validation(load_dataset(d.dataset, T=d.T, data_dir=d.dir, seed=cfg.seed, max_train=d.max_train,
                                        max_test=d.max_test, **d.options, **loader), d.val_fraction, cfg.seed)
    torch.manual_seed(cfg.seed)
    model = zoo_network(m.name, data.input_shape, data.num_classes, m.hidden, cfg.workload or m.name,
                        NeuronParams(kind=m.neuron, tau=m.tau, surrogate=m.surrogate, alpha=m.alpha), m.backend)
    set_precision(model, m.precision)
    model.to(device)
    init_report = next((r for h in hooks if (r := h.initialise(model, cfg, fresh)) is not None), None)
    if init_report is None:
        init_report = initialise(model, m, d.T, data.train, device)
    hw = next((w for h in hooks if (w := h.wrap(model, cfg)) is not None), None)  # before the rule sees the weights
    rule = make_rule(cfg.rule.method, model, **options)
    run = Run(cfg, data, model, rule, None, None, device, hw, init_report, extra)  # type: ignore[arg-type]
    for h in hooks:
        h.after_rule(run, fresh)
    rule.to(device)
    params, frozen = next((pf for h in hooks if (pf := h.trainable(model)) is not None), (list(model.parameters()), []))
    run.frozen = frozen
    o = cfg.optim
    run.optimizer = make_optimizer(o.optimizer, rule.param_groups(params, o.lr), o.lr, o.weight_decay)
    run.scheduler = schedule.make_scheduler(run.optimizer, o.epochs, o.lr_restarts)
    return run


# ----------------------------------------------------------------------------- the loop

def plan_run(cfg: TrainConfig, launcher_threads: bool = False) -> dict[str, Any]:
    """What can be known before loading data, resolved from the top layer down: the model's
    nominal layers (the catalog's input shape), its rule's memory, the work of one step and the
    thread count it gets (``launcher_threads``: the ``--nproc`` launcher has split the cores), and
    the memory the run needs (refused when it exceeds what is available)."""
    rec = CATALOG[cfg.data.dataset]
    TB = cfg.data.T * step_samples(cfg)
    spec = build_spec(cfg.model.name, rec.input_shape, rec.num_classes, cfg.model.hidden, name=cfg.workload or cfg.model.name)
    layers = resolve(spec)
    rule, opts = RULES[cfg.rule.method], cfg.rule.options()
    bound = cfg.rule_kwargs()
    if opts is not None and bound.get("feedback") is not None:  # the feedback the run binds (composed defaults)
        opts = replace(opts, feedback=bound["feedback"], distribution=bound["distribution"])
    rule_state, rule_step = rule.state_bytes(rec.num_classes, layers, opts), rule.step_bytes(layers, TB, opts)
    work = step_macs(layers, cfg.data.T, cfg.optim.batch)
    if launcher_threads:
        choice = {"threads": torch.get_num_threads(), "reason": "nproc launcher"}
    else:
        choice = apply_threads(cfg.runtime.threads, work).to_dict()
    est = estimate_memory(cfg, layers, rec.input_shape, rule_state, rule_step)
    check_memory(est, cfg)
    return {"memory": est, "work_macs": work, "threads": choice}


def _start(cfg: TrainConfig | None, resume, epochs: int | None) -> tuple[TrainConfig, dict | None]:
    if resume is None:
        if cfg is None:
            raise ValueError("train() needs a config or a run to resume")
        return cfg, None
    from pipesdfa.training.resume import extend, open_run

    saved, state, _folder = open_run(resume)
    if cfg is not None:  # run-time fields only (the CLI has checked the rest)
        r = cfg.runtime
        saved = replace(saved, runtime=replace(saved.runtime, threads=r.threads, num_workers=r.num_workers,
                                               tensorboard=r.tensorboard))
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
    out = Path(cfg.runtime.out)
    if dctx.is_main:
        check_writable_dir(out)
    hooks = active_hooks(cfg)
    for h in hooks:  # before any data is loaded
        h.check(cfg, state is None)
    plan = plan_run(cfg, launcher_threads=dctx.active and cfg.runtime.threads == "auto")
    threads, choice = plan["threads"]["threads"], plan["threads"]
    run = build_run(replace(cfg, runtime=replace(cfg.runtime, threads=threads)), fresh=state is None, hooks=hooks)
    if dctx.world > 1 and not run.rule.shards_batch:
        raise UserError(f"the {cfg.rule.method} rule as configured needs the whole batch in one process (e.g. an SDFA "
                        "variant that centres the error over the batch); with --nproc each worker sees only its "
                        "shard, so it runs in one process only")
    check_batch(cfg, len(run.data.train), run.data.name)  # type: ignore[arg-type]
    run.cfg = TrainConfig.from_values(resolved_config(run.cfg, run), "resolved config")
    cfg = run.cfg
    dctx.broadcast_state(run.model, run.rule)
    history: list[dict] = []
    start_epoch = 0
    loss_fn = make_loss(cfg.optim.loss)
    if state is not None:
        restore(run, state)
        history = list(state["history"])
        start_epoch = int(state["epoch"])
        run.before = state.get("before")
    else:
        for h in hooks:
            h.before_training(run, loss_fn)
    if dctx.is_main:  # everything is validated: now the folder
        ensure_writable_dir(out)
        remove_stale_temps(out)
    runlog = RunLog(out, cfg.runtime.tensorboard, dctx.is_main)
    runlog.config(resolved_config(cfg, run))
    runtime = {"threads": choice, "nproc": dctx.world,
               "memory_estimate_mib": {k: round(v / 2**20, 1) for k, v in plan["memory"].to_dict().items()},
               "commit": code_commit(7)}  # the code that trained it: a study reusing the run can tell
    show = (sys.stderr.isatty() if progress is None else progress) and dctx.is_main
    try:
        for epoch in range(start_epoch, cfg.optim.epochs):
            if epoch in cfg.optim.lr_restarts:  # warm restart of the cosine schedule (pipesdfa.training.schedules)
                run.scheduler = schedule.restart(run.optimizer, cfg.optim.lr, cfg.optim.epochs, cfg.optim.lr_restarts, epoch)
            rec = _train_epoch(run, epoch, loss_fn, dctx, show, hooks)
            history.append(rec)
            if dctx.is_main:
                save_checkpoint(out / CHECKPOINT, run, epoch + 1, history)
                runlog.epoch(history, _metrics(run, history, runtime, "running", hooks))
            if log and dctx.is_main and ((epoch + 1) % log_every == 0 or epoch + 1 == cfg.optim.epochs or epoch == 0):
                log(_epoch_line(rec, cfg))
    except TrainingDiverged:
        if dctx.is_main:
            runlog.final(_metrics(run, history, runtime, "diverged", hooks))
        runlog.close()
        raise
    runlog.close()
    metrics = _metrics(run, history, runtime, "finished", hooks)
    metrics["nproc"] = dctx.world
    if dctx.is_main:
        runlog.final(metrics)
        if history:
            plot_learning_curve(history, out / "learning_curve.png", f"{cfg.workload or cfg.data.dataset}: {cfg.rule.method}")
    return metrics


def _epoch_line(rec: dict, cfg: TrainConfig) -> str:
    rates = " ".join(f"{r:.3f}" for r in rec["spike_rates"])
    return (f"epoch {rec['epoch']:3d}/{cfg.optim.epochs}  train loss {rec['train_loss']:.4f} acc {rec['train_acc']:.4f}"
            f"  test loss {rec['test_loss']:.4f} acc {rec['test_acc']:.4f}  rates {rates}  {rec['seconds']:.1f}s")


def _train_epoch(run: Run, epoch: int, loss_fn, dctx, show: bool, hooks: list[LoopHook]) -> dict[str, Any]:
    """One epoch: the steps, the schedule, the evaluation; the epoch's metrics entry."""
    from tqdm import tqdm

    cfg = run.cfg
    run.model.train()
    t0 = time.perf_counter()
    n_train = len(run.data.train)  # type: ignore[arg-type]
    order = torch.randperm(n_train, generator=epoch_generator(cfg.seed, epoch))
    loss_sum = correct = 0.0
    seen = 0
    bar = tqdm(total=n_train, desc=f"epoch {epoch + 1}/{cfg.optim.epochs} {cfg.rule.method}", unit="sample",
               disable=not show, leave=False)
    try:
        for step, (xb, yb) in enumerate(batches(run.data.train, order, cfg.optim.batch, cfg.runtime.num_workers, cfg.data.drop_last)):
            xb, yb = dctx.shard(xb, yb)
            x = to_time_first(xb, run.device)
            y = yb.to(run.device)
            run.optimizer.zero_grad(set_to_none=True)
            if y.shape[0] > 0:
                loss, rates = run.rule.compute_grads(x, y, loss_fn)
                for h in hooks:
                    h.after_backward(run)
            else:  # more ranks than samples in this global batch
                loss, rates = 0.0, torch.zeros(0, run.model.spec.num_classes, device=run.device)
            if not math.isfinite(loss):
                raise TrainingDiverged(f"training diverged at epoch {epoch + 1}, step {step + 1}: the loss is {loss}; "
                                       f"{_kept(cfg, epoch)}; lower --lr")
            dctx.reduce_grads(run.model, y.shape[0])
            run.optimizer.step()
            for h in hooks:
                h.after_step(run)
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
    for h in hooks:
        h.end_epoch(run)
    train_seconds = time.perf_counter() - t0
    every = (max(cfg.optim.batch, 64), run.device, cfg.runtime.num_workers)
    ev = evaluate(run.model, run.data.test, loss_fn, *every, run.rule)
    val = evaluate(run.model, run.data.val, loss_fn, *every) if run.data.val is not None else {"loss": None, "acc": None}
    rec = {"epoch": epoch + 1, "train_loss": loss_sum / seen, "train_acc": correct / seen, "val_loss": val["loss"],
           "val_acc": val["acc"], "test_loss": ev["loss"], "test_acc": ev["acc"], "test_correct": ev["correct"],
           "seconds": time.perf_counter() - t0, "samples_per_s": seen / train_seconds, "lr": _base_lr(run.optimizer),
           "input_rate": ev["activity"]["input_rate"], "spike_rates": [l["rate"] for l in ev["activity"]["layers"]]}
    for h in hooks:
        rec.update(h.epoch_metrics(run, loss_fn))
    rec.update(run.rule.epoch_metrics(*_probe_batch(run), loss_fn))
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
    return f"the checkpoint of epoch {epoch} is kept in {Path(cfg.runtime.out) / CHECKPOINT}"


def _probe_batch(run: Run) -> tuple[torch.Tensor, torch.Tensor]:
    """The first test batch: what a rule's per-epoch diagnostics are measured on."""
    n = min(len(run.data.test), run.cfg.optim.batch)  # type: ignore[arg-type]
    xb, yb = next(batches(run.data.test, torch.arange(n), n))  # type: ignore[arg-type]
    return to_time_first(xb, run.device), yb.to(run.device)


def _metrics(run: Run, history: list[dict], runtime: dict, status: str, hooks: list[LoopHook]) -> dict[str, Any]:
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
    if history:
        final.update(run.rule.final_metrics(last))
    extra = {k: v for h in hooks for k, v in h.final_metrics(run, history).items()}
    return {
        **{k: v for k, v in extra.items() if k != "finetune"},
        "status": status,
        "config": cfg.to_dict(),
        "rule": {"method": cfg.rule.method, **run.rule.options()},
        "model": run.model.spec.to_dict(),
        "dataset": {"name": run.data.name, "train": len(run.data.train), "test": len(run.data.test),  # type: ignore[arg-type]
                    "input_shape": list(run.data.input_shape), "num_classes": run.data.num_classes,
                    "val": len(run.data.val) if run.data.val is not None else 0,  # type: ignore[arg-type]
                    "validation": run.data.meta.get("validation"),
                    **{k: v for k, v in run.data.meta.items() if isinstance(v, (str, int, float, list))}},
        "init": {"kind": "base", "base": cfg.finetune.base} if cfg.finetune.base else
                {"kind": cfg.model.init, **({"target_rate": cfg.model.init_rate, "layers": run.init} if cfg.model.init == "data"
                                      else {"gain": cfg.model.init_gain})},
        "epochs": [{k: v for k, v in h.items() if k not in ("activity", "ops", "test_correct")} for h in history],
        "final": final,
        "activity": last.get("activity"),
        "runtime": runtime,
        **{k: v for k, v in extra.items() if k == "finetune"},
    }



#: The public name of :func:`train` (``pipesdfa.fit``; ``pipesdfa.training.loop`` is this module).
fit = train
