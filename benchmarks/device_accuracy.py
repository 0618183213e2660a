"""Accuracy of SDFA on simulated RRAM crossbars against ideal (float) BPTT and SDFA.

    python benchmarks/device_accuracy.py [--jobs N] [--epochs E] [--seeds 0 ...] [--key-seeds 1 2]
        [--levels 16 32 64 128] [--c2c 0 0.01 0.03] [--adc-bits 4 6 8]
        [--roundings nearest accumulate] [--presets taox-hfox ag-a-si alox-hfo2]
        [--out benchmarks/results/device_accuracy.json] [--doc docs/device.md]

Runs (each a full ``pipesdfa.training.loop.train`` of the workload, in parallel worker processes with
one thread each): BPTT-ideal, SDFA-ideal, SDFA on RRAM for every number of levels (default
device noise), for every cycle-to-cycle write noise and every ADC resolution (at 64 levels),
SDFA on RRAM with the feedback matrix read from the crossbar (``--distribution rram``), with
the other pulse roundings, and on the published device presets (their own levels and noise).
The runs of the 2-point target (the ideal ones and RRAM with 64 levels) also run with the
``--key-seeds``; the c2c panel of the plot takes its default-noise point from the 64-level runs.
The Braille workload runs too when a ``braille`` loader is registered and ``../shared/data``
has the data (skipped otherwise, with the reason in the JSON).

Writes the JSON (``rows``, ``summary`` with the 2-point target, ``feedback`` with the measured
distribution of the RRAM-sampled feedback matrix against N(0, 1), ``machine``), a PNG next to
it, and, with ``--doc``, the results table between the ``device_accuracy`` markers of that
Markdown file. The JSON is rewritten after every finished run.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any
from bench.machine import machine_info

REPO = Path(__file__).resolve().parents[1]
DEFAULT_LEVELS = (16, 32, 64, 128)
DEFAULT_C2C = (0.0, 0.01, 0.03)
DEFAULT_ADC = (4, 6, 8)
BASE_LEVELS = 64


def plan(args: argparse.Namespace) -> list[dict[str, Any]]:
    """The runs: ``{"workload", "group", "label", "x", "overrides"}``, one per seed."""
    runs: list[dict[str, Any]] = []

    def add(workload: str, group: str, label: str, x: Any, key: bool = False, **overrides: Any) -> None:
        for seed in list(args.seeds) + (list(args.key_seeds) if key else []):
            runs.append({"workload": workload, "group": group, "label": label, "x": x, "seed": seed,
                         "overrides": dict(overrides, seed=seed)})

    w = args.workload
    add(w, "ideal", "BPTT ideal", None, key=True, method="bptt")
    add(w, "ideal", "SDFA ideal", None, key=True, method="sdfa")
    for lv in args.levels:
        add(w, "levels", f"SDFA RRAM {lv} levels", lv, key=lv == BASE_LEVELS, method="sdfa", hardware="rram",
            device_set=[f"levels={lv}"])
    for c2c in args.c2c:
        add(w, "c2c", f"SDFA RRAM {BASE_LEVELS} levels, c2c {c2c:g}", c2c, method="sdfa", hardware="rram",
            device_set=[f"levels={BASE_LEVELS}", f"c2c_sigma={c2c!r}"])
    for bits in args.adc_bits:
        add(w, "adc", f"SDFA RRAM {BASE_LEVELS} levels, ADC {bits} b", bits, method="sdfa", hardware="rram",
            device_set=[f"levels={BASE_LEVELS}", f"adc_bits={bits}"])
    add(w, "feedback", f"SDFA RRAM {BASE_LEVELS} levels, RRAM feedback", None, method="sdfa", hardware="rram",
        distribution="rram", device_set=[f"levels={BASE_LEVELS}"])
    for rounding in args.roundings:
        add(w, "rounding", f"SDFA RRAM {BASE_LEVELS} levels, rounding {rounding}", None, method="sdfa",
            hardware="rram", device_set=[f"levels={BASE_LEVELS}", f"rounding={rounding}"])
    for preset in args.presets:
        add(w, "preset", f"SDFA RRAM preset {preset}", None, method="sdfa", hardware="rram", device_preset=preset)
    return runs


def shared_data_root() -> Path:
    """``$PIPESDFA_SHARED_DATA`` or ``<repo>/../shared/data`` (the real data, never committed)."""
    env = os.environ.get("PIPESDFA_SHARED_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


def braille_plan(args: argparse.Namespace) -> tuple[list[dict[str, Any]], str | None]:
    """Braille runs (``braille-mlp`` with ``--braille-epochs``, all seeds), or ``([], reason)``
    when the loader or the data is missing."""
    from pipesdfa.data.registry import LOADERS

    root = shared_data_root()
    if "braille" not in LOADERS:
        return [], "no 'braille' dataset loader is registered on this branch"
    if not (root / "braille").is_dir():
        return [], "../shared/data/braille is absent"
    runs = []
    for label, x, ov in (("SDFA ideal", None, dict(method="sdfa")),
                         (f"SDFA RRAM {BASE_LEVELS} levels", BASE_LEVELS,
                          dict(method="sdfa", hardware="rram", device_set=[f"levels={BASE_LEVELS}"]))):
        for seed in list(args.seeds) + list(args.key_seeds):
            runs.append({"workload": "braille-mlp", "group": "braille", "label": label, "x": x, "seed": seed,
                         "overrides": dict(ov, seed=seed, data_dir=str(root), epochs=args.braille_epochs)})
    return runs, None


def run_one(spec: dict[str, Any], epochs: int | None, max_train: int | None, max_test: int | None,
            tmp: str) -> dict[str, Any]:
    """Train one configuration (in a worker process, one thread) and return its row."""
    import torch

    torch.set_num_threads(1)
    from pipesdfa.training.loop import config_from_workload, train

    ov = dict(spec["overrides"])
    ov.setdefault("epochs", epochs)
    name = f"{spec['workload']}-{spec['group']}-{spec['label']}-{spec['seed']}".replace(" ", "_").replace(",", "")
    cfg = config_from_workload(spec["workload"], max_train=max_train, max_test=max_test,
                               out=str(Path(tmp) / name), threads=1, **ov)  # --jobs workers share the cores
    t0 = time.time()
    m = train(cfg, progress=False, log=None)
    row = {k: spec[k] for k in ("workload", "group", "label", "x", "seed")}
    row.update(method=cfg.rule.method, hardware=cfg.hardware.kind, device_preset=cfg.hardware.device_preset, device_set=list(cfg.hardware.device_set),
               distribution=cfg.rule.sdfa.distribution, epochs=cfg.optim.epochs, T=cfg.data.T, test_acc=m["final"]["test_acc"],
               best_test_acc=m["final"]["best_test_acc"], wall_seconds=time.time() - t0)
    if "pulses" in m:
        row["pulses_per_weight_per_epoch"] = m["pulses"]["per_weight_per_epoch"]
        row["device"] = {k: m["device"][k] for k in ("name", "levels", "nu_ltp", "nu_ltd", "c2c_sigma",
                                                     "d2d_sigma", "read_noise_sigma")}
        row["adc_bits"] = m["analog"]["adc_bits"]
        row["rounding"] = m["analog"]["rounding"]
    return row


def feedback_stats(rows: int, cols: int, seed: int = 0) -> dict[str, Any]:
    """The default preset's RRAM-sampled feedback matrix against N(0, 1), with a histogram."""
    import torch

    from pipesdfa.analog.feedback import gaussianity, normal_cdf, rram_feedback
    from pipesdfa.hw.config.device import get_device_preset

    device = get_device_preset("neurosim-default")
    b = rram_feedback(rows, cols, device, seed=seed).double().flatten()
    edges = torch.linspace(-4, 4, 41, dtype=torch.float64)
    counts = torch.histc(b, bins=40, min=-4, max=4)
    expected = (normal_cdf(edges[1:]) - normal_cdf(edges[:-1])) * b.numel()
    return {"device": device.name, "shape": [rows, cols], "seed": seed, **gaussianity(b),
            "hist_edges": edges.tolist(), "hist_counts": counts.tolist(), "gaussian_counts": expected.tolist()}


def summarise(rows: list[dict[str, Any]], workload: str) -> dict[str, Any]:
    def mean_acc(label: str) -> float | None:
        accs = [r["test_acc"] for r in rows if r["workload"] == workload and r["label"] == label]
        return statistics.mean(accs) if accs else None

    ideal = mean_acc("SDFA ideal")
    out: dict[str, Any] = {"workload": workload, "sdfa_ideal": ideal, "bptt_ideal": mean_acc("BPTT ideal")}
    checks = []
    for r in rows:
        lv = r.get("device", {}).get("levels")
        if (r["workload"] == workload and r["group"] in ("levels", "braille") and lv is not None
                and lv >= BASE_LEVELS):
            checks.append(r)
    if ideal is not None and checks:
        labels = sorted({r["label"] for r in checks})
        gaps = {lab: 100 * (ideal - mean_acc(lab)) for lab in labels}  # type: ignore[operator]
        out["gap_points_vs_sdfa_ideal"] = gaps
        out["target"] = "SDFA on RRAM with >= 64 levels and default noise within 2 points of SDFA ideal"
        out["target_met"] = all(g <= 2.0 for g in gaps.values())
    return out


def table(rows: list[dict[str, Any]]) -> str:
    """Markdown table: one line per configuration (mean over seeds)."""
    keys: dict[tuple, list[dict[str, Any]]] = {}
    for r in rows:
        keys.setdefault((r["workload"], r["group"], r["label"]), []).append(r)
    order = {"ideal": 0, "levels": 1, "c2c": 2, "adc": 3, "feedback": 4, "rounding": 5, "preset": 6, "braille": 7}
    lines = ["| workload | configuration | seeds | test acc % | pulses / weight / epoch |", "|---|---|---|---|---|"]
    def sort_key(kv: tuple) -> tuple:
        (w, g, lab), rs = kv
        x = rs[0]["x"]
        return (w, order.get(g, 9), x is not None, x if x is not None else 0, lab)

    for (w, g, lab), rs in sorted(keys.items(), key=sort_key):
        accs = [100 * r["test_acc"] for r in rs]
        acc = f"{statistics.mean(accs):.2f}" + (f" ± {statistics.stdev(accs):.2f}" if len(accs) > 1 else "")
        pulses = [r["pulses_per_weight_per_epoch"] for r in rs if "pulses_per_weight_per_epoch" in r]
        p = f"{statistics.mean(pulses):.2f}" if pulses else "-"
        lines.append(f"| {w} | {lab} | {len(rs)} | {acc} | {p} |")
    return "\n".join(lines)


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from pipesdfa.util.atomic import atomic_write_with

    rows = [r for r in result["rows"] if r["workload"] == result["workload"]]
    summ = result["summary"]
    fig, axes = plt.subplots(1, 4, figsize=(16, 3.6))
    for ax, group, xlabel, logx in ((axes[0], "levels", "conductance levels", True),
                                    (axes[1], "c2c", "c2c write noise (fraction of range per sqrt(pulse))", False),
                                    (axes[2], "adc", "ADC bits", False)):
        pts: dict[Any, list[float]] = {}
        for r in rows:
            if r["group"] == group:
                pts.setdefault(r["x"], []).append(100 * r["test_acc"])
            elif group == "c2c" and r["group"] == "levels" and r["x"] == BASE_LEVELS:
                pts.setdefault(r["device"]["c2c_sigma"], []).append(100 * r["test_acc"])
        xs = sorted(pts)
        ax.plot(xs, [statistics.mean(pts[x]) for x in xs], "o-", label="SDFA on RRAM")
        for key, style, name in (("sdfa_ideal", "--", "SDFA ideal"), ("bptt_ideal", ":", "BPTT ideal")):
            if summ.get(key) is not None:
                ax.axhline(100 * summ[key], ls=style, color="k" if key == "sdfa_ideal" else "gray", label=name)
        if logx and xs:
            ax.set_xscale("log", base=2)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("test accuracy (%)")
        ax.legend(fontsize=7)
    fb = result["feedback"]
    e = fb["hist_edges"]
    centres = [(a + b) / 2 for a, b in zip(e[:-1], e[1:])]
    axes[3].bar(centres, fb["hist_counts"], width=e[1] - e[0], alpha=0.6, label="RRAM-sampled B")
    axes[3].plot(centres, fb["gaussian_counts"], "k-", label="N(0, 1)")
    axes[3].set_xlabel(f"feedback entry (KS D = {fb['ks_statistic']:.3f})")
    axes[3].legend(fontsize=7)
    fig.suptitle(f"{result['workload']}: SDFA on simulated RRAM ({fb['device']} device model)")
    fig.tight_layout()
    atomic_write_with(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110))
    plt.close(fig)


def workload_config(workload: str) -> dict[str, Any]:
    """The registered training settings of ``workload`` (what every run starts from)."""
    from pipesdfa.training.config import flat_view
    from pipesdfa.training.loop import config_from_workload

    flat = flat_view(config_from_workload(workload).to_dict())  # the flags' names
    return {k: v for k, v in flat.items() if k not in ("out", "data_dir")}


def write_doc(doc: Path, result: dict[str, Any]) -> None:
    from pipesdfa.util.atomic import atomic_write_text

    begin, end = "<!-- BEGIN device_accuracy -->", "<!-- END device_accuracy -->"
    text = doc.read_text(encoding="utf-8")
    if begin not in text or end not in text:
        raise SystemExit(f"{doc}: markers {begin} / {end} not found")
    s = result["summary"]
    fb = result["feedback"]
    m = result["machine"]
    cfg = result.get("config") or workload_config(result["workload"])
    settings = ", ".join(f"{k} {cfg[k]}" for k in ("hidden", "neuron", "T", "batch", "epochs", "lr", "loss",
                                                   "optimizer", "init_gain") if k in cfg)
    commands = f"`{result['command']}`" + (f", then `{result['braille_command']}`" if "braille_command" in result else "")
    body = [f"Command: {commands} ({m['platform']}, {m.get('cpu_count', m.get('cpus'))} CPUs, torch {m['torch']}, "
            f"{result['wall_seconds']:.0f} s wall). Workload {result['workload']}: {settings}.",
            "", table(result["rows"]), ""]
    if "target_met" in s:
        gaps = ", ".join(f"{k}: {v:+.2f}" for k, v in s["gap_points_vs_sdfa_ideal"].items())
        body.append(f"Target ({s['target']}): **{'met' if s['target_met'] else 'not met'}** "
                    f"(gap in points, ideal minus RRAM: {gaps}).")
    b = result.get("braille") or {}
    if "gap_points_vs_sdfa_ideal" in b:
        gaps = ", ".join(f"{k}: {v:+.2f}" for k, v in b["gap_points_vs_sdfa_ideal"].items())
        epochs = sorted({r["epochs"] for r in result["rows"] if r["workload"] == "braille-mlp"})
        ideal = [100 * r["test_acc"] for r in result["rows"] if r["workload"] == "braille-mlp" and r["label"] == "SDFA ideal"]
        spread = statistics.stdev(ideal) if len(ideal) > 1 else float("nan")
        steps = sorted({r.get("T") for r in result["rows"] if r["workload"] == "braille-mlp"} - {None})
        body.append(f"Braille (braille-mlp, ../shared/data, T {'/'.join(map(str, steps))}, "
                    f"{'/'.join(map(str, epochs))} epochs (the paper: 100), "
                    f"the rest as registered): ideal SDFA {100 * b['sdfa_ideal']:.2f} %; "
                    f"gap in points, ideal minus RRAM: {gaps} (seed-to-seed std of ideal SDFA: {spread:.2f} points).")
    body.append(f"RRAM-sampled feedback matrix ({fb['device']}, {fb['shape'][0]}x{fb['shape'][1]}) against N(0, 1): "
                f"skewness {fb['skewness']:+.3f}, excess kurtosis {fb['excess_kurtosis']:+.3f}, "
                f"KS D = {fb['ks_statistic']:.4f} (p = {fb['ks_pvalue']:.3f}).")
    for name, reason in result.get("skipped", {}).items():
        body.append(f"{name}: skipped ({reason}).")
    new = text.split(begin)[0] + begin + "\n" + "\n".join(body) + "\n" + end + text.split(end, 1)[1]
    atomic_write_text(doc, new)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workload", default="digits-mlp")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--key-seeds", type=int, nargs="*", default=[1, 2],
                    help="extra seeds for the target comparison (ideal runs, RRAM with 64 levels)")
    ap.add_argument("--epochs", type=int, default=None, help="default: the workload's")
    ap.add_argument("--levels", type=int, nargs="*", default=list(DEFAULT_LEVELS))
    ap.add_argument("--c2c", type=float, nargs="*", default=list(DEFAULT_C2C))
    ap.add_argument("--adc-bits", type=int, nargs="*", default=list(DEFAULT_ADC))
    ap.add_argument("--roundings", nargs="*", default=["nearest", "accumulate"], help="pulse roundings besides the default")
    ap.add_argument("--presets", nargs="*", default=["taox-hfox", "ag-a-si", "alox-hfo2"], help="published device presets")
    ap.add_argument("--braille-epochs", type=int, default=30, help="Braille epochs (the paper: 100)")
    ap.add_argument("--braille-only", action="store_true",
                    help="run only the Braille rows and replace them in an existing --out JSON")
    ap.add_argument("--no-braille", action="store_true")
    ap.add_argument("--max-train", type=int, default=None)
    ap.add_argument("--max-test", type=int, default=None)
    ap.add_argument("--jobs", type=int, default=max(1, (os.cpu_count() or 2) - 1))
    ap.add_argument("--out", default="benchmarks/results/device_accuracy.json")
    ap.add_argument("--doc", default=None, help="Markdown file whose device_accuracy block gets the table")
    ap.add_argument("--from-json", default=None, help="only re-render --doc and the plot from this JSON")
    args = ap.parse_args(argv)

    import json

    from pipesdfa.util.atomic import atomic_write_json

    out = Path(args.out)
    if args.from_json:
        result = json.loads(Path(args.from_json).read_text())
        plot(result, out.with_suffix(".png"))
        if args.doc:
            write_doc(Path(args.doc), result)
        return 0
    command = "python benchmarks/device_accuracy.py " + " ".join(argv if argv is not None else sys.argv[1:])
    runs = [] if args.braille_only else plan(args)
    skipped: dict[str, str] = {}
    if not args.no_braille:
        b_runs, reason = braille_plan(args)
        runs += b_runs
        if reason:
            skipped["braille-mlp"] = reason
    result: dict[str, Any] = {
        "command": command,
        "machine": machine_info(jobs=args.jobs, threads_per_run=1),
        "workload": args.workload, "config": workload_config(args.workload), "rows": [], "skipped": skipped,
        "feedback": feedback_stats(10, 256),
    }
    if args.braille_only:  # keep the other rows of the earlier run, replace the Braille ones
        result = json.loads(out.read_text())
        result["rows"] = [r for r in result["rows"] if r["workload"] != "braille-mlp"]
        result["skipped"] = {k: v for k, v in result.get("skipped", {}).items() if "braille" not in k}
        result["skipped"].update(skipped)
        result["braille_command"] = command
        skipped = result["skipped"]
    if args.epochs and not args.braille_only:
        result["config"]["epochs"] = args.epochs
    t0 = time.time()
    wall_before = result.get("wall_seconds", 0.0) if args.braille_only else 0.0
    # longest first: RRAM runs (device updates) before ideal ones
    runs.sort(key=lambda r: (r["overrides"].get("hardware") != "rram", r["workload"] != args.workload))
    print(f"{len(runs)} runs on {args.jobs} workers", flush=True)
    with tempfile.TemporaryDirectory() as tmp, ProcessPoolExecutor(max_workers=args.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {pool.submit(run_one, spec, args.epochs, args.max_train, args.max_test, tmp): spec for spec in runs}
        for fut in as_completed(futures):
            spec = futures[fut]
            try:
                row = fut.result()
            except Exception as exc:  # noqa: BLE001 -- one failed run is recorded, the others go on
                skipped[f"{spec['workload']} {spec['label']} seed {spec['seed']}"] = f"{type(exc).__name__}: {exc}"
                print(f"FAILED {spec['label']}: {exc}", flush=True)
                continue
            result["rows"].append(row)
            result["summary"] = summarise(result["rows"], args.workload)
            result["wall_seconds"] = wall_before + time.time() - t0
            atomic_write_json(out, result)
            print(f"{row['workload']:12s} {row['label']:40s} seed {row['seed']}: {100 * row['test_acc']:.2f}% "
                  f"({row['wall_seconds']:.0f}s)", flush=True)
    result["summary"] = summarise(result["rows"], args.workload)
    result["braille"] = summarise(result["rows"], "braille-mlp")
    result["wall_seconds"] = wall_before + time.time() - t0
    atomic_write_json(out, result)
    plot(result, out.with_suffix(".png"))
    if args.doc:
        write_doc(Path(args.doc), result)
    print(table(result["rows"]))
    print(json.dumps(result["summary"], indent=2))
    print(f"wrote {out} and {out.with_suffix('.png')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
