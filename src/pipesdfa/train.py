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
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from pipesdfa.atomic import atomic_write_json, atomic_write_with, ensure_writable_dir
from pipesdfa.data.registry import DatasetBundle, FrameTensorDataset, load_dataset
from pipesdfa.distributed import context as dist_context
from pipesdfa.errors import UserError
from pipesdfa.learning import Rule, make_rule
from pipesdfa.learning.alignment import alignment
from pipesdfa.learning.sdfa_fast import DEFAULT_STORE
from pipesdfa.models import SpikingNet, build_model
from pipesdfa.neurons import NeuronParams
from pipesdfa.workloads import build_spec, get_workload

__all__ = ["TrainConfig", "config_from_workload", "train", "evaluate", "load_checkpoint", "make_loss", "make_optimizer",
           "build_run", "CHECKPOINT", "METRICS"]

CHECKPOINT = "checkpoint.pt"
METRICS = "metrics.json"
CHECKPOINT_VERSION = 1


@dataclass
class TrainConfig:
    """Everything that defines a training run (saved in the checkpoint and ``metrics.json``)."""

    dataset: str = "digits"
    model: str = "mlp"
    hidden: tuple[int, ...] = (256, 256)
    neuron: str = "lif"
    tau: float = 2.0
    init_gain: float = 1.0
    surrogate: str = "atan"
    alpha: float | None = None
    T: int = 8
    batch: int = 32
    epochs: int = 10
    lr: float = 1e-3
    weight_decay: float = 0.0
    loss: str = "ce"
    optimizer: str = "adam"
    method: str = "bptt"
    feedback: str | None = None
    distribution: str | None = None
    temporal: str | None = None
    feedback_seed: int | None = None
    sdfa_impl: str = "fast"
    sdfa_store: str = DEFAULT_STORE
    seed: int = 0
    workload: str | None = None
    data_dir: str | None = None
    data_options: dict[str, Any] = field(default_factory=dict)
    max_train: int | None = None
    max_test: int | None = None
    backend: str = "auto"
    device: str = "cpu"
    num_workers: int = 0
    out: str = "runs/train"
    hardware: str = "ideal"
    device_preset: str = "neurosim-default"
    device_set: list[str] = field(default_factory=list)

    def validate(self) -> "TrainConfig":
        for name in ("T", "batch", "epochs"):
            v = getattr(self, name)
            if not isinstance(v, int) or v <= 0:
                raise UserError(f"{name} must be a positive integer, got {v!r}")
        if not self.init_gain > 0:
            raise UserError(f"init_gain must be > 0, got {self.init_gain}")
        if not self.lr > 0:
            raise UserError(f"lr must be > 0, got {self.lr}")
        if self.weight_decay < 0:
            raise UserError(f"weight_decay must be >= 0, got {self.weight_decay}")
        if self.loss not in LOSSES:
            raise UserError(f"loss {self.loss!r} unknown; expected one of: {', '.join(LOSSES)}")
        if self.optimizer not in ("adam", "sgd"):
            raise UserError(f"optimizer {self.optimizer!r} unknown; expected 'adam' or 'sgd'")
        if self.method != "sdfa":
            given = [k for k in ("feedback", "distribution", "temporal") if getattr(self, k) is not None]
            if given:
                raise UserError(f"--{given[0]} is an SDFA option; it does not apply to --method {self.method}")
        if self.sdfa_impl not in ("fast", "autograd"):
            raise UserError(f"sdfa_impl {self.sdfa_impl!r} unknown; expected 'fast' or 'autograd'")
        for name in ("max_train", "max_test"):
            v = getattr(self, name)
            if v is not None and v <= 0:
                raise UserError(f"{name} must be positive, got {v}")
        self.hardware_setup()
        return self

    def hardware_setup(self):
        """``(DeviceParams, AnalogConfig)`` for ``hardware="rram"``, else ``None`` (validated)."""
        if self.hardware not in HARDWARE:
            raise UserError(f"hardware {self.hardware!r} unknown; expected one of: {', '.join(HARDWARE)}")
        if self.hardware != "rram":
            if self.device_set or self.device_preset != "neurosim-default":
                raise UserError("--device-preset and --set apply to --hardware rram only")
            return None
        if self.device != "cpu":
            raise UserError(f"--hardware rram simulates the crossbars on the CPU; use --device cpu, not {self.device!r}")
        from pipesdfa.analog.config import split_device_and_analog
        from pipesdfa.hw.device import get_device_preset

        return split_device_and_analog(get_device_preset(self.device_preset), self.device_set)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["hidden"] = list(self.hidden)
        return d

    @staticmethod
    def from_dict(d: dict[str, Any]) -> "TrainConfig":
        known = {f.name for f in fields(TrainConfig)}
        unknown = set(d) - known
        if unknown:
            raise UserError(f"unknown config field(s): {', '.join(sorted(unknown))}")
        d = dict(d)
        if "hidden" in d:
            d["hidden"] = tuple(d["hidden"])
        if "device_set" in d:
            d["device_set"] = list(d["device_set"])
        return TrainConfig(**d)


#: ``ideal``: digital float weights; ``rram``: weights on simulated RRAM crossbars.
HARDWARE = ("ideal", "rram")


def config_from_workload(name: str, **overrides: Any) -> TrainConfig:
    """The config of a registered workload, with ``overrides`` (``None`` values ignored)."""
    w = get_workload(name)
    cfg = TrainConfig(dataset=w.dataset, model=w.model, hidden=w.hidden, neuron=w.neuron, tau=w.tau, T=w.T,
                      batch=w.batch, epochs=w.epochs, lr=w.lr, weight_decay=w.weight_decay, loss=w.loss,
                      init_gain=w.init_gain, workload=name)
    return replace(cfg, **{k: v for k, v in overrides.items() if v is not None})


# ------------------------------------------------------------------------------- pieces

def _ce(rates: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(rates, y)


def _mse(rates: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.mse_loss(rates, F.one_hot(y, rates.shape[1]).to(rates.dtype))


#: ``ce``: cross-entropy on the firing rates; ``mse``: mean squared error of the rates
#: against one-hot targets (both averaged over the batch).
LOSSES: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {"ce": _ce, "mse": _mse}


def make_loss(name: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    try:
        return LOSSES[name]
    except KeyError:
        raise UserError(f"loss {name!r} unknown; expected one of: {', '.join(LOSSES)}") from None


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """The generator that orders epoch ``epoch`` (independent of anything else)."""
    return torch.Generator().manual_seed(seed * 1_000_003 + epoch)


def batches(ds: Dataset, order: torch.Tensor, batch: int, num_workers: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Batches ``(x [B, T, ...], y [B])`` in the given order (in-memory fast path or a DataLoader)."""
    if isinstance(ds, FrameTensorDataset):
        for i in range(0, order.numel(), batch):
            idx = order[i:i + batch]
            yield ds.frames[idx].float(), ds.labels[idx]
        return
    loader = DataLoader(ds, batch_size=batch, sampler=order.tolist(), num_workers=num_workers)
    for x, y in loader:
        yield x.float(), y.long()


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


def _to_time_first(x: torch.Tensor, device: torch.device) -> torch.Tensor:
    return x.to(device).transpose(0, 1).contiguous()


@torch.no_grad()
def evaluate(model: SpikingNet, ds: Dataset, loss_fn, batch: int, device: torch.device,
             num_workers: int = 0) -> dict[str, Any]:
    """Loss, accuracy and spike activity on ``ds``.

    Activity: ``input_rate`` is the fraction of non-zero input entries per time step;
    ``layers[l].rate`` the mean spikes per neuron per time step of block ``l``'s output.
    """
    was_training = model.training
    model.eval()
    n = 0
    loss_sum = correct = 0.0
    in_sum = 0.0
    layer_sums = [0.0] * len(model.blocks)
    try:
        for xb, yb in batches(ds, torch.arange(len(ds)), batch, num_workers):  # type: ignore[arg-type]
            x = _to_time_first(xb, device)
            y = yb.to(device)
            outs = model.forward_all(x)
            rates = model.readout(outs[-1])
            b = y.shape[0]
            loss_sum += float(loss_fn(rates, y)) * b
            correct += float((rates.argmax(1) == y).sum())
            in_sum += float((x > 0).float().mean()) * b
            for l, s in enumerate(outs):
                layer_sums[l] += float(s.mean()) * b
            n += b
    finally:
        model.train(was_training)
    n = max(n, 1)
    return {
        "loss": loss_sum / n,
        "acc": correct / n,
        "activity": {"input_rate": in_sum / n,
                     "layers": [{"layer": l, "rate": s / n} for l, s in enumerate(layer_sums)]},
    }


# --------------------------------------------------------------------------- checkpoints

def save_checkpoint(path: Path, run: Run, epoch: int, history: list[dict]) -> None:
    state = {
        "version": CHECKPOINT_VERSION,
        "config": run.cfg.to_dict(),
        "epoch": epoch,
        "model": run.model.state_dict(),
        "rule": run.rule.state_dict(),
        "optimizer": run.optimizer.state_dict(),
        "scheduler": run.scheduler.state_dict(),
        "history": history,
        "torch_rng": torch.get_rng_state(),
    }
    if run.hw is not None:
        state["analog"] = run.hw.state_dict()
    atomic_write_with(path, lambda tmp: torch.save(state, tmp))


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a checkpoint, with one clear error for a missing, truncated or foreign file."""
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT
    if not path.is_file():
        raise UserError(f"checkpoint {path} does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # noqa: BLE001 -- any unpickling failure means a corrupt file
        raise UserError(f"checkpoint {path} is corrupt or not a pipesdfa checkpoint ({type(exc).__name__})") from None
    if not isinstance(state, dict) or state.get("version") != CHECKPOINT_VERSION:
        raise UserError(f"checkpoint {path}: field 'version' missing or not {CHECKPOINT_VERSION}")
    for key in ("config", "epoch", "model", "rule", "optimizer", "scheduler", "history"):
        if key not in state:
            raise UserError(f"checkpoint {path}: field {key!r} missing")
    state["path"] = str(path)
    return state


def restore(run: Run, state: dict[str, Any]) -> None:
    path = state.get("path", "checkpoint")
    try:
        run.model.load_state_dict(state["model"])
        run.rule.load_state_dict(state["rule"])
        run.optimizer.load_state_dict(state["optimizer"])
        run.scheduler.load_state_dict(state["scheduler"])
        if run.hw is not None:
            run.hw.load_state_dict(state["analog"])
    except (RuntimeError, KeyError, ValueError) as exc:
        raise UserError(f"checkpoint {path} does not match its config: {str(exc).splitlines()[0]}") from None
    if "torch_rng" in state:
        torch.set_rng_state(state["torch_rng"])


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
            x = _to_time_first(xb, run.device)
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
        ev = evaluate(run.model, run.data.test, loss_fn, max(cfg.batch, 64), run.device, cfg.num_workers)
        seconds = time.perf_counter() - t0
        if not math.isfinite(loss_sum):
            raise UserError(f"training diverged at epoch {epoch + 1} (loss is not finite); lower --lr")
        rec = {"epoch": epoch + 1, "train_loss": loss_sum / seen, "train_acc": correct / seen,
               "test_loss": ev["loss"], "test_acc": ev["acc"], "seconds": seconds,
               "samples_per_s": seen / train_seconds, "lr": run.optimizer.param_groups[0]["lr"],
               "activity": ev["activity"]}
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
    }
    if cfg.method == "sdfa" and history:
        xb, yb = next(batches(run.data.test, torch.arange(min(len(run.data.test), cfg.batch)), cfg.batch))  # type: ignore[arg-type]
        final["alignment"] = alignment(run.model, run.rule, _to_time_first(xb, run.device), yb.to(run.device), loss_fn)
    hardware = run.hw.metrics() if run.hw is not None else {}
    return {
        **hardware,
        "config": cfg.to_dict(),
        "rule": {"method": cfg.method, **run.rule.options()},
        "model": run.model.spec.to_dict(),
        "dataset": {"name": run.data.name, "train": len(run.data.train), "test": len(run.data.test),  # type: ignore[arg-type]
                    "input_shape": list(run.data.input_shape), "num_classes": run.data.num_classes,
                    **{k: v for k, v in run.data.meta.items() if isinstance(v, (str, int, float, list))}},
        "epochs": [{k: v for k, v in h.items() if k != "activity"} for h in history],
        "final": final,
        "activity": last.get("activity"),
    }
