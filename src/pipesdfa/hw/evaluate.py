"""Evaluate design points fast: one network on one machine, many resource splits.

:class:`Evaluator` keeps what does not change between points (the resolved layers, the
activity, ``T``/batch/epoch, the base configuration) and per point builds the configuration,
maps the layers with the point's copies, sizes the silicon and -- only when it fits the area
budget -- schedules and prices one epoch (:func:`pipesdfa.hw.engine.simulate_detailed`). A point
over the budget costs a mapping, not a schedule.

The result of a point (:func:`Evaluator.evaluate`) is a JSON-ready dict: ``params`` (the
point), ``feasible``, ``area_mm2`` and, when feasible, ``time_s`` and ``energy_j`` per epoch of
training (``samples`` samples), plus the endurance summary of :mod:`pipesdfa.hw.endurance`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from pipesdfa.hw.area import silicon
from pipesdfa.hw.config import HwConfig
from pipesdfa.hw.design import DesignSpace, design_space
from pipesdfa.hw.endurance import endurance_key, endurance_summary
from pipesdfa.hw.engine import simulate_detailed
from pipesdfa.hw.placement import map_layers
from pipesdfa.zoo.workloads import ModelSpec, resolve

__all__ = ["Evaluator", "Problem"]


@dataclass(frozen=True)
class Problem:
    """What is evaluated: a network (``spec``) with its ``T``, batch, epoch and activity, on a
    configuration, under an area budget (mm^2; 0 = none) and an optional lifetime floor (epochs
    the most-written RRAM cell survives at ``endurance`` writes, 0 = none)."""

    spec: ModelSpec
    cfg: HwConfig
    T: int
    batch: int
    epoch_samples: int
    budget_mm2: float = 0.0
    activity: Any = None
    samples: int | None = None
    min_epochs: float = 0.0
    endurance: float = 1e9


class Evaluator:
    """Evaluates points of ``arch``'s design space for ``problem`` (the space is built once)."""

    def __init__(self, problem: Problem, arch: str) -> None:
        self.problem = problem
        self.arch = arch
        self.space: DesignSpace = design_space(problem.spec, arch, problem.cfg)
        self._layers = resolve(problem.spec)
        self._rows_c = problem.spec.num_classes * problem.spec.vote

    def evaluate(self, point: Mapping[str, Any]) -> dict[str, Any]:

        pr = self.problem
        changes, reps, t_reps = self.space.realise(point)
        params = self.space.check(point)
        cfg = pr.cfg.with_overrides(changes, "design point")
        p = cfg.params
        m = map_layers(self._layers, p, self.arch, self._rows_c, max_replication=max(reps), replication=reps,
                       t_replication=t_reps)
        area = silicon(m, p).area_mm2
        out: dict[str, Any] = {"params": params, "area_mm2": area, "feasible": True}
        if pr.budget_mm2 > 0 and area > pr.budget_mm2 * (1 + 1e-12):
            return {**out, "feasible": False, "reason": "area"}
        d = simulate_detailed(pr.spec, self.arch, config=cfg, T=pr.T, batch=pr.batch, samples=pr.samples,
                              activity=pr.activity, epoch_samples=pr.epoch_samples, replication=reps,
                              t_replication=t_reps)
        life = endurance_summary(d, pr.epoch_samples)
        out.update(time_s=d.run["time_s"], energy_j=d.run["energy_j"], chips=d.run["chips"],
                   endurance=life)
        survived = life["epochs_survived"].get(endurance_key(pr.endurance))
        if pr.min_epochs > 0 and survived is not None and survived < pr.min_epochs:
            out.update(feasible=False, reason="lifetime")
        return out
