"""``pipesdfa demo``: BPTT vs SDFA vs output-only on the embedded digits-mlp workload."""

from __future__ import annotations

import argparse
from pathlib import Path

from pipesdfa.util.threads import add_threads_arg

DEMO_WORKLOAD = "digits-mlp"
DEMO_METHODS = ("bptt", "sdfa", "output")
#: The demo logs epoch 1, every fifth epoch and the last (a readable log when piped to a file).
LOG_EVERY = 5


def register(sub) -> None:
    p = sub.add_parser("demo", help="train digits-mlp with bptt, sdfa and output and compare",
                       description="Train the embedded digits-mlp workload with each learning rule and print a "
                                   "comparison table. Writes DIR/summary.json, DIR/comparison.png and one run "
                                   "folder per method.")
    p.add_argument("--out", default="runs/demo", help="output folder (default runs/demo)")
    p.add_argument("--epochs", type=int, help="override the workload's epochs (for a quick look)")
    p.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars (there are none unless stderr is a "
                   "terminal; the log then has one line per fifth epoch)")
    add_threads_arg(p)
    p.set_defaults(func=run)


def plot_comparison(results: list[dict], histories: dict[str, list[dict]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from pipesdfa.util.atomic import atomic_write_with

    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for method, hist in histories.items():
        ax.plot([h["epoch"] for h in hist], [100 * h["test_acc"] for h in hist], "o-", ms=3, label=method)
    ax.set_xlabel("epoch")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"{DEMO_WORKLOAD}: learning rules compared")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    atomic_write_with(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110))
    plt.close(fig)


def simulated_cost(out: Path, samples: int, preset: str = "pipelayer-2017") -> dict:
    """The simulated cost of the demo's training: BPTT on PipeLayer, SDFA on PipeSDFA.

    Each architecture is driven by the spike rates its own run measured (``metrics.json``).
    """
    from pipesdfa.hw import simulate

    runs = []
    for arch, method in (("pipelayer", "bptt"), ("pipesdfa", "sdfa")):
        r = simulate(DEMO_WORKLOAD, arch, preset=preset, samples=samples,
                     activity=str(out / method / "metrics.json"))
        runs.append({"arch": arch, "method": method, "time_s": r["time_s"], "energy_j": r["energy_j"],
                     "area_mm2": r["area_mm2"]})
    return {"preset": preset, "samples": samples, "runs": runs,
            "time_ratio": runs[0]["time_s"] / runs[1]["time_s"],
            "energy_ratio": runs[0]["energy_j"] / runs[1]["energy_j"]}


def run(args: argparse.Namespace) -> int:
    from pipesdfa.util.atomic import atomic_write_json, ensure_writable_dir
    from pipesdfa.training.loop import config_from_workload, train

    out = ensure_writable_dir(args.out)
    results, histories = [], {}
    for method in DEMO_METHODS:
        print(f"== {DEMO_WORKLOAD} with {method}")
        cfg = config_from_workload(DEMO_WORKLOAD, method=method, seed=args.seed, epochs=args.epochs,
                                   out=str(out / method), threads=args.threads)
        m = train(cfg, progress=False if args.no_progress else None, log_every=LOG_EVERY)
        histories[method] = m["epochs"]
        train_samples = m["dataset"]["train"] * m["final"]["epochs"]
        results.append({"method": method, "test_acc": m["final"]["test_acc"], "seconds": m["final"]["seconds"],
                        "best_test_acc": m["final"]["best_test_acc"], "run": str(out / method)})
    summary = {"workload": DEMO_WORKLOAD, "seed": args.seed, "results": results,
               "hardware": simulated_cost(out, samples=train_samples)}
    atomic_write_json(out / "summary.json", summary)
    plot_comparison(results, histories, out / "comparison.png")
    print()
    print(f"{'method':<8} {'test acc':>9} {'seconds':>8}")
    for r in results:
        print(f"{r['method']:<8} {100 * r['test_acc']:>8.2f}% {r['seconds']:>8.1f}")
    hw = summary["hardware"]
    print(f"\nsimulated training cost of these runs ({hw['samples']} samples, preset {hw['preset']}, "
          "spike rates measured above):")
    print(f"{'arch':<10} {'rule':<6} {'time (s)':>10} {'energy (mJ)':>12} {'area (mm2)':>11}")
    for r in hw["runs"]:
        print(f"{r['arch']:<10} {r['method']:<6} {r['time_s']:>10.4f} {1e3 * r['energy_j']:>12.3f} {r['area_mm2']:>11.2f}")
    print(f"PipeLayer / PipeSDFA: time {hw['time_ratio']:.2f}x, energy {hw['energy_ratio']:.2f}x")
    total = sum(r["seconds"] for r in results)
    print(f"\ntrained in {total:.1f} s ({m['runtime']['threads']['threads']} torch thread(s)); "
          f"wrote {out / 'summary.json'} and {out / 'comparison.png'}")
    return 0
