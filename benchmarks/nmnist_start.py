"""Why BPTT through five LIF layers barely starts on the N-MNIST subset: the first optimiser steps.

    python benchmarks/nmnist_start.py [--workload nmnist-mlp5] [--epochs 3] [--data-dir ../shared/data]
        [--out benchmarks/results/nmnist_start.json] [--update-doc docs/accuracy.md]
    python benchmarks/nmnist_start.py --render [--update-doc docs/accuracy.md]

For BPTT and SDFA at learning rates 1e-2 (the paper's) and 1e-3, from PyTorch's default
initialisation (``init_gain`` 1, the paper's) and from 3x it, every optimiser step of the first
epochs of seed 0 records, per layer: the firing rate on the batch before the step (spikes per
neuron per step), the norm of the weight gradient, and the relative size of Adam's update
``|W_new - W| / |W|``; every epoch the test accuracy. The table reports when each layer first
fires (rate > 0.01 on the batch), the first step's gradient norms, the largest relative
update, and the test accuracy after each epoch.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402

from bench.machine import machine_info  # noqa: E402
from bench.report import publish  # noqa: E402
from pipesdfa.util.atomic import atomic_write_json  # noqa: E402
from pipesdfa.training.evaluation import batches, evaluate, to_time_first  # noqa: E402
from pipesdfa.training.loop import build_run, config_from_workload, epoch_generator, make_loss  # noqa: E402

CONFIGS = [(m, lr, g) for g in (1.0, 3.0) for lr in (1e-2, 1e-3) for m in ("bptt", "sdfa")]
FIRE = 0.01


def trace(workload: str, method: str, lr: float, gain: float, epochs: int, data_dir: str) -> dict:
    cfg = config_from_workload(workload, method=method, lr=lr, init_gain=gain, epochs=epochs, seed=0,
                               data_dir=data_dir, out=str(REPO / "runs" / "nmnist-start"))
    r = build_run(cfg)
    loss_fn = make_loss(cfg.optim.loss)
    steps, test = [], []
    n = len(r.data.train)
    for ep in range(epochs):
        r.model.train()
        for xb, yb in batches(r.data.train, torch.randperm(n, generator=epoch_generator(cfg.seed, ep)), cfg.optim.batch):
            x = to_time_first(xb, r.device)
            with torch.no_grad():
                rates = [float(s.mean()) for s in r.model.forward_all(x)]
            r.optimizer.zero_grad(set_to_none=True)
            loss, _ = r.rule.compute_grads(x, yb, loss_fn)
            grads = [float(b.weight.grad.norm()) if b.weight.grad is not None else 0.0 for b in r.model.blocks]
            before = [b.weight.detach().clone() for b in r.model.blocks]
            r.optimizer.step()
            rel = [float((b.weight.detach() - w).norm() / w.norm()) for b, w in zip(r.model.blocks, before)]
            steps.append({"loss": loss, "rates": rates, "grad_norm": grads, "rel_update": rel})
        r.scheduler.step()
        ev = evaluate(r.model, r.data.test, loss_fn, 128, r.device)
        test.append({"acc": ev["acc"], "rates": [l["rate"] for l in ev["activity"]["layers"]]})
    return {"method": method, "lr": lr, "init_gain": gain, "steps": steps, "epochs": test}


def _first_firing(steps: list[dict], layer: int) -> str:
    for i, s in enumerate(steps):
        if s["rates"][layer] > FIRE:
            return str(i)
    return f">{len(steps) - 1}"


def markdown(doc: dict) -> str:
    n_layers = len(doc["runs"][0]["steps"][0]["rates"])
    lines = ["| rule | lr | init gain | first step at which layer 1..L fires | rates at step 0 | "
             "weight-gradient norms at step 0, layer 1..L | largest relative update | test acc. % after epoch 1..E |",
             "|---|---:|---:|---|---|---|---:|---|"]
    for r in doc["runs"]:
        s0 = r["steps"][0]
        fire = ", ".join(_first_firing(r["steps"], l) for l in range(n_layers))
        rates = ", ".join(f"{v:.3f}" for v in s0["rates"])
        grads = ", ".join(f"{v:.1e}" for v in s0["grad_norm"])
        big = max(max(s["rel_update"]) for s in r["steps"])
        acc = ", ".join(f"{100 * e['acc']:.0f}" for e in r["epochs"])
        lines.append(f"| {r['method'].upper() if r['method'] == 'bptt' else 'SDFA'} | {r['lr']:g} | {r['init_gain']:g} | "
                     f"{fire} | {rates} | {grads} | {big:.2f} | {acc} |")
    lines += ["", f"{doc['workload']}, seed 0, batch {doc['batch']}, {doc['steps_per_epoch']} steps per epoch; a layer "
                  f"fires when its rate on the batch exceeds {FIRE}. Command: `{doc['command']}` "
                  f"(torch {doc['machine']['torch']}, 1 thread)."]
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workload", default="nmnist-mlp5")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--data-dir", default=os.environ.get("PIPESDFA_SHARED_DATA", str(REPO.parent / "shared" / "data")))
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "nmnist_start.json"))
    ap.add_argument("--render", action="store_true")
    ap.add_argument("--update-doc", default=None)
    args = ap.parse_args()
    out = Path(args.out)
    if args.render:
        doc = json.loads(out.read_text())
    else:
        torch.set_num_threads(1)
        runs = []
        for method, lr, gain in CONFIGS:
            runs.append(trace(args.workload, method, lr, gain, args.epochs, args.data_dir))
            print(f"{method} lr {lr:g} gain {gain:g}: test acc " +
                  ", ".join(f"{100 * e['acc']:.0f}" for e in runs[-1]["epochs"]), flush=True)
        w = config_from_workload(args.workload)
        doc = {"benchmark": "nmnist_start", "workload": args.workload, "batch": w.batch,
               "steps_per_epoch": len(runs[0]["steps"]) // args.epochs,
               "command": f"python benchmarks/nmnist_start.py --workload {args.workload} --epochs {args.epochs}",
               "machine": machine_info(),
               "runs": runs}
        atomic_write_json(out, doc)
    publish(markdown(doc), args.update_doc, "nmnist-start")
    return 0


if __name__ == "__main__":
    sys.exit(main())
