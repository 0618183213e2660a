"""The two figures of ``pipesdfa reproduce personalisation`` (matplotlib, Agg, written atomically).

* :func:`plot_recovery`: accuracy recovered (points, mean over seeds) against K, one line per
  adaptation arm, one panel per (workload, shift);
* :func:`plot_energy`: accuracy recovered against the simulated energy of the adaptation on the
  accelerator built for its rule (BPTT on PipeLayer, SDFA and output-only on PipeSDFA), one
  marker per (shift, K, arm), one panel per workload.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from pipesdfa.util.atomic import atomic_write_with  # noqa: E402

__all__ = ["plot_recovery", "plot_energy", "native_arch"]


def _save(fig: Any, path: Path) -> None:
    atomic_write_with(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight"))
    plt.close(fig)


def native_arch(method: str) -> str:
    """The accelerator whose dataflow runs ``method``: BPTT on PipeLayer, the others on PipeSDFA."""
    from pipesdfa.learning import is_baseline

    return "pipelayer" if is_baseline(method) else "pipesdfa"


def _arms(summary: list[dict]) -> list[str]:
    return list(dict.fromkeys(s["arm"] for s in summary))


def plot_recovery(summary: list[dict[str, Any]], path: Path) -> None:
    panels = list(dict.fromkeys((s["workload"], s["shift"]) for s in summary))
    cols = min(3, len(panels))
    rows = -(-len(panels) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 3.8 * rows), squeeze=False, constrained_layout=True)
    colours = {a: f"C{i}" for i, a in enumerate(_arms(summary))}
    for ax, (w, shift) in zip(axes.flat, panels):
        for arm in colours:
            pts = sorted((s["k"], 100 * s["recovered"]) for s in summary
                         if (s["workload"], s["shift"], s["arm"]) == (w, shift, arm) and s["recovered"] is not None)
            if pts:
                ax.plot(*zip(*pts), marker="o", color=colours[arm], label=arm,
                        linestyle="--" if "RRAM" in arm else "-")
        ax.axhline(0, color="0.6", lw=0.8)
        ax.set_xscale("log")
        ax.set_xticks(sorted({s["k"] for s in summary}))
        ax.get_xaxis().set_major_formatter(matplotlib.ticker.ScalarFormatter())
        ax.set_title(f"{w}\n{shift}", fontsize=9)
        ax.set_xlabel("labelled samples per class K")
        ax.set_ylabel("accuracy recovered (points)")
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=min(6, len(labels)), fontsize=8)
    fig.suptitle("accuracy recovered by adaptation (mean over seeds; before = the ideal pre-trained network)")
    _save(fig, path)


def plot_energy(summary: list[dict[str, Any]], path: Path) -> None:
    workloads = list(dict.fromkeys(s["workload"] for s in summary))
    fig, axes = plt.subplots(1, len(workloads), figsize=(5.5 * len(workloads), 4.4), squeeze=False,
                             constrained_layout=True)
    colours = {a: f"C{i}" for i, a in enumerate(_arms(summary))}
    markers = {k: m for k, m in zip(sorted({s["k"] for s in summary}), "os^Dv")}
    for ax, w in zip(axes[0], workloads):
        for s in summary:
            if s["workload"] != w or s["recovered"] is None:
                continue
            e = s["sim"][native_arch(s["method"])]["energy_j"]
            ax.scatter(e, 100 * s["recovered"], color=colours[s["arm"]], marker=markers[s["k"]], s=28)
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.axhline(0, color="0.6", lw=0.8)
        ax.set_title(w)
        ax.set_ylabel("accuracy recovered (points)")
    fig.supxlabel("simulated energy of the adaptation (J; BPTT on PipeLayer, SDFA and output only on PipeSDFA)",
                  fontsize=9)
    handles = [plt.Line2D([], [], color=c, marker="o", ls="", label=a) for a, c in colours.items()]
    handles += [plt.Line2D([], [], color="0.3", marker=m, ls="", label=f"K = {k}") for k, m in markers.items()]
    fig.legend(handles=handles, loc="outside right center", fontsize=8)
    _save(fig, path)
