"""One training step of the same spiking network on pipesdfa and on snnTorch / Norse, side by side.

    python benchmarks/peers.py [--T 10] [--batch 128] [--threads 1] [--repeats 7] --out FILE.json
    python benchmarks/peers.py --table FILE.json [FILE2.json ...]   # Markdown table of result files
    (docs/performance.md's and README's ``peers`` block: ``benchmarks/render_readme.py``)

Network: the ``nmnist-mlp5`` workload (2312-1000x4-10, no biases, LIF tau 2 with the input
scaled by 1/tau, threshold 1, hard reset to 0, ATan surrogate, mean-rate readout, cross-entropy).
Data: real N-MNIST event frames from the data folder (``--data``, see ``real_input.py``; the
timed batch is the first of a seeded order). Weights (``--weights``): ``rate-init`` (the
default) = the workload's initialisation scaled by :func:`pipesdfa.training.init.rate_init` on
the timed batch so that every hidden layer fires at ``--rate`` (0.1) spikes per neuron per step
and the output layer at a fifth of it, the activity ``pipesdfa train``'s data-driven start
gives; ``warm`` = the workload's initialisation after ``--train-steps`` steps of pipesdfa's fast
BPTT on real batches (``bench.cases.real_input``, continued until every layer fires; the layers
then fire at 0.25-0.5). The same weights for every implementation (snnTorch's
copy scaled by 1/tau = 0.5, exact in float32, because its ``Leaky`` adds the input unscaled).

Step = ``zero_grad`` + forward + loss + backward (BPTT) or the rule's gradients (SDFA) + Adam,
every implementation with the same optimiser (``pipesdfa.training.schedules.make_optimizer``:
PyTorch's fused Adam, lr of the workload). Implementations (``IMPLS``):

* ``pipesdfa`` BPTT (fused neuron backend) and SDFA (fast path, ``instantaneous`` and ``local``)
  at ``precision`` fp32 (SDFA ``store="float"``) and bf16 (dense products on bfloat16 operands,
  SDFA ``store="half"``; :mod:`pipesdfa.snn.kernels.precision`);
* ``snntorch`` (when importable): ``snn.Leaky(beta=0.5, reset_mechanism="zero",
  spike_grad=surrogate.atan())`` after every ``nn.Linear``, the usual time loop over steps;
* ``norse`` (when importable): ``LIFBoxCell`` (``tau_mem_inv`` 500 at ``dt`` 1e-3, i.e. a
  decay of 0.5 per step, ``v_th`` 1, reset to 0), the same time loop;
* both peers also under ``torch.autocast("cpu", torch.bfloat16)`` (forward and loss; the
  standard way to run them in bfloat16);
* ``products`` (a floor, not a training step): the step's dense matrix products alone on every
  layer's real input, float32 BPTT (forward, weight and input gradients), bfloat16 BPTT, and
  bfloat16 SDFA (forward and weight gradient; no input gradient), timed in the same rounds.

Timing (in this one process, glibc malloc as :func:`pipesdfa.util.malloc.keep_freed_memory` sets it
for ``pipesdfa train``, for everyone): every implementation is built, stepped ``--warmup``
times, then ``--repeats`` rounds each step every implementation once in turn (so load from
other jobs on a shared machine hits all alike). Per implementation: median wall and CPU time
per step, and ``x_snntorch``/``x_norse`` = median over the rounds of its step over the peer's
fp32 step in the same round (CPU time; wall time if CPU time is not available). The machine's
load average is recorded before and after. Spike rates: the mean output rate of every layer on
the timed batch, forward only, per implementation (the peers' neuron equations are as close as
each library allows, so their rates are listed, not assumed).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable

import torch

from pipesdfa.learning import make_rule
from pipesdfa.snn.blocks import set_precision
from pipesdfa.snn.neurons import NeuronParams
from pipesdfa.training.init import rate_init
from pipesdfa.training.loop import make_loss, make_optimizer, scale_init
from pipesdfa.util.atomic import atomic_write_json
from pipesdfa.util.malloc import keep_freed_memory
from pipesdfa.zoo.models import build_model
from pipesdfa.zoo.workloads import get_workload

from bench.cases import block_rates, real_input
from bench.machine import machine_info
from bench.peer_nets import PEERS, peer_versions
from bench.tables import peers_table

WORKLOAD = "nmnist-mlp5"
#: (library, rule, precision, sdfa temporal); peers: BPTT only.
IMPLS: list[tuple[str, str, str, str | None]] = [
    ("pipesdfa", "bptt", "fp32", None), ("pipesdfa", "bptt", "bf16", None),
    ("pipesdfa", "sdfa", "fp32", "instantaneous"), ("pipesdfa", "sdfa", "bf16", "instantaneous"),
    ("pipesdfa", "sdfa", "fp32", "local"), ("pipesdfa", "sdfa", "bf16", "local"),
    ("snntorch", "bptt", "fp32", None), ("snntorch", "bptt", "bf16-autocast", None),
    ("norse", "bptt", "fp32", None), ("norse", "bptt", "bf16-autocast", None),
    ("products", "bptt", "fp32", None), ("products", "bptt", "bf16", None), ("products", "sdfa", "bf16", None),
]


def label(impl: tuple[str, str, str, str | None]) -> str:
    lib, rule, prec, temporal = impl
    return f"{lib}/{rule}{'-' + temporal if temporal else ''}/{prec}"


@dataclass
class Stepper:
    """One implementation: ``step()`` runs one training step on the timed batch."""

    impl: tuple[str, str, str, str | None]
    step: Callable[[], None]
    rates: Callable[[], list[float]]
    samples: dict[str, list[float]] = field(default_factory=lambda: {"ms": [], "cpu_ms": []})


def pipesdfa_stepper(impl, weights, x, y, lr: float) -> Stepper:
    _, rule_name, prec, temporal = impl
    w = get_workload(WORKLOAD)
    torch.manual_seed(0)
    model = build_model(w.model_spec(tuple(x.shape[2:])), NeuronParams(kind=w.neuron, tau=w.tau), backend="auto")
    model.load_state_dict(weights)
    set_precision(model, prec)
    opts = {"temporal": temporal, "store": "half" if prec == "bf16" else "float"} if rule_name == "sdfa" else {}
    rule = make_rule(rule_name, model, **opts)
    opt = make_optimizer("adam", model.parameters(), lr)
    loss_fn = make_loss(w.loss)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        rule.compute_grads(x, y, loss_fn)
        opt.step()

    return Stepper(impl, step, lambda: block_rates(model, x))


def products_stepper(impl, weights, x, seed: int) -> Stepper:
    """The step's dense matrix products alone (a floor): on every layer's real input of the timed
    batch, forward ``X W^T``, weight gradient ``G^T X`` and (BPTT, not the first layer) input
    gradient ``G W``, all float32 or all on bfloat16 operands (converted inside the timing, as
    training does); ``G`` random."""
    _, rule_name, prec, _ = impl
    w = get_workload(WORKLOAD)
    model = build_model(w.model_spec(tuple(x.shape[2:])), NeuronParams(kind=w.neuron, tau=w.tau), backend="auto")
    model.load_state_dict(weights)
    with torch.no_grad():
        ins = [x] + model.forward_all(x)[:-1]
    gen = torch.Generator().manual_seed(seed)
    rows = x.shape[0] * x.shape[1]
    mats = [(xi.reshape(rows, -1).float().contiguous(), b.weight.detach(),
             torch.randn(rows, b.weight.shape[0], generator=gen)) for xi, b in zip(ins, model.blocks)]
    dt = torch.bfloat16 if prec == "bf16" else torch.float32

    def step() -> None:
        for i, (xi, wt, g) in enumerate(mats):
            xc, wc, gc = xi.to(dt), wt.to(dt), g.to(dt)
            xc @ wc.t()
            gc.t() @ xc
            if rule_name == "bptt" and i > 0:
                gc @ wc

    return Stepper(impl, step, lambda: [])


def peer_stepper(impl, weights, x, y, lr: float, tau: float) -> Stepper:
    lib, _, prec, _ = impl
    net = PEERS[lib]([v for k, v in weights.items() if k.endswith("weight")], tau)
    opt = make_optimizer("adam", net.parameters(), lr)
    loss_fn = make_loss(get_workload(WORKLOAD).loss)
    autocast = prec == "bf16-autocast"

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            out = net(x)
            loss = loss_fn(out.float().mean(0), y)
        loss.backward()
        opt.step()

    def rates() -> list[float]:
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            return [round(float(s.float().mean()), 5) for s in net.layer_spikes(x)]

    return Stepper(impl, step, rates)


def run(args) -> dict[str, Any]:
    torch.set_num_threads(args.threads)
    keep_freed_memory(force=True)
    w = get_workload(WORKLOAD)
    device = torch.device("cpu")
    ci = real_input(WORKLOAD, args.T, args.batch, device,
                    SimpleNamespace(data=args.data, seed=args.seed,  # rate-init: no warm-up training
                                    train_steps=args.train_steps if args.weights == "warm" else 0), None)
    x, y = ci.x, ci.y
    weights = ci.weights
    info = {k: ci.info[k] for k in ("input_source", "input_density", "warmup_steps", "all_blocks_fire")}
    if args.weights == "rate-init":  # from the workload's initialisation, not the warmed-up weights
        torch.manual_seed(args.seed)
        model = build_model(w.model_spec(tuple(x.shape[2:])), NeuronParams(kind=w.neuron, tau=w.tau), backend="auto")
        scale_init(model, w.init_gain)
        rate_init(model.blocks, x, args.rate)
        weights = {k: v.detach().clone() for k, v in model.state_dict().items()}
        info.update(warmup_steps=0, all_blocks_fire=all(r > 0 for r in block_rates(model, x)))
    available = peer_versions()
    impls = [i for i in IMPLS if (i[0] in ("pipesdfa", "products") or available.get(i[0]))
             and (not args.only or label(i) in args.only)]
    if args.only and len(impls) < len(args.only):
        raise SystemExit(f"--only: unknown or unavailable implementation among {args.only}; known: "
                         + ", ".join(label(i) for i in IMPLS))
    steppers = []
    for impl in impls:
        if impl[0] == "pipesdfa":
            steppers.append(pipesdfa_stepper(impl, weights, x, y, w.lr))
        elif impl[0] == "products":
            steppers.append(products_stepper(impl, weights, x, args.seed))
        else:
            steppers.append(peer_stepper(impl, weights, x, y, w.lr, w.tau))
    rates = {label(s.impl): s.rates() for s in steppers}  # before any step: the shared weights
    load = {"before": os.getloadavg()}
    t0 = time.time()
    for _ in range(args.warmup):
        for s in steppers:
            s.step()
    for r in range(args.repeats):
        for s in steppers:
            w0, c0 = time.perf_counter(), time.process_time()
            s.step()
            s.samples["ms"].append(1e3 * (time.perf_counter() - w0))
            s.samples["cpu_ms"].append(1e3 * (time.process_time() - c0))
        print(f"round {r + 1}/{args.repeats}: " + "  ".join(f"{label(s.impl)} {s.samples['cpu_ms'][-1]:.0f}"
                                                           for s in steppers), flush=True)
    load["after"] = os.getloadavg()
    by = {label(s.impl): s for s in steppers}
    rows = []
    for s in steppers:
        row = {"impl": label(s.impl), "library": s.impl[0], "rule": s.impl[1], "precision": s.impl[2],
               "temporal": s.impl[3], "ms_per_step": round(statistics.median(s.samples["ms"]), 2),
               "cpu_ms_per_step": round(statistics.median(s.samples["cpu_ms"]), 2),
               "ms_all": [round(v, 2) for v in s.samples["ms"]],
               "cpu_ms_all": [round(v, 2) for v in s.samples["cpu_ms"]],
               "spike_rates": rates[label(s.impl)]}
        for peer in ("snntorch", "norse"):
            base = by.get(f"{peer}/bptt/fp32")
            if base is not None:
                row[f"x_{peer}"] = round(statistics.median(
                    a / b for a, b in zip(s.samples["cpu_ms"], base.samples["cpu_ms"])), 4)
        rows.append(row)
    return {"benchmark": "peers", "workload": WORKLOAD, "T": args.T, "batch": args.batch, "threads": args.threads,
            "input": info,
            "weights": args.weights, "rate_target": args.rate if args.weights == "rate-init" else None,
            "peers": available, "load_average": load, "timing_seconds": round(time.time() - t0, 1),
            "settings": {"warmup": args.warmup, "repeats": args.repeats, "seed": args.seed,
                         "train_steps": args.train_steps,
                         "ratio": "x_PEER = median over rounds of (this step's CPU time / PEER fp32 BPTT step's "
                                  "CPU time in the same round)"},
            "rows": rows}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--T", type=int, default=10)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--train-steps", type=int, default=20, help="warm-up training steps before timing (pipesdfa BPTT)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--weights", choices=("rate-init", "warm"), default="rate-init",
                    help="rate-init: initial weights scaled to fire at --rate (default); warm: after --train-steps "
                         "BPTT steps")
    ap.add_argument("--rate", type=float, default=0.1, help="--weights rate-init: hidden layers' target spike rate")
    ap.add_argument("--data", default=os.environ.get("PIPESDFA_SHARED_DATA", str(
        Path(__file__).resolve().parents[2] / "shared" / "data")), help="real data folder (default ../shared/data)")
    ap.add_argument("--only", nargs="+", metavar="IMPL", help="time only these implementations (labels as in the "
                    "table, e.g. pipesdfa/bptt/bf16 snntorch/bptt/fp32)")
    ap.add_argument("--out", help="result JSON")
    ap.add_argument("--table", nargs="+", metavar="JSON", help="print the Markdown table of result files and exit")
    args = ap.parse_args(argv)
    if args.table:
        print(peers_table([json.loads(Path(p).read_text()) for p in args.table]))
        return 0
    if not args.out:
        ap.error("--out FILE.json is required")
    res = {"command": "python benchmarks/peers.py " + " ".join(argv if argv is not None else sys.argv[1:]),
           "machine": machine_info()}
    res.update(run(args))
    atomic_write_json(args.out, res)
    print(peers_table([res]))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
