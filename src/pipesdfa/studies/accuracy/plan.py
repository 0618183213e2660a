"""What ``pipesdfa reproduce accuracy`` trains: workloads x rules x seeds, each a :class:`RunSpec`.

A rule is a :class:`Method`: ``bptt``, ``output`` or ``sdfa`` with a variant (``sdfa`` alone
is the authors' rule, ``sdfa:NAME`` one of :data:`pipesdfa.learning.sdfa_variants.VARIANTS`).
Per-workload overrides are ``WORKLOAD=VALUE`` assignments (or a bare ``VALUE`` for every
workload); ``--lr`` and ``--init-gain`` take several comma-separated values, each a group of
its own runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Sequence, TypeVar

from pipesdfa.util.errors import UserError
from pipesdfa.learning import RULES, takes_option
from pipesdfa.learning.sdfa_variants import AUTHORS, VARIANTS
from pipesdfa.training.loop import TrainConfig, config_from_workload
from pipesdfa.zoo.workloads import WORKLOADS, get_workload

__all__ = ["Method", "RunSpec", "TABLE_WORKLOADS", "default_methods", "parse_method", "parse_assignments",
           "plan_runs"]

#: The accuracy table's workloads: those whose data exists here (``../shared/data``: the full
#: Braille set and the 1,000-sample N-MNIST subset) and the embedded digits.
TABLE_WORKLOADS: tuple[str, ...] = ("braille-analog-mlp", "braille-mlp", "digits-mlp", "nmnist-mlp2", "nmnist-mlp3",
                                    "nmnist-mlp4", "nmnist-mlp5")

T = TypeVar("T")


@dataclass(frozen=True)
class Method:
    """A learning rule as the table names it: ``method`` and, for ``sdfa``, its ``variant``."""

    method: str
    variant: str | None = None

    @property
    def label(self) -> str:
        if not takes_option(self.method, "variant") or self.variant in (None, AUTHORS):
            return self.method
        return f"{self.method}:{self.variant}"


def parse_method(text: str) -> Method:
    """``bptt`` | ``output`` | ``sdfa`` (the authors' rule) | ``sdfa:VARIANT``."""
    name, _, variant = text.partition(":")
    if name not in RULES:
        raise UserError(f"--methods: unknown rule {name!r}; expected one of: {', '.join(RULES)} "
                        f"(sdfa:VARIANT for a variant)")
    if not takes_option(name, "variant"):
        if variant:
            raise UserError(f"--methods: {text!r}: only sdfa has variants")
        return Method(name)
    variant = variant or AUTHORS
    if variant not in VARIANTS:
        raise UserError(f"--methods: unknown sdfa variant {variant!r}; expected one of: {', '.join(VARIANTS)}")
    return Method("sdfa", variant)


def default_methods() -> list[Method]:
    """Every rule: BPTT, the authors' SDFA, each SDFA variant the project offers, output-only."""
    return [Method("bptt")] + [Method("sdfa", v) for v in VARIANTS] + [Method("output")]


def parse_assignments(items: Sequence[str], option: str, cast: Callable[[str], T], workloads: Sequence[str]
                      ) -> dict[str, list[T]]:
    """``["W=V", "V2", ...]`` -> ``{workload: [values]}``: a bare value applies to every workload,
    ``W=V`` to one (later items win); ``V`` may be comma-separated (several values)."""
    out: dict[str, list[T]] = {}
    for item in items:
        name, eq, value = item.rpartition("=")
        targets = [name] if eq else list(workloads)
        if eq and name not in workloads:
            raise UserError(f"{option} {item!r}: workload {name!r} is not among --workloads ({', '.join(workloads)})")
        try:
            values = [cast(v) for v in value.split(",")]
        except ValueError:
            raise UserError(f"{option} {item!r}: cannot read {value!r}") from None
        if not values or any(not (v > 0) for v in values):  # type: ignore[operator]
            raise UserError(f"{option} {item!r}: values must be positive")
        for t in targets:
            out[t] = values
    return out


@dataclass(frozen=True)
class RunSpec:
    """One training run of the table."""

    workload: str
    method: Method
    seed: int
    epochs: int
    batch: int
    lr: float
    init_gain: float

    def folder(self) -> str:
        """Run folder below ``DIR/runs``: ``WORKLOAD[-lrLR][-gainG]/RULE-seedS`` (``:`` -> ``-``;
        the rate and gain only where they differ from the workload's)."""
        w = get_workload(self.workload)
        wl = self.workload + ("" if self.lr == w.lr else f"-lr{self.lr:g}") + (
            "" if self.init_gain == w.init_gain else f"-gain{self.init_gain:g}")
        return f"{wl}/{self.method.label.replace(':', '-')}-seed{self.seed}"

    def config(self, data_dir: str | None, out: str, threads: int | str = "auto") -> TrainConfig:
        extra = {"sdfa_variant": self.method.variant} if takes_option(self.method.method, "variant") else {}
        return config_from_workload(self.workload, epochs=self.epochs, batch=self.batch, lr=self.lr,
                                    init_gain=self.init_gain, method=self.method.method, seed=self.seed,
                                    data_dir=data_dir, out=out, threads=threads, **extra)


def plan_runs(workloads: Iterable[str], methods: Sequence[Method], seeds: Sequence[int],
              epochs: dict[str, list[int]] | None = None, batches: dict[str, list[int]] | None = None,
              lrs: dict[str, list[float]] | None = None, gains: dict[str, list[float]] | None = None
              ) -> list[RunSpec]:
    """Every run, workload by workload, then learning rate, initial gain, rule and seed."""
    epochs, batches, lrs, gains = epochs or {}, batches or {}, lrs or {}, gains or {}
    runs: list[RunSpec] = []
    seen = set()
    for wl in workloads:
        if wl not in WORKLOADS:
            raise UserError(f"unknown workload {wl!r}; expected one of: {', '.join(WORKLOADS)}")
        if wl in seen:
            continue
        seen.add(wl)
        w = get_workload(wl)
        for name, d in (("--epochs", epochs), ("--batch", batches)):
            if len(d.get(wl, [])) > 1:
                raise UserError(f"{name}: give one value for {wl}, got {d[wl]}")
        e = epochs.get(wl, [w.epochs])[0]
        b = batches.get(wl, [w.batch])[0]
        for lr in lrs.get(wl, [w.lr]):
            for gain in gains.get(wl, [w.init_gain]):
                for m in methods:
                    for s in seeds:
                        runs.append(RunSpec(wl, m, int(s), int(e), int(b), float(lr), float(gain)))
    return runs
