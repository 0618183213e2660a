"""Time and peak memory of one training step, every rule side by side, on one machine.

    python benchmarks/train_step.py [--only WORKLOAD[:T]] [--device cpu|cuda] --out FILE.json
    python benchmarks/train_step.py --table FILE.json [--doc DOC.md]  # Markdown table of a result file

Cases (the issue's): nmnist-mlp2 T=10 B=128, nmnist-mlp5 T=10 and T=100 B=128, braille-mlp
T=76 B=64, dvs-convnet and dvs-vgg11 T=30 B=8 -- on a CPU the two CNNs run at a reduced size
(``CPU_REDUCED``, written into the JSON).

Input (``--input``): ``real`` (the default, the headline table) = real frames of the case's
dataset from the data folder (``--data``, default ``$PIPESDFA_SHARED_DATA`` or
``../shared/data``; the embedded digits when the files are absent; see ``real_input.py``), on
weights after a short training warm-up (``--train-steps`` steps of fast BPTT with the
workload's optimiser on real training batches, the same weights for every variant, continued
up to three times as long until every block fires on the timed batch, else an error), so that
the timed step runs at the activity training sees; ``synthetic`` = Bernoulli spikes
(``--input-rate``), random labels, initial weights: a labelled stress case (the MLPs' hidden
layers are silent on it). Every row records the network input's density and the spike rate of
every block's output on the timed batch (``spike_rates``).

Variants per case (``VARIANTS``): ``bptt``, ``sdfa`` (``instantaneous`` and ``local``) and
``output`` with the fast neuron backend (``auto``: Triton on CUDA, fused on CPU) and the
SDFA fast path; the plain formulation (``impl="reference"``: the ``torch`` neuron backend,
a per-step autograd graph, SDFA through autograd inside each block -- our re-implementation
of the authors' formulation); and, when SpikingJelly is importable (an optional extra,
never a dependency; ``--no-spikingjelly`` skips it), the authors' published formulation
re-implemented by us on SpikingJelly neurons (``impl="spikingjelly"``: the same model and
rules, ``bptt`` and ``sdfa``/``local``, every block's neuron a SpikingJelly
``LIFNode``/``IFNode``, see :mod:`pipesdfa.snn.kernels.spikingjelly_ref`). The table's
"x ref" column is relative to the SpikingJelly SDFA row when there is one, else to the
plain-formulation SDFA row.

Timing, CPU (the default): every variant runs in its own process (this script re-run with
the hidden ``--step-server`` option) with the allocator a user of ``pipesdfa train`` gets:
``--malloc keep`` (the default; :mod:`pipesdfa.util.malloc`, freed memory stays mapped from step to
step), or ``--malloc default`` for glibc's own thresholds; the products floor is timed in the
parent process under the same setting. All are started and given ``max(1, --warmup)`` warm-up steps, then ``--repeats``
round-robin rounds ask each process in turn for one timed step, one process stepping at a
time (so that load on a shared machine hits all alike). A training run repeats one rule's
step, so each variant keeps its own allocator state: glibc's mmap/trim thresholds adapt to
what a process frees, and in one shared process one rule's large frees changed how many page
faults the next rule paid (the order of variants and cases moved the numbers). The row's
``ms_per_step`` is the median wall time, ``cpu_ms_per_step`` the median CPU time of the
variant's process, ``sys_ms_per_step``/``minflt_per_step`` its median kernel time and minor
page faults per step. ``--in-process`` (and CUDA, where PyTorch's caching allocator makes
the process's history matter little) runs all variants round-robin in this one process
instead, after ``--warmup`` steps each. A step = ``zero_grad`` + ``rule.compute_grads`` + Adam
step (the trainer's fused Adam).

Memory (``peak_mib``): peak bytes allocated during one step above the level just before it
(model, optimiser state and input excluded; the previous step's gradients are released
before that level is taken, so the new gradient buffers, the same for every rule, count). CUDA: ``torch.cuda.max_memory_allocated``, in
this process after the timing rounds. CPU: measured apart from the timing, one child
process per variant (this script re-run with the hidden ``--memory-child`` option): the
child fixes glibc's mmap threshold at 64 KiB (so that every tensor buffer is returned to the
system when freed, which would slow the timed steps down), builds the same model, rule and
input, runs ``max(1, --warmup)`` warm-up steps, empties the fused kernels' buffer cache
(:mod:`pipesdfa.snn.kernels.workspace`, whose blocks then count as the step's), then reads the
process's peak resident set over one step (``VmHWM``, reset through
``/proc/self/clear_refs``; Linux only, ``null`` elsewhere).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from typing import Any

import torch

from pipesdfa.snn.kernels import sparse, spikingjelly_ref, workspace
from pipesdfa.training.loop import make_loss
from pipesdfa.util.atomic import atomic_write_json
from pipesdfa.util.malloc import keep_freed_memory
from pipesdfa.zoo.workloads import get_workload

from bench.cases import (CASES, CPU_REDUCED, Variant, block_rates, case_input, make_job, select_variants,
                         variant_backend)
from bench.floors import gemm_floor, x_floor
from bench.machine import machine_info as _machine
from bench.probes import CpuPeak, _time_in_process, _time_isolated, cpu_peak_mib, memory_child, step_server
from bench.tables import table


def _bn_bytes(raw: str) -> int | str | None:
    """``--bn-one-pass-bytes``: a byte count, ``none`` or ``auto``."""
    if raw in ("auto", "none"):
        return None if raw == "none" else raw
    try:
        n = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a byte count, none or auto, got {raw!r}") from None
    if n < 0:
        raise argparse.ArgumentTypeError(f"expected a byte count >= 0, got {n}")
    return n


#: ``--malloc`` choices, as the timing settings describe them.
MALLOC_TEXT = {"keep": "freed memory stays mapped from step to step as in pipesdfa train (pipesdfa.util.malloc)",
               "default": "glibc's default thresholds, nothing changed"}


def run_case(workload: str, T: int, batch: int, device: torch.device, args, hw: int | None = None
             ) -> tuple[list[dict], dict[str, Any] | None]:
    """Every variant of one case: ``(rows, gemm_floor or None)``."""
    ci = case_input(workload, T, batch, device, args, hw)
    loss_fn = make_loss(get_workload(workload).loss)
    variants = select_variants(args)
    isolated = device.type == "cpu" and not args.in_process
    peaks: dict[str, float | None] = {}
    with tempfile.TemporaryDirectory() as tmp:
        state = None
        if ci.weights is not None and device.type == "cpu":  # the child processes start from the same
            state = os.path.join(tmp, "case.pt")
            torch.save({"x": ci.x, "y": ci.y, "weights": ci.weights}, state)
        if isolated:
            samples = _time_isolated(variants, workload, T, batch, hw, args, state)
        else:
            samples, peaks = _time_in_process(variants, workload, ci, loss_fn, device, args)
        if device.type == "cpu":  # one child process per variant, after the timing (nothing runs beside it)
            for v in variants:
                peaks[v.label] = cpu_peak_mib(v, workload, T, batch, hw, args, state)
    fl = gemm_floor(workload, ci, T, batch, device, args) if args.floor else None
    base_label = Variant("bptt", None, "fast").label
    rows = []
    job = make_job(Variant("bptt", None, "fast"), workload, ci.shape, device, args.seed, ci.weights)
    activity = block_rates(job.model, ci.x)
    del job

    def med(label: str, key: str, nd: int = 3) -> float | None:
        vals = samples[label].get(key)
        return round(statistics.median(vals), nd) if vals else None

    for v in variants:
        peak = peaks.get(v.label)
        paired = None
        if base_label in samples:  # per round (one step each): this variant's step / fast BPTT's
            ms, base_ms = samples[v.label]["ms"], samples[base_label]["ms"]
            paired = round(statistics.median(a / b for a, b in zip(ms, base_ms)), 4)
        rows.append({
            "workload": workload, "T": T, "batch": batch, "input_shape": list(ci.shape),
            "method": v.method, "temporal": v.temporal, "impl": v.impl, "store": v.store,
            "backend": variant_backend(v, device), "device": str(device),
            "timing": "isolated" if isolated else "in-process",
            "ms_per_step": statistics.median(samples[v.label]["ms"]),
            "ms_all": [round(t, 3) for t in samples[v.label]["ms"]],
            # CPU time of the process (all threads): robust to other jobs on a shared CPU
            "cpu_ms_per_step": med(v.label, "cpu_ms") if device.type == "cpu" else None,
            "sys_ms_per_step": med(v.label, "sys_ms"),  # isolated only: kernel time (page faults)
            "minflt_per_step": med(v.label, "minflt", 1),
            "x_bptt_paired": paired,
            "x_floor": x_floor(v, fl, samples[v.label], device),
            **ci.info,
            "spike_rates": activity,
            "peak_mib": None if peak is None else round(peak, 2),
        })
        print(f"{workload:12s} T={T:<3d} B={batch:<3d} {v.label:28s} {rows[-1]['ms_per_step']:10.2f} ms  "
              f"{rows[-1]['peak_mib']} MiB", flush=True)
    return rows, fl



def machine_info(device: torch.device) -> dict[str, Any]:
    """This benchmark's ``machine``: :func:`bench.machine.machine_info` with the CPU workspace limit
    of the fused kernels and SpikingJelly's availability."""
    sj = spikingjelly_ref.available()
    return _machine(device, cpu_workspace_mib=workspace.limit_bytes() / 2**20,  # pipesdfa.snn.kernels.workspace
                    spikingjelly=sj, spikingjelly_version=spikingjelly_ref.version() if sj else None)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", action="append",
                    help="run only this workload, or WORKLOAD:T for one case (repeatable)")
    ap.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    ap.add_argument("--out", help="result JSON file")
    ap.add_argument("--table", metavar="JSON", help="print the Markdown table of a result file and exit")
    ap.add_argument("--doc", metavar="MD", help="with --table: also write it into this doc between the "
                    "<!-- BLOCK:start/end --> markers (--block, default train-step-cpu)")
    ap.add_argument("--block", default="train-step-cpu", help="marker name for --doc")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: auto, pipesdfa.util.threads)")
    ap.add_argument("--input", choices=("real", "synthetic"), default="real",
                    help="real frames on warmed-up weights (default, the headline table) or synthetic Bernoulli "
                         "spikes on the initial weights (a stress case)")
    ap.add_argument("--data", default=os.environ.get("PIPESDFA_SHARED_DATA", os.path.join(
                    os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data")),
                    help="the real data folder for --input real (default $PIPESDFA_SHARED_DATA, else ../shared/data "
                         "next to the checkout; the embedded digits where files are absent)")
    ap.add_argument("--train-steps", type=int, default=20,
                    help="--input real: warm-up training steps before timing (continued up to 3x until every block "
                         "fires)")
    ap.add_argument("--input-rate", type=float, default=0.2, help="Bernoulli rate of the synthetic input spikes")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-reference", dest="reference", action="store_false",
                    help="skip the plain-formulation reference rows")
    ap.add_argument("--no-spikingjelly", dest="spikingjelly", action="store_false",
                    help="skip the SpikingJelly rows (run only when SpikingJelly is importable)")
    ap.add_argument("--full-size", action="store_true", help="CNN cases at the issue's size on CPU too")
    ap.add_argument("--no-floor", dest="floor", action="store_false",
                    help="skip timing the bare matrix products of the MLP cases (gemm_floor)")
    ap.add_argument("--in-process", action="store_true",
                    help="CPU: run every variant in this one process (the CUDA method) instead of one process "
                         "per variant")
    ap.add_argument("--malloc", choices=tuple(MALLOC_TEXT), default="keep",
                    help="CPU allocator of the timed processes: keep (freed memory stays mapped, what pipesdfa "
                         "train does: pipesdfa.util.malloc) or default (glibc's own thresholds); default keep")
    ap.add_argument("--bn-one-pass-bytes", type=_bn_bytes, default="auto", metavar="N|none|auto",
                    help="SDFA's batch-normalised conv blocks take two passes when their pre-activation "
                         "exceeds N bytes (0: always; none: never; auto: the module's default, "
                         "pipesdfa.learning.local.conv.BN_ONE_PASS_BYTES)")
    ap.add_argument("--memory-child", metavar="JSON", help=argparse.SUPPRESS)
    ap.add_argument("--step-server", metavar="JSON", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.step_server:  # internal: see _time_isolated
        step_server(json.loads(args.step_server))
        return 0
    if args.memory_child:  # internal: see cpu_peak_mib
        print(json.dumps(memory_child(json.loads(args.memory_child))), flush=True)
        return 0
    if args.table:
        with open(args.table) as f:
            text = table(json.load(f))
        print(text)
        if args.doc:
            from bench.report import replace_block

            replace_block(args.doc, args.block, text)
        return 0
    if not args.out:
        ap.error("--out FILE.json is required")
    from pipesdfa.util.threads import apply_threads

    apply_threads(args.threads or "auto")  # the project's policy unless --threads N (pipesdfa.util.threads)
    device = torch.device(args.device)
    if args.malloc == "keep":  # the products floor, timed here, under the step processes' setting
        keep_freed_memory(force=True)
    if args.bn_one_pass_bytes != "auto":  # CUDA runs in this process (CPU: in the children too)
        from pipesdfa.learning.local import conv as conv_local

        conv_local.BN_ONE_PASS_BYTES.update(cpu=args.bn_one_pass_bytes, cuda=args.bn_one_pass_bytes)
    sj_wanted = args.spikingjelly
    args.spikingjelly = sj_wanted and spikingjelly_ref.available()
    cases = [c for c in CASES if not args.only or c[0] in args.only or f"{c[0]}:{c[1]}" in args.only]
    if not cases:
        ap.error(f"--only matches no case; cases: {', '.join(sorted({c[0] for c in CASES}))}")
    reduced: dict[str, Any] = {}
    rows: list[dict] = []
    floors: list[dict] = []
    t_start = time.time()
    if device.type == "cpu" and not args.in_process:
        timing_text = (f"one process per variant (train_step.py --step-server; allocator: --malloc {args.malloc}, "
                       f"{MALLOC_TEXT[args.malloc]}), all started and given {max(1, args.warmup)} warm-up step(s) first, then "
                       f"{args.repeats} round-robin rounds of one step per variant, one process stepping at a time; "
                       "ms_per_step = median wall time (perf_counter), cpu_ms_per_step = median CPU time of the "
                       "variant's process, sys_ms_per_step / minflt_per_step = its median kernel time / minor "
                       "page faults per step")
    else:
        timing_text = (f"in this process, allocator untouched (glibc defaults); {args.warmup} warm-up step(s) of "
                       f"every variant, then {args.repeats} round-robin rounds of one step per variant; ms_per_step = "
                       "median wall time (perf_counter), cpu_ms_per_step = median process CPU time")
    if device.type == "cuda":
        memory_text = ("in this process after the timing rounds: torch.cuda.max_memory_allocated over one step "
                       "minus torch.cuda.memory_allocated before it (gradients released before)")
    else:
        memory_text = (f"one child process per variant (train_step.py --memory-child), apart from the timing: glibc "
                       f"M_MMAP_THRESHOLD = M_TRIM_THRESHOLD = {CpuPeak.MMAP_THRESHOLD // 1024} KiB set at its "
                       f"start, same model/rule/input/seed, {max(1, args.warmup)} warm-up step(s), then VmHWM "
                       "(reset via /proc/self/clear_refs) minus VmRSS before one step, gradients released before it (Linux; "
                       "null elsewhere)")
    if args.spikingjelly:
        reference_text = (f"x ref = ratio to the SpikingJelly {spikingjelly_ref.version()} SDFA-local row "
                          "(impl=spikingjelly: the authors' published formulation re-implemented by us on "
                          "SpikingJelly LIFNode/IFNode neurons, step_mode='m'; bptt and sdfa/local); impl=reference "
                          "rows: the same formulation on our plain-torch neurons")
    else:
        why = "--no-spikingjelly" if not sj_wanted else "spikingjelly not importable"
        reference_text = (f"{why}: x ref = ratio to our plain-torch re-implementation of the authors' "
                          "formulation (impl=reference, sdfa/local)" if args.reference
                          else f"{why}, --no-reference: no reference rows")

    def result() -> dict[str, Any]:
        return {
            "command": "python benchmarks/train_step.py " + " ".join(argv if argv is not None else sys.argv[1:]),
            "machine": machine_info(device),
            "settings": {"warmup": args.warmup, "repeats": args.repeats, "input": args.input, "malloc": args.malloc,
                         "bn_one_pass_bytes": args.bn_one_pass_bytes,
                         "input_rate": args.input_rate if args.input == "synthetic" else None,
                         "train_steps": args.train_steps if args.input == "real" else None,
                         "input_text": ("real frames of the case's dataset (input_source per row) on weights after "
                                        "a warm-up of fast-BPTT training (warmup_steps per row), the same weights "
                                        "for every variant" if args.input == "real" else
                                        "synthetic Bernoulli spikes on the initial weights: a stress case, not "
                                        "the activity of training"),
                         "sparse_crossover": {f"{k[0]}/{k[1]}": v for k, v in sparse.CROSSOVER.items()},
                         "seed": args.seed, "reduced": reduced,
                         "step": "zero_grad + rule.compute_grads + Adam step",
                         "timing": timing_text,
                         "x_bptt_paired": "median over the rounds of (this variant's step / the fast BPTT "
                                          "step of the same round): drift of the machine's speed cancels",
                         "spike_rates": "mean output spike rate of every block on the timed batch with "
                                        "the case's starting weights (train mode)",
                         "x_floor": "the step over the variant's products floor (gemm_floor: BPTT forward + "
                                    "dW float32 + dX; SDFA instantaneous forward + dW in its store's precision); "
                                    "CPU: median CPU time over the floor's CPU time, CUDA: wall times",
                         "gemm_floor": "the MLP cases' bare matrix products timed side by side "
                                       "(see gemm_floor in the script)",
                         "peak_mib": "peak allocated during one step above the level before it",
                         "memory": memory_text,
                         "reference_column": reference_text},
            "rows": rows,
            "gemm_floor": floors,
            "wall_seconds": round(time.time() - t_start, 1),
        }

    for workload, T, batch in cases:
        hw = None
        if device.type == "cpu" and not args.full_size and workload in CPU_REDUCED:
            red = CPU_REDUCED[workload]
            T, batch, hw = red["T"], red["batch"], red.get("hw")
            reduced[workload] = red
        case_rows, fl = run_case(workload, T, batch, device, args, hw)
        rows += case_rows
        if fl is not None:
            floors.append(fl)
        atomic_write_json(args.out, result())  # partial results survive an interrupted run
    print(table(result()))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
