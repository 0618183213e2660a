"""The search for an SDFA variant that closes the event-Braille gap: every attempt, over seeds.

    python benchmarks/sdfa_variant_search.py [--attempts NAME ...] [--seeds 0 1 2] [--epochs 100]
        [--workload braille-mlp] [--data-dir ../shared/data] [--out benchmarks/results/sdfa_variant_search.json]
    python benchmarks/sdfa_variant_search.py --render [--update-doc docs/accuracy.md]

Each attempt is a change to the authors' SDFA rule (or a BPTT reference) on the workload's own
config (``workloads.py``: braille-mlp, 100 epochs, batch 64, lr 1e-3 unless the attempt says
otherwise). The loop is the trainer's (same seeded model, epoch order, cosine schedule and
evaluation); the hidden-layer gradients are formed here with the rule's *autograd reference*
(float32, exact), with the attempt's error signal injected at each hidden layer's spikes, so
that ideas that are not project options can be tried without adding them to the rule. The
variant that the project adopted (``--sdfa-variant centered-lr3``) is the attempt
``batch-centred+hidden-lr-3``; the accuracy table (``pipesdfa reproduce accuracy``) trains it
with the default fast path instead.

Results are merged into ``--out`` attempt by attempt (an interrupted search keeps what it
measured); ``--render`` prints the Markdown table (``--update-doc``: between the
``<!-- variant-search:start/end -->`` markers).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
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

#: attempt -> (what it changes, options). ``signal``: what the hidden layers' projection
#: receives (see :func:`hidden_injection`); ``hidden_lr``: hidden layers' rate multiplier;
#: ``orthogonal``: feedback rows orthonormalised (x sqrt(n_max)); ``align``: output weights
#: initialised along the last hidden layer's feedback matrix; ``method``/``lr``/``feedback``:
#: config overrides.
ATTEMPTS: dict[str, tuple[str, dict]] = {
    "bptt": ("BPTT, the reference", {"method": "bptt"}),
    "bptt-lr-2e-3": ("BPTT at lr 2e-3", {"method": "bptt", "lr": 2e-3}),
    "authors": ("the authors' SDFA: e = dLoss/dfr through B_l, the same at every step", {}),
    "independent-feedback": ("one independent B_l per hidden layer (not shared and sliced)",
                             {"feedback": "independent"}),
    "orthogonal-feedback": ("B with orthonormal rows (x sqrt(n_max))", {"orthogonal": True}),
    "normalised-error": ("e_b / |e_b| x mean |e| (per-sample normalised error)", {"signal": "normalised"}),
    "output-error": ("the output layer's local error dLoss/dX_out[t] (x T), projected at every step",
                     {"signal": "output"}),
    "output-error-instant": ("e / T x g'_out[t] (the output error without its recurrence), every step",
                             {"signal": "output-instant"}),
    "class-centred": ("e_b minus its mean over classes", {"signal": "class-centred"}),
    "batch-centred": ("e_b minus its mean over the batch", {"signal": "batch-centred"}),
    "running-centred": ("e_b minus a running mean over batches (momentum 0.9)", {"signal": "running-centred"}),
    "hidden-lr-0.3": ("hidden layers at 0.3 x lr", {"hidden_lr": 0.3}),
    "hidden-lr-3": ("hidden layers at 3 x lr", {"hidden_lr": 3.0}),
    "lr-2e-3": ("every layer at lr 2e-3", {"lr": 2e-3}),
    "aligned-output-init": ("output weights initialised along B_last (same std as the default)", {"align": True}),
    "output-error+aligned": ("output-error and aligned-output-init", {"signal": "output", "align": True}),
    "output-error-centred": ("output-error minus its batch mean, per step", {"signal": "output-centred"}),
    "batch-centred+hidden-lr-2": ("batch-centred, hidden layers at 2 x lr", {"signal": "batch-centred", "hidden_lr": 2.0}),
    "batch-centred+hidden-lr-3": ("batch-centred, hidden layers at 3 x lr (= --sdfa-variant centered-lr3)",
                                  {"signal": "batch-centred", "hidden_lr": 3.0}),
    "output-error-centred+hidden-lr-3": ("output-error-centred, hidden layers at 3 x lr",
                                         {"signal": "output-centred", "hidden_lr": 3.0}),
}


def hidden_injection(rule, e, d_out, d_inst, running, signal, l, s_like):
    """``dLoss/dS_l[t]`` for hidden layer ``l`` (shaped like its spikes ``s_like [T, B, n]``)."""
    fb = rule.feedback
    T = s_like.shape[0]

    def per_step(d):  # [T, B, C] -> T d B_l / sqrt(n_max)
        return (d.reshape(T * d.shape[1], -1) @ fb.matrix(l) / math.sqrt(fb.n_max)).reshape(s_like.shape) * T

    if signal == "rate":
        sig = e
    elif signal == "normalised":
        sig = e / (e.norm(dim=1, keepdim=True) + 1e-12) * e.norm(dim=1).mean()
    elif signal == "class-centred":
        sig = e - e.mean(1, keepdim=True)
    elif signal == "batch-centred":  # (centred after the projection: the same up to rounding)
        r = fb.project(e, l)
        return (r - r.mean(0, keepdim=True)).unsqueeze(0).expand_as(s_like)
    elif signal == "running-centred":
        sig = e - running
    elif signal == "output":
        return per_step(d_out)
    elif signal == "output-instant":
        return per_step(d_inst)
    elif signal == "output-centred":
        return per_step(d_out - d_out.mean(1, keepdim=True))
    else:
        raise ValueError(signal)
    return fb.project(sig, l).unsqueeze(0).expand_as(s_like)


def hidden_forward(model, x):
    """Every hidden block on the detached output of the one below, each with its local graph:
    ``(outputs, last output detached)``."""
    outs, h = [], x
    for blk in model.hidden_blocks:
        with torch.enable_grad():
            o = blk(h.detach())
        outs.append(o)
        h = o.detach()
    return outs, h


def sdfa_grads(rule, model, x, y, loss_fn, signal, state):
    """The SDFA step with the attempt's hidden signal (autograd inside each block)."""
    outs, h = hidden_forward(model, x)
    ob = model.output_block
    x_out = ob.synaptic_input(h)
    x_out.retain_grad()
    rates = model.readout(ob.post(ob.neuron(x_out)))
    probe = rates.detach().requires_grad_(True)
    loss = loss_fn(probe, y)
    (e,) = torch.autograd.grad(loss, probe)
    rates.backward(e)  # the output layer's true gradient; x_out.grad = dLoss/dX_out[t]
    d_inst = None
    if signal == "output-instant":
        saved = ob.neuron.recurrent_grad
        ob.neuron.recurrent_grad = False
        xi = ob.synaptic_input(h).detach().requires_grad_(True)
        ri = model.readout(ob.post(ob.neuron(xi)))
        ob.neuron.recurrent_grad = saved
        (d_inst,) = torch.autograd.grad(ri, xi, e)
    if signal == "running-centred":
        m = e.mean(0, keepdim=True).detach()
        state["mean"] = m if state.get("mean") is None else 0.9 * state["mean"] + 0.1 * m
    injected = [hidden_injection(rule, e, x_out.grad, d_inst, state.get("mean"), signal, l, s).to(s.dtype)
                for l, s in enumerate(outs)]
    torch.autograd.backward(outs, injected)
    return float(loss.detach()), rates.detach()


def run_attempt(name: str, workload: str, seed: int, epochs: int, data_dir: str) -> dict:
    _, opts = ATTEMPTS[name]
    method = opts.get("method", "sdfa")
    over = dict(epochs=epochs, method=method, seed=seed, data_dir=data_dir, lr=opts.get("lr"),
                out=str(REPO / "runs" / "variant-search"))
    if method == "sdfa":
        over.update(sdfa_impl="autograd", feedback=opts.get("feedback"))
    cfg = config_from_workload(workload, **over)
    r = build_run(cfg)
    if opts.get("orthogonal"):
        B = r.rule.feedback.B_shared
        q, _ = torch.linalg.qr(B.t())
        B.copy_(q.t() * math.sqrt(B.shape[1]))
    if opts.get("align"):
        W = r.model.output_block.weight
        Bl = r.rule.feedback.matrix(len(r.model.hidden_blocks) - 1)
        with torch.no_grad():
            W.copy_(Bl * (W.std() / Bl.std()))
    if opts.get("hidden_lr", 1.0) != 1.0:
        hid = [p for blk in r.model.hidden_blocks for p in blk.parameters()]
        r.optimizer = torch.optim.Adam([{"params": hid, "lr": cfg.optim.lr * opts["hidden_lr"]},
                                        {"params": list(r.model.output_block.parameters()), "lr": cfg.optim.lr}])
        r.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(r.optimizer, T_max=cfg.optim.epochs)
    loss_fn = make_loss(cfg.optim.loss)
    n = len(r.data.train)
    curve, state = [], {}
    t0 = time.perf_counter()
    train_acc = 0.0
    for ep in range(cfg.optim.epochs):
        r.model.train()
        order = torch.randperm(n, generator=epoch_generator(cfg.seed, ep))
        correct = seen = 0
        for xb, yb in batches(r.data.train, order, cfg.optim.batch, 0, cfg.data.drop_last):
            x = to_time_first(xb, r.device)
            r.optimizer.zero_grad(set_to_none=True)
            if method == "sdfa":
                loss, rates = sdfa_grads(r.rule, r.model, x, yb, loss_fn, opts.get("signal", "rate"), state)
            else:
                loss, rates = r.rule.compute_grads(x, yb, loss_fn)
            correct += int((rates.argmax(1) == yb).sum())
            seen += len(yb)
            r.optimizer.step()
        train_acc = correct / seen
        r.scheduler.step()
        curve.append(evaluate(r.model, r.data.test, loss_fn, 64, r.device)["acc"])
        if not math.isfinite(loss):
            break
    return {"seed": seed, "final_acc": curve[-1], "best_acc": max(curve), "best_epoch": 1 + curve.index(max(curve)),
            "train_acc": train_acc, "seconds": time.perf_counter() - t0, "curve": curve}


def markdown(doc: dict) -> str:
    ref = doc["attempts"].get("bptt")
    ref_mean = statistics.fmean(r["final_acc"] for r in ref["runs"]) if ref else None
    lines = [f"| attempt | what changes | final-epoch acc. % (mean ± std) | per seed % | best-epoch acc. % | "
             f"train acc. % | - BPTT (points) |", "|---|---|---:|---|---:|---:|---:|"]
    for name in ATTEMPTS:
        a = doc["attempts"].get(name)
        if not a:
            continue
        f = [r["final_acc"] for r in a["runs"]]
        b = [r["best_acc"] for r in a["runs"]]
        t = [r["train_acc"] for r in a["runs"]]
        sd = statistics.stdev(f) if len(f) > 1 else 0.0
        gap = "-" if ref_mean is None or name == "bptt" else f"{100 * (statistics.fmean(f) - ref_mean):+.2f}"
        lines.append(f"| `{name}` | {a['what']} | {100 * statistics.fmean(f):.2f} ± {100 * sd:.2f} | "
                     f"{', '.join(f'{100 * v:.2f}' for v in f)} | {100 * statistics.fmean(b):.2f} | "
                     f"{100 * statistics.fmean(t):.2f} | {gap} |")
    lines += ["", f"{doc['workload']}, {doc['epochs']} epochs, seeds {doc['seeds']}; hidden-layer gradients from the "
                  "autograd reference (float32) with the attempt's signal, the trainer's loop otherwise. Command: "
                  f"`{doc['command']}` (torch {doc['machine']['torch']}, 1 thread)."]
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--attempts", nargs="+", default=list(ATTEMPTS), choices=list(ATTEMPTS), metavar="NAME")
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--workload", default="braille-mlp")
    ap.add_argument("--data-dir", default=os.environ.get("PIPESDFA_SHARED_DATA", str(REPO.parent / "shared" / "data")))
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "sdfa_variant_search.json"))
    ap.add_argument("--render", action="store_true", help="only print the table of --out")
    ap.add_argument("--update-doc", default=None, help="also write the table into this Markdown file")
    args = ap.parse_args()
    out = Path(args.out)
    doc = json.loads(out.read_text()) if out.exists() else None
    if not args.render:
        torch.set_num_threads(1)
        if doc is None or (doc["workload"], doc["epochs"], doc["seeds"]) != (args.workload, args.epochs, args.seeds):
            doc = {"benchmark": "sdfa_variant_search", "workload": args.workload, "epochs": args.epochs,
                   "seeds": args.seeds, "attempts": {}}
        doc["command"] = f"python benchmarks/sdfa_variant_search.py --workload {args.workload} --epochs {args.epochs} " \
                         f"--seeds {' '.join(map(str, args.seeds))}"
        doc["machine"] = machine_info()
        for name in args.attempts:
            runs = []
            for s in args.seeds:
                runs.append(run_attempt(name, args.workload, s, args.epochs, args.data_dir))
                print(f"{name} seed {s}: final {100 * runs[-1]['final_acc']:.2f} %, "
                      f"train {100 * runs[-1]['train_acc']:.2f} %", flush=True)
            doc["attempts"][name] = {"what": ATTEMPTS[name][0], "runs": runs}
            atomic_write_json(out, doc)
    if doc is None:
        print(f"{out} does not exist; run the search first", file=sys.stderr)
        return 2
    publish(markdown(doc), args.update_doc, "variant-search")
    return 0


if __name__ == "__main__":
    sys.exit(main())
