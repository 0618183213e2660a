"""Timing and memory probes of the train-step benchmark: the step servers (one process per
variant, timed round-robin), the in-process round-robin, the CPU memory child (peak RSS via
``/proc``) and the CUDA peak (see ``train_step.py``'s docstring for the method)."""

from __future__ import annotations

import ctypes
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Any

import torch

from pipesdfa.snn.kernels import workspace
from pipesdfa.training.loop import make_loss
from pipesdfa.util.malloc import keep_freed_memory
from pipesdfa.zoo.workloads import get_workload

from bench.cases import _VARIANT_FIELDS, CaseInput, Job, Variant, make_inputs, make_job, step

#: the script the child processes run (``--step-server`` / ``--memory-child``).
SCRIPT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "train_step.py")

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
    cmd = [sys.executable, SCRIPT, option, json.dumps(spec)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{option} child for {what} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])
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
            proc = subprocess.Popen([sys.executable, SCRIPT, "--step-server", spec],
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
