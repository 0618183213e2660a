"""An exploration's results: ``explore.json``, the Pareto plot as PNG and as a self-contained HTML page.

``explore.json``::

    {"workload", "budget_mm2", "dram", "search", "points", "semantics",
     "archs": {A: {"evaluated", "feasible", "pareto": [{"params", "time_s", "energy_j", "area_mm2"}],
                   "best_time", "best_energy", "default", "variables"}},
     "ratios": {"time_best_vs_best", "energy_best_vs_best", "time_at_equal_energy",
                "energy_at_equal_time", "hypervolume_ratio", "default_time", "default_energy"},
     "provenance": {"commit", "command"}}

Ratios are baseline / proposal (:mod:`pipesdfa.hw.pareto`); ``default_*`` compare the
hand-picked designs (whether or not they fit the budget: ``default.feasible`` says).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipesdfa.util.errors import UserError
from pipesdfa.util.git import code_commit
from pipesdfa.hw.archs import BASELINE, PROPOSAL
from pipesdfa.hw.design import design_space
from pipesdfa.hw.pareto import front_ratios, pareto_front
from pipesdfa.studies.exploration.plan import ExplorePlan

__all__ = ["summarise", "write_outputs"]

_KEEP = ("params", "time_s", "energy_j", "area_mm2", "chips", "endurance")


def _slim(r: dict[str, Any]) -> dict[str, Any]:
    return {k: r[k] for k in _KEEP if k in r}


def summarise(plan: ExplorePlan, found: dict[str, dict[str, Any]], command: str = "") -> dict[str, Any]:
    """The ``explore.json`` document; raises :class:`UserError` when a machine has no feasible design."""
    archs: dict[str, Any] = {}
    pts: dict[str, list[tuple[float, float]]] = {}
    for arch, f in found.items():
        fixed = plan.fixed.get(arch, {})
        pinned = all(f["default"]["params"].get(k) == v for k, v in fixed.items())  # the default obeys --fix
        feas = [r for r in f["results"] + ([f["default"]] if pinned else []) if r["feasible"]]
        if not feas:
            raise UserError(f"no {arch} design of the {len(f['results'])} evaluated fits --budget-mm2 "
                            f"{plan.problem.budget_mm2:g}" + (f" and --min-epochs {plan.problem.min_epochs:g}"
                                                              if plan.problem.min_epochs else "")
                            + "; raise the budget or evaluate more points")
        pts[arch] = [(r["time_s"], r["energy_j"]) for r in feas]
        front = [feas[i] for i in pareto_front(pts[arch])]
        space = design_space(plan.problem.spec, arch, plan.problem.cfg)
        archs[arch] = {
            "evaluated": len(f["results"]),
            "feasible": sum(r["feasible"] for r in f["results"]),
            "pareto": [_slim(r) for r in front],
            "best_time": _slim(min(feas, key=lambda r: (r["time_s"], r["energy_j"]))),
            "best_energy": _slim(min(feas, key=lambda r: (r["energy_j"], r["time_s"]))),
            "default": {**_slim(f["default"]), "feasible": f["default"]["feasible"]},
            "variables": {v.name: {"choices": list(v.choices), "default": v.default} for v in space.variables},
        }
    doc: dict[str, Any] = {
        "workload": plan.name, "budget_mm2": plan.problem.budget_mm2, "dram": plan.dram, "search": plan.search,
        "points": plan.points, "polish_rounds": plan.polish, "seed": plan.seed, "preset": plan.problem.cfg.preset,
        "semantics": plan.problem.cfg.params.pipeline.batch_dependency,
        "T": plan.problem.T, "batch": plan.problem.batch, "epoch_samples": plan.problem.epoch_samples,
        "archs": archs, "ratios": {}, "ratio": f"{BASELINE} / {PROPOSAL}",
        "dram_sources": {k: v for k, v in plan.problem.cfg.sources.items() if k.startswith("dram.")},
        "provenance": {"commit": code_commit(10), "command": command},
    }
    if plan.source:
        doc["source"] = plan.source
    if BASELINE in found and PROPOSAL in found:
        r = front_ratios(pts[BASELINE], pts[PROPOSAL])
        db, dp = found[BASELINE]["default"], found[PROPOSAL]["default"]
        r["default_time"] = db["time_s"] / dp["time_s"] if "time_s" in db and "time_s" in dp else None
        r["default_energy"] = db["energy_j"] / dp["energy_j"] if "energy_j" in db and "energy_j" in dp else None
        doc["ratios"] = r
    return doc


def _plot_png(doc: dict[str, Any], found: dict[str, dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    colours = {BASELINE: "tab:blue", PROPOSAL: "tab:orange"}
    for arch, f in found.items():
        c = colours.get(arch, "tab:green")
        feas = [r for r in f["results"] if r["feasible"]]
        ax.scatter([r["time_s"] for r in feas], [r["energy_j"] for r in feas], s=6, alpha=0.25, color=c)
        front = doc["archs"][arch]["pareto"]
        ax.plot([r["time_s"] for r in front], [r["energy_j"] for r in front], "-o", ms=3, color=c,
                label=f"{arch} Pareto front")
        d = f["default"]
        if "time_s" in d:
            ax.scatter([d["time_s"]], [d["energy_j"]], marker="*", s=160, color=c, edgecolor="black",
                       label=f"{arch} hand-picked" + ("" if d["feasible"] else " (over budget)"), zorder=5)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("training time per epoch (s)")
    ax.set_ylabel("training energy per epoch (J)")
    ax.set_title(f"{doc['workload']}: {doc['budget_mm2']:g} mm^2, {doc['dram']}, {doc['semantics']} updates",
                 fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _plot_html(doc: dict[str, Any], found: dict[str, dict[str, Any]], path: Path) -> None:
    """A self-contained page: plotly's JavaScript inline (no CDN), hover shows each design's variables."""
    import json

    import plotly.graph_objects as go

    fig = go.Figure()
    for arch, f in found.items():
        feas = [r for r in f["results"] if r["feasible"]]
        text = [json.dumps(r["params"]) for r in feas]
        fig.add_trace(go.Scatter(x=[r["time_s"] for r in feas], y=[r["energy_j"] for r in feas], mode="markers",
                                 name=f"{arch} designs", text=text, opacity=0.4, marker={"size": 5}))
        front = doc["archs"][arch]["pareto"]
        fig.add_trace(go.Scatter(x=[r["time_s"] for r in front], y=[r["energy_j"] for r in front],
                                 mode="lines+markers", name=f"{arch} Pareto front",
                                 text=[json.dumps(r["params"]) for r in front]))
        d = f["default"]
        if "time_s" in d:
            fig.add_trace(go.Scatter(x=[d["time_s"]], y=[d["energy_j"]], mode="markers", name=f"{arch} hand-picked",
                                     marker={"symbol": "star", "size": 16, "line": {"width": 1}},
                                     text=[json.dumps(d["params"])]))
    fig.update_layout(title=f"{doc['workload']}: {doc['budget_mm2']:g} mm^2, {doc['dram']}, {doc['semantics']} updates",
                      xaxis={"type": "log", "title": "training time per epoch (s)"},
                      yaxis={"type": "log", "title": "training energy per epoch (J)"})
    fig.write_html(str(path), include_plotlyjs=True, full_html=True)


def write_outputs(doc: dict[str, Any], found: dict[str, dict[str, Any]], out: str | Path) -> Path:
    """Write ``explore.json``, ``pareto.png`` and ``pareto.html`` into ``out``: all three are made in a
    temporary sibling folder and moved in only when all succeeded (no half-written ``out``)."""
    import os
    import shutil
    import tempfile

    from pipesdfa.util.atomic import atomic_write_json, check_writable_dir

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: exists and is not a folder")
    check_writable_dir(out)
    parent = out.resolve().parent
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=parent))
    try:
        atomic_write_json(tmp / "explore.json", doc)
        _plot_png(doc, found, tmp / "pareto.png")
        _plot_html(doc, found, tmp / "pareto.html")
        out.mkdir(parents=True, exist_ok=True)
        for f in ("explore.json", "pareto.png", "pareto.html"):
            os.replace(tmp / f, out / f)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out
