"""Summaries, the Markdown table, the acceptance check and the plots of ``personalisation.json``.

Per (workload, shift, K, arm), over the seeds: the mean accuracy on the shifted test split
before and after adaptation, on the unshifted split after it, and the simulated time and
energy of the adaptation. *Recovered* is ``after - before`` in points; *share of BPTT's* is
``recovered / recovered by BPTT`` at the same (workload, shift, K), with both ``before`` the
ideal network's (so the RRAM arms' programming loss counts against them).
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from typing import Any, Iterable

from pipesdfa.learning import is_baseline, takes_option

__all__ = ["summarise", "acceptance", "markdown", "DROP_POINTS", "SHARE_TARGET"]

#: A shift counts for the acceptance when it costs the pre-trained network this much.
DROP_POINTS = 0.10
#: SDFA at the largest K must recover at least this share of what BPTT recovers.
SHARE_TARGET = 0.80
_GROUP = ("workload", "shift", "k", "arm")


def _mean(xs: Iterable[float | None]) -> float | None:
    v = [x for x in xs if x is not None]
    return statistics.fmean(v) if v else None


def _sd(xs: Iterable[float | None]) -> float:
    v = [x for x in xs if x is not None]
    return statistics.stdev(v) if len(v) > 1 else 0.0


def summarise(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per (workload, shift, K, arm) in the rows' order, with means over the seeds."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in rows:
        groups[tuple(r[k] for k in _GROUP)].append(r)
    ideal_before = {}
    for key, rs in groups.items():
        if rs[0]["hardware"] == "ideal":
            ideal_before.setdefault(key[:3], _mean(r["acc_before"] for r in rs))
    bptt = {key[:3]: _mean(r["acc_after"] for r in rs) for key, rs in groups.items() if is_baseline(rs[0]["method"])
            and rs[0]["hardware"] == "ideal"}
    out = []
    for key, rs in groups.items():
        r0 = rs[0]
        before = ideal_before.get(key[:3], _mean(r["acc_before"] for r in rs))
        after = _mean(r["acc_after"] for r in rs)
        rec = after - before if after is not None and before is not None else None
        rec_bptt = bptt[key[:3]] - before if key[:3] in bptt and before is not None else None
        out.append({
            **dict(zip(_GROUP, key)), "method": r0["method"], "feedback": r0["feedback"], "hardware": r0["hardware"],
            "seeds": len(rs), "base_acc": r0["base_acc"], "acc_before": before,
            "acc_before_device": _mean(r["acc_before"] for r in rs), "acc_after": after,
            "acc_after_sd": _sd(r["acc_after"] for r in rs),
            "acc_unshifted_after": _mean(r["acc_unshifted_after"] for r in rs), "recovered": rec,
            "share_of_bptt": rec / rec_bptt if rec is not None and rec_bptt and rec_bptt > 0 else None,
            "samples_trained": r0["samples_trained"],
            "sim": {a: {m: _mean(r["sim"][a][m] for r in rs) for m in ("time_s", "energy_j")}
                    for a in ("pipesdfa", "pipelayer")},
            "feedback_setup": r0["sim"].get("pipesdfa_feedback_setup"),  # the same for every seed
        })
    return out


def acceptance(summary: list[dict[str, Any]]) -> dict[str, Any]:
    """Per workload: the shifts that cost the base at least :data:`DROP_POINTS`, and at the
    largest K the share of BPTT's recovery each ideal SDFA arm reaches (target :data:`SHARE_TARGET`).

    ``met`` (per shift, workload and overall) holds when *some* ideal SDFA arm reaches the
    target; ``by_arm`` (per workload: ``shifts_counted``, ``shifts_met``, ``met``) and
    ``met_by`` (the arms that meet it on every workload) say which."""
    out: dict[str, Any] = {"drop_points": DROP_POINTS, "share_target": SHARE_TARGET, "workloads": {}}
    for w in dict.fromkeys(s["workload"] for s in summary):
        ss = [s for s in summary if s["workload"] == w]
        k_max = max(s["k"] for s in ss)
        shifts = []
        for shift in dict.fromkeys(s["shift"] for s in ss):
            at = [s for s in ss if s["shift"] == shift and s["k"] == k_max]
            drop = (at[0]["base_acc"] or 0) - (at[0]["acc_before"] or 0)
            shares = {s["arm"]: s["share_of_bptt"] for s in at
                      if takes_option(s["method"], "distribution") and s["hardware"] == "ideal"}
            shifts.append({"shift": shift, "k": k_max, "drop": drop, "counts": drop >= DROP_POINTS,
                           "sdfa_share_of_bptt": shares,
                           "met": drop >= DROP_POINTS and any(v is not None and v >= SHARE_TARGET
                                                              for v in shares.values())})
        arms = list(dict.fromkeys(a for x in shifts for a in x["sdfa_share_of_bptt"]))
        counted = [x for x in shifts if x["counts"]]
        by_arm = {a: {"shifts_counted": len(counted),
                      "shifts_met": sum(1 for x in counted if (x["sdfa_share_of_bptt"].get(a) or -1) >= SHARE_TARGET)}
                  for a in arms}
        for v in by_arm.values():
            v["met"] = v["shifts_met"] > 0
        out["workloads"][w] = {"shifts": shifts, "met": any(s["met"] for s in shifts), "by_arm": by_arm}
    out["met"] = bool(out["workloads"]) and all(v["met"] for v in out["workloads"].values())
    arms = list(dict.fromkeys(a for v in out["workloads"].values() for a in v["by_arm"]))
    out["met_by"] = [a for a in arms if out["workloads"] and all(v["by_arm"].get(a, {}).get("met")
                                                                 for v in out["workloads"].values())]
    return out


def _pct(x: float | None, digits: int = 1) -> str:
    return "-" if x is None else f"{100 * x:.{digits}f}"


def _energy(j: float | None) -> str:
    if j is None:
        return "-"
    for unit, f in (("J", 1.0), ("mJ", 1e-3), ("uJ", 1e-6), ("nJ", 1e-9)):
        if j >= f:
            return f"{j / f:.3g} {unit}"
    return f"{j:.3g} J"


def _time(s: float | None) -> str:
    if s is None:
        return "-"
    for unit, f in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if s >= f:
            return f"{s / f:.3g} {unit}"
    return f"{s:.3g} s"


def markdown(summary: list[dict[str, Any]], ks: Iterable[int] | None = None) -> str:
    """The table (every K, or only ``ks``): accuracies in percent, means over the seeds."""
    keep = set(ks) if ks is not None else None
    head = ("| workload | shift | K | adaptation | seeds | before | after | unshifted after | recovered | "
            "share of BPTT's | PipeSDFA time | PipeSDFA energy | PipeLayer time | PipeLayer energy |\n"
            "|---|---|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
    lines = []
    for s in summary:
        if keep is not None and s["k"] not in keep:
            continue
        before = _pct(s["acc_before"])
        if s["hardware"] == "rram":
            before += f" ({_pct(s['acc_before_device'])} on RRAM)"
        rec = "-" if s["recovered"] is None else f"{100 * s['recovered']:+.1f}"
        share = "-" if s["share_of_bptt"] is None else f"{100 * s['share_of_bptt']:.0f} %"
        sim = s["sim"]
        lines.append(
            f"| {s['workload']} | {s['shift']} | {s['k']} | {s['arm']} | {s['seeds']} | {before} | "
            f"{_pct(s['acc_after'])} ± {_pct(s['acc_after_sd'])} | {_pct(s['acc_unshifted_after'])} | {rec} | "
            f"{share} | {_time(sim['pipesdfa']['time_s'])} | {_energy(sim['pipesdfa']['energy_j'])} | "
            f"{_time(sim['pipelayer']['time_s'])} | {_energy(sim['pipelayer']['energy_j'])} |")
    return head + "\n".join(lines) + "\n"
