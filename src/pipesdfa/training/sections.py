"""The sections of a training configuration (:class:`pipesdfa.training.config.TrainConfig`): one
dataclass per section, the flat names of the flags and of the configs before sections
(:data:`FLAT_KEYS`), and the checking of a ``{section: {key: value}}`` mapping against them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from pipesdfa.learning.options import RULE_OPTIONS, SDFAOptions
from pipesdfa.util.errors import UserError
from pipesdfa.util.fieldcheck import check_dataclass_fields
from pipesdfa.util.names import did_you_mean

__all__ = ["DataSection", "ModelSection", "RuleSection", "OptimSection", "HardwareSection", "FinetuneSection",
           "RuntimeSection", "SECTIONS", "FLAT_KEYS", "TOP_KEYS", "flat_view", "check_fields", "check_section",
           "build_sections", "flag_name", "plain_data"]


@dataclass
class DataSection:
    """What the network sees: the dataset, its loader options, ``T`` time steps per sample."""

    dataset: str = "digits"
    dir: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    T: int = 8
    max_train: int | None = None
    max_test: int | None = None
    drop_last: bool = False
    val_fraction: float = 0.1


@dataclass
class ModelSection:
    """The network: a zoo family (``name``), its widths and neurons, and its initialisation."""

    name: str = "mlp"
    hidden: tuple[int, ...] = (256, 256)
    neuron: str = "lif"
    tau: float = 2.0
    surrogate: str = "atan"
    alpha: float | None = None
    backend: str = "auto"
    precision: str = "fp32"  # dense layers' matrix products: fp32 or bf16 (pipesdfa.snn.kernels.precision)
    init: str = "data"
    init_gain: float = 1.0
    init_rate: float = 0.1


@dataclass
class RuleSection:
    """The learning rule (``method``) and, per rule that takes options, a section of its own
    (:data:`pipesdfa.learning.options.RULE_OPTIONS`); only the run's rule's section may be set."""

    method: str = "bptt"
    sdfa: SDFAOptions = field(default_factory=SDFAOptions)

    def options(self) -> Any:
        """The options dataclass of ``method`` (``None`` for a rule without options)."""
        return getattr(self, self.method, None) if self.method in RULE_OPTIONS else None

    def kwargs(self, seed: int, composed: bool = False) -> dict[str, Any]:
        """The keyword arguments that bind ``method`` (``make_rule(method, net, **kwargs)``;
        ``composed``: the run has no workload, so a rule's composed-model defaults apply)."""
        opts = self.options()
        return opts.kwargs(seed, composed) if opts is not None else {}


@dataclass
class OptimSection:
    """What is minimised and how: loss, optimiser, learning rate and its schedule, batches, epochs.

    ``loss`` and ``lr`` are a composed model's (every workload sets its own): MSE of the rates
    against one-hot targets at 1e-3. MSE wins on validation accuracy over every rule
    (``benchmarks/composed_defaults.py``, ``benchmarks/results/composed_select_*.json``;
    ``docs/accuracy.md``, "Composed networks"): cross-entropy on rates in [0, 1] keeps the
    softmax near uniform, so its error hardly depends on the sample and never vanishes. 3e-3
    scored higher on the width-64 validation grid but silences BPTT's output layer on a
    4 x 1000 MLP (10 % test accuracy on every seed; 1e-3 trains it)."""

    optimizer: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    loss: str = "mse"
    epochs: int = 10
    batch: int = 32
    lr_restarts: tuple[int, ...] = ()


@dataclass
class HardwareSection:
    """Where the weights live: ``kind`` ``ideal`` (floats) or ``rram`` (simulated crossbars of
    ``device_preset`` with ``device_set`` overrides)."""

    kind: str = "ideal"
    device_preset: str = "neurosim-default"
    device_set: list[str] = field(default_factory=list)


@dataclass
class FinetuneSection:
    """Adapting a trained run (``base``) to a user's shifted data (:mod:`pipesdfa.training.finetune`)."""

    base: str | None = None
    adapt: str = "all"
    shift: str | None = None
    shift_seed: int = 0
    samples_per_class: int | None = None


@dataclass
class RuntimeSection:
    """How the run executes; none of it changes the numbers (on one machine)."""

    device: str = "cpu"
    num_workers: int = 0
    out: str = "runs/train"
    threads: int | str = "auto"
    tensorboard: bool = False


#: section name -> its dataclass, in the order a config file lists them.
SECTIONS: dict[str, type] = {"data": DataSection, "model": ModelSection, "rule": RuleSection,
                             "optim": OptimSection, "hardware": HardwareSection, "finetune": FinetuneSection,
                             "runtime": RuntimeSection}

#: The flat names of the flags (``--lr``, ``--sdfa-variant``) and of configs before sections,
#: each with its place now (``section.key``; ``seed`` and ``workload`` stay at the top).
FLAT_KEYS: dict[str, str] = {
    "dataset": "data.dataset", "data_dir": "data.dir", "data_options": "data.options", "T": "data.T",
    "max_train": "data.max_train", "max_test": "data.max_test", "drop_last": "data.drop_last",
    "val_fraction": "data.val_fraction",
    "model": "model.name", **{k: f"model.{k}" for k in ("hidden", "neuron", "tau", "surrogate", "alpha", "backend",
                                                     "precision", "init", "init_gain", "init_rate")},
    "method": "rule.method", **{k: f"rule.sdfa.{k}" for k in ("feedback", "distribution", "temporal", "feedback_seed")},
    "sdfa_impl": "rule.sdfa.impl", "sdfa_store": "rule.sdfa.store", "sdfa_variant": "rule.sdfa.variant",
    **{k: f"optim.{k}" for k in ("optimizer", "lr", "weight_decay", "loss", "epochs", "batch", "lr_restarts")},
    "hardware": "hardware.kind", "device_preset": "hardware.device_preset", "device_set": "hardware.device_set",
    **{k: f"finetune.{k}" for k in ("base", "adapt", "shift", "shift_seed", "samples_per_class")},
    **{k: f"runtime.{k}" for k in ("device", "num_workers", "out", "threads", "tensorboard")},
    "seed": "seed", "workload": "workload",
}


#: The keys at the top of a config, beside the sections.
TOP_KEYS = ("seed", "workload")


@dataclass
class _Top:
    seed: int = 0
    workload: str | None = None


def flat_view(resolved: dict[str, Any]) -> dict[str, Any]:
    """A config dict's (``to_dict`` or resolved) values under the flags' flat names (those it holds)."""
    out = {}
    for flat, path in FLAT_KEYS.items():
        node: Any = resolved
        for part in path.split("."):
            if not isinstance(node, dict) or part not in node:
                break
            node = node[part]
        else:
            out[flat] = node
    return out


def flag_name(rule: str, key: str) -> str:
    flat = next((k for k, v in FLAT_KEYS.items() if v == f"rule.{rule}.{key}"), key)
    return flat.replace("_", "-")


def plain_data(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: plain_data(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [plain_data(v) for v in x]
    return x


def check_section(cls: type, values: dict[str, Any], source: str) -> dict[str, Any]:
    """``values`` checked against the dataclass ``cls`` (``threads``: a count or ``auto``)."""
    from pipesdfa.util.threads import parse_threads

    parsers = {"threads": parse_threads} if cls is RuntimeSection else {}
    return check_dataclass_fields(cls, values, source, parsers)


def check_fields(values: Mapping[str, Any], source: str) -> dict[str, Any]:
    """``values`` (``{section: {key: value}}``, ``seed``, ``workload``) checked against the
    sections' fields and types; a :class:`UserError` naming the key and ``source`` otherwise,
    and for a flat key of the configs before sections, where it moved (``lr`` -> ``optim.lr``)."""
    if not isinstance(values, Mapping):
        raise UserError(f"{source}: expected a mapping of config sections, got {type(values).__name__}")
    # first the shape (sections, sub-sections, moved or unknown keys), then every section's fields
    checks: list[tuple[tuple[str, ...], type, dict[str, Any], str]] = []  # (where it goes, class, values, source)
    for key, value in values.items():
        if key in SECTIONS:
            if not isinstance(value, Mapping):
                raise UserError(f"{source}: section {key!r}: expected a mapping of keys, got {value!r}")
            cls = SECTIONS[key]
            plain = {k: v for k, v in value.items() if k not in RULE_OPTIONS or cls is not RuleSection}
            checks.append(((key,), cls, plain, f"{source}: section {key!r}"))
            for name, opts_cls in RULE_OPTIONS.items() if cls is RuleSection else ():
                if name in value:
                    if not isinstance(value[name], Mapping):
                        raise UserError(f"{source}: section 'rule.{name}': expected a mapping, got {value[name]!r}")
                    checks.append(((key, name), opts_cls, dict(value[name]), f"{source}: section 'rule.{name}'"))
        elif key in TOP_KEYS:
            checks.append(((), _Top, {key: value}, source))
        elif key in FLAT_KEYS:
            raise UserError(f"{source}: key {key!r} moved to {FLAT_KEYS[key]} (config files have sections now: "
                            f"{', '.join(SECTIONS)}; e.g. {FLAT_KEYS[key].split('.')[0]}: {{{FLAT_KEYS[key].split('.')[-1]}: "
                            f"{value!r}}})")
        else:
            raise UserError(f"{source}: unknown key {key!r}{did_you_mean(str(key), [*SECTIONS, 'seed', 'workload'])}; "
                            f"expected one of the sections {', '.join(SECTIONS)} or seed, workload")
    out: dict[str, Any] = {}
    for where, cls, v, src in checks:  # a section comes before its rule options (see above)
        checked = check_section(cls, v, src)
        if not where:  # a top-level key (seed, workload)
            out.update(checked)
        elif len(where) == 1:
            out[where[0]] = checked
        else:  # a rule's options, inside its section
            out[where[0]][where[1]] = checked
    return out


def build_sections(checked: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments of ``TrainConfig`` from a checked mapping (:func:`check_fields`)."""
    kw: dict[str, Any] = {k: v for k, v in checked.items() if k not in SECTIONS}
    for name, cls in SECTIONS.items():
        if name in checked:
            values = dict(checked[name])
            if cls is RuleSection:
                for opt_name, opt_cls in RULE_OPTIONS.items():
                    if opt_name in values:
                        values[opt_name] = opt_cls(**values[opt_name])
            kw[name] = cls(**values)
    return kw
