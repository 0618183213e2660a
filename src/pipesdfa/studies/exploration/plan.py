"""What ``pipesdfa explore`` searches: one network, the machines, the budget, the memory, the search.

:func:`make_plan` checks every input before anything runs (a bad budget, an unknown design
variable, an unknown DRAM preset: one :class:`~pipesdfa.util.errors.UserError` naming it) and
fixes the configuration both machines share: the preset, ``strict`` update semantics (:data:`STRICT`,
what the trainer runs; the caller applies it before the user's ``--set``, so
``--set pipeline.batch_dependency=stale-1`` compares the overlap), then the DRAM preset.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from pipesdfa.util.errors import UserError
from pipesdfa.hw.archs import ARCH_NAMES, get_arch
from pipesdfa.hw.config import HwConfig, with_dram
from pipesdfa.hw.design import design_space
from pipesdfa.hw.endurance import ENDURANCE_LEVELS
from pipesdfa.hw.engine import default_samples
from pipesdfa.hw.evaluate import Problem
from pipesdfa.zoo.workloads import ModelSpec, get_workload

__all__ = ["ExplorePlan", "make_plan", "SEARCHES", "STRICT"]

SEARCHES: tuple[str, ...] = ("random", "nsga2", "grid")
#: update semantics both machines run unless the user's --set says otherwise
STRICT = {"pipeline.batch_dependency": "strict"}


@dataclass(frozen=True)
class ExplorePlan:
    """A checked exploration: ``problem`` per machine (same network, budget, memory), the search."""

    name: str  # the workload (or the run's model) explored
    archs: tuple[str, ...]
    problem: Problem
    dram: str
    points: int
    search: str
    jobs: int | str
    seed: int
    fixed: dict[str, dict[str, Any]] = field(default_factory=dict)  # per arch: variables pinned by --fix
    polish: int = 0  # coordinate-descent rounds from the best designs (studies.exploration.run)
    source: dict[str, Any] = field(default_factory=dict)  # the checkpoint a --checkpoint plan came from


def _parse_jobs(jobs: int | str) -> int | str:
    if jobs == "ray":
        return "ray"
    try:
        j = int(jobs)
    except (TypeError, ValueError):
        raise UserError(f"--jobs {jobs!r}: expected a number of processes or 'ray'") from None
    if j < 1:
        raise UserError(f"--jobs {j}: expected at least 1")
    return j


def make_plan(*, cfg: HwConfig, budget_mm2: float, dram: str = "hbm2", archs: Sequence[str] = (),
              workload: str | None = None, spec: ModelSpec | None = None, T: int | None = None,
              batch: int | None = None, epoch_samples: int | None = None, activity: Any = None,
              points: int = 200, search: str = "random", jobs: int | str = 1, seed: int = 0,
              fix: Mapping[str, Any] | None = None, min_epochs: float = 0.0, endurance: float = 1e9,
              name: str | None = None, source: Mapping[str, Any] | None = None, polish: int = 0) -> ExplorePlan:
    """Check everything and build the plan (``workload`` by name, or ``spec`` with its ``T``/batch)."""
    if not (isinstance(budget_mm2, (int, float)) and math.isfinite(budget_mm2) and budget_mm2 > 0):
        raise UserError(f"--budget-mm2 {budget_mm2!r}: expected a positive area in mm^2")
    if search not in SEARCHES:
        raise UserError(f"--search {search!r}: expected one of: {', '.join(SEARCHES)}")
    if points < 1:
        raise UserError(f"--points {points}: expected at least 1")
    if polish < 0:
        raise UserError(f"--polish {polish}: expected 0 or more rounds")
    if min_epochs < 0 or endurance not in ENDURANCE_LEVELS:
        raise UserError(f"--min-epochs {min_epochs} at --endurance {endurance:g}: expected epochs >= 0 and an "
                        f"endurance of {', '.join(f'{e:g}' for e in ENDURANCE_LEVELS)}")
    archs = tuple(archs) or ARCH_NAMES
    for a in archs:
        get_arch(a)
    cfg = with_dram(cfg, dram)
    chip = cfg.params.chip_area_mm2
    if cfg.params.buffer.sizing == "per-tile" and budget_mm2 < chip:
        raise UserError(f"--budget-mm2 {budget_mm2:g} is smaller than one chip ({chip:.4g} mm^2 with preset "
                        f"{cfg.preset!r}); no design fits")
    if workload is not None:
        w = get_workload(workload)
        spec = w.model_spec()
        T = T if T is not None else w.T
        batch = batch if batch is not None else w.batch
        epoch_samples = epoch_samples if epoch_samples is not None else default_samples(w, batch)
        name = name or w.name
    if spec is None or T is None or batch is None:
        raise UserError("explore needs --workload NAME or --checkpoint RUN")
    epoch_samples = epoch_samples if epoch_samples is not None else default_samples(None, batch)
    problem = Problem(spec, cfg, int(T), int(batch), int(epoch_samples), float(budget_mm2), activity,
                      min_epochs=float(min_epochs), endurance=float(endurance))
    fixed: dict[str, dict[str, Any]] = {}
    fix = dict(fix or {})
    known: set[str] = set()
    for a in archs:
        space = design_space(spec, a, cfg)
        known |= set(space.names)
        fixed[a] = {k: space.variable(k).choices[space.variable(k).index(_typed(v, space.variable(k).choices))]
                    for k, v in fix.items() if k in space.names}
    unknown = sorted(set(fix) - known)
    if unknown:
        raise UserError(f"--fix {unknown[0]}: unknown design variable; expected one of: {', '.join(sorted(known))}")
    return ExplorePlan(name or spec.name, archs, problem, dram, int(points), search, _parse_jobs(jobs), int(seed),
                       fixed, int(polish), dict(source or {}))


def _typed(raw: Any, choices: tuple[Any, ...]) -> Any:
    """A ``--fix`` string as the type of the variable's choices."""
    if not isinstance(raw, str):
        return raw
    c = choices[0]
    if isinstance(c, bool):
        low = raw.strip().lower()
        if low in ("true", "false"):
            return low == "true"
        return raw
    if isinstance(c, (int, float)):
        try:
            f = float(raw)
        except ValueError:
            return raw
        return int(f) if isinstance(c, int) and f == int(f) else f
    return raw
