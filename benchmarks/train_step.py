"""Time and peak memory of one training step, every rule side by side, on one machine.

    python benchmarks/train_step.py [--only WORKLOAD[:T]] [--device cpu|cuda] --out FILE.json
    python benchmarks/train_step.py --table FILE.json [--doc DOC.md]  # Markdown table of a result file

Cases (the issue's): nmnist-mlp2 T=10 B=128, nmnist-mlp5 T=10 and T=100 B=128, dvs-convnet
and dvs-vgg11 T=30 B=8 -- on a CPU the two CNNs run at a reduced size (``CPU_REDUCED``,
written into the JSON). Input: synthetic Bernoulli spikes (``--input-rate``), random labels.

Variants per case (``VARIANTS``): ``bptt``, ``sdfa`` (``instantaneous`` and ``local``) and
``output`` with the fast neuron backend (``auto``: Triton on CUDA, fused on CPU) and the
SDFA fast path; the plain formulation (``impl="reference"``: the ``torch`` neuron backend,
a per-step autograd graph, SDFA through autograd inside each block -- our re-implementation
of the authors' formulation); and, when SpikingJelly is importable (an optional extra,
never a dependency; ``--no-spikingjelly`` skips it), the authors' published formulation
re-implemented by us on SpikingJelly neurons (``impl="spikingjelly"``: the same model and
rules, ``bptt`` and ``sdfa``/``local``, every block's neuron a SpikingJelly
``LIFNode``/``IFNode``, see :mod:`pipesdfa.kernels.spikingjelly_ref`). The table's
"x ref" column is relative to the SpikingJelly SDFA row when there is one, else to the
plain-formulation SDFA row.

Timing, CPU (the default): every variant runs in its own process (this script re-run with
the hidden ``--step-server`` option; the allocator a user gets, glibc's defaults, nothing
changed). All are started and given ``max(1, --warmup)`` warm-up steps, then ``--repeats``
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
(:mod:`pipesdfa.kernels.workspace`, whose blocks then count as the step's), then reads the
process's peak resident set over one step (``VmHWM``, reset through
``/proc/self/clear_refs``; Linux only, ``null`` elsewhere).
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Any

import torch

from pipesdfa.atomic import atomic_write_json
from pipesdfa.kernels import resolve_backend
from pipesdfa.kernels import spikingjelly_ref, workspace
from pipesdfa.learning import make_rule
from pipesdfa.models import build_model
from pipesdfa.neurons import NeuronParams
from pipesdfa.train import make_loss, make_optimizer, scale_init
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
    impl: str  # "fast", "reference" or "spikingjelly"
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
    Variant("bptt", None, "spikingjelly"),
    Variant("sdfa", "local", "spikingjelly"),
]

#: the fields of a Variant, for the memory child's command line.
_VARIANT_FIELDS = ("method", "temporal", "impl", "store")


# ------------------------------------------------------------------------------ memory

class CpuPeak:
    """Peak resident memory of a code region (Linux), see the module docstring.

    Changes glibc's malloc for the whole process: build it only in a memory child.
    """

    MMAP_THRESHOLD = 64 * 1024

    def __init__(self) -> None:
        self.ok = sys.platform.startswith("linux") and os.path.exists("/proc/self/clear_refs")
        if self.ok:
            try:
                libc = ctypes.CDLL("libc.so.6")
                libc.mallopt(-3, self.MMAP_THRESHOLD)  # M_MMAP_THRESHOLD: fixed, no dynamic growth
                libc.mallopt(-1, self.MMAP_THRESHOLD)  # M_TRIM_THRESHOLD
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
    model = build_model(spec, neuron, backend=_requested_backend(v))
    scale_init(model, w.init_gain)
    if v.impl == "spikingjelly":
        spikingjelly_ref.use_spikingjelly(model)
    model.to(device).train()
    opts: dict[str, Any] = {}
    if v.method == "sdfa":
        opts = {"temporal": v.temporal, "fast": v.impl == "fast"}
        if v.store:
            opts["store"] = v.store
    rule = make_rule(v.method, model, **opts).to(device)
    opt = make_optimizer("adam", model.parameters(), w.lr)  # the trainer's optimiser
    return Job(v, model, rule, opt)


def step(job: Job, x: torch.Tensor, y: torch.Tensor, loss_fn) -> None:
    job.opt.zero_grad(set_to_none=True)
    job.rule.compute_grads(x, y, loss_fn)
    job.opt.step()


def make_inputs(workload: str, T: int, batch: int, device: torch.device, seed: int, input_rate: float,
                hw: int | None = None) -> tuple[tuple[int, ...], torch.Tensor, torch.Tensor]:
    """``(input_shape, x [T, B, ...], labels [B])``: synthetic Bernoulli spikes, random labels."""
    w = get_workload(workload)
    shape, classes = DATASET_SHAPES[w.dataset]
    if hw is not None and len(shape) == 3:
        shape = (shape[0], hw, hw)
    gen = torch.Generator().manual_seed(seed)
    x = (torch.rand((T, batch, *shape), generator=gen) < input_rate).float().to(device)
    y = torch.randint(0, classes, (batch,), generator=gen).to(device)
    return tuple(shape), x, y


def select_variants(args) -> list[Variant]:
    return [v for v in VARIANTS
            if v.impl == "fast" or (v.impl == "reference" and args.reference)
            or (v.impl == "spikingjelly" and args.spikingjelly)]


def cuda_peak_mib(job: Job, x: torch.Tensor, y: torch.Tensor, loss_fn, device: torch.device) -> float:
    job.opt.zero_grad(set_to_none=True)  # the step's new gradients count, for every rule alike
    gc.collect()
    torch.cuda.synchronize(device)
    base = torch.cuda.memory_allocated(device)
    torch.cuda.reset_peak_memory_stats(device)
    step(job, x, y, loss_fn)
    torch.cuda.synchronize(device)
    return (torch.cuda.max_memory_allocated(device) - base) / 2**20


def _child_job(spec: dict[str, Any]) -> tuple[Job, torch.Tensor, torch.Tensor, Any]:
    """A child process's variant (CPU): ``(job, x, y, loss_fn)`` after ``max(1, warmup)`` steps."""
    if spec.get("threads"):
        torch.set_num_threads(spec["threads"])
    device = torch.device("cpu")
    v = Variant(**spec["variant"])
    shape, x, y = make_inputs(spec["workload"], spec["T"], spec["batch"], device, spec["seed"],
                              spec["input_rate"], spec.get("hw"))
    job = make_job(v, spec["workload"], shape, device, spec["seed"])
    loss_fn = make_loss(get_workload(spec["workload"]).loss)
    for _ in range(max(1, spec["warmup"])):
        step(job, x, y, loss_fn)
    return job, x, y, loss_fn


def memory_child(spec: dict[str, Any]) -> dict[str, Any]:
    """Body of ``--memory-child``: peak RSS of one step of one variant (CPU), in a fresh process."""
    cpu_peak = CpuPeak()  # fixes malloc's behaviour before any tensor of the job exists
    job, x, y, loss_fn = _child_job(spec)
    if not cpu_peak.ok:
        return {"peak_mib": None}
    job.opt.zero_grad(set_to_none=True)  # the step's new gradients count, for every rule alike
    workspace.empty_cache()  # blocks the fused kernels keep from step to step count as the step's
    cpu_peak.start()
    step(job, x, y, loss_fn)
    return {"peak_mib": cpu_peak.peak_mib()}


def step_server(spec: dict[str, Any]) -> None:
    """Body of ``--step-server``: one variant in its own process (CPU). After its warm-up it
    prints ``{"ready": true}``, then for every ``step`` line on stdin runs one step and prints
    its wall and CPU time, system time and minor page faults (JSON); any other line ends it."""
    import resource

    job, x, y, loss_fn = _child_job(spec)
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        if line.strip() != "step":
            break
        r0, c0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.process_time(), time.perf_counter()
        step(job, x, y, loss_fn)
        t1, c1, r1 = time.perf_counter(), time.process_time(), resource.getrusage(resource.RUSAGE_SELF)
        print(json.dumps({"ms": 1e3 * (t1 - t0), "cpu_ms": 1e3 * (c1 - c0),
                          "sys_ms": 1e3 * (r1.ru_stime - r0.ru_stime),
                          "minflt": float(r1.ru_minflt - r0.ru_minflt)}), flush=True)


def cpu_peak_mib(v: Variant, workload: str, T: int, batch: int, hw: int | None, args) -> float | None:
    """Run :func:`memory_child` for ``v`` in a child process (see the module docstring)."""
    if not (sys.platform.startswith("linux") and os.path.exists("/proc/self/clear_refs")):
        return None
    return _run_child("--memory-child", _child_spec(v, workload, T, batch, hw, args),
                      f"{workload} T={T} {v.label}")["peak_mib"]


def _child_spec(v: Variant, workload: str, T: int, batch: int, hw: int | None, args) -> dict[str, Any]:
    return {"workload": workload, "T": T, "batch": batch, "hw": hw, "seed": args.seed,
            "input_rate": args.input_rate, "threads": args.threads, "warmup": args.warmup,
            "variant": {f: getattr(v, f) for f in _VARIANT_FIELDS}}


def _run_child(option: str, spec: dict[str, Any], what: str) -> dict[str, Any]:
    cmd = [sys.executable, os.path.abspath(__file__), option, json.dumps(spec)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{option} child for {what} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def spike_rates(workload: str, shape: tuple[int, ...], x: torch.Tensor, device: torch.device, seed: int) -> list[float]:
    """Mean spike rate of every block's output on the benchmark input, at the initial weights
    (the same for every variant). Dense products cost the same at any rate; an event-driven
    product would not, so the JSON says how active the synthetic network is."""
    job = make_job(Variant("bptt", None, "fast"), workload, shape, device, seed)
    with torch.no_grad():
        outs = job.model.forward_all(x)
    return [round(float(o.float().mean()), 5) for o in outs]


def gemm_floor(workload: str, shape: tuple[int, ...], T: int, batch: int, device: torch.device,
               args) -> dict[str, Any] | None:
    """The bare matrix products of one step of a dense model, timed side by side: forward
    ``X W^T + b`` (float32), weight gradient ``G^T X`` (float32 and bfloat16 operands) and input
    gradient ``G W`` (float32; not for the first block), over all blocks on ``T*B`` rows.

    ``sdfa_half``/``sdfa_float`` = (forward + weight gradient) / (forward + weight gradient
    float32 + input gradient): the step-time ratio SDFA (instantaneous) could reach against
    BPTT if nothing but these products cost time (feedback projections, ``10 x n`` per block,
    left out). ``None`` for models with conv blocks.
    """
    job = make_job(Variant("bptt", None, "fast"), workload, shape, device, args.seed)
    if any(b.kind != "dense" for b in job.model.blocks):
        return None
    gen = torch.Generator().manual_seed(args.seed)
    rows = T * batch
    mats = []
    for i, blk in enumerate(job.model.blocks):
        w, b = blk.weight_op.weight.detach(), blk.weight_op.bias
        xi = (torch.rand((rows, w.shape[1]), generator=gen) < args.input_rate).float().to(device)
        g = (torch.randn((rows, w.shape[0]), generator=gen) * 1e-3).to(device)
        mats.append((i, w, None if b is None else b.detach(), xi, g, xi.bfloat16(), g.t().bfloat16()))
    kinds = {
        "forward": lambda: [torch.nn.functional.linear(xi, w, b) for _, w, b, xi, *_ in mats],
        "dw_float": lambda: [g.t() @ xi for _, _, _, xi, g, _, _ in mats],
        "dw_bf16": lambda: [gt16 @ x16 for *_, x16, gt16 in mats],
        "dx_float": lambda: [g @ w for i, w, _, _, g, _, _ in mats if i > 0],
    }
    times: dict[str, list[float]] = {k: [] for k in kinds}
    with torch.no_grad():
        for r in range(args.warmup + args.repeats):
            for k, f in kinds.items():
                _sync(device)
                t0 = time.perf_counter()
                f()
                _sync(device)
                if r >= args.warmup:
                    times[k].append(1e3 * (time.perf_counter() - t0))
    ms = {k: round(statistics.median(v), 3) for k, v in times.items()}
    bptt = ms["forward"] + ms["dw_float"] + ms["dx_float"]
    out = {"workload": workload, "T": T, "batch": batch, "ms": ms,
           "sdfa_half": round((ms["forward"] + ms["dw_bf16"]) / bptt, 4),
           "sdfa_float": round((ms["forward"] + ms["dw_float"]) / bptt, 4)}
    print(f"{workload:12s} T={T:<3d} B={batch:<3d} products only: {ms}  SDFA/BPTT floor "
          f"{out['sdfa_half']:.3f} (bf16 dW) / {out['sdfa_float']:.3f} (float32 dW)", flush=True)
    return out


def _time_in_process(variants: list[Variant], workload: str, shape, x, y, loss_fn, device: torch.device,
                     args) -> tuple[dict[str, dict[str, list[float]]], dict[str, float | None]]:
    """All variants in this process, round-robin, one step each per round: ``(samples, CUDA peaks)``."""
    jobs = [make_job(v, workload, shape, device, args.seed) for v in variants]
    samples: dict[str, dict[str, list[float]]] = {j.variant.label: {"ms": [], "cpu_ms": []} for j in jobs}
    for _ in range(args.warmup):
        for j in jobs:
            step(j, x, y, loss_fn)
    for _ in range(args.repeats):
        for j in jobs:
            _sync(device)
            t0, c0 = time.perf_counter(), time.process_time()
            step(j, x, y, loss_fn)
            _sync(device)
            samples[j.variant.label]["ms"].append(1e3 * (time.perf_counter() - t0))
            samples[j.variant.label]["cpu_ms"].append(1e3 * (time.process_time() - c0))
    peaks: dict[str, float | None] = {}
    if device.type == "cuda":
        for j in jobs:
            peaks[j.variant.label] = cuda_peak_mib(j, x, y, loss_fn, device)
    del jobs
    gc.collect()
    return samples, peaks


def _read_json(proc: subprocess.Popen, what: str, errfile) -> dict[str, Any]:
    """The next JSON line a step server prints (other lines are skipped)."""
    assert proc.stdout is not None
    for line in proc.stdout:
        line = line.strip()
        if line.startswith("{"):
            return json.loads(line)
    errfile.seek(0)
    raise RuntimeError(f"step server for {what} ended (exit {proc.wait()}):\n{errfile.read()[-3000:]}")


def _time_isolated(variants: list[Variant], workload: str, T: int, batch: int, hw: int | None,
                   args) -> dict[str, dict[str, list[float]]]:
    """Each variant in its own process (``--step-server``, started and warmed up together),
    timed one step at a time round-robin, one step each per round: the samples."""
    samples: dict[str, dict[str, list[float]]] = {v.label: {"ms": [], "cpu_ms": [], "sys_ms": [], "minflt": []}
                                                  for v in variants}
    servers: list[tuple[Variant, subprocess.Popen, Any]] = []
    try:
        for v in variants:
            err = tempfile.TemporaryFile(mode="w+")
            spec = json.dumps(_child_spec(v, workload, T, batch, hw, args))
            proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--step-server", spec],
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, text=True)
            servers.append((v, proc, err))
        for v, proc, err in servers:
            _read_json(proc, f"{workload} T={T} {v.label}", err)  # ready: built and warmed up
        for _ in range(args.repeats):
            for v, proc, err in servers:
                assert proc.stdin is not None
                proc.stdin.write("step\n")
                proc.stdin.flush()
                out = _read_json(proc, f"{workload} T={T} {v.label}", err)
                for k in samples[v.label]:
                    samples[v.label][k].append(out[k])
    finally:
        for v, proc, err in servers:
            try:
                if proc.stdin is not None:
                    proc.stdin.close()  # end of input: the server returns
                proc.wait(timeout=120)
            except Exception:  # noqa: BLE001 -- a hung server must not keep the benchmark alive
                proc.kill()
            err.close()
    return samples


def _requested_backend(v: Variant) -> str:
    """The neuron backend :func:`make_job` builds a variant's model with (SpikingJelly rows then
    swap the neurons)."""
    return "auto" if v.impl == "fast" else "torch"


def variant_backend(v: Variant, device: torch.device) -> str:
    """The neuron backend a variant's blocks run on ``device``."""
    if v.impl == "spikingjelly":
        return spikingjelly_ref.BACKEND_NAME
    return resolve_backend(_requested_backend(v), device)


def run_case(workload: str, T: int, batch: int, device: torch.device, args, hw: int | None = None) -> list[dict]:
    shape, x, y = make_inputs(workload, T, batch, device, args.seed, args.input_rate, hw)
    loss_fn = make_loss(get_workload(workload).loss)
    variants = select_variants(args)
    isolated = device.type == "cpu" and not args.in_process
    peaks: dict[str, float | None] = {}
    if isolated:
        samples = _time_isolated(variants, workload, T, batch, hw, args)
    else:
        samples, peaks = _time_in_process(variants, workload, shape, x, y, loss_fn, device, args)
    if device.type == "cpu":  # one child process per variant, after the timing (nothing runs beside it)
        for v in variants:
            peaks[v.label] = cpu_peak_mib(v, workload, T, batch, hw, args)
    base_label = Variant("bptt", None, "fast").label
    rows = []
    activity = spike_rates(workload, shape, x, device, args.seed)

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
            "workload": workload, "T": T, "batch": batch, "input_shape": list(shape),
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
            "spike_rates": activity,
            "peak_mib": None if peak is None else round(peak, 2),
        })
        print(f"{workload:12s} T={T:<3d} B={batch:<3d} {v.label:28s} {rows[-1]['ms_per_step']:10.2f} ms  "
              f"{rows[-1]['peak_mib']} MiB", flush=True)
    return rows


# ------------------------------------------------------------------------------- table

def _key(r: dict) -> tuple:
    return (r["workload"], r["T"], r["batch"])


def _ref_rows(rows: list[dict]) -> tuple[dict[tuple, dict], set[str]]:
    """Per case, the "x ref" row: the SpikingJelly SDFA-local row if there is one, else ours
    in the plain formulation (``sdfa``/``local``/``reference``); and the impls used."""
    ref: dict[tuple, dict] = {}
    for impl in ("reference", "spikingjelly"):  # SpikingJelly last: it wins where present
        for r in rows:
            if r["method"] == "sdfa" and r["temporal"] == "local" and r["impl"] == impl:
                ref[_key(r)] = r
    return ref, {r["impl"] for r in ref.values()}


def table(result: dict) -> str:
    """Markdown: one line per case and variant, with ratios to the case's fast BPTT row and
    to its reference SDFA row (the authors' formulation: on SpikingJelly neurons when
    measured, else our plain-torch re-implementation); the header says which."""
    rows = result["rows"]
    dev = result["machine"].get("device_name") or result["machine"].get("processor") or "?"
    ref, used = _ref_rows(rows)
    if used == {"spikingjelly"}:
        ref_text = "ratio to the SpikingJelly SDFA-local row (impl=spikingjelly)"
    elif used == {"reference"}:
        ref_text = "ratio to our plain-torch SDFA-local row (impl=reference; SpikingJelly not measured)"
    elif used:
        ref_text = ("ratio to the SpikingJelly SDFA-local row (impl=spikingjelly) where measured, else to our "
                    "plain-torch one (impl=reference)")
    else:
        ref_text = "empty (no reference rows)"
    out = [f"Device: {dev}; torch threads: {result['machine'].get('threads')}; "
           f"command: `{result['command']}`", "",
           f"x BPTT: ratio to the case's fast BPTT row; x ref: {ref_text}.", "",
           "x BPTT (paired): median over the timing rounds of the step's time over fast BPTT's in the "
           "same round.", "",
           "| workload | T | B | method | temporal | impl | store | backend | ms/step | x BPTT | x BPTT (paired) "
           "| x ref | CPU-time ms | x BPTT | sys ms (page faults) | peak MiB | x BPTT | x ref |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    base = {_key(r): r for r in rows if r["method"] == "bptt" and r["impl"] == "fast"}

    def ratio(r: dict, b: dict | None, field: str) -> str:
        if not b or r.get(field) is None or not b.get(field):
            return ""
        return f"{r[field] / b[field]:.2f}"

    for r in rows:
        b, f = base.get(_key(r)), ref.get(_key(r))
        out.append(f"| {r['workload']} | {r['T']} | {r['batch']} | {r['method']} | {r['temporal'] or ''} | "
                   f"{r['impl']} | {r.get('store') or ''} | {r['backend']} | {r['ms_per_step']:.1f} | "
                   f"{ratio(r, b, 'ms_per_step')} | {_fmt(r.get('x_bptt_paired'))} | {ratio(r, f, 'ms_per_step')} | "
                   f"{r.get('cpu_ms_per_step') or ''} | {ratio(r, b, 'cpu_ms_per_step')} | {_sys(r)} | {r['peak_mib']} | "
                   f"{ratio(r, b, 'peak_mib')} | {ratio(r, f, 'peak_mib')} |")
    rates = {_key(r): r.get("spike_rates") for r in rows if r.get("spike_rates") is not None}
    if rates:
        out += ["", "Spike rate of every block's output at the initial weights (synthetic input): "
                + "; ".join(f"{k[0]} T={k[1]}: " + ", ".join(f"{v:.3f}" for v in rs) for k, rs in rates.items())]
    floors = result.get("gemm_floor") or []
    if floors:
        out += ["", "Matrix products alone (`gemm_floor`: float32 forward, weight gradient in float32 and "
                "bfloat16, float32 input gradient; all blocks, T*B rows), and the SDFA/BPTT ratio they bound:", "",
                "| workload | T | B | forward ms | dW f32 ms | dW bf16 ms | dX f32 ms | floor SDFA/BPTT, bf16 dW "
                "| floor, f32 dW |", "|---|---|---|---|---|---|---|---|---|"]
        for fl in floors:
            m = fl["ms"]
            out.append(f"| {fl['workload']} | {fl['T']} | {fl['batch']} | {m['forward']:.1f} | {m['dw_float']:.1f} | "
                       f"{m['dw_bf16']:.1f} | {m['dx_float']:.1f} | {fl['sdfa_half']:.2f} | {fl['sdfa_float']:.2f} |")
    return "\n".join(out)


def _sys(r: dict) -> str:
    if r.get("sys_ms_per_step") is None:
        return ""
    return f"{r['sys_ms_per_step']:.1f} ({r.get('minflt_per_step') or 0:.0f})"


def _fmt(v: float | None) -> str:
    return "" if v is None else f"{v:.2f}"


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
    info["cpu_workspace_mib"] = workspace.limit_bytes() / 2**20  # pipesdfa.kernels.workspace
    info["spikingjelly"] = spikingjelly_ref.available()
    info["spikingjelly_version"] = spikingjelly_ref.version() if info["spikingjelly"] else None
    return info


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
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: auto, pipesdfa.threads)")
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
            from _report import replace_block

            replace_block(args.doc, args.block, text)
        return 0
    if not args.out:
        ap.error("--out FILE.json is required")
    from pipesdfa.threads import apply_threads

    apply_threads(args.threads or "auto")  # the project's policy unless --threads N (pipesdfa.threads)
    device = torch.device(args.device)
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
        timing_text = (f"one process per variant (train_step.py --step-server; allocator untouched, glibc "
                       f"defaults), all started and given {max(1, args.warmup)} warm-up step(s) first, then "
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
            "settings": {"warmup": args.warmup, "repeats": args.repeats, "input_rate": args.input_rate,
                         "seed": args.seed, "reduced": reduced,
                         "step": "zero_grad + rule.compute_grads + Adam step",
                         "timing": timing_text,
                         "x_bptt_paired": "median over the rounds of (this variant's step / the fast BPTT "
                                          "step of the same round): drift of the machine's speed cancels",
                         "spike_rates": "mean output spike rate of every block at the initial weights on "
                                        "the benchmark input",
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
        rows += run_case(workload, T, batch, device, args, hw)
        if args.floor:
            shape = tuple(rows[-1]["input_shape"])
            fl = gemm_floor(workload, shape, T, batch, device, args)
            if fl is not None:
                floors.append(fl)
        atomic_write_json(args.out, result())  # partial results survive an interrupted run
    print(table(result()))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
