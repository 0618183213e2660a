"""Cost to accuracy: time and energy each machine's best design needs to reach a target test accuracy.

A learning curve is a run's test accuracy after each epoch (``docs/results/accuracy/accuracy.json``,
``rows[].curve``). BPTT's curves are priced on PipeLayer (the machine that trains with BPTT),
SDFA's on PipeSDFA. For a target accuracy ``a*``, a run needs ``n = min{e : curve[e-1] >= a*}``
epochs (``None`` when it never gets there), and a machine ``n x`` its best design's per-epoch time
(its fastest design) and energy (its most frugal design) from ``explore-<workload>-<dram>.json``.
Over seeds the median of ``n`` is used (runs that never reach ``a*`` count as never: the median
is ``None`` when half of them never do).

Default target: 95 % of the lower of the two methods' median best accuracies, so both can reach it.
"""

from __future__ import annotations

import statistics
from typing import Any, Sequence

__all__ = ["epochs_to_target", "median_epochs", "cost_to_accuracy"]

#: the learning rule each machine trains with, and the variants that are that rule (the SDFA
#: authors' rule is ``variant`` "authors" in the accuracy table, or no variant)
RULE_OF = {"pipelayer": ("bptt", (None,)), "pipesdfa": ("sdfa", (None, "authors"))}


def epochs_to_target(curve: Sequence[float], target: float) -> int | None:
    """First epoch (1-based) whose test accuracy is at least ``target`` (None: never)."""
    for e, a in enumerate(curve, 1):
        if a >= target:
            return e
    return None


def median_epochs(curves: Sequence[Sequence[float]], target: float) -> float | None:
    """Median over runs of :func:`epochs_to_target`; runs that never reach it sort last (None if
    the median falls on one of them)."""
    ns = sorted((n if n is not None else float("inf")) for n in (epochs_to_target(c, target) for c in curves))
    if not ns:
        return None
    m = statistics.median(ns)
    return None if m == float("inf") else float(m)


def cost_to_accuracy(accuracy: dict[str, Any], explore: dict[str, Any], target_fraction: float = 0.95
                     ) -> dict[str, Any] | None:
    """Per machine: epochs to the target and the time (s) and energy (J) of its best design to get
    there, for the workload of ``explore`` (None when the accuracy file has no curves for it)."""
    w = explore["workload"]
    curves: dict[str, list[list[float]]] = {}
    best: dict[str, float] = {}
    for arch, (method, variants) in RULE_OF.items():
        rows = [r for r in accuracy["rows"] if r["workload"] == w and r["method"] == method
                and r.get("variant") in variants and r.get("curve")]
        if not rows:
            return None
        curves[arch] = [r["curve"] for r in rows]
        best[arch] = statistics.median(max(r["curve"]) for r in rows)
    target = target_fraction * min(best.values())
    out: dict[str, Any] = {"workload": w, "dram": explore["dram"], "target_accuracy": target,
                           "target_rule": f"{target_fraction:g} x the lower median best accuracy", "machines": {}}
    for arch in RULE_OF:
        n = median_epochs(curves[arch], target)
        a = explore["archs"][arch]
        t, e = a["best_time"]["time_s"], a["best_energy"]["energy_j"]
        out["machines"][arch] = {"rule": RULE_OF[arch][0], "runs": len(curves[arch]), "epochs": n,
                                 "time_s": None if n is None else n * t, "energy_j": None if n is None else n * e,
                                 "time_s_per_epoch": t, "energy_j_per_epoch": e}
    pl, ps = out["machines"]["pipelayer"], out["machines"]["pipesdfa"]
    out["time_ratio"] = pl["time_s"] / ps["time_s"] if pl["time_s"] and ps["time_s"] else None
    out["energy_ratio"] = pl["energy_j"] / ps["energy_j"] if pl["energy_j"] and ps["energy_j"] else None
    return out
