"""What defines a training run: :class:`TrainConfig`, workload defaults and the losses.

Adaptation fields (``shift``, ``shift_seed``, ``samples_per_class``, ``base``, ``adapt``): a run
on a user's shifted data, optionally starting from a trained run (:mod:`pipesdfa.training.finetune`).

Initialisation (``init``): ``"default"`` is PyTorch's ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``
times ``init_gain`` (the workloads use it, each with its own gain); ``"data"`` (the default of
a model composed with ``--dataset X --model M``) scales every block so that it fires at
``init_rate`` spikes per neuron per step on the first training samples
(:mod:`pipesdfa.training.init`), so that no layer starts silent on any dataset.

Validation (``val_fraction``, default 0.1): that share of every class's training samples is
held out, stratified and seeded by ``seed`` (:mod:`pipesdfa.data.splits`); the run reports the
test accuracy at the epoch of the best validation accuracy (``final.selected_*``) and at the
last epoch. ``0`` trains on the whole training split and selects nothing.

Batches: the training split in a fresh seeded order every epoch, ``batch`` samples at a time;
``drop_last`` leaves out the epoch's last batch when it has fewer than ``batch`` samples (the
SDFA authors' loaders do; the workloads say which of them does). ``data_options`` are passed to
the dataset's loader (``--data-option KEY=VALUE``, e.g. ``stats=all`` for ``braille-analog``).
``sdfa_variant`` names a variant of the SDFA rule (:mod:`pipesdfa.learning.sdfa_variants`;
``None`` = the authors' rule).

Learning-rate schedule: cosine annealing from ``lr`` to 0 over the run's epochs; an epoch in
``lr_restarts`` starts a new cosine from ``lr`` over the epochs up to the next restart or the
end (SGDR's warm restart, Loshchilov & Hutter, ICLR 2017). ``--resume RUN --epochs N`` on a
run planned for ``E`` epochs adds the restart ``E`` (:mod:`pipesdfa.training.resume`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Callable

import torch
import torch.nn.functional as F

from pipesdfa.util.errors import UserError
from pipesdfa.util.fieldcheck import check_dataclass_fields
from pipesdfa.learning.local import DEFAULT_STORE
from pipesdfa.zoo.workloads import get_workload

__all__ = ["TrainConfig", "HARDWARE", "ADAPT", "check_fields", "config_from_workload", "LOSSES", "make_loss"]


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
    sdfa_variant: str | None = None
    seed: int = 0
    workload: str | None = None
    data_dir: str | None = None
    data_options: dict[str, Any] = field(default_factory=dict)
    max_train: int | None = None
    max_test: int | None = None
    drop_last: bool = False
    backend: str = "auto"
    device: str = "cpu"
    num_workers: int = 0
    out: str = "runs/train"
    hardware: str = "ideal"
    device_preset: str = "neurosim-default"
    device_set: list[str] = field(default_factory=list)
    threads: int | str = "auto"
    tensorboard: bool = False
    init: str = "data"
    init_rate: float = 0.1
    val_fraction: float = 0.1
    lr_restarts: tuple[int, ...] = ()
    shift: str | None = None
    shift_seed: int = 0
    samples_per_class: int | None = None
    base: str | None = None
    adapt: str = "all"

    def validate(self) -> "TrainConfig":
        from pipesdfa.data.catalog import CATALOG
        from pipesdfa.learning import RULES
        from pipesdfa.util.names import check_name
        from pipesdfa.util.threads import parse_threads

        check_name("dataset", self.dataset, CATALOG)
        check_name("model", self.model, MODELS)
        check_name("method", self.method, RULES)
        if self.workload is not None:
            get_workload(self.workload)
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
            given = [k for k in ("feedback", "distribution", "temporal", "sdfa_variant") if getattr(self, k) is not None]
            if given:
                raise UserError(f"--{given[0].replace('_', '-')} is an SDFA option; it does not apply to "
                                f"--method {self.method}")
        elif self.sdfa_variant is not None:
            from pipesdfa.learning import VARIANTS

            check_name("sdfa variant", self.sdfa_variant, VARIANTS)
        if self.sdfa_impl not in ("fast", "autograd"):
            raise UserError(f"sdfa_impl {self.sdfa_impl!r} unknown; expected 'fast' or 'autograd'")
        for name in ("max_train", "max_test"):
            v = getattr(self, name)
            if v is not None and v <= 0:
                raise UserError(f"{name} must be positive, got {v}")
        if self.init not in INITS:
            raise UserError(f"init {self.init!r} unknown; expected one of: {', '.join(INITS)}")
        if not 0 < self.init_rate < 1:
            raise UserError(f"init_rate must be between 0 and 1 (spikes per neuron per step), got {self.init_rate}")
        if not 0 <= self.val_fraction < 1:
            raise UserError(f"val_fraction must be in [0, 1) (the share of each class's training samples held out "
                            f"for validation), got {self.val_fraction}")
        r = list(self.lr_restarts)
        if r != sorted(set(r)) or any(not 0 < e < self.epochs for e in r):
            raise UserError(f"lr_restarts must be increasing epochs between 1 and epochs - 1 = {self.epochs - 1}, "
                            f"got {r}")
        self._validate_adaptation()
        try:
            parse_threads(self.threads)
        except ValueError as exc:
            raise UserError(f"threads: {exc}") from None
        self.hardware_setup()
        if self.device.startswith("cuda"):
            if not torch.cuda.is_available():
                raise UserError(f"device {self.device!r} requested but CUDA is not available")
        elif self.device not in ("cpu", "auto"):
            raise UserError(f"device {self.device!r} unknown; expected cpu, cuda, cuda:N or auto")
        return self

    def _validate_adaptation(self) -> None:
        """The data shift, the few-shot subset and the fine-tuning fields (:mod:`pipesdfa.training.finetune`)."""
        from pipesdfa.data.shifting import resolve_shift

        resolve_shift(self.dataset, self.shift, self.shift_seed)
        k = self.samples_per_class
        if k is not None and (isinstance(k, bool) or k < 1):
            raise UserError(f"samples_per_class must be a positive integer, got {k!r}")
        if self.adapt not in ADAPT:
            raise UserError(f"adapt {self.adapt!r} unknown; expected one of: {', '.join(ADAPT)}")
        if self.distribution == "aligned" and self.feedback == "shared":
            raise UserError("sdfa distribution 'aligned' gives one matrix per hidden layer: use feedback 'independent' "
                            "(the default with 'aligned'), not 'shared'")

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
        from pipesdfa.hw.device import DEVICE_PRESETS, get_device_preset
        from pipesdfa.util.names import check_name

        check_name("device preset", self.device_preset, DEVICE_PRESETS)

        return split_device_and_analog(get_device_preset(self.device_preset), self.device_set)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["hidden"] = list(self.hidden)
        d["lr_restarts"] = list(self.lr_restarts)
        return d

    @staticmethod
    def from_dict(d: dict[str, Any]) -> "TrainConfig":
        """A config from a dict (a checkpoint's, a file's): keys and types are checked
        (:func:`check_fields`, ``source`` names where it came from)."""
        return TrainConfig.from_values(d, "config")

    @staticmethod
    def from_values(d: dict[str, Any], source: str) -> "TrainConfig":
        if not isinstance(d, dict):
            raise UserError(f"{source}: expected a mapping of config fields, got {type(d).__name__}")
        return TrainConfig(**check_fields(d, source))


def check_fields(values: dict[str, Any], source: str) -> dict[str, Any]:
    """``values`` checked against :class:`TrainConfig`'s fields and types (``threads``: a count
    or ``auto``, :func:`pipesdfa.util.threads.parse_threads`); :class:`UserError` naming the key and
    ``source`` otherwise."""
    from pipesdfa.util.threads import parse_threads

    return check_dataclass_fields(TrainConfig, values, source, {"threads": parse_threads})


#: The model families of the zoo (``--model``).
MODELS = ("mlp", "convnet", "vgg11")
#: ``default``: PyTorch's init times ``init_gain``; ``data``: every block fires at ``init_rate``.
INITS = ("data", "default")


#: ``ideal``: digital float weights; ``rram``: weights on simulated RRAM crossbars.
HARDWARE = ("ideal", "rram")
#: Which blocks a fine-tuning run updates (``adapt``; :mod:`pipesdfa.training.finetune`).
ADAPT = ("all", "last")


def config_from_workload(name: str, **overrides: Any) -> TrainConfig:
    """The config of a registered workload, with ``overrides`` (``None`` values ignored)."""
    w = get_workload(name)
    cfg = TrainConfig(dataset=w.dataset, model=w.model, hidden=w.hidden, neuron=w.neuron, tau=w.tau, T=w.T,
                      batch=w.batch, epochs=w.epochs, lr=w.lr, weight_decay=w.weight_decay, loss=w.loss,
                      init_gain=w.init_gain, init="default", drop_last=w.drop_last, workload=name)
    return replace(cfg, **{k: v for k, v in overrides.items() if v is not None})


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
