"""The hardware headline from the fronts: per workload and off-chip memory, each machine's best
design against the other's at equal area (``pipesdfa reproduce hardware --explore N``).

Equal area: the budget of a workload is the silicon the larger of the two hand-picked designs
takes (whole chips: :func:`pipesdfa.hw.area.silicon`), so each machine may re-split what the
other's hand-picked design was given. Both machines run ``strict`` updates (what the trainer
runs). Each workload is searched at :data:`DRAMS` and written to
``DIR/explore-<workload>-<dram>.json`` (the ``pipesdfa explore`` document, with the commit and
the command that made it); :func:`headline_markdown` tabulates best vs best beside the
hand-picked ratio. After both searches of a workload, each machine's Pareto designs from one
memory are evaluated at the other (:func:`cross_seed`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Sequence

from pipesdfa.hw.archs import ARCH_NAMES
from pipesdfa.hw.config import HwConfig
from pipesdfa.hw.evaluate import Evaluator
from pipesdfa.studies.exploration.plan import STRICT, make_plan
from pipesdfa.studies.exploration.report import summarise
from pipesdfa.studies.exploration.run import run_exploration
from pipesdfa.util.atomic import atomic_write_json

__all__ = ["DRAMS", "equal_area_budget", "explore_workloads", "cross_seed", "headline_rows", "headline_markdown"]

#: the off-chip memories of the headline: NeuroSim's HBM2 and an edge LPDDR5 (hw.presets.DRAM_PRESETS)
DRAMS: tuple[str, ...] = ("hbm2", "lpddr5")


def equal_area_budget(workload: str, cfg: HwConfig) -> float:
    """The silicon (mm^2) of the larger hand-picked design of the two machines for ``workload``."""
    plan = make_plan(cfg=cfg, budget_mm2=cfg.params.chip_area_mm2, workload=workload, points=1)
    areas = []
    for a in ARCH_NAMES:
        ev = Evaluator(plan.problem, a)
        areas.append(ev.evaluate(ev.space.default_point())["area_mm2"])
    return max(areas)


def explore_workloads(workloads: Sequence[str], cfg: HwConfig, out: Path, *, points: int, search: str = "nsga2",
                      jobs: int | str = 1, seed: int = 0, polish: int = 3, command: str = "",
                      progress: Callable[[str], None] | None = None, warm_start: bool = True) -> list[dict[str, Any]]:
    """Search every workload at every DRAM of :data:`DRAMS`; write one JSON each; return their documents.

    ``cfg`` is the configuration before the explore defaults: ``strict`` updates are applied
    unless ``cfg`` already overrides ``pipeline.batch_dependency``. ``warm_start``: the Pareto
    designs of the files this replaces (an earlier search of the same workload) are evaluated
    again with the current code and join the candidates of :func:`cross_seed`, so a regeneration
    never reports a best worse than a design an earlier search found."""
    base = cfg if cfg.sources.get("pipeline.batch_dependency", "").startswith("override") \
        else cfg.with_overrides(dict(STRICT), "explore (strict updates)")
    docs = []
    for w in workloads:
        previous = [json.loads(p.read_text()) for d in DRAMS
                    if warm_start and (p := out / f"explore-{w}-{d}.json").exists()]
        budget = equal_area_budget(w, base)
        for dram in DRAMS:
            if progress:
                progress(f"{w} {dram}")
            plan = make_plan(cfg=base, budget_mm2=budget, dram=dram, workload=w, points=points, search=search,
                             jobs=jobs, seed=seed, polish=polish)
            doc = summarise(plan, run_exploration(plan, progress=False), command)
            atomic_write_json(out / f"explore-{w}-{dram}.json", doc)
        docs.extend(cross_seed(w, base, out, jobs=jobs, polish=polish, previous=previous))
    return docs


def _plan_of(doc: dict[str, Any], base: HwConfig, jobs: int | str, polish: int) -> Any:
    return make_plan(cfg=base, budget_mm2=doc["budget_mm2"], dram=doc["dram"], workload=doc["workload"],
                     points=doc["points"], search=doc["search"], jobs=jobs, seed=doc["seed"], polish=polish)


def cross_seed(workload: str, base: HwConfig, out: Path, *, jobs: int | str = 1, polish: int = 1,
               note: str = "", previous: Sequence[dict[str, Any]] = ()) -> list[dict[str, Any]]:
    """Evaluate each machine's Pareto designs found at one DRAM preset at the others too (and those
    of ``previous`` documents of the workload: an earlier search's), polish from any that beats a
    best there, and rewrite ``explore-<workload>-<dram>.json`` with them (its
    ``evaluated``/``feasible`` counts include them; ``cross_seeded`` says how many).

    A search at one memory can miss a design another found (the budget and variables are the
    same; only the memory differs), so each search starts the others' best."""
    from tqdm import tqdm

    from pipesdfa.studies.exploration.run import _key, _polish, evaluate_points

    paths = {d: out / f"explore-{workload}-{d}.json" for d in DRAMS}
    docs = {d: json.loads(p.read_text()) for d, p in paths.items() if p.exists()}
    for dram, doc in docs.items():
        plan = _plan_of(doc, base, jobs, polish)
        found, added = {}, {}
        for arch, a in doc["archs"].items():
            have = {_key(r["params"]) for r in a["pareto"]} | {_key(a["default"]["params"])}
            others = [d for d in docs.values() if d is not doc] + list(previous)
            cands = {_key(r["params"]): r["params"] for d in others if arch in d.get("archs", {})
                     for r in d["archs"][arch]["pareto"]}
            todo = [pt for k, pt in cands.items() if k not in have]
            results = [{**r, "feasible": True} for r in a["pareto"]]
            new = evaluate_points(plan.problem, arch, todo, jobs)
            better = any(r["feasible"] and (r["time_s"] < a["best_time"]["time_s"]
                                            or r["energy_j"] < a["best_energy"]["energy_j"]) for r in new)
            if better and polish:
                with tqdm(total=0, disable=True) as bar:
                    new = new + _polish(plan, arch, results + new + [a["default"]], bar)
            found[arch] = {"default": a["default"], "results": results + new}
            added[arch] = new
        prov = doc["provenance"]
        new_doc = summarise(plan, found, prov["command"])
        warm = sorted({str(d.get("provenance", {}).get("commit")) for d in previous})
        new_doc["provenance"] = {**prov, **({"cross_seed": note} if note else {}),
                                 **({"warm_start_from": warm} if warm else {})}
        for arch, a in new_doc["archs"].items():
            a["evaluated"] = doc["archs"][arch]["evaluated"] + len(added[arch])
            a["feasible"] = doc["archs"][arch]["feasible"] + sum(r["feasible"] for r in added[arch])
            a["cross_seeded"] = len(added[arch])
        atomic_write_json(paths[dram], new_doc)
        docs[dram] = new_doc
    return [docs[d] for d in DRAMS if d in docs]


def headline_rows(docs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per document: workload, DRAM, budget, best-vs-best and hand-picked ratios."""
    rows = []
    for d in docs:
        r = d["ratios"]
        rows.append({"workload": d["workload"], "dram": d["dram"], "budget_mm2": d["budget_mm2"],
                     "time_best_vs_best": r["time_best_vs_best"], "energy_best_vs_best": r["energy_best_vs_best"],
                     "hypervolume_ratio": r["hypervolume_ratio"], "default_time": r["default_time"],
                     "default_energy": r["default_energy"],
                     "points": {a: v["evaluated"] for a, v in d["archs"].items()}})
    return rows


def _x(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}x"


def headline_markdown(docs: Sequence[dict[str, Any]]) -> str:
    """The best-vs-best table (PipeLayer / PipeSDFA; > 1: PipeSDFA better), hand-picked beside it."""
    lines = ["| workload | DRAM | area (mm^2) | time, best vs best | energy, best vs best | hypervolume | "
             "time, hand-picked | energy, hand-picked |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in headline_rows(docs):
        lines.append(f"| {r['workload']} | {r['dram']} | {r['budget_mm2']:.0f} | {_x(r['time_best_vs_best'])} | "
                     f"{_x(r['energy_best_vs_best'])} | {_x(r['hypervolume_ratio'])} | {_x(r['default_time'])} | "
                     f"{_x(r['default_energy'])} |")
    return "\n".join(lines) + "\n"
