"""Learning-curve plots of ``accuracy.json``: one figure per workload (and learning rate), every rule on it."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from pipesdfa.studies.accuracy.report import group_key, rule_label, summarise
from pipesdfa.util.atomic import atomic_write_with

__all__ = ["curve_filename", "plot_curves"]


def curve_filename(workload: str, lr: float, init_gain: float) -> str:
    """``curves-WORKLOAD[-lrLR][-gainG].png`` (rate and gain only where not the workload's)."""
    from pipesdfa.zoo.workloads import WORKLOADS

    w = WORKLOADS.get(workload)
    tag = "" if w is not None and lr == w.lr else f"-lr{lr:g}"
    tag += "" if w is not None and init_gain == w.init_gain else f"-gain{init_gain:g}"
    return f"curves-{workload}{tag}.png"


def plot_curves(rows: Sequence[dict[str, Any]], out: Path) -> list[Path]:
    """Per (workload, lr, init gain): test accuracy against epoch, the seed mean as a line and the
    range over seeds as a band, one colour per rule. Returns the files written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figures: dict[tuple[str, float, float], list[tuple[dict, list[list[float]]]]] = {}
    by_group: dict[tuple, list[list[float]]] = {}
    for r in rows:
        if r.get("curve"):
            by_group.setdefault(group_key(r), []).append(r["curve"])
    for g in summarise(rows):
        curves = by_group.get(group_key(g))
        if curves:
            figures.setdefault((g["workload"], g["lr"], g["init_gain"]), []).append((g, curves))
    written = []
    for (wl, lr, gain), items in figures.items():
        fig, ax = plt.subplots(figsize=(6.4, 3.8))
        for g, curves in items:
            n = min(len(c) for c in curves)
            ep = list(range(1, n + 1))
            mean = [100 * v for v in g["mean_curve"][:n]]
            lo = [100 * min(c[e] for c in curves) for e in range(n)]
            hi = [100 * max(c[e] for c in curves) for e in range(n)]
            label = rule_label(g["method"], g["variant"]).replace("`", "")
            line, = ax.plot(ep, mean, lw=1.4, label=f"{label} (n={len(curves)})")
            if len(curves) > 1:
                ax.fill_between(ep, lo, hi, color=line.get_color(), alpha=0.18, lw=0)
        batch = items[0][0]["batch"]
        ax.set_xlabel("epoch")
        ax.set_ylabel("test accuracy (%)")
        ax.set_title(f"{wl}: batch {batch}, lr {lr:g}, init gain {gain:g} (line: mean over seeds, band: range)",
                     fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
        fig.tight_layout()
        path = out / curve_filename(wl, lr, gain)
        atomic_write_with(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110))
        plt.close(fig)
        written.append(path)
    return written
