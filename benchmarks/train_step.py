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
import copy
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
import torch.nn.functional as F

from pipesdfa.util.atomic import atomic_write_json
from pipesdfa.snn.kernels import resolve_backend
from pipesdfa.snn.kernels import sparse, spikingjelly_ref, workspace
from pipesdfa.learning import make_rule
from pipesdfa.util.malloc import keep_freed_memory
from pipesdfa.zoo.models import build_model
from pipesdfa.snn.neurons import NeuronParams
from pipesdfa.training.loop import make_loss, make_optimizer, scale_init
from pipesdfa.zoo.workloads import DATASET_SHAPES, get_workload

#: (workload, T, batch) as in the issue.
CASES: list[tuple[str, int, int]] = [
    ("nmnist-mlp2", 10, 128),
    ("nmnist-mlp5", 10, 128),
    ("nmnist-mlp5", 100, 128),
    ("braille-mlp", 76, 64),
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


def make_job(v: Variant, workload: str, input_shape: tuple[int, ...], device: torch.device, seed: int,
             weights: dict[str, torch.Tensor] | None = None) -> Job:
    """Model, rule and optimiser of one variant; ``weights``: a state dict to start from (the
    warmed-up weights of ``--input real``), else the workload's initialisation."""
    w = get_workload(workload)
    spec = w.model_spec(input_shape)
    neuron = NeuronParams(kind=w.neuron, tau=w.tau)
    torch.manual_seed(seed)
    model = build_model(spec, neuron, backend=_requested_backend(v))
    scale_init(model, w.init_gain)
    if weights is not None:
        model.load_state_dict(weights)
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


@dataclass
class CaseInput:
    """What every variant of a case steps on: ``x [T, B, ...]``, labels, the starting weights
    (``None``: the workload's initialisation) and how they were made."""

    shape: tuple[int, ...]
    x: torch.Tensor
    y: torch.Tensor
    weights: dict[str, torch.Tensor] | None
    info: dict[str, Any]
    path: str | None = None  # the same, saved for the child processes


def block_rates(model: torch.nn.Module, x: torch.Tensor) -> list[float]:
    """Mean spike rate of every block's output on ``x`` as a training step sees it (train mode:
    batch-norm on batch statistics), on a copy (the model's running statistics stay as they are)."""
    with torch.no_grad():
        outs = copy.deepcopy(model).train().forward_all(x)
    return [round(float(o.float().mean()), 5) for o in outs]


def real_input(workload: str, T: int, batch: int, device: torch.device, args, hw: int | None) -> CaseInput:
    """Real frames (``real_input.py``) and warmed-up weights (module docstring): ``--train-steps``
    steps of fast BPTT on real training batches, continued up to 3x as long until every block
    fires on the timed batch."""
    from real_input import real_frames

    w = get_workload(workload)
    shape, classes = DATASET_SHAPES[w.dataset]
    if hw is not None and len(shape) == 3:
        shape = (shape[0], hw, hw)
    rf = real_frames(w.dataset, T, tuple(shape), classes, args.data)
    gen = torch.Generator().manual_seed(args.seed)
    n = rf.frames.shape[0]
    order = torch.randperm(n, generator=gen)
    k = [0]

    def next_batch() -> tuple[torch.Tensor, torch.Tensor]:
        idx = order[torch.arange(k[0], k[0] + batch) % n]
        k[0] += batch
        return rf.frames[idx].transpose(0, 1).contiguous().to(device), rf.labels[idx].to(device)

    x, y = next_batch()  # the timed batch
    job = make_job(Variant("bptt", None, "fast"), workload, tuple(shape), device, args.seed)
    loss_fn = make_loss(w.loss)
    before = rates = block_rates(job.model, x)
    steps = 0
    t0 = time.perf_counter()
    while steps < 3 * args.train_steps:
        for _ in range(args.train_steps):
            step(job, *next_batch(), loss_fn)
            steps += 1
        rates = block_rates(job.model, x)
        if all(r > 0 for r in rates):
            break
    silent = [i for i, r in enumerate(rates) if r <= 0]
    if silent:  # reported in the row (all_blocks_fire) rather than hidden
        print(f"WARNING {workload} T={T}: blocks {silent} still silent after {steps} warm-up steps (rates {rates}); "
              "raise --train-steps", file=sys.stderr, flush=True)
    weights = {k_: v.detach().clone() for k_, v in job.model.state_dict().items()}
    density = round(float((x != 0).float().mean()), 5)
    print(f"{workload:12s} T={T:<3d} B={batch:<3d} real input: {rf.source}; density {density}; {steps} warm-up "
          f"steps ({time.perf_counter() - t0:.0f} s), block rates {before} -> {rates}", flush=True)
    return CaseInput(tuple(shape), x, y, weights,
                     {"input": "real", "input_source": rf.source, "input_density": density,
                      "warmup_steps": steps, "rates_at_init": before, "all_blocks_fire": not silent})


def case_input(workload: str, T: int, batch: int, device: torch.device, args, hw: int | None) -> CaseInput:
    if args.input == "real":
        return real_input(workload, T, batch, device, args, hw)
    shape, x, y = make_inputs(workload, T, batch, device, args.seed, args.input_rate, hw)
    return CaseInput(shape, x, y, None, {"input": "synthetic", "input_source": f"Bernoulli({args.input_rate}) "
                     "spikes, random labels, initial weights", "input_density": round(float(x.mean()), 5)})


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
    if spec.get("bn_one_pass_bytes", "auto") != "auto":  # --bn-one-pass-bytes
        from pipesdfa.learning.local import conv as conv_local

        conv_local.BN_ONE_PASS_BYTES["cpu"] = spec["bn_one_pass_bytes"]
    device = torch.device("cpu")
    v = Variant(**spec["variant"])
    weights = None
    if spec.get("state"):  # --input real: the parent's frames and warmed-up weights
        saved = torch.load(spec["state"], weights_only=True)
        x, y, weights = saved["x"], saved["y"], saved["weights"]
        shape = tuple(x.shape[2:])
    else:
        shape, x, y = make_inputs(spec["workload"], spec["T"], spec["batch"], device, spec["seed"],
                                  spec["input_rate"], spec.get("hw"))
    job = make_job(v, spec["workload"], shape, device, spec["seed"], weights)
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

    if spec.get("malloc", "default") == "keep":
        keep_freed_memory(force=True)
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


def cpu_peak_mib(v: Variant, workload: str, T: int, batch: int, hw: int | None, args,
                 state: str | None = None) -> float | None:
    """Run :func:`memory_child` for ``v`` in a child process (see the module docstring)."""
    if not (sys.platform.startswith("linux") and os.path.exists("/proc/self/clear_refs")):
        return None
    return _run_child("--memory-child", _child_spec(v, workload, T, batch, hw, args, state),
                      f"{workload} T={T} {v.label}")["peak_mib"]


def _child_spec(v: Variant, workload: str, T: int, batch: int, hw: int | None, args,
                state: str | None = None) -> dict[str, Any]:
    return {"workload": workload, "T": T, "batch": batch, "hw": hw, "seed": args.seed, "state": state,
            "input_rate": args.input_rate, "threads": args.threads, "warmup": args.warmup,
            "malloc": getattr(args, "malloc", "default"),
            "bn_one_pass_bytes": getattr(args, "bn_one_pass_bytes", "auto"),
            "variant": {f: getattr(v, f) for f in _VARIANT_FIELDS}}


def _run_child(option: str, spec: dict[str, Any], what: str) -> dict[str, Any]:
    cmd = [sys.executable, os.path.abspath(__file__), option, json.dumps(spec)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{option} child for {what} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _dw(product: str, x: torch.Tensor, g: torch.Tensor, gt16: torch.Tensor, x16: torch.Tensor,
        d: float) -> torch.Tensor:
    """The weight-gradient product the fast paths run at input density ``d``: over the active
    inputs below the crossover (:mod:`pipesdfa.snn.kernels.sparse`), else dense (bfloat16 operands
    for ``dw_bf16``)."""
    if sparse.use_sparse(product, d, x.device, x.shape[1], g.shape[1]):
        return sparse.csr_weight_grad(sparse.to_csr(x), g)
    return gt16 @ x16 if product == "dw_bf16" else g.t() @ x


def gemm_floor(workload: str, ci: CaseInput, T: int, batch: int, device: torch.device,
               args) -> dict[str, Any] | None:
    """The bare matrix products of one step of a dense model, timed side by side on the blocks'
    real inputs (the spikes every block receives on the timed batch, with the case's weights):
    forward ``X W^T + b`` (float32, ``forward``: as :func:`pipesdfa.snn.kernels.sparse.linear`
    dispatches it, event-driven below the crossover; ``forward_dense``: always dense), weight
    gradient ``G^T X`` (``dw_float`` float32, ``dw_bf16`` bfloat16 operands; each dispatched the
    same way) and input gradient ``G W`` (float32, not for the first block), over all blocks on
    ``T*B`` rows; ``G`` random.

    ``sdfa_half``/``sdfa_float`` = (forward + weight gradient) / (forward + weight gradient
    float32 + input gradient): the step-time ratio SDFA (instantaneous) could reach against
    BPTT if nothing but these products cost time (feedback projections, ``10 x n`` per block,
    left out). ``None`` for models with conv blocks.
    """
    job = make_job(Variant("bptt", None, "fast"), workload, ci.shape, device, args.seed, ci.weights)
    if any(b.kind != "dense" for b in job.model.blocks):
        return None
    gen = torch.Generator().manual_seed(args.seed)
    rows = T * batch
    with torch.no_grad():
        ins = [ci.x] + copy.deepcopy(job.model).forward_all(ci.x)[:-1]
    mats = []
    for i, (blk, xi) in enumerate(zip(job.model.blocks, ins)):
        w, b = blk.weight_op.weight.detach(), blk.weight_op.bias
        xi = xi.reshape(rows, -1).float().contiguous()
        g = (torch.randn((rows, w.shape[0]), generator=gen) * 1e-3).to(device)
        mats.append((i, w, None if b is None else b.detach(), xi, g, xi.bfloat16(), g.t().bfloat16(),
                     sparse.density(xi)))
    kinds = {
        "forward": lambda: [sparse.linear(xi, w, b, d) for _, w, b, xi, _, _, _, d in mats],
        "forward_dense": lambda: [F.linear(xi, w, b) for _, w, b, xi, *_ in mats],
        "dw_float": lambda: [_dw("dw_float", xi, g, gt16, x16, d) for _, _, _, xi, g, x16, gt16, d in mats],
        "dw_bf16": lambda: [_dw("dw_bf16", xi, g, gt16, x16, d) for _, _, _, xi, g, x16, gt16, d in mats],
        "dx_float": lambda: [g @ w for i, w, _, _, g, *_ in mats if i > 0],
    }
    times: dict[str, list[float]] = {k: [] for k in kinds}
    cpu: dict[str, list[float]] = {k: [] for k in kinds}
    with torch.no_grad():
        for r in range(args.warmup + args.repeats):
            for k, f in kinds.items():
                _sync(device)
                t0, c0 = time.perf_counter(), time.process_time()
                f()
                _sync(device)
                if r >= args.warmup:
                    times[k].append(1e3 * (time.perf_counter() - t0))
                    cpu[k].append(1e3 * (time.process_time() - c0))
    ms = {k: round(statistics.median(v), 3) for k, v in times.items()}
    cpu_ms = {k: round(statistics.median(v), 3) for k, v in cpu.items()}
    bptt = ms["forward"] + ms["dw_float"] + ms["dx_float"]
    out = {"workload": workload, "T": T, "batch": batch, "ms": ms, "cpu_ms": cpu_ms,
           "input_density": [round(m[-1], 5) for m in mats],
           "sparse_products": {p: [sparse.use_sparse(p, m[-1], device, m[3].shape[1], m[1].shape[0]) for m in mats]
                               for p in sparse.PRODUCTS},
           "sdfa_half": round((ms["forward"] + ms["dw_bf16"]) / bptt, 4),
           "sdfa_float": round((ms["forward"] + ms["dw_float"]) / bptt, 4)}
    print(f"{workload:12s} T={T:<3d} B={batch:<3d} products only: {ms}  SDFA/BPTT floor "
          f"{out['sdfa_half']:.3f} (bf16 dW) / {out['sdfa_float']:.3f} (float32 dW)", flush=True)
    return out


def x_floor(v: Variant, fl: dict[str, Any] | None, samples: dict[str, list[float]],
            device: torch.device) -> float | None:
    """The variant's median step over its products floor (:func:`floor_ms`): CPU time over the
    floor's CPU time on a CPU (robust to other load on a shared machine), wall times on CUDA."""
    key = "cpu_ms" if device.type == "cpu" and samples.get("cpu_ms") else "ms"
    f = floor_ms(v, fl, key)
    return None if f is None else round(statistics.median(samples[key]) / f, 4)


def floor_ms(v: Variant, fl: dict[str, Any] | None, key: str = "ms") -> float | None:
    """A fast variant's products floor from :func:`gemm_floor`: BPTT forward + float32 dW + dX;
    SDFA instantaneous forward + dW in its store's precision; else ``None``."""
    if fl is None or v.impl != "fast":
        return None
    m = fl.get(key) or fl["ms"]
    if v.method == "bptt":
        return m["forward"] + m["dw_float"] + m["dx_float"]
    if v.method == "sdfa" and v.temporal == "instantaneous":
        return m["forward"] + (m["dw_bf16"] if v.store == "half" else m["dw_float"])
    return None


def _time_in_process(variants: list[Variant], workload: str, ci: CaseInput, loss_fn, device: torch.device,
                     args) -> tuple[dict[str, dict[str, list[float]]], dict[str, float | None]]:
    """All variants in this process, round-robin, one step each per round: ``(samples, CUDA peaks)``."""
    x, y = ci.x, ci.y
    jobs = [make_job(v, workload, ci.shape, device, args.seed, ci.weights) for v in variants]
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
                   args, state: str | None = None) -> dict[str, dict[str, list[float]]]:
    """Each variant in its own process (``--step-server``, started and warmed up together),
    timed one step at a time round-robin, one step each per round: the samples."""
    samples: dict[str, dict[str, list[float]]] = {v.label: {"ms": [], "cpu_ms": [], "sys_ms": [], "minflt": []}
                                                  for v in variants}
    servers: list[tuple[Variant, subprocess.Popen, Any]] = []
    try:
        for v in variants:
            err = tempfile.TemporaryFile(mode="w+")
            spec = json.dumps(_child_spec(v, workload, T, batch, hw, args, state))
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
    inp = result["settings"].get("input", "synthetic")
    what = ("real input (frames of each case's dataset on warmed-up weights)" if inp == "real" else
            "**synthetic input (stress case: Bernoulli spikes on the initial weights, silent hidden layers)**")
    out = [f"Device: {dev}; torch threads: {result['machine'].get('threads')}; {what}; "
           f"command: `{result['command']}`", "",
           f"x BPTT: ratio to the case's fast BPTT row; x ref: {ref_text}.", "",
           "x BPTT (paired): median over the timing rounds of the step's time over fast BPTT's in the "
           "same round.", "",
           "x floor: the step over its own products alone (`gemm_floor` below; fast BPTT and SDFA "
           "instantaneous rows).", "",
           "| workload | T | B | method | temporal | impl | store | backend | ms/step | x BPTT | x BPTT (paired) "
           "| x floor | x ref | CPU-time ms | x BPTT | sys ms (page faults) | peak MiB | x BPTT | x ref |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    base = {_key(r): r for r in rows if r["method"] == "bptt" and r["impl"] == "fast"}

    def ratio(r: dict, b: dict | None, field: str) -> str:
        if not b or r.get(field) is None or not b.get(field):
            return ""
        return f"{r[field] / b[field]:.2f}"

    for r in rows:
        b, f = base.get(_key(r)), ref.get(_key(r))
        out.append(f"| {r['workload']} | {r['T']} | {r['batch']} | {r['method']} | {r['temporal'] or ''} | "
                   f"{r['impl']} | {r.get('store') or ''} | {r['backend']} | {r['ms_per_step']:.1f} | "
                   f"{ratio(r, b, 'ms_per_step')} | {_fmt(r.get('x_bptt_paired'))} | {_fmt(r.get('x_floor'))} | "
                   f"{ratio(r, f, 'ms_per_step')} | "
                   f"{r.get('cpu_ms_per_step') or ''} | {ratio(r, b, 'cpu_ms_per_step')} | {_sys(r)} | {r['peak_mib']} | "
                   f"{ratio(r, b, 'peak_mib')} | {ratio(r, f, 'peak_mib')} |")
    cases = {_key(r): r for r in rows if r.get("spike_rates") is not None}
    if cases:
        out += ["", "| workload | T | B | input | input density | spike rate of every block's output (timed batch) |",
                "|---|---|---|---|---|---|"]
        for k, r in cases.items():
            out.append(f"| {k[0]} | {k[1]} | {k[2]} | {r.get('input_source', 'synthetic')} | "
                       f"{r.get('input_density') if r.get('input_density') is not None else ''} | " + ", ".join(f"{v:.3f}" for v in r["spike_rates"]) + " |")
    floors = result.get("gemm_floor") or []
    if floors:
        out += ["", "Matrix products alone (`gemm_floor`, on every block's real input of the timed batch: float32 "
                "forward, weight gradient in float32 and bfloat16, float32 input gradient; all blocks, T*B rows; "
                "forward and weight gradients event-driven where the input is sparser than the measured crossover, "
                "`sparse` says on which blocks), and the SDFA/BPTT ratio they bound:", "",
                "| workload | T | B | forward ms (dense) | dW f32 ms | dW bf16 ms | dX f32 ms | sparse fwd / dW f32 / "
                "dW bf16 | floor SDFA/BPTT, bf16 dW | floor, f32 dW |", "|---|---|---|---|---|---|---|---|---|---|"]
        for fl in floors:
            m = fl["ms"]
            sp = fl.get("sparse_products") or {}
            marks = " / ".join("".join("s" if on else "d" for on in sp.get(p, [])) or "-"
                               for p in ("forward", "dw_float", "dw_bf16"))
            dense = f" ({m['forward_dense']:.1f})" if "forward_dense" in m else ""
            out.append(f"| {fl['workload']} | {fl['T']} | {fl['batch']} | {m['forward']:.1f}{dense} | "
                       f"{m['dw_float']:.1f} | {m['dw_bf16']:.1f} | {m['dx_float']:.1f} | {marks} | "
                       f"{fl['sdfa_half']:.2f} | {fl['sdfa_float']:.2f} |")
    return "\n".join(out)


def _sys(r: dict) -> str:
    if r.get("sys_ms_per_step") is None:
        return ""
    return f"{r['sys_ms_per_step']:.1f} ({r.get('minflt_per_step') or 0:.0f})"


def _fmt(v: float | None) -> str:
    return "" if v is None else f"{v:.2f}"


def git_commit() -> str | None:
    """The checkout's commit (``+dirty`` with uncommitted changes), ``None`` outside git."""
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    if head.returncode != 0:
        return None
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


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
    info["commit"] = git_commit()
    info["cpu_workspace_mib"] = workspace.limit_bytes() / 2**20  # pipesdfa.snn.kernels.workspace
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
            from _report import replace_block

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
