"""Running an exploration: draw design points, evaluate them in parallel, keep every result.

Searches (``plan.search``):

* ``random`` -- the hand-picked design, then ``points`` draws uniform over every variable's choices;
* ``grid`` -- the hand-picked design, then ``points`` points evenly spaced over the full grid;
* ``nsga2`` -- optuna's NSGA-II sampler (two objectives, time and energy; the area budget and
  the lifetime floor as constraints), seeded with the hand-picked design and the engine's
  balanced copies under each cap (at most a quarter of the points), asked a few points at a time.

``polish`` rounds then refine the fastest and the most frugal feasible design by coordinate
descent: every design one variable away is evaluated, the best improvement is taken, until none
improves (or the rounds run out), so no single-variable change of a reported best is better.

Evaluation runs in ``jobs`` processes through joblib (``"ray"``: joblib's Ray backend, for a
cluster, when ray is installed); each process builds its :class:`~pipesdfa.hw.evaluate.Evaluator`
once per machine. A tqdm bar counts the points.
"""

from __future__ import annotations

import random
import sys
from contextlib import nullcontext
from typing import Any, Callable, Iterator

from pipesdfa.util.errors import UserError
from pipesdfa.hw.evaluate import Evaluator, Problem
from pipesdfa.studies.exploration.plan import ExplorePlan

__all__ = ["run_exploration", "evaluate_points"]

_EVALUATORS: dict[tuple[str, str], Evaluator] = {}
_CHUNK = 16


def _evaluator(problem: Problem, arch: str) -> Evaluator:
    """This process's evaluator of ``arch`` for ``problem`` (a worker receives a fresh copy of the
    problem with every chunk, so it is found again by content)."""
    key = (repr(problem), arch)
    if key not in _EVALUATORS:
        _EVALUATORS[key] = Evaluator(problem, arch)
    return _EVALUATORS[key]


def _evaluate_chunk(problem: Problem, arch: str, points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    ev = _evaluator(problem, arch)
    return [ev.evaluate(pt) for pt in points]


def _backend(jobs: int | str):
    if jobs == "ray":
        try:
            import ray  # noqa: F401
            from ray.util.joblib import register_ray
        except ImportError:
            raise UserError("--jobs ray needs the ray package (pip install 'ray[default]')") from None
        import joblib

        register_ray()
        return joblib.parallel_backend("ray")
    return nullcontext()


def evaluate_points(problem: Problem, arch: str, points: list[dict[str, Any]], jobs: int | str,
                    progress: Callable[[int], None] | None = None) -> list[dict[str, Any]]:
    """Results of ``points`` on ``arch`` in order (``jobs`` processes; 1 = in this process)."""
    chunks = [points[i:i + _CHUNK] for i in range(0, len(points), _CHUNK)]
    out: list[dict[str, Any]] = []
    if jobs == 1:
        for c in chunks:
            out.extend(_evaluate_chunk(problem, arch, c))
            if progress:
                progress(len(c))
        return out
    from joblib import Parallel, delayed

    with _backend(jobs):
        par = Parallel(n_jobs=-1 if jobs == "ray" else int(jobs), return_as="generator")
        for c, res in zip(chunks, par(delayed(_evaluate_chunk)(problem, arch, c) for c in chunks)):
            out.extend(res)
            if progress:
                progress(len(c))
    return out


def _key(point: dict[str, Any]) -> tuple:
    return tuple(sorted((k, repr(v)) for k, v in point.items()))


def _draws(plan: ExplorePlan, arch: str) -> Iterator[dict[str, Any]]:
    space = Evaluator(plan.problem, arch).space
    fixed = plan.fixed.get(arch, {})
    if plan.search == "grid":
        free = [v for v in space.variables if v.name not in fixed]
        sub = type(space)(space.arch, space.spec, space.cfg, tuple(free), space.n_layers)
        for pt in sub.grid(plan.points):
            yield {**space.default_point(), **pt, **fixed}
        return
    rng = random.Random(plan.seed)
    for _ in range(plan.points):
        yield {**space.sample(rng), **fixed}


def _run_nsga2(plan: ExplorePlan, arch: str, bar: Any) -> list[dict[str, Any]]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    ev = Evaluator(plan.problem, arch)
    space, fixed = ev.space, plan.fixed.get(arch, {})
    free = [v for v in space.variables if v.name not in fixed]
    sampler = optuna.samplers.NSGAIISampler(seed=plan.seed, population_size=min(50, max(4, plan.points // 8)))
    study = optuna.create_study(directions=["minimize", "minimize"], sampler=sampler)
    seeds = [space.default_point()] + space.balanced_points()  # the hand-picked design, then balanced copies
    for s in seeds[:max(1, plan.points // 4)]:
        study.enqueue_trial({v.name: s[v.name] for v in free})
    results: list[dict[str, Any]] = []
    step = 1 if plan.jobs == 1 else (8 if plan.jobs == "ray" else 2 * int(plan.jobs))
    while len(results) < plan.points:
        trials = [study.ask() for _ in range(min(step, plan.points - len(results)))]
        pts = [{**{v.name: t.suggest_categorical(v.name, list(v.choices)) for v in free}, **fixed} for t in trials]
        res = evaluate_points(plan.problem, arch, pts, plan.jobs)
        for t, r in zip(trials, res):
            # constraints (<= 0 feasible): area over budget; epochs short of the lifetime floor
            t.set_constraint("area", r["area_mm2"] - plan.problem.budget_mm2)
            t.set_constraint("lifetime", 1.0 if r.get("reason") == "lifetime" else 0.0)
            big = 1e30  # over budget: never scheduled, so no time or energy
            study.tell(t, [r.get("time_s", big), r.get("energy_j", big)])
        results.extend(res)
        bar.update(len(res))
    return results


def neighbours(space: Any, point: dict[str, Any], fixed: dict[str, Any]) -> list[dict[str, Any]]:
    """Every design one free variable away from ``point`` (each other choice of each variable)."""
    out = []
    for v in space.variables:
        if v.name in fixed:
            continue
        for c in v.choices:
            if c != point[v.name] or type(c) is not type(point[v.name]):
                out.append({**point, v.name: c})
    return out


def _polish(plan: ExplorePlan, arch: str, results: list[dict[str, Any]], bar: Any) -> list[dict[str, Any]]:
    """Coordinate descent from the fastest and the most frugal feasible design (``plan.polish`` rounds each)."""
    space = Evaluator(plan.problem, arch).space
    fixed = plan.fixed.get(arch, {})
    seen = {_key(r["params"]) for r in results}
    added: list[dict[str, Any]] = []
    for obj in ("time_s", "energy_j"):
        other = "energy_j" if obj == "time_s" else "time_s"
        for _ in range(plan.polish):
            feas = [r for r in results + added if r["feasible"]]
            if not feas:
                return added
            best = min(feas, key=lambda r: (r[obj], r[other]))
            todo = [pt for pt in neighbours(space, best["params"], fixed) if _key(pt) not in seen]
            seen |= {_key(pt) for pt in todo}
            bar.total += len(todo)
            new = evaluate_points(plan.problem, arch, todo, plan.jobs, bar.update)
            added.extend(new)
            if not any(r["feasible"] and (r[obj], r[other]) < (best[obj], best[other]) for r in new):
                break
    return added


def run_exploration(plan: ExplorePlan, progress: bool = True) -> dict[str, dict[str, Any]]:
    """``{arch: {"default": result, "results": [result, ...]}}``: the hand-picked design and every
    point the search evaluated (each with ``params``, ``feasible``, ``area_mm2``, ``time_s``, ...)."""
    from tqdm import tqdm

    out: dict[str, dict[str, Any]] = {}
    total = len(plan.archs) * (plan.points + 1)
    with tqdm(total=total, desc=f"explore {plan.name}", unit="pt", disable=not progress or not sys.stderr.isatty(),
              leave=False) as bar:
        for arch in plan.archs:
            bar.set_postfix_str(arch)
            ev = Evaluator(plan.problem, arch)
            default = ev.evaluate(ev.space.default_point())
            bar.update(1)
            if plan.search == "nsga2":
                results = _run_nsga2(plan, arch, bar)
            else:
                seen: dict[tuple, int] = {}
                unique: list[dict[str, Any]] = []
                order: list[int] = []
                for pt in _draws(plan, arch):
                    k = _key(pt)
                    if k not in seen:
                        seen[k] = len(unique)
                        unique.append(pt)
                    order.append(seen[k])
                res = evaluate_points(plan.problem, arch, unique, plan.jobs, bar.update)
                bar.update(len(order) - len(unique))
                results = [res[i] for i in order]
            if plan.polish:
                results = results + _polish(plan, arch, results + [default], bar)
            out[arch] = {"default": default, "results": results}
    return out
