"""Comparison reports: PipeLayer vs PipeSDFA over workloads, three ways and with ranges.

Ratios are PipeLayer / PipeSDFA (> 1: PipeSDFA is faster / uses less energy):

* ``time_ratio``, ``energy_ratio``: PipeLayer as published (time steps serial in a layer,
  separate transposed copy), each machine on the chips its mapping needs;
* ``time_ratio_timestep_pipelined``: PipeLayer given the time-step pipeline and the reverse-time
  wavefront of its backward (``pipeline.pipelayer_timestep_pipeline``);
* ``time_ratio_iso_area``, ``energy_ratio_iso_area``: both machines on the silicon of PipeLayer's
  published design (``area.budget_mm2``), each with the largest replication that fits; PipeLayer
  also picks the faster of its separate and shared transposed arrays;
* ``time_ratio_range``, ``energy_ratio_range``: ``[min, max]`` over the documented sweep of the
  uncertain constants (:mod:`pipesdfa.hw.uncertainty`) around the published comparison.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

from pipesdfa.util.errors import UserError
from pipesdfa.hw import uncertainty
from pipesdfa.hw.archs import BASELINE, PROPOSAL
from pipesdfa.hw.config import HwConfig
from pipesdfa.hw.engine import simulate_detailed
from pipesdfa.zoo.workloads import get_workload, resolve

__all__ = ["compare", "compare_all", "comparison_rows", "markdown_table", "checks", "PAPER_TIME_RANGE",
           "PAPER_ENERGY_RANGE", "constants_markdown", "DEPTH_SERIES"]

#: The paper's reported ranges over its workloads.
PAPER_TIME_RANGE = (1.1, 10.5)
PAPER_ENERGY_RANGE = (1.37, 2.1)
DEPTH_SERIES = ("nmnist-mlp2", "nmnist-mlp3", "nmnist-mlp4", "nmnist-mlp5")
TSP = {"pipeline.pipelayer_timestep_pipeline": True}


def _summary(run: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: run[k] for k in ("time_s", "energy_j", "area_mm2", "chips", "max_replication", "device_preset")}
    out["energy_by_phase_j"] = run["breakdown"]["phase"]
    out["energy_by_component_j"] = run["breakdown"]["component"]
    out["crossbars"] = run["crossbars"]
    out["memory"] = run["memory"]
    out["bottleneck"] = max(run["schedule"]["utilization"].items(), key=lambda kv: kv[1])[0] \
        if run["schedule"]["utilization"] else None
    return out


def compare(workload: str, cfg: HwConfig, **kw: Any) -> dict[str, Any]:
    """Both machines on one workload with ``cfg`` as given."""
    pl = simulate_detailed(workload, BASELINE, config=cfg, **kw).run
    sd = simulate_detailed(workload, PROPOSAL, config=cfg, **kw).run
    return {"time_ratio": pl["time_s"] / sd["time_s"], "energy_ratio": pl["energy_j"] / sd["energy_j"],
            "area_ratio": pl["area_mm2"] / sd["area_mm2"], BASELINE: _summary(pl), PROPOSAL: _summary(sd),
            "T": pl["T"], "batch": pl["batch"], "samples": pl["samples"]}


def _iso_area(workload: str, cfg: HwConfig, budget_mm2: float, **kw: Any) -> dict[str, Any]:
    on = cfg.with_overrides({"area.budget_mm2": budget_mm2}, "iso-area budget")
    designs = {}  # PipeLayer's separate and shared transposed arrays, whichever fit
    for shared in (False, True):
        c = on.with_overrides({"pipeline.pipelayer_shared_transpose": shared}, "iso-area PipeLayer design")
        try:
            designs[shared] = simulate_detailed(workload, BASELINE, config=c, **kw).run
        except UserError:
            continue
    shared = min(designs, key=lambda k: designs[k]["time_s"])
    pl = designs[shared]
    out: dict[str, Any] = {"budget_mm2": budget_mm2, "chips": int(budget_mm2 // cfg.params.chip_area_mm2),
                           BASELINE: _summary(pl), "pipelayer_shared_transpose": shared}
    try:
        sd = simulate_detailed(workload, PROPOSAL, config=on, **kw).run
    except UserError as exc:
        out.update({"time_ratio": None, "energy_ratio": None, PROPOSAL: None, "infeasible": str(exc)})
        return out
    out.update({"time_ratio": pl["time_s"] / sd["time_s"], "energy_ratio": pl["energy_j"] / sd["energy_j"],
                PROPOSAL: _summary(sd)})
    return out


def compare_all(workload: str, cfg: HwConfig, sweeps: bool = True, progress: Callable[[], None] | None = None,
                **kw: Any) -> dict[str, Any]:
    """The published, time-step-pipelined and iso-area comparisons and the ratio ranges of one workload."""
    base = compare(workload, cfg, **kw)
    tsp = compare(workload, cfg.with_overrides(TSP, "time-step-pipelined PipeLayer"), **kw)
    iso = _iso_area(workload, cfg, base[BASELINE]["area_mm2"], **kw)
    pts = uncertainty.sweep(workload, cfg, compare, progress=progress, **kw) if sweeps else []
    w = get_workload(workload)
    return {
        "workload": workload, "layers": len(resolve(w.model_spec())), "T": base["T"], "batch": base["batch"],
        "samples": base["samples"],
        "time_ratio": base["time_ratio"], "energy_ratio": base["energy_ratio"], "area_ratio": base["area_ratio"],
        "time_ratio_timestep_pipelined": tsp["time_ratio"], "energy_ratio_timestep_pipelined": tsp["energy_ratio"],
        "time_ratio_iso_area": iso["time_ratio"], "energy_ratio_iso_area": iso["energy_ratio"],
        "time_ratio_range": uncertainty.ratio_range(base, pts, "time_ratio"),
        "energy_ratio_range": uncertainty.ratio_range(base, pts, "energy_ratio"),
        BASELINE: base[BASELINE], PROPOSAL: base[PROPOSAL],
        "pipelayer_timestep_pipelined": tsp[BASELINE], "iso_area": iso, "sweep": pts,
    }


def comparison_rows(workloads: Sequence[str], cfg: HwConfig, sweeps: bool = True,
                    progress: Callable[[str], None] | None = None, **kw: Any) -> list[dict[str, Any]]:
    rows = []
    for w in workloads:
        if progress:
            progress(w)
        rows.append(compare_all(w, cfg, sweeps=sweeps, **kw))
    return rows


def checks(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Summary properties of ``rows`` (the paper's ranges beside ours)."""
    by = {r["workload"]: r for r in rows}
    tr = [r["time_ratio"] for r in rows]
    er = [r["energy_ratio"] for r in rows]
    out: dict[str, Any] = {
        "pipesdfa_faster_everywhere": all(x > 1 for x in tr),
        "pipesdfa_less_energy_everywhere": all(x > 1 for x in er),
        "time_ratio_range": [min(tr), max(tr)] if tr else None,
        "energy_ratio_range": [min(er), max(er)] if er else None,
        "time_ratio_timestep_pipelined_range": [min(r["time_ratio_timestep_pipelined"] for r in rows),
                                                max(r["time_ratio_timestep_pipelined"] for r in rows)] if rows else None,
        "paper_time_range": list(PAPER_TIME_RANGE),
        "paper_energy_range": list(PAPER_ENERGY_RANGE),
    }
    if all(w in by for w in DEPTH_SERIES):
        seq = [by[w]["time_ratio"] for w in DEPTH_SERIES]
        out["time_ratio_grows_with_depth"] = all(a <= b for a, b in zip(seq, seq[1:]))
    return out


def _x(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}x"


def _rng(r: Sequence[float]) -> str:
    return f"{r[0]:.2f}-{r[1]:.2f}"


def markdown_table(rows: Sequence[Mapping[str, Any]], preset: str) -> str:
    head = (f"Preset `{preset}`; one training epoch per workload; ratios PipeLayer / PipeSDFA "
            "(range: the sweep of uncertain constants).\n\n"
            "| workload | L | T | B | time ratio | range | energy ratio | range | time ratio, PipeLayer time-step pipelined "
            "| time ratio, iso-area | energy ratio, iso-area | chips PL / SDFA | PipeLayer time | PipeSDFA time |\n"
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
    lines = []
    for r in rows:
        pl, sd = r[BASELINE], r[PROPOSAL]
        lines.append(
            f"| {r['workload']} | {r['layers']} | {r['T']} | {r['batch']} | {_x(r['time_ratio'])} "
            f"| {_rng(r['time_ratio_range'])} | {_x(r['energy_ratio'])} | {_rng(r['energy_ratio_range'])} "
            f"| {_x(r['time_ratio_timestep_pipelined'])} | {_x(r['time_ratio_iso_area'])} "
            f"| {_x(r['energy_ratio_iso_area'])} | {pl['chips']} / {sd['chips']} | {pl['time_s']:.3g} s "
            f"| {sd['time_s']:.3g} s |")
    return head + "\n".join(lines) + "\n"


def constants_markdown(cfg: HwConfig) -> str:
    """Every parameter of ``cfg`` with its value and its source, as a Markdown table."""
    from pipesdfa.hw.config.keys import flatten

    lines = [f"Preset `{cfg.preset}`.\n", "| key | value | source |", "|---|---|---|"]
    for key, v in flatten(cfg.params).items():
        val = f"{v:.4g}" if isinstance(v, float) else str(v)
        lines.append(f"| `{key}` | {val} | {cfg.sources.get(key, '')} |")
    return "\n".join(lines) + "\n"
