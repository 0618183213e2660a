"""Figures (matplotlib, Agg): pipeline Gantt chart, energy breakdown, sensitivity sweep.

Each function writes one PNG atomically and returns nothing; the data they draw come from
:mod:`pipesdfa.hw.report` / :mod:`pipesdfa.hw.engine`, never computed here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from pipesdfa.util.atomic import atomic_write_with  # noqa: E402
from pipesdfa.hw.schedule import TICK_S, Schedule  # noqa: E402

__all__ = ["plot_gantt", "plot_energy_breakdown", "plot_sensitivity", "plot_ratio_ranges", "PHASE_COLORS"]

PHASE_COLORS = {
    "forward": "#4C72B0", "error": "#DD8452", "backward": "#C44E52", "feedback": "#8172B3",
    "gradient": "#55A868", "update": "#937860", "dram": "#64B5CD", "buffer": "#DA8BC3", "interconnect": "#8C8C8C",
    "static": "#CCB974",
}
GANTT_PHASES = ("forward", "error", "backward", "feedback", "gradient", "update", "dram")


def _save(fig: Any, path: Path) -> None:
    atomic_write_with(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight"))
    plt.close(fig)


def _resource_order(names: set[str]) -> list[str]:
    def key(r: str) -> tuple[int, int, str]:
        for rank, prefix in enumerate(("xbarT", "xbar", "digital", "feedback", "grad", "dram")):
            if r.startswith(prefix):
                tail = r[len(prefix):]
                return (rank, int(tail) if tail.isdigit() else 0, r)
        return (9, 0, r)

    return sorted(names, key=key)


def plot_gantt(schedules: Mapping[str, Schedule], path: Path, title: str) -> None:
    """One panel per architecture: resources on the y axis, tasks coloured by phase (batch 2 lighter)."""
    fig, axes = plt.subplots(len(schedules), 1, figsize=(12, 3.2 * len(schedules)), squeeze=False)
    for ax, (arch, s) in zip(axes[:, 0], schedules.items()):
        res = _resource_order({t.resource for t in s.tasks})
        ypos = {r: i for i, r in enumerate(res)}
        bars: dict[tuple[str, str, bool], list[tuple[float, float]]] = {}
        for idx, t in enumerate(s.tasks):
            if t.duration == 0:
                continue
            k = (t.resource, t.phase, t.batch % 2 == 1)
            bars.setdefault(k, []).extend((a * TICK_S * 1e3, d * TICK_S * 1e3) for a, d in s.spans(idx))
        for (r, phase, odd), spans in bars.items():
            ax.broken_barh(spans, (ypos[r] - 0.4, 0.8), facecolors=PHASE_COLORS.get(phase, "k"),
                           alpha=0.45 if odd else 0.95, linewidth=0)
        ax.set_yticks(range(len(res)))
        ax.set_yticklabels(res, fontsize=7)
        ax.invert_yaxis()
        ax.set_xlabel("time (ms)")
        ax.set_title(f"{arch}: makespan {s.makespan * TICK_S * 1e3:.3g} ms", fontsize=10)
        ax.grid(axis="x", alpha=0.3)
    handles = [plt.Rectangle((0, 0), 1, 1, color=PHASE_COLORS[p]) for p in GANTT_PHASES]
    fig.legend(handles, list(GANTT_PHASES), loc="lower center", ncol=len(GANTT_PHASES), fontsize=8,
               bbox_to_anchor=(0.5, -0.04))
    fig.suptitle(title + " (second batch lighter)", fontsize=11, y=1.02)
    fig.tight_layout()
    _save(fig, path)


def plot_energy_breakdown(rows: Sequence[Mapping[str, Any]], path: Path, preset: str) -> None:
    """Stacked bars per workload: PipeLayer (left) and PipeSDFA (right) by phase, PipeLayer total = 1."""
    from pipesdfa.hw.archs import BASELINE, PROPOSAL

    phases = [p for p in PHASE_COLORS if any(p in r[a]["energy_by_phase_j"] for r in rows for a in (BASELINE, PROPOSAL))]
    fig, ax = plt.subplots(figsize=(max(8, 1.3 * len(rows)), 4.5))
    width = 0.38
    for i, r in enumerate(rows):
        ref = r[BASELINE]["energy_j"]
        for j, arch in enumerate((BASELINE, PROPOSAL)):
            bottom = 0.0
            for ph in phases:
                v = r[arch]["energy_by_phase_j"].get(ph, 0.0) / ref
                ax.bar(i + (j - 0.5) * width, v, width * 0.95, bottom=bottom, color=PHASE_COLORS[ph],
                       label=ph if (i == 0 and j == 0) else None, edgecolor="white", linewidth=0.3)
                bottom += v
            ax.text(i + (j - 0.5) * width, bottom + 0.01, "PL" if j == 0 else "SD", ha="center", fontsize=7)
    ax.set_xticks(range(len(rows)))
    ax.set_xticklabels([r["workload"] for r in rows], rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("energy / PipeLayer total")
    ax.set_title(f"Training energy by phase, PipeLayer (PL) vs PipeSDFA (SD); preset {preset}", fontsize=10)
    ax.legend(fontsize=8, ncol=4, loc="upper center", bbox_to_anchor=(0.5, -0.28))
    ax.set_ylim(0, 1.12)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    _save(fig, path)


def plot_sensitivity(row: Mapping[str, Any], path: Path, title: str) -> None:
    """Tornado chart of one workload: each sweep point's time and energy ratio against the default."""
    pts = row["sweep"]
    labels = [f"{p['factor']}: {p['value']}" for p in pts]
    y = range(len(pts))
    fig, axes = plt.subplots(1, 2, figsize=(12, 0.32 * len(pts) + 1.6), sharey=True)
    for ax, key, color in ((axes[0], "time_ratio", "#4C72B0"), (axes[1], "energy_ratio", "#55A868")):
        base = row[key]
        ax.barh(list(y), [p[key] - base for p in pts], left=base, color=color, alpha=0.8)
        ax.axvline(base, color="k", lw=0.8)
        ax.axvline(1.0, color="#C44E52", lw=0.6, ls=":")
        ax.set_xlabel(key.replace("_", " ") + " (PipeLayer / PipeSDFA)")
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(list(y))
    axes[0].set_yticklabels(labels, fontsize=7)
    axes[0].invert_yaxis()
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    _save(fig, path)


def plot_ratio_ranges(rows: Sequence[Mapping[str, Any]], path: Path, preset: str,
                      paper: tuple[tuple[float, float], tuple[float, float]]) -> None:
    """Per workload: each ratio with its sweep range as error bars, beside the other comparisons."""
    fig, axes = plt.subplots(1, 2, figsize=(max(9, 1.5 * len(rows)), 4.2))
    x = list(range(len(rows)))
    for ax, kind, band in ((axes[0], "time", paper[0]), (axes[1], "energy", paper[1])):
        v = [r[f"{kind}_ratio"] for r in rows]
        lo = [r[f"{kind}_ratio"] - r[f"{kind}_ratio_range"][0] for r in rows]
        hi = [r[f"{kind}_ratio_range"][1] - r[f"{kind}_ratio"] for r in rows]
        ax.axhspan(band[0], band[1], color="#CCB974", alpha=0.25, label="paper's range")
        ax.errorbar(x, v, yerr=[lo, hi], fmt="o", color="#4C72B0", capsize=4, label="PipeLayer as published")
        iso = [r.get(f"{kind}_ratio_iso_area") for r in rows]
        ax.plot([i for i, u in zip(x, iso) if u], [u for u in iso if u], "s", color="#55A868", label="iso-area")
        key = f"{kind}_ratio_timestep_pipelined"
        ax.plot(x, [r[key] for r in rows], "^", color="#C44E52", label="PipeLayer time-step pipelined")
        ax.axhline(1.0, color="k", lw=0.6)
        ax.set_yscale("log")
        ax.set_xticks(x)
        ax.set_xticklabels([r["workload"] for r in rows], rotation=30, ha="right", fontsize=8)
        ax.set_ylabel(f"{kind} ratio PipeLayer / PipeSDFA")
        ax.grid(alpha=0.3, which="both")
    axes[0].legend(fontsize=7)
    fig.suptitle(f"PipeLayer / PipeSDFA per workload, preset {preset}; bars: sweep of uncertain constants", fontsize=10)
    fig.tight_layout()
    _save(fig, path)
