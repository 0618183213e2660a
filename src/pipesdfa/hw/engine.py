"""One call from a workload (or any model spec) to a simulated training cost: :func:`simulate`.

``simulate("nmnist-mlp3", "pipesdfa")`` maps the model (:mod:`pipesdfa.zoo.workloads`, nothing
re-described here) for the architecture (:mod:`pipesdfa.hw.archs`), sizes the silicon
(:mod:`pipesdfa.hw.area`; under ``area.budget_mm2`` the largest replication that fits), prices
the weight-gradient unit (:mod:`pipesdfa.hw.gradient`), plans where training state lives
(:mod:`pipesdfa.hw.memory`), picks the number of samples in flight that trains fastest,
schedules ``samples`` samples (default: one epoch) and costs them (:mod:`pipesdfa.hw.energy`).
It returns a JSON-ready dict with the fields of ``pipesdfa simulate --json`` run entries.

Samples in flight: ``K_fit = floor(C / S)`` samples fit the on-chip buffers; probes of two
batches pick the fewest samples in flight that train fastest, spilling to DRAM when more than
``K_fit`` pays off (:func:`_choose_plan`; ``pipeline.max_in_flight`` fixes ``K``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from pipesdfa.util.errors import UserError
from pipesdfa.hw.activity import Activity, activity_from_dict, default_activity, load_activity
from pipesdfa.hw.archs import get_arch
from pipesdfa.hw.area import Silicon, fit_replication, silicon
from pipesdfa.hw.config import DEFAULT_PRESET, HwConfig, load_config
from pipesdfa.hw.dataflow import StageTimes, stage_times
from pipesdfa.hw.energy import Ledger, energy_ledger
from pipesdfa.hw.gradient import GradientCost, layer_gradient
from pipesdfa.hw.mapping import ModelMap
from pipesdfa.hw.memory import MemoryPlan, plan_memory
from pipesdfa.hw.placement import map_layers
from pipesdfa.hw.schedule import TICK_S, run_des
from pipesdfa.hw.timing import TimingResult, build_batches, simulate_time
from pipesdfa.zoo.workloads import EPOCH_SAMPLES, ModelSpec, Workload, get_workload, resolve

__all__ = ["simulate", "simulate_detailed", "Detailed", "default_samples"]


def default_samples(workload: Workload | None, batch: int) -> int:
    if workload is not None and workload.dataset in EPOCH_SAMPLES:
        return EPOCH_SAMPLES[workload.dataset]
    return 10 * batch


@dataclass
class Detailed:
    """Everything one run computed (for reports and plots)."""

    run: dict[str, Any]
    mapping: ModelMap
    stages: StageTimes
    timing: TimingResult
    ledger: Ledger
    config: HwConfig
    plan: MemoryPlan
    silicon: Silicon
    gradients: list[GradientCost]


def _as_spec(workload: str | Workload | ModelSpec) -> tuple[ModelSpec, Workload | None]:
    if isinstance(workload, ModelSpec):
        return workload, None
    w = get_workload(workload) if isinstance(workload, str) else workload
    return w.model_spec(), w


def _activity(activity: Any, p, n_layers: int) -> Activity:
    if activity is None:
        return default_activity(p, n_layers)
    if isinstance(activity, Activity):
        return activity
    if isinstance(activity, Mapping):
        return activity_from_dict(dict(activity), p, n_layers)
    return load_activity(activity, p, n_layers)


def _choose_plan(m: ModelMap, p, st_of, state: list[int], batch: int, cap: int, input_bits: int,
                 L: int) -> tuple[int, MemoryPlan]:
    """``(K, plan)``: the number of samples in flight that trains two batches fastest.

    Candidates are the powers of two up to ``K_fit`` (no spilling; fewer samples in flight leave
    more buffer to the ``dW`` accumulators) and ``K_fit`` itself, then -- spilling to DRAM --
    doublings beyond it while they gain more than 1 %. Ties within 0.1 % go to the smaller ``K``.
    """
    if p.pipeline.max_in_flight:
        K = p.pipeline.max_in_flight
        return K, plan_memory(m, p, state, batch, cap, K, input_bits)
    S = max(1, sum(state))
    k_cap = 2 * batch + 2 * L + 2  # more samples than the two batches of a probe ever hold
    k_fit = min(cap // S, k_cap)
    probe = [batch] * 2
    results: list[tuple[int, int, MemoryPlan]] = []

    def span(K: int) -> int:
        plan = plan_memory(m, p, state, batch, cap, K, input_bits)
        results.append((run_des(build_batches(m, p, st_of(plan), probe, K)).makespan, K, plan))
        return results[-1][0]

    for K in sorted({1 << j for j in range(max(1, k_fit).bit_length()) if (1 << j) <= k_fit} | {max(1, k_fit)}):
        span(K)
    K, last = 2 * max(1, k_fit), min(r[0] for r in results)
    while K <= k_cap:
        s_k = span(K)
        if s_k >= last * 0.99:
            break
        last, K = s_k, 2 * K
    best = min(r[0] for r in results)
    return min(((k, plan) for s_k, k, plan in results if s_k <= best * 1.001), key=lambda kp: kp[0])


def simulate_detailed(workload: str | Workload | ModelSpec, arch: str, *, preset: str = DEFAULT_PRESET,
                      overrides: Mapping[str, Any] | None = None, config: HwConfig | None = None,
                      T: int | None = None, batch: int | None = None, samples: int | None = None,
                      activity: str | Path | Mapping[str, Any] | Activity | None = None,
                      fast: bool = True, epoch_samples: int | None = None, replication: list[int] | None = None,
                      t_replication: list[int] | None = None) -> Detailed:
    """:func:`simulate` with every intermediate result; ``replication``/``t_replication`` fix the
    copies per layer (a design point, :mod:`pipesdfa.hw.design`) instead of balancing them."""
    a = get_arch(arch)
    spec, w = _as_spec(workload)
    cfg = config if config is not None else load_config(preset, overrides)
    p = cfg.params
    T = int(T if T is not None else (w.T if w else 10))
    batch = int(batch if batch is not None else (w.batch if w else 32))
    if T < 1 or batch < 1:
        raise UserError(f"T and batch must be >= 1 (got T={T}, batch={batch})")
    epoch = int(epoch_samples if epoch_samples is not None else default_samples(w, batch))
    samples = int(samples if samples is not None else epoch)
    if samples < 1:
        raise UserError(f"samples must be >= 1, got {samples}")
    layers = resolve(spec)
    rows_c = spec.num_classes * spec.vote
    if replication is not None:
        r_max = max(replication)
    else:
        r_max = fit_replication(layers, p, arch, rows_c) if p.area.budget_mm2 > 0 else p.mapping.max_replication
    m = map_layers(layers, p, arch, rows_c, max_replication=r_max, replication=replication,
                   t_replication=t_replication)
    sil = silicon(m, p)
    act = _activity(activity, p, len(layers))
    grads = [layer_gradient(l, p, T, act.in_rate(l.index)) for l in m.layers]
    state = a.stored_bits(m, p, T)
    input_bits = T * layers[0].n_in

    def st_of(plan: MemoryPlan) -> StageTimes:
        return stage_times(m, p, T, grads, sil.chips, plan)

    K, plan = _choose_plan(m, p, st_of, state, batch, sil.buffer_bits, input_bits, len(layers))
    st = st_of(plan)
    onchip = [s - x for s, x in zip(state, plan.spill_bits)]
    tr = simulate_time(m, p, st, samples, batch, K=K, fast=fast, onchip_bits=onchip)
    led = energy_ledger(m, p, act, T, samples, tr.batches, tr.time_s, samples / epoch, grads, plan, sil.static_power_w,
                       arch=get_arch(m.arch))
    makespan = tr.makespan_ticks
    util = {r: v / makespan for r, v in sorted(tr.busy_ticks.items())} if makespan else {}
    dram_bits = samples * plan.dram_bits_per_sample + tr.batches * plan.dram_bits_per_batch
    run = {
        "arch": arch,
        "workload": w.name if w else spec.name,
        "preset": cfg.preset,
        "device_preset": cfg.device_preset,
        "T": T,
        "batch": batch,
        "samples": samples,
        "time_s": tr.time_s,
        "energy_j": led.total,
        "area_mm2": sil.area_mm2,
        "chips": sil.chips,
        "max_replication": r_max,
        "crossbars": {"weights": m.weight_crossbars, "gradient": m.gradient_crossbars,
                      "feedback": m.feedback_crossbars, "total": m.total_crossbars},
        "silicon": sil.to_dict(),
        "breakdown": led.to_dict(),
        "memory": {**plan.to_dict(), "max_in_flight": K, "dram_bytes": dram_bits / 8,
                   "dram_energy_j": led.by(0).get("dram", 0.0), "dram_busy": util.get("dram", 0.0)},
        "schedule": {
            "batches": tr.batches,
            "period_s": tr.period_ticks * TICK_S if tr.period_ticks is not None else None,
            "fast_path": tr.fast_path,
            "max_in_flight": K,
            "peak_buffer_bytes": tr.peak_buffer_bits / 8,
            "buffer_bytes_per_sample": sum(state) / 8,
            "buffer_capacity_bytes": sil.buffer_bits / 8,
            "utilization": util,
            "stage_s": {"forward_step": [x * TICK_S for x in st.f], "backward_step": [x * TICK_S for x in st.b],
                        "gradient_step": [x * TICK_S for x in st.g], "update": [x * TICK_S for x in st.u],
                        "error": st.e * TICK_S, "feedback": st.fb * TICK_S},
        },
        "layers": [{**l.to_dict(), "stored_bytes_per_sample": s / 8, "spilled_bytes_per_sample": x / 8,
                    "gradient": g.to_dict()}
                   for l, s, x, g in zip(m.layers, state, plan.spill_bits, grads)],
        "activity": {"source": act.source, "input_rate": act.input_rate, "layer_rates": list(act.layer_rates),
                     "pulses_per_weight_per_epoch": act.pulses_per_weight_per_epoch},
    }
    return Detailed(run, m, st, tr, led, cfg, plan, sil, grads)


def simulate(workload: str | Workload | ModelSpec, arch: str, *, preset: str = DEFAULT_PRESET,
             overrides: Mapping[str, Any] | None = None, T: int | None = None, batch: int | None = None,
             samples: int | None = None, activity: str | Path | Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Simulated training cost of ``workload`` on ``arch`` (``"pipelayer"`` or ``"pipesdfa"``).

    ``workload``: a name from :data:`pipesdfa.zoo.workloads.WORKLOADS`, a ``Workload`` or a
    ``ModelSpec``; ``preset``/``overrides`` pick the constants (dotted keys); ``T``/``batch``
    default to the workload's; ``samples`` to one epoch; ``activity``: a metrics.json path or
    dict (default spike rates otherwise). Returns the run dict (``time_s``, ``energy_j``,
    ``area_mm2``, ``breakdown``, ``memory`` ...).
    """
    return simulate_detailed(workload, arch, preset=preset, overrides=overrides, T=T, batch=batch,
                             samples=samples, activity=activity).run
