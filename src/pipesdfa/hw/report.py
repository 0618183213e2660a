"""Comparison reports: PipeLayer vs PipeSDFA over workloads (rows, checks, Markdown table).

Ratios are PipeLayer / PipeSDFA (> 1 means PipeSDFA is faster / uses less energy).
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

from pipesdfa.hw.engine import simulate_detailed
from pipesdfa.hw.params import HwConfig
from pipesdfa.workloads import get_workload, resolve

__all__ = ["compare", "comparison_rows", "markdown_table", "checks", "PAPER_TIME_RANGE", "PAPER_ENERGY_RANGE",
           "ratio_vs_T", "sensitivity", "constants_markdown"]

#: The paper's reported ranges over its workloads (PAPER.md section 1).
PAPER_TIME_RANGE = (1.1, 10.5)
PAPER_ENERGY_RANGE = (1.37, 2.1)
DEPTH_SERIES = ("nmnist-mlp2", "nmnist-mlp3", "nmnist-mlp4", "nmnist-mlp5")


def compare(workload: str, cfg: HwConfig, **kw: Any) -> dict[str, Any]:
    """Both architectures on one workload: ``{"workload", "time_ratio", "energy_ratio", "pipelayer", "pipesdfa"}``."""
    runs = {a: simulate_detailed(workload, a, config=cfg, **kw).run for a in ("pipelayer", "pipesdfa")}
    pl, sd = runs["pipelayer"], runs["pipesdfa"]
    w = get_workload(workload)
    return {
        "workload": workload,
        "layers": len(resolve(w.model_spec())),
        "T": pl["T"],
        "batch": pl["batch"],
        "samples": pl["samples"],
        "time_ratio": pl["time_s"] / sd["time_s"],
        "energy_ratio": pl["energy_j"] / sd["energy_j"],
        "area_ratio": pl["area_mm2"] / sd["area_mm2"],
        "pipelayer": _summary(pl),
        "pipesdfa": _summary(sd),
    }


def _summary(run: Mapping[str, Any]) -> dict[str, Any]:
    keep = ("time_s", "energy_j", "area_mm2", "chips")
    out = {k: run[k] for k in keep}
    out["energy_by_phase_j"] = run["breakdown"]["phase"]
    out["crossbars"] = run["crossbars"]
    out["max_in_flight"] = run["schedule"]["max_in_flight"]
    out["peak_buffer_bytes"] = run["schedule"]["peak_buffer_bytes"]
    out["buffer_bytes_per_sample"] = run["schedule"]["buffer_bytes_per_sample"]
    return out


def comparison_rows(workloads: Sequence[str], cfg: HwConfig, progress: Callable[[str], None] | None = None,
                    **kw: Any) -> list[dict[str, Any]]:
    rows = []
    for w in workloads:
        if progress:
            progress(w)
        rows.append(compare(w, cfg, **kw))
    return rows


def ratio_vs_T(workload: str, cfg: HwConfig, factors: Sequence[float] = (0.5, 1.0, 2.0),
               samples: int | None = None) -> list[dict[str, float]]:
    """Ratios at ``T = factor * T_workload`` over ``samples`` samples (default 8 batches)."""
    w = get_workload(workload)
    out = []
    for f in factors:
        T = max(1, int(round(w.T * f)))
        r = compare(workload, cfg, T=T, samples=samples if samples is not None else 8 * w.batch)
        out.append({"T": T, "time_ratio": r["time_ratio"], "energy_ratio": r["energy_ratio"]})
    return out


def checks(rows: Sequence[Mapping[str, Any]], t_series: Mapping[str, Sequence[Mapping[str, float]]] | None = None) -> dict[str, Any]:
    """The acceptance properties, evaluated on ``rows`` (and on T sweeps when given)."""
    by = {r["workload"]: r for r in rows}
    tr = [r["time_ratio"] for r in rows]
    er = [r["energy_ratio"] for r in rows]
    out: dict[str, Any] = {
        "pipesdfa_faster_everywhere": all(x > 1 for x in tr),
        "pipesdfa_less_energy_everywhere": all(x > 1 for x in er),
        "time_ratio_range": [min(tr), max(tr)] if tr else None,
        "energy_ratio_range": [min(er), max(er)] if er else None,
        "paper_time_range": list(PAPER_TIME_RANGE),
        "paper_energy_range": list(PAPER_ENERGY_RANGE),
    }
    if tr:
        out["time_ends_within_15pct_of_paper"] = (abs(min(tr) / PAPER_TIME_RANGE[0] - 1) <= 0.15
                                                  and abs(max(tr) / PAPER_TIME_RANGE[1] - 1) <= 0.15)
        out["energy_ends_within_15pct_of_paper"] = (abs(min(er) / PAPER_ENERGY_RANGE[0] - 1) <= 0.15
                                                    and abs(max(er) / PAPER_ENERGY_RANGE[1] - 1) <= 0.15)
    if all(w in by for w in DEPTH_SERIES):
        seq = [by[w]["time_ratio"] for w in DEPTH_SERIES]
        out["time_ratio_grows_with_depth"] = all(a < b for a, b in zip(seq, seq[1:]))
    if t_series:
        out["time_ratio_grows_with_T"] = {w: all(a["time_ratio"] < b["time_ratio"] for a, b in zip(s, s[1:]))
                                          for w, s in t_series.items()}
    return out


def _fmt_t(s: float) -> str:
    return f"{s:.3g} s"


def _fmt_e(j: float) -> str:
    return f"{j:.3g} J"


def markdown_table(rows: Sequence[Mapping[str, Any]], preset: str) -> str:
    head = (f"Preset `{preset}`; one training epoch per workload; ratios are PipeLayer / PipeSDFA.\n\n"
            "| workload | L | T | B | samples | PipeLayer time | PipeSDFA time | time ratio | PipeLayer energy "
            "| PipeSDFA energy | energy ratio | area PL / SDFA (mm^2) |\n"
            "|---|---|---|---|---|---|---|---|---|---|---|---|\n")
    lines = []
    for r in rows:
        pl, sd = r["pipelayer"], r["pipesdfa"]
        lines.append(
            f"| {r['workload']} | {r['layers']} | {r['T']} | {r['batch']} | {r['samples']} | {_fmt_t(pl['time_s'])} "
            f"| {_fmt_t(sd['time_s'])} | {r['time_ratio']:.2f}x | {_fmt_e(pl['energy_j'])} | {_fmt_e(sd['energy_j'])} "
            f"| {r['energy_ratio']:.2f}x | {pl['area_mm2']:.3g} / {sd['area_mm2']:.3g} |")
    return head + "\n".join(lines) + "\n"


def sensitivity(workload: str, cfg: HwConfig, samples: int | None = None,
                progress: Callable[[], None] | None = None) -> dict[str, list[dict[str, Any]]]:
    """Time/energy ratios of ``workload`` while one assumption at a time is varied.

    Sweeps: update scheme, write energy and latency (x0.1, x1, x10 on both schemes), ADC bits,
    T and batch (x0.5, x1, x2 of the workload's), and depth (the N-MNIST MLP series).
    """
    p = cfg.params
    w = get_workload(workload)

    def point(value: Any, changes: Mapping[str, Any] | None = None, wl: str = workload, **kw: Any) -> dict[str, Any]:
        c = cfg.with_overrides(dict(changes or {}), "sensitivity sweep")
        n = kw.pop("samples", samples)
        r = compare(wl, c, samples=n, **kw)
        if progress:
            progress()
        return {"value": value, "time_ratio": r["time_ratio"], "energy_ratio": r["energy_ratio"]}

    u = p.update
    out: dict[str, list[dict[str, Any]]] = {
        "update scheme": [point(s, {"update.scheme": s}) for s in ("serial", "outer-product")],
        "write energy (x)": [point(f, {"update.serial_energy_j": u.serial_energy_j * f,
                                       "update.outer_energy_j": u.outer_energy_j * f}) for f in (0.1, 1, 10)],
        "write latency (x)": [point(f, {"update.serial_latency_s": u.serial_latency_s * f,
                                        "update.outer_latency_s": u.outer_latency_s * f}) for f in (0.1, 1, 10)],
        "ADC bits": [point(b, {"adc.bits": b, "adc.energy_j": -1.0}) for b in (4, 6, 8)],
        "T": [point(max(1, int(w.T * f)), T=max(1, int(w.T * f))) for f in (0.5, 1, 2)],
        "batch": [point(max(1, int(w.batch * f)), batch=max(1, int(w.batch * f))) for f in (0.5, 1, 2)],
        "depth (N-MNIST MLP layers)": [point(i + 2, wl=name, samples=samples)
                                       for i, name in enumerate(DEPTH_SERIES)],
    }
    return out


def constants_markdown(cfg: HwConfig) -> str:
    """Every parameter of ``cfg`` with its value and its source, as a Markdown table."""
    from pipesdfa.hw.params import flatten

    lines = [f"Preset `{cfg.preset}`.\n", "| key | value | source |", "|---|---|---|"]
    for key, v in flatten(cfg.params).items():
        val = f"{v:.4g}" if isinstance(v, float) else str(v)
        lines.append(f"| `{key}` | {val} | {cfg.sources.get(key, '')} |")
    return "\n".join(lines) + "\n"
