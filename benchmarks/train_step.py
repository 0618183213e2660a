"""Time and peak memory of one training step, every rule side by side, on one machine.

    python benchmarks/train_step.py [--only WORKLOAD[:T]] [--device cpu|cuda] --out FILE.json
    python benchmarks/train_step.py --table FILE.json      # Markdown table of a result file

Cases (the issue's): nmnist-mlp2 T=10 B=128, nmnist-mlp5 T=10 and T=100 B=128, dvs-convnet
and dvs-vgg11 T=30 B=8 -- on a CPU the two CNNs run at a reduced size (``CPU_REDUCED``,
written into the JSON). Input: synthetic Bernoulli spikes (``--input-rate``), random labels.

Variants per case (``VARIANTS``): ``bptt``, ``sdfa`` (``instantaneous`` and ``local``) and
``output`` with the fast neuron backend (``auto``: Triton on CUDA, fused on CPU) and the
SDFA fast path; plus the plain formulation as a reference (``impl="reference"``: the
``torch`` neuron backend, a per-step autograd graph, SDFA through autograd inside each
block -- our re-implementation of the authors' formulation without SpikingJelly).

Timing: ``--warmup`` steps, then ``--repeats`` rounds; each round times one step of every
variant in turn (round-robin, so that load on a shared machine hits all alike); the row's
``ms_per_step`` is the median wall time, ``cpu_ms_per_step`` (CPU only) the median CPU time
of the process, which other jobs on a shared machine disturb much less. A step = ``zero_grad`` + ``rule.compute_grads`` + Adam step.

Memory (``peak_mib``): peak bytes allocated during one step above the level just before it
(model, optimiser state and input excluded). CUDA: ``torch.cuda.max_memory_allocated``.
CPU: the process's peak resident set (``VmHWM``, reset through ``/proc/self/clear_refs``)
with glibc's mmap threshold fixed at 64 KiB so that every tensor buffer is returned to the
system when freed (Linux only; ``null`` elsewhere).
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from typing import Any

import torch

from pipesdfa.atomic import atomic_write_json
from pipesdfa.kernels import resolve_backend
from pipesdfa.learning import make_rule
from pipesdfa.models import build_model
from pipesdfa.neurons import NeuronParams
from pipesdfa.train import make_loss, scale_init
from pipesdfa.workloads import DATASET_SHAPES, get_workload

#: (workload, T, batch) as in the issue.
CASES: list[tuple[str, int, int]] = [
    ("nmnist-mlp2", 10, 128),
    ("nmnist-mlp5", 10, 128),
    ("nmnist-mlp5", 100, 128),
    ("dvs-convnet", 30, 8),
    ("dvs-vgg11", 30, 8),
]

#: CPU sizes of the CNN cases (a full dvs-vgg11 step at T=30, B=8 is minutes on 2 cores).
CPU_REDUCED: dict[str, dict[str, Any]] = {
    "dvs-convnet": {"T": 8, "batch": 2, "hw": 128},
    "dvs-vgg11": {"T": 4, "batch": 1, "hw": 64},
}


@dataclass(frozen=True)
class Variant:
    method: str
    temporal: str | None
    impl: str  # "fast" or "reference"
    store: str | None = None  # sdfa fast path: "float" (exact) or "half"

    @property
    def label(self) -> str:
        t = f"-{self.temporal}" if self.temporal else ""
        st = f"-{self.store}" if self.store else ""
        return f"{self.method}{t}/{self.impl}{st}"


VARIANTS: list[Variant] = [
    Variant("bptt", None, "fast"),
    Variant("sdfa", "instantaneous", "fast", "float"),
    Variant("sdfa", "instantaneous", "fast", "half"),
    Variant("sdfa", "local", "fast", "float"),
    Variant("sdfa", "local", "fast", "half"),
    Variant("output", None, "fast"),
    Variant("bptt", None, "reference"),
    Variant("sdfa", "local", "reference"),
]


# ------------------------------------------------------------------------------ memory

class CpuPeak:
    """Peak resident memory of a code region (Linux), see the module docstring."""

    def __init__(self) -> None:
        self.ok = sys.platform.startswith("linux") and os.path.exists("/proc/self/clear_refs")
        if self.ok:
            try:
                libc = ctypes.CDLL("libc.so.6")
                libc.mallopt(-3, 64 * 1024)  # M_MMAP_THRESHOLD: fixed, no dynamic growth
                libc.mallopt(-1, 64 * 1024)  # M_TRIM_THRESHOLD
            except OSError:
                self.ok = False

    @staticmethod
    def _kib(key: str) -> int:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key):
                    return int(line.split()[1])
        raise RuntimeError(f"{key} not in /proc/self/status")

    def start(self) -> None:
        gc.collect()
        self.base = self._kib("VmRSS:")
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # reset VmHWM to the current RSS

    def peak_mib(self) -> float:
        return (self._kib("VmHWM:") - self.base) / 1024


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# ------------------------------------------------------------------------------- setup

@dataclass
class Job:
    variant: Variant
    model: torch.nn.Module
    rule: Any
    opt: torch.optim.Optimizer


def make_job(v: Variant, workload: str, input_shape: tuple[int, ...], device: torch.device, seed: int) -> Job:
    w = get_workload(workload)
    spec = w.model_spec(input_shape)
    neuron = NeuronParams(kind=w.neuron, tau=w.tau)
    torch.manual_seed(seed)
    model = build_model(spec, neuron, backend="auto" if v.impl == "fast" else "torch")
    scale_init(model, w.init_gain)
    model.to(device).train()
    opts: dict[str, Any] = {}
    if v.method == "sdfa":
        opts = {"temporal": v.temporal, "fast": v.impl == "fast"}
        if v.store:
            opts["store"] = v.store
    rule = make_rule(v.method, model, **opts).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=w.lr)
    return Job(v, model, rule, opt)


def step(job: Job, x: torch.Tensor, y: torch.Tensor, loss_fn) -> None:
    job.opt.zero_grad(set_to_none=True)
    job.rule.compute_grads(x, y, loss_fn)
    job.opt.step()


def run_case(workload: str, T: int, batch: int, device: torch.device, args, cpu_peak: "CpuPeak | None",
             hw: int | None = None) -> list[dict]:
    w = get_workload(workload)
    shape, _ = DATASET_SHAPES[w.dataset]
    if hw is not None and len(shape) == 3:
        shape = (shape[0], hw, hw)
    gen = torch.Generator().manual_seed(args.seed)
    x = (torch.rand((T, batch, *shape), generator=gen) < args.input_rate).float().to(device)
    y = torch.randint(0, DATASET_SHAPES[w.dataset][1], (batch,), generator=gen).to(device)
    loss_fn = make_loss(w.loss)
    variants = [v for v in VARIANTS if args.reference or v.impl == "fast"]
    jobs = [make_job(v, workload, shape, device, args.seed) for v in variants]
    times: dict[str, list[float]] = {j.variant.label: [] for j in jobs}
    cpu_times: dict[str, list[float]] = {j.variant.label: [] for j in jobs}
    for _ in range(args.warmup):
        for j in jobs:
            step(j, x, y, loss_fn)
    for _ in range(args.repeats):
        for j in jobs:
            _sync(device)
            t0, c0 = time.perf_counter(), time.process_time()
            step(j, x, y, loss_fn)
            _sync(device)
            times[j.variant.label].append(1e3 * (time.perf_counter() - t0))
            cpu_times[j.variant.label].append(1e3 * (time.process_time() - c0))
    rows = []
    for j in jobs:
        peak: float | None
        if device.type == "cuda":
            gc.collect()
            torch.cuda.synchronize(device)
            base = torch.cuda.memory_allocated(device)
            torch.cuda.reset_peak_memory_stats(device)
            step(j, x, y, loss_fn)
            torch.cuda.synchronize(device)
            peak = (torch.cuda.max_memory_allocated(device) - base) / 2**20
        elif cpu_peak is not None and cpu_peak.ok:
            cpu_peak.start()
            step(j, x, y, loss_fn)
            peak = cpu_peak.peak_mib()
        else:
            peak = None
        v = j.variant
        rows.append({
            "workload": workload, "T": T, "batch": batch, "input_shape": list(shape),
            "method": v.method, "temporal": v.temporal, "impl": v.impl, "store": v.store,
            "backend": resolve_backend(j.model.blocks[0].neuron.backend, device), "device": str(device),
            "ms_per_step": statistics.median(times[v.label]), "ms_all": [round(t, 3) for t in times[v.label]],
            # CPU time of this process (all threads): robust to other jobs on a shared CPU
            "cpu_ms_per_step": round(statistics.median(cpu_times[v.label]), 3) if device.type == "cpu" else None,
            "peak_mib": None if peak is None else round(peak, 2),
        })
        print(f"{workload:12s} T={T:<3d} B={batch:<3d} {v.label:28s} {rows[-1]['ms_per_step']:10.2f} ms  "
              f"{rows[-1]['peak_mib']} MiB", flush=True)
    del jobs
    gc.collect()
    return rows


# ------------------------------------------------------------------------------- table

def _key(r: dict) -> tuple:
    return (r["workload"], r["T"], r["batch"])


def table(result: dict) -> str:
    """Markdown: one line per case and variant, with ratios to the case's fast BPTT row and
    to its reference SDFA row (``sdfa``/``local``/``reference``: the authors' formulation)."""
    rows = result["rows"]
    dev = result["machine"].get("device_name") or result["machine"].get("processor") or "?"
    out = [f"Device: {dev}; torch threads: {result['machine'].get('threads')}; "
           f"command: `{result['command']}`", "",
           "| workload | T | B | method | temporal | impl | store | backend | ms/step | x BPTT | x ref "
           "| CPU-time ms | x BPTT | peak MiB | x BPTT | x ref |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    base = {_key(r): r for r in rows if r["method"] == "bptt" and r["impl"] == "fast"}
    ref = {_key(r): r for r in rows if r["method"] == "sdfa" and r["impl"] == "reference"}

    def ratio(r: dict, b: dict | None, field: str) -> str:
        if not b or r.get(field) is None or not b.get(field):
            return ""
        return f"{r[field] / b[field]:.2f}"

    for r in rows:
        b, f = base.get(_key(r)), ref.get(_key(r))
        out.append(f"| {r['workload']} | {r['T']} | {r['batch']} | {r['method']} | {r['temporal'] or ''} | "
                   f"{r['impl']} | {r.get('store') or ''} | {r['backend']} | {r['ms_per_step']:.1f} | "
                   f"{ratio(r, b, 'ms_per_step')} | {ratio(r, f, 'ms_per_step')} | "
                   f"{r.get('cpu_ms_per_step') or ''} | {ratio(r, b, 'cpu_ms_per_step')} | {r['peak_mib']} | "
                   f"{ratio(r, b, 'peak_mib')} | {ratio(r, f, 'peak_mib')} |")
    return "\n".join(out)


def machine_info(device: torch.device) -> dict[str, Any]:
    info: dict[str, Any] = {"platform": platform.platform(), "python": platform.python_version(),
                            "torch": torch.__version__, "threads": torch.get_num_threads(),
                            "cpu_count": os.cpu_count(), "processor": platform.processor()}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["processor"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    if device.type == "cuda":
        info["device_name"] = torch.cuda.get_device_name(device)
        info["cuda"] = torch.version.cuda
        try:
            import triton

            info["triton"] = triton.__version__
        except ImportError:
            info["triton"] = None
    try:
        import spikingjelly  # noqa: F401

        info["spikingjelly"] = True
    except ImportError:
        info["spikingjelly"] = False
    return info


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", action="append",
                    help="run only this workload, or WORKLOAD:T for one case (repeatable)")
    ap.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    ap.add_argument("--out", help="result JSON file")
    ap.add_argument("--table", metavar="JSON", help="print the Markdown table of a result file and exit")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    ap.add_argument("--input-rate", type=float, default=0.2, help="Bernoulli rate of the synthetic input spikes")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-reference", dest="reference", action="store_false",
                    help="skip the plain-formulation reference rows")
    ap.add_argument("--full-size", action="store_true", help="CNN cases at the issue's size on CPU too")
    args = ap.parse_args(argv)
    if args.table:
        with open(args.table) as f:
            print(table(json.load(f)))
        return 0
    if not args.out:
        ap.error("--out FILE.json is required")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    cpu_peak = CpuPeak() if device.type == "cpu" else None  # fixes malloc's behaviour before any step
    cases = [c for c in CASES if not args.only or c[0] in args.only or f"{c[0]}:{c[1]}" in args.only]
    if not cases:
        ap.error(f"--only matches no case; cases: {', '.join(sorted({c[0] for c in CASES}))}")
    reduced: dict[str, Any] = {}
    rows: list[dict] = []
    t_start = time.time()

    def result() -> dict[str, Any]:
        return {
            "command": "python benchmarks/train_step.py " + " ".join(argv if argv is not None else sys.argv[1:]),
            "machine": machine_info(device),
            "settings": {"warmup": args.warmup, "repeats": args.repeats, "input_rate": args.input_rate,
                         "seed": args.seed, "reduced": reduced,
                         "step": "zero_grad + rule.compute_grads + Adam step",
                         "peak_mib": "peak allocated during one step above the level before it",
                         "reference_column": "spikingjelly not importable: reference rows are our plain-torch "
                                             "formulation (impl=reference)"},
            "rows": rows,
            "wall_seconds": round(time.time() - t_start, 1),
        }

    for workload, T, batch in cases:
        hw = None
        if device.type == "cpu" and not args.full_size and workload in CPU_REDUCED:
            red = CPU_REDUCED[workload]
            T, batch, hw = red["T"], red["batch"], red.get("hw")
            reduced[workload] = red
        rows += run_case(workload, T, batch, device, args, cpu_peak, hw)
        atomic_write_json(args.out, result())  # partial results survive an interrupted run
    print(table(result()))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
