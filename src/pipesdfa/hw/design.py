"""The design space of one accelerator for one network: every resource the mapping fixes or caps.

A *design point* is a dict ``{variable: value}``. Two kinds of variables:

* **parameter-tree leaves** marked with legal choices in :mod:`pipesdfa.hw.config.tree`
  (:func:`~pipesdfa.hw.config.tree.design_choices`): buffer per tile, ADCs per group, gradient
  arrays per weight array, gradient technology, and what an architecture adds
  (:attr:`pipesdfa.hw.archs.base.Architecture.design_keys`: PipeSDFA's feedback copies,
  PipeLayer's shared transpose and time-step pipeline). The key is the dotted leaf name.
* **per-layer copies**: ``replication.<l>`` -- copies of layer ``l``'s weight arrays, in
  ``1 .. P_l`` (``P_l`` output positions; a layer with one position has none to spread), and,
  for a machine with a separate transposed copy, ``transposed.<l>`` -- its copies, in
  ``1 .. E P_l`` (``E`` bit-serial passes per position). Choices are the powers of two in the
  range, the range's end, the hand-picked value and the balanced copies the engine would pick under
every power-of-two cap (:meth:`DesignSpace.balanced_points`, the seeds of a search).

The hand-picked design (:meth:`DesignSpace.default_point`) is the configuration's own leaves
and the engine's balanced replication under ``mapping.max_replication``: evaluating it gives
the numbers ``pipesdfa simulate`` gives. Update semantics are not a variable: both machines run
the configuration's ``pipeline.batch_dependency`` (``strict`` in ``pipesdfa explore``, what the
trainer runs).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, fields, is_dataclass, replace
from typing import Any, Mapping

from pipesdfa.util.errors import UserError
from pipesdfa.hw.archs import get_arch
from pipesdfa.hw.config import HwConfig
from pipesdfa.hw.config.keys import flatten
from pipesdfa.hw.config.tree import HwParams
from pipesdfa.zoo.workloads import ModelSpec, ResolvedLayer, resolve

__all__ = ["Variable", "DesignSpace", "design_space", "leaf_choices", "REPLICATION", "TRANSPOSED"]

REPLICATION, TRANSPOSED = "replication", "transposed"


@dataclass(frozen=True)
class Variable:
    """One design variable: its name, legal choices (in order) and hand-picked value."""

    name: str
    choices: tuple[Any, ...]
    default: Any

    def index(self, value: Any) -> int:
        """Position of ``value`` among the choices (bool and number kept apart)."""
        for i, c in enumerate(self.choices):
            if type(c) is type(value) and c == value or (
                    isinstance(c, float) and isinstance(value, int) and not isinstance(value, bool) and c == value):
                return i
        raise UserError(f"design variable {self.name} = {value!r}; expected one of: "
                        f"{', '.join(map(str, self.choices))}")


def leaf_choices(p: HwParams | None = None) -> dict[str, tuple[Any, ...]]:
    """``{"section.key": choices}`` of every leaf marked as a design variable in the tree."""
    p = p or HwParams()
    out: dict[str, tuple[Any, ...]] = {}
    for sec in fields(p):
        v = getattr(p, sec.name)
        if not is_dataclass(v):
            continue
        for f in fields(v):
            if "design" in f.metadata:
                out[f"{sec.name}.{f.name}"] = f.metadata["design"]
    return out


def _copies_choices(hi: int, default: int) -> tuple[int, ...]:
    vals = {1 << j for j in range(max(1, hi).bit_length()) if (1 << j) <= hi} | {hi, default}
    return tuple(sorted(v for v in vals if v >= 1))


@dataclass(frozen=True)
class DesignSpace:
    """The variables of ``arch`` for ``spec`` over the configuration ``cfg``."""

    arch: str
    spec: ModelSpec
    cfg: HwConfig
    variables: tuple[Variable, ...]
    n_layers: int
    balanced: tuple[tuple[tuple[str, int], ...], ...] = ()  # per cap: the engine's balanced copies

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(v.name for v in self.variables)

    def variable(self, name: str) -> Variable:
        for v in self.variables:
            if v.name == name:
                return v
        raise UserError(f"unknown design variable {name!r} for {self.arch}; expected one of: {', '.join(self.names)}")

    def default_point(self) -> dict[str, Any]:
        return {v.name: v.default for v in self.variables}

    def balanced_points(self) -> list[dict[str, Any]]:
        """The hand-picked point with the copies the engine balances under each power-of-two cap
        ``r_max`` (every layer just fast enough for the slowest): good seeds for a search."""
        return [{**self.default_point(), **dict(b)} for b in self.balanced]

    @property
    def size(self) -> int:
        """Points in the space (the product of the choice counts)."""
        return math.prod(len(v.choices) for v in self.variables)

    def check(self, point: Mapping[str, Any]) -> dict[str, Any]:
        """``point`` completed with defaults and validated: unknown variables and illegal values
        are refused by name (JSON numbers are matched to the choices, so ``2`` reads as ``2.0``)."""
        for name in point:
            self.variable(name)
        out = self.default_point()
        for name, value in point.items():
            v = self.variable(name)
            out[name] = v.choices[v.index(value)]
        return out

    def sample(self, rng: random.Random) -> dict[str, Any]:
        """A point drawn uniformly from every variable's choices."""
        return {v.name: rng.choice(v.choices) for v in self.variables}

    def grid(self, n: int) -> list[dict[str, Any]]:
        """``n`` points evenly spaced over the full grid in mixed-radix order (all of it when it is smaller)."""
        total = self.size
        idx = range(total) if total <= n else sorted({round(i * (total - 1) / max(1, n - 1)) for i in range(n)})
        out = []
        for k in idx:
            point = {}
            for v in reversed(self.variables):
                k, r = divmod(k, len(v.choices))
                point[v.name] = v.choices[r]
            out.append({v.name: point[v.name] for v in self.variables})
        return out

    def realise(self, point: Mapping[str, Any]) -> tuple[dict[str, Any], list[int], list[int] | None]:
        """``(tree changes, replication per layer, transposed copies per layer or None)`` of a point."""
        pt = self.check(point)
        changes = {k: v for k, v in pt.items() if not k.startswith((REPLICATION + ".", TRANSPOSED + "."))}
        reps = [int(pt.get(f"{REPLICATION}.{l}", 1)) for l in range(self.n_layers)]
        has_t = any(k.startswith(TRANSPOSED + ".") for k in pt)
        t_reps = [int(pt.get(f"{TRANSPOSED}.{l}", 0)) for l in range(self.n_layers)] if has_t else None
        return changes, reps, t_reps


def design_space(spec: ModelSpec, arch: str, cfg: HwConfig) -> DesignSpace:
    """Every resource ``arch``'s mapping fixes or caps for ``spec``, with its legal choices."""
    from pipesdfa.hw.mapping import replication_plan

    a = get_arch(arch)
    p = cfg.params
    marked = leaf_choices(p)
    current = flatten(p)
    variables: list[Variable] = []
    for key in a.design_keys:
        choices = marked[key]
        dflt = current[key]
        if dflt not in choices:
            choices = tuple(sorted(set(choices) | {dflt})) if not isinstance(dflt, (bool, str)) else choices + (dflt,)
        variables.append(Variable(key, tuple(choices), dflt))
    layers: list[ResolvedLayer] = resolve(spec)
    E = p.precision.error_bits
    # a separate transposed copy's copies are variables even where the hand-picked design shares
    # the forward arrays (the point's own pipeline.pipelayer_shared_transpose decides)
    separate = replace(p, pipeline=replace(p.pipeline, pipelayer_shared_transpose=False))
    caps = [1 << j for j in range((max(l.positions for l in layers) * E).bit_length())]
    plans = {r: (replication_plan(layers, r), a.transposed_copies(layers, separate, r)) for r in caps}
    r_max = p.mapping.max_replication
    reps, t_reps = replication_plan(layers, r_max), a.transposed_copies(layers, separate, r_max)
    names: list[str] = []
    for l, r in zip(layers, reps):
        if l.positions > 1:
            extra = {plans[c][0][l.index] for c in caps}
            variables.append(Variable(f"{REPLICATION}.{l.index}",
                                      tuple(sorted(set(_copies_choices(l.positions, r)) | extra)), r))
            names.append(variables[-1].name)
    for l, t in zip(layers, t_reps):
        if t > 0 and l.positions * E > 1:
            dflt = t if not p.pipeline.pipelayer_shared_transpose else 1
            extra = {plans[c][1][l.index] for c in caps}
            variables.append(Variable(f"{TRANSPOSED}.{l.index}",
                                      tuple(sorted(set(_copies_choices(l.positions * E, dflt)) | extra)), dflt))
            names.append(variables[-1].name)
    balanced = []
    for c in caps:
        r_c, t_c = plans[c]
        val = {f"{REPLICATION}.{i}": v for i, v in enumerate(r_c)} | {f"{TRANSPOSED}.{i}": v for i, v in enumerate(t_c)}
        b = tuple((n, val[n]) for n in names)
        if b not in balanced:
            balanced.append(b)
    return DesignSpace(arch, spec, cfg, tuple(variables), len(layers), tuple(balanced))
