"""Summaries and the Markdown table of ``accuracy.json`` (pure functions of its rows).

Per group (workload, learning rate, initial weight gain, batch, epochs, rule: the rows that
differ only in the seed): mean and sample standard deviation over seeds of the final-epoch and of the
best-epoch test accuracy (the paper reports the best epoch, the authors' ``max_test_acc``),
the mean best epoch, and the *plateau epoch* of the seed-averaged test curve:

    a[e] = mean over seeds of test_acc[e];   m[e] = mean(a[e-w+1 .. e]), w = PLATEAU_WINDOW
    plateau = first e with m[e] >= max(m) - PLATEAU_TOL

(the first epoch from which the smoothed curve stays within ``PLATEAU_TOL`` of its best; a
plateau in the last ``RISING_FRACTION`` of the epochs is reported as still rising; none for
fewer than ``2 w`` epochs).
"""

from __future__ import annotations

import statistics
from collections import OrderedDict
from typing import Any, Sequence
from pipesdfa.learning import is_baseline, takes_option

from pipesdfa.studies.accuracy.stats import bootstrap_ci, bootstrap_diff_ci, mcnemar_pooled

__all__ = ["tuned", "validated_markdown", "PLATEAU_WINDOW", "PLATEAU_TOL", "RISING_FRACTION", "plateau_epoch", "group_key", "summarise",
           "markdown", "compact_markdown", "document", "notes"]

PLATEAU_WINDOW = 5
#: Tolerance of the plateau, as a fraction (0.01 = one point of accuracy).
PLATEAU_TOL = 0.01
RISING_FRACTION = 0.1


def plateau_epoch(curve: Sequence[float], window: int = PLATEAU_WINDOW, tol: float = PLATEAU_TOL) -> int | None:
    """The (1-based) plateau epoch of ``curve`` (module docstring); ``None`` for a curve shorter
    than ``2 window`` epochs (too short to tell)."""
    if len(curve) < 2 * window:
        return None
    smooth = []
    for e in range(len(curve)):
        part = curve[max(0, e - window + 1): e + 1]
        smooth.append(sum(part) / len(part))
    top = max(smooth)
    return next(e + 1 for e, v in enumerate(smooth) if v >= top - tol)


def group_key(row: dict[str, Any]) -> tuple:
    """``(workload, lr, init_gain, batch, epochs, method, variant)``."""
    return (row["workload"], row["lr"], row.get("init_gain", 1.0), row["batch"], row["epochs"], row["method"],
            row.get("variant"))


def _stats(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"n": 0, "mean": None, "std": None}
    return {"n": len(values), "mean": statistics.fmean(values),
            "std": statistics.stdev(values) if len(values) > 1 else 0.0}


def summarise(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per group, in the order the groups first appear."""
    groups: OrderedDict[tuple, list[dict]] = OrderedDict()
    for r in rows:
        groups.setdefault(group_key(r), []).append(r)
    out = []
    for key, rs in groups.items():
        ok = [r for r in rs if r.get("final_acc") is not None]
        curves = [r["curve"] for r in ok if r.get("curve")]
        mean_curve: list[float] = []
        if curves:
            n = min(len(c) for c in curves)
            mean_curve = [statistics.fmean(c[e] for c in curves) for e in range(n)]
        plateau = plateau_epoch(mean_curve)
        wl, lr, gain, batch, epochs, method, variant = key
        out.append({
            "workload": wl, "lr": lr, "init_gain": gain, "batch": batch, "epochs": epochs, "method": method,
            "variant": variant,
            "seeds": [r["seed"] for r in ok], "failed": [r["seed"] for r in rs if r.get("final_acc") is None],
            "final": _stats([r["final_acc"] for r in ok]), "best": _stats([r["best_acc"] for r in ok]),
            "selected": _stats([r["selected_acc"] for r in ok if r.get("selected_acc") is not None]),
            "val": _stats([r["selected_val_acc"] for r in ok if r.get("selected_val_acc") is not None]),
            "ci_final": _ci([r.get("test_correct") for r in ok]),
            "ci_selected": _ci([r.get("selected_test_correct") for r in ok]),
            "runs": ok,
            "best_epoch": statistics.fmean(r["best_epoch"] for r in ok) if ok else None,
            "seconds": statistics.fmean(r["seconds"] for r in ok) if ok else None,
            "plateau_epoch": plateau,
            "still_rising": plateau is not None and plateau > (1 - RISING_FRACTION) * len(mean_curve),
            "mean_curve": mean_curve,
        })
    return out


def _ci(correct: list[str | None]) -> dict[str, float] | None:
    """The bootstrap interval over seeds and test samples (:func:`bootstrap_ci`), ``None``
    when a run lacks its per-sample record."""
    if not correct or any(c is None for c in correct):
        return None
    return bootstrap_ci(correct)  # type: ignore[arg-type]


def tuned(summary: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (workload, init gain, batch, epochs, rule): the group of the learning rate with the
    highest mean validation accuracy (at each run's validation-chosen epoch), with
    ``"lr_grid"``: every rate tried. Every rule of a workload gets the same grid when the
    table was planned with one ``--lr`` list (equal tuning)."""
    best: OrderedDict[tuple, dict[str, Any]] = OrderedDict()
    grids: dict[tuple, list[float]] = {}
    for g in summary:
        k = (g["workload"], g["init_gain"], g["batch"], g["epochs"], g["method"], g["variant"])
        grids.setdefault(k, []).append(g["lr"])
        v = g["val"]["mean"] if g["val"]["n"] else None
        cur = best.get(k)
        if cur is None or (v is not None and (cur["val"]["mean"] is None or v > cur["val"]["mean"])):
            best[k] = g
    return [dict(g, lr_grid=sorted(grids[k])) for k, g in best.items()]


def _pct_ci(ci: dict[str, float] | None) -> str:
    return "-" if ci is None else f"{100 * ci['mean']:.2f} [{100 * ci['lo']:.2f}, {100 * ci['hi']:.2f}]"


def _paired(g: dict[str, Any], base: dict[str, Any] | None, key: str) -> tuple[str, str]:
    """``(difference with its interval, McNemar p)`` of ``g`` against ``base`` over the seeds both ran."""
    if base is None or g is base:
        return "-", "-"
    a = {r["seed"]: r.get(key) for r in g["runs"]}
    b = {r["seed"]: r.get(key) for r in base["runs"]}
    seeds = [s for s in a if s in b and a[s] is not None and b[s] is not None]
    if not seeds:
        return "-", "-"
    d = bootstrap_diff_ci([a[s] for s in seeds], [b[s] for s in seeds])
    p = mcnemar_pooled([a[s] for s in seeds], [b[s] for s in seeds])
    return (f"{100 * d['mean']:+.2f} [{100 * d['lo']:+.2f}, {100 * d['hi']:+.2f}]",
            f"{p['p_value']:.3g} ({p['n10']} / {p['n01']})")


def validated_markdown(doc: dict[str, Any]) -> str:
    """The table a referee reads: per workload and rule the learning rate chosen on validation
    (of the grid every rule got), test accuracy at the validation-chosen epoch and at the last
    epoch with 95 % bootstrap intervals (over seeds and test samples), and the paired comparison
    with BPTT (difference with its interval; McNemar's exact p with the discordant counts)."""
    rows = tuned(summarise(doc["rows"]))
    base = {(g["workload"], g["init_gain"], g["batch"], g["epochs"]): g for g in rows if is_baseline(g["method"])}
    lines = ["| workload | rule | lr grid | lr chosen | seeds | val. % | test % at chosen epoch [95 % CI] | "
             "test % at last epoch [95 % CI] | - BPTT, chosen epoch [95 % CI] | McNemar p (only rule / only BPTT) |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for g in rows:
        b = base.get((g["workload"], g["init_gain"], g["batch"], g["epochs"]))
        diff, p = _paired(g, b, "selected_test_correct")
        val = f"{100 * g['val']['mean']:.2f}" if g["val"]["n"] else "-"
        lines.append(f"| {g['workload']} | {rule_label(g['method'], g['variant'])} | "
                     f"{', '.join(_fmt_lr(x) for x in g['lr_grid'])} | {_fmt_lr(g['lr'])} | {g['final']['n']} | {val} | "
                     f"{_pct_ci(g['ci_selected'])} | {_pct_ci(g['ci_final'])} | {diff} | {p} |")
    return "\n".join(lines) + "\n"


def rule_label(method: str, variant: str | None) -> str:
    name = {"bptt": "BPTT", "output": "output only", "sdfa": "SDFA"}.get(method, method)
    if takes_option(method, "variant"):
        return f"{name} (authors)" if variant in (None, "authors") else f"{name} `{variant}`"
    return name


def _pm(s: dict[str, Any]) -> str:
    if not s["n"]:
        return "-"
    return f"{100 * s['mean']:.2f} ± {100 * s['std']:.2f}" if s["n"] > 1 else f"{100 * s['mean']:.2f}"


#: rule -> the workload field with the paper's accuracy of that rule (the authors' variant only)
PAPER_KEYS = {"bptt": "paper_bp_acc", "sdfa": "paper_sdfa_acc"}


def _paper(meta: dict[str, Any], method: str, variant: str | None) -> str:
    value = meta.get(PAPER_KEYS.get(method, ""))
    if value is None or variant not in (None, "authors"):
        return "-"
    return f"{value:.2f}"


def _gap(g: dict[str, Any], base: dict[str, Any] | None) -> str:
    if base is None or is_baseline(g["method"]) or not g["final"]["n"] or not base["final"]["n"]:
        return "-"
    f = 100 * (g["final"]["mean"] - base["final"]["mean"])
    b = 100 * (g["best"]["mean"] - base["best"]["mean"])
    return f"{f:+.2f} / {b:+.2f}"


def _fmt_lr(lr: float) -> str:
    return f"{lr:g}"


def _setting(g: dict) -> tuple:
    return (g["workload"], g["lr"], g["init_gain"], g["batch"], g["epochs"])


def _plateau(g: dict | None) -> str:
    if g is None or g["plateau_epoch"] is None:
        return "-"
    return f"{g['plateau_epoch']}{' (rising)' if g['still_rising'] else ''}"


def compact_markdown(doc: dict[str, Any], with_notes: bool = True) -> str:
    """The table of ``accuracy.json`` with one line per workload setting (rate, gain, budget) and
    one column per rule: ``final mean ± std / best mean`` (percent), then the paper's numbers."""
    summary = summarise(doc["rows"])
    meta_all = doc.get("workloads", {})
    rules: list[tuple[str, str | None]] = []
    settings: OrderedDict[tuple, dict[tuple, dict]] = OrderedDict()
    for g in summary:
        rule = (g["method"], g["variant"])
        if rule not in rules:
            rules.append(rule)
        settings.setdefault(_setting(g), {})[rule] = g
    head = ("| workload | data | epochs (paper) | batch | lr | init gain | "
            + " | ".join(f"{rule_label(*r)}: final / best %" for r in rules)
            + " | paper BPTT / SDFA % (best epoch) | plateau (epoch), BPTT / SDFA |")
    lines = [head, "|---|---|---|---:|---:|---:|" + "---:|" * len(rules) + "---:|---:|"]
    for (wl, lr, gain, batch, epochs), groups in settings.items():
        meta = meta_all.get(wl, {})
        cells = []
        for r in rules:
            g = groups.get(r)
            if g is None or not g["final"]["n"]:
                cells.append("-")
                continue
            cells.append(f"{_pm(g['final'])} / {100 * g['best']['mean']:.2f}")
        bp, sd = meta.get("paper_bp_acc"), meta.get("paper_sdfa_acc")
        paper = f"{bp:.2f} / {sd:.2f}" if bp is not None and sd is not None else "-"
        plateau = f"{_plateau(groups.get(('bptt', None)))} / {_plateau(groups.get(('sdfa', 'authors')))}"
        lines.append(f"| {wl} | {meta.get('data', '-')} | {epochs} ({meta.get('paper_epochs', '-')}) | {batch} | "
                     f"{_fmt_lr(lr)} | {gain:g} | " + " | ".join(cells) + f" | {paper} | {plateau} |")
    return "\n".join(lines + (["", notes(doc)] if with_notes else [])) + "\n"


def notes(doc: dict[str, Any]) -> str:
    """What the numbers are, and the command that produced them."""
    seeds = sorted({r["seed"] for r in doc["rows"]})
    machine = doc.get("machine", {})
    text = (f"Test accuracy in %, mean ± sample standard deviation over seeds {seeds}: at the last epoch (final) and "
            "at the best epoch (best: the number the paper reports, the authors' `max_test_acc`; picking the epoch "
            "on the test set flatters it). Init gain: PyTorch's default weights times this. Plateau: first epoch "
            "from which the seed-averaged test curve, smoothed over "
            f"{PLATEAU_WINDOW} epochs, stays within {100 * PLATEAU_TOL:g} point of its best. "
            f"Command: `{doc.get('command', 'pipesdfa reproduce accuracy')}` "
            + (f"at commit {doc['commit']} " if doc.get("commit") else "")
            + f"({doc['commit_note'] + '; ' if doc.get('commit_note') else ''}torch {machine.get('torch', '?')}, "
            f"{machine.get('threads', '?')} thread(s), {machine.get('processor', '?')}); wall time "
            f"{doc.get('wall_seconds', 0) / 60:.1f} min, the runs' own training and evaluation "
            f"{sum(r.get('seconds') or 0 for r in doc['rows']) / 60:.1f} min"
            + (f" ({sum(bool(r.get('reused')) for r in doc['rows'])} runs reused from an earlier call)"
               if any(r.get("reused") for r in doc["rows"]) else "") + ".")
    failed = [r for r in doc["rows"] if r.get("final_acc") is None]
    if failed:
        text += "\n\nFailed runs:\n" + "\n".join(
            f"* {r['workload']} {rule_label(r['method'], r.get('variant'))} seed {r['seed']}: "
            f"{r.get('error', 'unknown error')}" for r in failed)
    return text


def markdown(doc: dict[str, Any], with_notes: bool = True) -> str:
    """The table of ``accuracy.json`` (``doc``): one line per workload, rate and rule."""
    summary = summarise(doc["rows"])
    meta_all = doc.get("workloads", {})
    lines = ["| workload | data | epochs (paper) | batch | lr | init gain | rule | seeds | final-epoch acc. % | "
             "best-epoch acc. % | best epoch | paper % (best epoch) | - BPTT, final / best (points) | plateau (epoch) |",
             "|---|---|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|"]

    bptt = {_setting(g): g for g in summary if is_baseline(g["method"])}
    for g in summary:
        meta = meta_all.get(g["workload"], {})
        n = g["final"]["n"]
        base = bptt.get(_setting(g))
        plateau = "-" if g["plateau_epoch"] is None else (
            f"{g['plateau_epoch']} (still rising)" if g["still_rising"] else str(g["plateau_epoch"]))
        failed = f" ({len(g['failed'])} failed)" if g["failed"] else ""
        best_ep = "-" if g["best_epoch"] is None else f"{g['best_epoch']:.0f}"
        lines.append(
            f"| {g['workload']} | {meta.get('data', '-')} | {g['epochs']} ({meta.get('paper_epochs', '-')}) | "
            f"{g['batch']} | {_fmt_lr(g['lr'])} | {g['init_gain']:g} | {rule_label(g['method'], g['variant'])} | "
            f"{n}{failed} | "
            f"{_pm(g['final'])} | {_pm(g['best'])} | "
            f"{best_ep} | "
            f"{_paper(meta, g['method'], g['variant'])} | {_gap(g, base)} | {plateau} |")
    lines += ["", "Gap: the rule's mean minus BPTT's at the same workload, rate, gain and budget."
              + (" " + notes(doc) if with_notes else "")]
    return "\n".join(lines) + "\n"


def document(doc: dict[str, Any]) -> str:
    """``accuracy.md``: the compact table, then one line per rule with its gap to BPTT."""
    return ("# Accuracy: BPTT vs SDFA\n\n## Chosen on validation, reported on test\n\n" + validated_markdown(doc)
            + "\nEach run holds out a stratified, seeded validation split of its training data; the epoch and the "
            "learning rate are chosen on it, test is reported once. Intervals: 95 % percentile bootstrap over seeds "
            "and test samples (`studies/accuracy/stats.py`).\n\n## All runs\n\n"
            + compact_markdown(doc, with_notes=False) + "\n## Per rule\n\n" + markdown(doc))
