"""Do the defaults of a composed model serve every rule? Depth x width x init x rule x seed.

    python benchmarks/composed_defaults.py [--datasets digits] [--depths 2 4 6] [--widths 64 256]
        [--inits data default] [--rules bptt sdfa output] [--seeds 0 1 2] [--epochs 15] [--conv]
        [--loss L] [--lr LR] [--val-fraction 0] [--out benchmarks/results/composed_defaults.json]
    python benchmarks/composed_defaults.py --select A.json B.json ... [--doc D --block B]

Every MLP row is ``pipesdfa.train(TrainConfig(dataset=D, model="mlp", hidden=(W,) * (depth - 1),
method=R, init=I, seed=S, epochs=E))``: the defaults of ``pipesdfa train --dataset D --model mlp
--layers depth --hidden W`` (:class:`pipesdfa.training.sections.OptimSection`'s loss and
learning rate, T = 8, batch 32, cosine schedule, and for SDFA the composed variant
:data:`pipesdfa.learning.sdfa_variants.COMPOSED`); a rule ``sdfa:NAME`` pins a variant,
``--loss``/``--lr`` try other values for a candidate default; ``--val-fraction``: the trainer's
validation split, 0 by default here so that every run trains on the whole training split and
reports its last epoch. ``--conv`` adds a small conv net on digits built with the Python API, the way a user
builds one: ``build_model`` of a spec (conv3x3-16-pool2, conv3x3-32-pool2, dense 10; no
batch-norm, so the data-driven init scales it), ``rate_init`` on its blocks, the rule bound with
``Rule.for_model`` (SDFA with the composed variant and the composed feedback, aligned through
the linearised chain as the trainer does) and Adam over ``rule.param_groups`` at the
composed loss and learning rate (the same loop the trainer runs).

**Choosing a default on validation.** Run the grid once per candidate (``--loss``, ``--lr``)
with ``--val-fraction 0.1``: every run then records its best validation accuracy (``val_acc``)
next to the test accuracy. ``--select`` reads those files and, per candidate, the mean
validation accuracy of every rule (over shapes and seeds); the candidate with the highest mean
over the rules is the one that serves every rule best, and is chosen without looking at test,
unless a ``--checks`` sweep on other shapes at its loss and lr shows a rule collapsing there.

Accuracy is the test accuracy after the last epoch (no epoch chosen on the test set). The JSON
(``commit``, ``command``, ``machine``, ``runs`` and per-``rows`` means over the seeds, ``gaps``:
BPTT minus SDFA per shape and init) is rewritten after every run, and ``--resume`` skips the runs
a previous, interrupted invocation already recorded; ``--plot`` draws the gaps next to it.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from pipesdfa.util.atomic import atomic_write_json

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench.machine import git_commit, machine_info  # noqa: E402

CONV = "conv"


def composed_defaults() -> dict[str, Any]:
    """The loss and learning rate a composed model trains with (the config's defaults)."""
    from pipesdfa.training.sections import OptimSection

    o = OptimSection()
    return {"loss": o.loss, "lr": o.lr}


def rule_options(rule: str) -> tuple[str, dict[str, Any]]:
    """``("sdfa", {"sdfa_variant": NAME})`` for ``sdfa:NAME``; ``(rule, {})`` otherwise."""
    method, _, variant = rule.partition(":")
    return method, ({"sdfa_variant": variant} if variant else {})


def run_mlp(dataset: str, depth: int, width: int, init: str, rule: str, seed: int, epochs: int, tmp: str,
            data_dir: str | None, **options: Any) -> dict[str, Any]:
    from pipesdfa.training.config import TrainConfig
    from pipesdfa.training.loop import train

    from pipesdfa.training.sections import FLAT_KEYS

    method, extra = rule_options(rule)
    options = {k: v for k, v in options.items()  # a rule's own options go to that rule's runs only
               if not FLAT_KEYS.get(k, "").startswith("rule.") or FLAT_KEYS[k].startswith(f"rule.{method}.")}
    cfg = TrainConfig.from_flat(dataset=dataset, model="mlp", hidden=(width,) * (depth - 1), method=method, init=init,
                                seed=seed, epochs=epochs, threads=1, data_dir=data_dir, **extra,
                                **{k: v for k, v in options.items() if v is not None},
                                out=str(Path(tmp) / f"{dataset}-{depth}-{width}-{init}-{rule.replace(':', '-')}-{seed}"))
    m = train(cfg, progress=False, log=None)
    al = [a["cosine"] for a in m["final"].get("alignment", [])]
    vals = [e["val_acc"] for e in m["epochs"] if e.get("val_acc") is not None]
    return {"test_acc": m["final"]["test_acc"], "train_acc": m["final"]["train_acc"], "alignment": al,
            "val_acc": max(vals) if vals else None, "selected_test_acc": m["final"].get("selected_test_acc"),
            "variant": m["rule"].get("variant"), "rates": m["epochs"][-1]["spike_rates"],
            "seconds": m["final"]["seconds"]}


def run_conv(init: str, rule: str, seed: int, epochs: int, loss: str, lr: float) -> dict[str, Any]:
    """The small conv net on digits through the Python API (module docstring)."""
    from pipesdfa.data.registry import load_dataset
    from pipesdfa.snn.dynamics import NeuronParams
    from pipesdfa.training.config import make_loss
    from pipesdfa.training.evaluation import batches, evaluate, to_time_first
    from pipesdfa.training.init import rate_init
    from pipesdfa.zoo.models import build_model
    from pipesdfa.zoo.workloads import Conv, Dense, ModelSpec

    t0 = time.perf_counter()
    data = load_dataset("digits", T=8, seed=seed)
    spec = ModelSpec("conv-small", tuple(data.input_shape), (Conv(16, 3, 1, 1, False, 2), Conv(32, 3, 1, 1, False, 2),
                                                             Dense(data.num_classes)), data.num_classes)
    torch.manual_seed(seed)
    net = build_model(spec, NeuronParams(kind="lif", tau=2.0))
    if init == "data":
        xb, _ = next(batches(data.train, torch.arange(256), 256))
        rate_init(net.blocks, to_time_first(xb, torch.device("cpu")))
    from pipesdfa.learning import make_rule
    from pipesdfa.learning.feedback import ALIGNED
    from pipesdfa.learning.options import SDFAOptions
    from pipesdfa.training.finetune import align_feedback, feedback_options

    method, extra = rule_options(rule)  # bound as the trainer binds a composed model's rule
    opts = SDFAOptions(variant=extra.get("sdfa_variant")).kwargs(seed, composed=True) if method == "sdfa" else {}
    r = make_rule(method, net, **{**opts, **feedback_options(opts)})
    if opts.get("distribution") == ALIGNED:
        align_feedback(r, net, None, seed)
    opt = torch.optim.Adam(r.param_groups(net.parameters(), lr), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    loss_fn = make_loss(loss)
    n = len(data.train)
    correct = seen = 0
    for ep in range(epochs):
        order = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 1_000_003 + ep))
        correct = seen = 0
        for xb, yb in batches(data.train, order, 32):
            opt.zero_grad(set_to_none=True)
            _, rates = r.compute_grads(to_time_first(xb, torch.device("cpu")), yb, loss_fn)
            opt.step()
            correct += int((rates.argmax(1) == yb).sum())
            seen += len(yb)
        sched.step()
    ev = evaluate(net, data.test, loss_fn, 256, torch.device("cpu"))
    return {"test_acc": ev["acc"], "train_acc": correct / max(seen, 1), "alignment": [], "val_acc": None,
            "variant": r.options().get("variant"), "rates": [l["rate"] for l in ev["activity"]["layers"]], "seconds": time.perf_counter() - t0}


def key(r: dict[str, Any]) -> tuple:
    return (r["dataset"], r["model"], r["depth"], r["width"], r["init"], r["rule"], r["seed"])


def summarise(runs: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Per (dataset, model, depth, width, init, rule): mean/std of test accuracy over seeds; per
    shape and init: ``gap = mean BPTT - mean SDFA`` (points) and whether it meets the target
    (``gap <= 2`` wherever BPTT's mean exceeds 60 %)."""
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for r in runs:
        groups.setdefault(key(r)[:-1], []).append(r)
    rows = []
    for k, rs in groups.items():
        accs = [100 * r["test_acc"] for r in rs]
        rows.append(dict(zip(("dataset", "model", "depth", "width", "init", "rule"), k),
                         seeds=[r["seed"] for r in rs], test_acc=accs, mean=statistics.mean(accs),
                         std=statistics.stdev(accs) if len(accs) > 1 else 0.0))
    by = {(r["dataset"], r["model"], r["depth"], r["width"], r["init"], r["rule"]): r for r in rows}
    gaps = []
    for (d, m, dep, w, i, rule), row in by.items():
        if rule != "bptt" or (d, m, dep, w, i, "sdfa") not in by:
            continue
        s = by[(d, m, dep, w, i, "sdfa")]
        gap = row["mean"] - s["mean"]
        gaps.append({"dataset": d, "model": m, "depth": dep, "width": w, "init": i, "bptt": row["mean"],
                     "sdfa": s["mean"], "gap": gap, "seeds": min(len(row["seeds"]), len(s["seeds"])),
                     "target_applies": row["mean"] > 60.0, "meets_target": row["mean"] <= 60.0 or gap <= 2.0})
    return rows, gaps


def rule_order(rule: str) -> tuple:
    """BPTT, then SDFA (the default variant first), then the rest."""
    return ({"bptt": 0, "sdfa": 1}.get(rule, 2 if rule.startswith("sdfa:") else 3), rule)


#: A rule "collapses" on a shape when its mean test accuracy there is at most this many times chance.
COLLAPSE = 2.0


def collapses(check: dict[str, Any]) -> list[str]:
    """The (shape, rule) of ``check`` (a sweep file) whose mean test accuracy is at most
    ``COLLAPSE`` x chance (chance: 1 / the dataset's classes, from the catalog)."""
    from pipesdfa.data.catalog import get_record

    return [f"{r['rule']} {r['depth']} x {r['width']} ({r['mean']:.0f} %)" for r in check["rows"]
            if r["mean"] <= COLLAPSE * 100 / get_record(r["dataset"]).num_classes]


def select(results: list[dict[str, Any]], checks: list[dict[str, Any]] = ()) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Per candidate file (its ``loss`` and ``lr``): every rule's mean validation accuracy (%, over
    shapes and seeds) and their mean over the rules; the chosen candidate has the highest among
    those no ``checks`` file rejects. Every file must hold the same runs (shapes, inits, rules,
    seeds), each with a validation accuracy; the conv net's runs (the Python API loop, no
    validation split) are left out. A check is a sweep at one candidate's loss and lr on other
    shapes: a rule that collapses there (:func:`collapses`) rejects that candidate."""
    results = [{**res, "runs": [r for r in res["runs"] if r["model"] != CONV]} for res in results]  # no val. split
    plans = [sorted(key(r) for r in res["runs"]) for res in results]
    if any(p != plans[0] for p in plans):
        raise SystemExit("--select: the candidate files do not hold the same runs (shapes, rules, seeds)")
    cands = []
    for res in results:
        if any(r.get("val_acc") is None for r in res["runs"]):
            raise SystemExit(f"--select: {res['command']} has runs without a validation accuracy (--val-fraction 0?)")
        per_rule = {}
        for rule in sorted({r["rule"] for r in res["runs"]}, key=rule_order):
            per_rule[rule] = statistics.mean(100 * r["val_acc"] for r in res["runs"] if r["rule"] == rule)
        test = {rule: statistics.mean(100 * r["test_acc"] for r in res["runs"] if r["rule"] == rule) for rule in per_rule}
        fails = [f"{x} in `{c['command'].split(' --out ')[-1]}`" for c in checks
                 if (c["loss"], c["lr"]) == (res["loss"], res["lr"]) for x in collapses(c)]
        cands.append({"loss": res["loss"], "lr": res["lr"], "val": per_rule, "test": test, "rejected": fails,
                      "mean_val": statistics.mean(per_rule.values()), "commit": res["commit"], "command": res["command"]})
    ok = [c for c in cands if not c["rejected"]]
    if not ok:
        raise SystemExit("--select: every candidate is rejected by a check")
    best = max(ok, key=lambda c: c["mean_val"])
    return cands, best


def parse_set(items: list[str]) -> dict[str, Any]:
    """``["T=16", "feedback=independent"]`` -> ``{"T": 16, "feedback": "independent"}``: the CLI's
    own KEY=VALUE parser (numbers as numbers); the config checks names and values later."""
    from pipesdfa.cli.train import parse_data_options

    return parse_data_options(items, flag="--set")


def _read(files: list[str]) -> list[dict[str, Any]]:
    import json

    return [json.loads(Path(f).read_text()) for f in files]


def compare_markdown(results: list[dict[str, Any]]) -> str:
    """One line per file: what it changed (loss, lr, epochs, ``--set``), every rule's mean test
    accuracy after the last epoch (over shapes and seeds) and BPTT - SDFA."""
    rules = sorted({r["rule"] for res in results for r in res["runs"]}, key=rule_order)
    lines = ["| change | " + " | ".join(f"{r} %" for r in rules) + " | BPTT - SDFA | runs |",
             "|---|" + "---:|" * len(rules) + "---:|---:|"]
    for res in results:
        mean = {rule: statistics.mean(100 * r["test_acc"] for r in res["runs"] if r["rule"] == rule)
                for rule in rules if any(r["rule"] == rule for r in res["runs"])}
        change = ", ".join([f"loss {res['loss']}", f"lr {res['lr']:g}", f"{res['epochs']} epochs"]
                           + [f"{k}={v}" for k, v in res.get("set", {}).items()])
        gap = f"{mean['bptt'] - mean['sdfa']:+.1f}" if "bptt" in mean and "sdfa" in mean else "-"
        lines.append(f"| {change} | " + " | ".join(f"{mean[r]:.1f}" if r in mean else "-" for r in rules)
                     + f" | {gap} | {len(res['runs'])} |")
    lines.append("")
    lines.append("Mean test accuracy after the last epoch over shapes and seeds. Commands: "
                 + "; ".join(f"`{res['command']}` (commit {res['commit'][:10]})" for res in results) + ".")
    return "\n".join(lines)


def select_markdown(cands: list[dict[str, Any]], best: dict[str, Any]) -> str:
    rules = list(cands[0]["val"])
    lines = ["| loss | lr | " + " | ".join(f"{r} val. %" for r in rules) + " | mean over rules | chosen | "
             + " | ".join(f"{r} test %" for r in rules) + " |",
             "|---|---:|" + "---:|" * len(rules) + "---:|---|" + "---:|" * len(rules)]
    for c in cands:
        chosen = "**yes**" if c is best else ("rejected: " + "; ".join(c["rejected"]) if c["rejected"] else "")
        lines.append(f"| {c['loss']} | {c['lr']:g} | " + " | ".join(f"{c['val'][r]:.1f}" for r in rules)
                     + f" | {c['mean_val']:.1f} | {chosen} | "
                     + " | ".join(f"{c['test'][r]:.1f}" for r in rules) + " |")
    lines.append("")
    lines.append("Validation accuracy: the best epoch's on a stratified 10 % split of the training data, mean over "
                 "shapes and seeds; test accuracy after the last epoch, shown, not used to choose. A candidate is "
                 f"rejected where a rule collapses (mean test accuracy at most {COLLAPSE:g} x chance) on a check "
                 "sweep at its loss and lr. Commands: "
                 + "; ".join(f"`{c['command']}` (commit {c['commit'][:10]})" for c in cands) + ".")
    return "\n".join(lines)


def markdown(result: dict[str, Any]) -> str:
    """One line per shape and init: mean test accuracy (%) of every rule over the seeds, the gap
    BPTT - SDFA (of the means, and seed by seed), whether the 2-point target holds, the mean SDFA
    alignment and train accuracy."""
    rows, gaps = result["rows"], result["gaps"]
    rules = sorted({x["rule"] for x in rows}, key=rule_order)
    by = {(r["dataset"], r["model"], r["depth"], r["width"], r["init"], r["rule"]): r for r in rows}
    runs = result["runs"]
    lines = ["| data | model | depth x width | init | " + " | ".join(f"{r} %" for r in rules)
             + " | BPTT - SDFA | per seed | target | SDFA train % | SDFA alignment |",
             "|---|---|---|---|" + "---:|" * len(rules) + "---:|---:|---|---:|---|"]
    for g in gaps:
        k = (g["dataset"], g["model"], g["depth"], g["width"], g["init"])
        cells = []
        for rule in rules:
            r = by.get(k + (rule,))
            cells.append("-" if r is None else f"{r['mean']:.1f} ± {r['std']:.1f}")
        sd = [x for x in runs if (x["dataset"], x["model"], x["depth"], x["width"], x["init"]) == k
              and x["rule"] == "sdfa"]
        train = statistics.mean(100 * x["train_acc"] for x in sd) if sd else float("nan")
        al = [statistics.mean(x["alignment"][i] for x in sd) for i in range(len(sd[0]["alignment"]))] if sd and \
            sd[0]["alignment"] else []
        bp = {x["seed"]: x["test_acc"] for x in runs if (x["dataset"], x["model"], x["depth"], x["width"], x["init"]) == k
              and x["rule"] == "bptt"}
        per_seed = " / ".join(f"{100 * (bp[x['seed']] - x['test_acc']):+.1f}" for x in sorted(sd, key=lambda x: x["seed"])
                              if x["seed"] in bp) or "-"
        target = "n/a (BPTT <= 60 %)" if not g["target_applies"] else ("met" if g["meets_target"] else "**missed**")
        shape = f"{g['depth']} x {g['width']}" if g["model"] != CONV else "conv16-conv32-10"
        lines.append(f"| {g['dataset']} | {g['model']} | {shape} | {g['init']} | " + " | ".join(cells)
                     + f" | {g['gap']:+.1f} | {per_seed} | {target} | {train:.1f} | {' / '.join(f'{a:.2f}' for a in al) or '-'} |")
    lines.append("")
    lines.append(f"Mean ± sample std over seeds {sorted({x['seed'] for x in runs})} of the test accuracy after "
                 f"epoch {result['epochs']}; per seed: BPTT - SDFA on each seed, in points"
                 f" (loss {result.get('loss', 'ce')}, lr {result.get('lr', 1e-3):g}); "
                 f"commit {result['commit'][:10]}; command `{result['command']}`.")
    return "\n".join(lines)


def plot(gaps: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    inits = sorted({g["init"] for g in gaps})
    fig, axes = plt.subplots(1, len(inits), figsize=(6 * len(inits), 4), squeeze=False, sharey=True)
    for ax, init in zip(axes[0], inits):
        gs = [g for g in gaps if g["init"] == init]
        labels = [f"{g['dataset']}\n{g['model']} {g['depth']}x{g['width']}" for g in gs]
        x = range(len(gs))
        ax.bar([i - 0.2 for i in x], [g["bptt"] for g in gs], 0.4, label="BPTT")
        ax.bar([i + 0.2 for i in x], [g["sdfa"] for g in gs], 0.4, label="SDFA")
        ax.set_xticks(list(x), labels, fontsize=7, rotation=45, ha="right")
        ax.set_title(f"init={init} (mean of seeds, test accuracy after the last epoch)", fontsize=9)
        ax.set_ylabel("test accuracy (%)")
        ax.set_ylim(0, 100)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", nargs="+", default=["digits"])
    ap.add_argument("--depths", type=int, nargs="+", default=[2, 4, 6])
    ap.add_argument("--widths", type=int, nargs="+", default=[64, 256])
    ap.add_argument("--inits", nargs="+", default=["data", "default"])
    ap.add_argument("--rules", nargs="+", default=["bptt", "sdfa"])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--conv", action="store_true", help="add the small conv net on digits (Python API)")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--loss", default=None, help="the loss of every run (default: the config's)")
    ap.add_argument("--lr", type=float, default=None, help="the learning rate of every run (default: the config's)")
    ap.add_argument("--select", nargs="+", default=None, metavar="JSON",
                    help="only choose among these candidate files on validation accuracy (module docstring)")
    ap.add_argument("--checks", nargs="+", default=[], metavar="JSON",
                    help="with --select: sweeps on other shapes that reject a candidate whose rule collapses there")
    ap.add_argument("--val-fraction", type=float, default=0.0, help="the trainer's validation split (default 0)")
    ap.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE",
                    help="further config values of every MLP run (flat names: T=16, batch=16, feedback=independent)")
    ap.add_argument("--compare", nargs="+", default=None, metavar="JSON",
                    help="only print every file's mean test accuracy per rule and the BPTT - SDFA gap; run nothing")
    ap.add_argument("--resume", action="store_true", help="keep the runs already in --out, run the rest")
    ap.add_argument("--plot", action="store_true", help="write OUT with .png beside the JSON")
    ap.add_argument("--render", action="store_true", help="only print OUT's table (and --doc it); run nothing")
    ap.add_argument("--doc", default=None, help="write the table into this doc's --block block")
    ap.add_argument("--block", default="composed-defaults", help="the doc's block (<!-- NAME:start -->)")
    ap.add_argument("--out", default="benchmarks/results/composed_defaults.json")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    out = Path(args.out)
    if args.select or args.compare:
        from bench.report import publish

        text = select_markdown(*select(_read(args.select), _read(args.checks))) if args.select \
            else compare_markdown(_read(args.compare))
        publish(text, args.doc, args.block)
        return 0
    extra = parse_set(args.set)
    defaults = composed_defaults()
    loss = args.loss if args.loss is not None else defaults["loss"]
    lr = args.lr if args.lr is not None else defaults["lr"]
    if args.render:
        import json

        from bench.report import publish

        publish(markdown(json.loads(out.read_text())), args.doc, args.block)
        return 0
    runs: list[dict[str, Any]] = []
    if args.resume and out.exists():
        import json

        runs = json.loads(out.read_text())["runs"]
    done = {key(r) for r in runs}
    plan = [(d, "mlp", dep, w, i, rule, s) for d in args.datasets for dep in args.depths for w in args.widths
            for i in args.inits for s in args.seeds for rule in args.rules]
    if args.conv:
        plan += [("digits", CONV, 3, 0, i, rule, s) for i in args.inits for s in args.seeds for rule in args.rules]
    result: dict[str, Any] = {"commit": git_commit() or "unknown", "command": "python benchmarks/composed_defaults.py " + " ".join(
        argv if argv is not None else sys.argv[1:]), "machine": machine_info(), "epochs": args.epochs, "loss": loss, "lr": lr,
        "val_fraction": args.val_fraction, "set": extra, "runs": runs}
    from tqdm import tqdm

    with tempfile.TemporaryDirectory() as tmp:
        for k in tqdm([p for p in plan if p not in done], desc="composed defaults", unit="run"):
            d, model, dep, w, i, rule, s = k
            if model == CONV:
                r = run_conv(i, rule, s, args.epochs, loss, lr)
            else:
                r = run_mlp(d, dep, w, i, rule, s, args.epochs, tmp, args.data_dir, loss=loss, lr=lr,
                            val_fraction=args.val_fraction, **extra)
            runs.append(dict(zip(("dataset", "model", "depth", "width", "init", "rule", "seed"), k), **r))
            tqdm.write(f"{d} {model} {dep}x{w} init={i} {rule} seed {s}: {100 * r['test_acc']:.2f}% "
                       f"({r['seconds']:.1f}s)")
            result["rows"], result["gaps"] = summarise(runs)
            atomic_write_json(out, result)
    result["rows"], result["gaps"] = summarise(runs)
    atomic_write_json(out, result)
    for g in result["gaps"]:
        flag = "ok" if g["meets_target"] else "MISSES"
        print(f"{g['dataset']:8s} {g['model']:5s} {g['depth']}x{g['width']:<5d} init={g['init']:7s} BPTT "
              f"{g['bptt']:6.2f}  SDFA {g['sdfa']:6.2f}  gap {g['gap']:+6.2f}  {flag}")
    if args.plot:
        plot(result["gaps"], out.with_suffix(".png"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
