"""What defines a training run: :class:`TrainConfig`, workload defaults and the losses.

A config has sections (:data:`SECTIONS`): ``data``, ``model``, ``rule`` (the method and one
sub-section per rule with options, e.g. ``rule.sdfa``), ``optim``, ``hardware``, ``finetune``,
``runtime``, plus ``seed`` and ``workload``; a config file mirrors them. The flags keep their
flat names (``--lr`` is ``optim.lr``; :data:`FLAT_KEYS`), which :meth:`TrainConfig.from_flat`
and :meth:`TrainConfig.updated` accept; a config file with a flat key is refused with the key's
new place.

Adaptation fields (``shift``, ``shift_seed``, ``samples_per_class``, ``base``, ``adapt``): a run
on a user's shifted data, optionally starting from a trained run (:mod:`pipesdfa.training.finetune`).

Initialisation (``init``): ``"default"`` is PyTorch's ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``
times ``init_gain`` (the workloads use it, each with its own gain); ``"data"`` (the default of
a model composed with ``--dataset X --model M``) scales every block so that it fires at
``init_rate`` spikes per neuron per step on the first training samples
(:mod:`pipesdfa.training.init`), so that no layer starts silent on any dataset.

Validation (``data.val_fraction``, ``--val-fraction``, default 0.1): that share of every
class's training samples is held out, stratified and seeded by ``seed``
(:mod:`pipesdfa.data.splits`); the run reports the test accuracy at the epoch of the best
validation accuracy (``final.selected_*``) and at the last epoch. ``0`` trains on the whole
training split and selects nothing.

Batches: the training split in a fresh seeded order every epoch, ``batch`` samples at a time;
``drop_last`` leaves out the epoch's last batch when it has fewer than ``batch`` samples (the
SDFA authors' loaders do; the workloads say which of them does). ``data_options`` are passed to
the dataset's loader (``--data-option KEY=VALUE``, e.g. ``stats=all`` for ``braille-analog``).
``sdfa_variant`` names a variant of the SDFA rule (:mod:`pipesdfa.learning.sdfa_variants`;
``None`` = the authors' rule for a workload, ``COMPOSED`` (``centered-lr3``) for a composed
model).

Learning-rate schedule: cosine annealing from ``lr`` to 0 over the run's epochs; an epoch in
``lr_restarts`` starts a new cosine from ``lr`` over the epochs up to the next restart or the
end (SGDR's warm restart, Loshchilov & Hutter, ICLR 2017). ``--resume RUN --epochs N`` on a
run planned for ``E`` epochs adds the restart ``E`` (:mod:`pipesdfa.training.resume`).
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Mapping

import torch
import torch.nn.functional as F

from pipesdfa.learning.options import RULE_OPTIONS
from pipesdfa.training.sections import (FLAT_KEYS, SECTIONS, DataSection, FinetuneSection, HardwareSection,
                                        ModelSection, OptimSection, RuleSection, RuntimeSection, build_sections,
                                        check_fields, check_section, flag_name, flat_view, plain_data)
from pipesdfa.snn.kernels.precision import check_precision
from pipesdfa.util.errors import UserError
from pipesdfa.util.names import did_you_mean
from pipesdfa.zoo.workloads import WORKLOADS, get_workload

__all__ = ["TrainConfig", "DataSection", "ModelSection", "RuleSection", "OptimSection", "HardwareSection",
           "FinetuneSection", "RuntimeSection", "SECTIONS", "FLAT_KEYS", "flat_view", "HARDWARE", "ADAPT", "check_fields",
           "config_from_workload", "LOSSES", "make_loss"]


@dataclass
class TrainConfig:
    """Everything that defines a training run (saved in the checkpoint and ``metrics.json``), in
    sections (:data:`SECTIONS`); ``config.yaml`` mirrors them. ``TrainConfig.from_flat({...})``
    and :meth:`updated` take the flags' flat names (:data:`FLAT_KEYS`)."""

    data: DataSection = field(default_factory=DataSection)
    model: ModelSection = field(default_factory=ModelSection)
    rule: RuleSection = field(default_factory=RuleSection)
    optim: OptimSection = field(default_factory=OptimSection)
    hardware: HardwareSection = field(default_factory=HardwareSection)
    finetune: FinetuneSection = field(default_factory=FinetuneSection)
    runtime: RuntimeSection = field(default_factory=RuntimeSection)
    seed: int = 0
    workload: str | None = None

    # ------------------------------------------------------------------ flat names
    @staticmethod
    def from_flat(values: Mapping[str, Any] | None = None, source: str = "config", **kw: Any) -> "TrainConfig":
        """A config from flat names (``method="sdfa", lr=1e-3``), the rest at the defaults."""
        return TrainConfig().updated(source=source, **{**dict(values or {}), **kw})

    def updated(self, source: str = "config", **flat: Any) -> "TrainConfig":
        """A copy with the flat-named ``flat`` values set (checked and coerced to each field's type)."""
        out = copy.deepcopy(self)
        for key, value in flat.items():
            path = FLAT_KEYS.get(key)
            if path is None:
                raise UserError(f"{source}: unknown key {key!r}{did_you_mean(key, FLAT_KEYS)}")
            *parents, leaf = path.split(".")
            obj = out
            for p in parents:
                obj = getattr(obj, p)
            checked = check_section(type(obj), {leaf: value}, f"{source}" if not parents else f"{source}: {'.'.join(parents)}")
            setattr(obj, leaf, checked[leaf])
        return out

    def get(self, path: str) -> Any:
        """The value at ``section.key`` (or a flat name)."""
        obj: Any = self
        for p in FLAT_KEYS.get(path, path).split("."):
            obj = getattr(obj, p)
        return obj

    # ------------------------------------------------------------------ validation
    def validate(self) -> "TrainConfig":
        from pipesdfa.data.catalog import CATALOG
        from pipesdfa.learning import RULES
        from pipesdfa.util.names import check_name
        from pipesdfa.util.threads import parse_threads

        d, m, o = self.data, self.model, self.optim
        check_name("dataset", d.dataset, CATALOG)
        check_name("model", m.name, MODELS)
        check_name("method", self.rule.method, RULES)
        check_precision(m.precision, "model.precision")
        if self.workload is not None:
            check_name("workload", self.workload, WORKLOADS)
        for name, v in (("data.T", d.T), ("optim.batch", o.batch), ("optim.epochs", o.epochs)):
            if not isinstance(v, int) or v <= 0:
                raise UserError(f"{name} must be a positive integer, got {v!r}")
        if not m.init_gain > 0:
            raise UserError(f"model.init_gain must be > 0, got {m.init_gain}")
        if not o.lr > 0:
            raise UserError(f"optim.lr must be > 0, got {o.lr}")
        if o.weight_decay < 0:
            raise UserError(f"optim.weight_decay must be >= 0, got {o.weight_decay}")
        if o.loss not in LOSSES:
            raise UserError(f"optim.loss {o.loss!r} unknown; expected one of: {', '.join(LOSSES)}")
        if o.optimizer not in ("adam", "sgd"):
            raise UserError(f"optim.optimizer {o.optimizer!r} unknown; expected 'adam' or 'sgd'")
        self._validate_rule_options()
        for name, v in (("data.max_train", d.max_train), ("data.max_test", d.max_test)):
            if v is not None and v <= 0:
                raise UserError(f"{name} must be positive, got {v}")
        if m.init not in INITS:
            raise UserError(f"model.init {m.init!r} unknown; expected one of: {', '.join(INITS)}")
        if not 0 < m.init_rate < 1:
            raise UserError(f"model.init_rate must be between 0 and 1 (spikes per neuron per step), got {m.init_rate}")
        if not 0 <= d.val_fraction < 1:
            raise UserError(f"data.val_fraction must be in [0, 1) (the share of each class's training samples held "
                            f"out for validation), got {d.val_fraction}")
        r = list(o.lr_restarts)
        if r != sorted(set(r)) or any(not 0 < e < o.epochs for e in r):
            raise UserError(f"optim.lr_restarts must be increasing epochs between 1 and epochs - 1 = {o.epochs - 1}, "
                            f"got {r}")
        self._validate_adaptation()
        try:
            parse_threads(self.runtime.threads)
        except ValueError as exc:
            raise UserError(f"runtime.threads: {exc}") from None
        self.hardware_setup()
        dev = self.runtime.device
        if dev.startswith("cuda"):
            if not torch.cuda.is_available():
                raise UserError(f"device {dev!r} requested but CUDA is not available")
        elif dev not in ("cpu", "auto"):
            raise UserError(f"runtime.device {dev!r} unknown; expected cpu, cuda, cuda:N or auto")
        return self

    def _validate_rule_options(self) -> None:
        """Only the run's rule may have options set; the run's rule's options are checked."""
        for name in RULE_OPTIONS:
            opts = getattr(self.rule, name)
            given = opts.given()
            if name != self.rule.method and given:
                raise UserError(f"--{flag_name(name, given[0])} is an {name.upper()} option (rule.{name}.{given[0]}); it "
                                f"does not apply to --method {self.rule.method}")
        opts = self.rule.options()
        if opts is not None:
            opts.check()

    def _validate_adaptation(self) -> None:
        """The data shift, the few-shot subset and the fine-tuning fields (:mod:`pipesdfa.training.finetune`)."""
        from pipesdfa.data.shifting import resolve_shift

        f = self.finetune
        resolve_shift(self.data.dataset, f.shift, f.shift_seed)
        k = f.samples_per_class
        if k is not None and (isinstance(k, bool) or k < 1):
            raise UserError(f"finetune.samples_per_class must be a positive integer, got {k!r}")
        if f.adapt not in ADAPT:
            raise UserError(f"finetune.adapt {f.adapt!r} unknown; expected one of: {', '.join(ADAPT)}")

    def hardware_setup(self):
        """``(DeviceParams, AnalogConfig)`` for ``hardware.kind="rram"``, else ``None`` (validated)."""
        h = self.hardware
        if h.kind not in HARDWARE:
            raise UserError(f"hardware.kind {h.kind!r} unknown; expected one of: {', '.join(HARDWARE)}")
        if h.kind != "rram":
            if h.device_set or h.device_preset != "neurosim-default":
                raise UserError("--device-preset and --set apply to --hardware rram only")
            return None
        if self.runtime.device != "cpu":
            raise UserError(f"--hardware rram simulates the crossbars on the CPU; use --device cpu, "
                            f"not {self.runtime.device!r}")
        from pipesdfa.analog.config import split_device_and_analog
        from pipesdfa.hw.config.device import DEVICE_PRESETS, get_device_preset
        from pipesdfa.util.names import check_name

        check_name("device preset", h.device_preset, DEVICE_PRESETS)

        return split_device_and_analog(get_device_preset(h.device_preset), h.device_set)

    # ------------------------------------------------------------------ the rule
    def rule_kwargs(self) -> dict[str, Any]:
        """The keyword arguments that bind the run's rule (:meth:`RuleSection.kwargs`): a model
        composed without a workload gets its rule's composed-model defaults."""
        return self.rule.kwargs(self.seed, composed=self.workload is None)

    # ------------------------------------------------------------------ dicts
    def to_dict(self) -> dict[str, Any]:
        """``{section: {key: value}}`` plus ``seed`` and ``workload`` (tuples as lists)."""
        return plain_data(asdict(self))

    @staticmethod
    def from_dict(d: dict[str, Any]) -> "TrainConfig":
        """A config from a dict (a checkpoint's, a file's): keys and types are checked
        (:func:`check_fields`)."""
        return TrainConfig.from_values(d, "config")

    @staticmethod
    def from_values(d: Mapping[str, Any], source: str) -> "TrainConfig":
        return TrainConfig(**build_sections(check_fields(d, source)))


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
    cfg = TrainConfig.from_flat(dict(dataset=w.dataset, model=w.model, hidden=w.hidden, neuron=w.neuron, tau=w.tau,
                                     T=w.T, batch=w.batch, epochs=w.epochs, lr=w.lr, weight_decay=w.weight_decay,
                                     loss=w.loss, init_gain=w.init_gain, init="default", drop_last=w.drop_last,
                                     workload=name), f"workload {name}")
    return cfg.updated(f"workload {name}", **{k: v for k, v in overrides.items() if v is not None})


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
