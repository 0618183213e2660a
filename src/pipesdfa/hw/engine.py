"""One call from a workload to a simulated training cost: :func:`simulate`.

``simulate("nmnist-mlp3", "pipesdfa")`` maps the workload's model (from
:mod:`pipesdfa.workloads`, nothing re-described here) for the architecture, builds the stage
graph, schedules ``samples`` samples (default: one epoch of the dataset's training split) and
returns a JSON-ready dict with the same fields as ``pipesdfa simulate --json`` run entries.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from pipesdfa.errors import UserError
from pipesdfa.hw.activity import Activity, activity_from_dict, default_activity, load_activity
from pipesdfa.hw.dataflow import StageTimes, stage_times, stored_bits
from pipesdfa.hw.energy import Ledger, area_mm2, chips_needed, energy_ledger
from pipesdfa.hw.mapping import ARCHS, ModelMap, map_layers
from pipesdfa.hw.params import HwConfig, load_config
from pipesdfa.hw.schedule import TICK_S
from pipesdfa.hw.timing import TimingResult, simulate_time
from pipesdfa.workloads import EPOCH_SAMPLES, ModelSpec, Workload, get_workload, resolve

__all__ = ["simulate", "simulate_detailed", "Detailed", "EPOCH_SAMPLES", "default_samples"]

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


def _as_spec(workload: str | Workload | ModelSpec) -> tuple[ModelSpec, Workload | None]:
    if isinstance(workload, ModelSpec):
        return workload, None
    w = get_workload(workload) if isinstance(workload, str) else workload
    return w.model_spec(), w


def simulate_detailed(workload: str | Workload | ModelSpec, arch: str, *, preset: str = "pipelayer-2017",
                      overrides: Mapping[str, Any] | None = None, config: HwConfig | None = None,
                      T: int | None = None, batch: int | None = None, samples: int | None = None,
                      activity: str | Path | Mapping[str, Any] | Activity | None = None,
                      fast: bool = True) -> Detailed:
    if arch not in ARCHS:
        raise UserError(f"unknown architecture {arch!r}; expected one of: {', '.join(ARCHS)}")
    spec, w = _as_spec(workload)
    cfg = config if config is not None else load_config(preset, overrides)
    p = cfg.params
    T = int(T if T is not None else (w.T if w else 10))
    batch = int(batch if batch is not None else (w.batch if w else 32))
    if T < 1 or batch < 1:
        raise UserError(f"T and batch must be >= 1 (got T={T}, batch={batch})")
    samples = int(samples if samples is not None else default_samples(w, batch))
    if samples < 1:
        raise UserError(f"samples must be >= 1, got {samples}")
    layers = resolve(spec)
    m = map_layers(layers, p, arch, spec.num_classes * spec.vote)
    if activity is None:
        act = default_activity(p, len(layers))
    elif isinstance(activity, Activity):
        act = activity
    elif isinstance(activity, Mapping):
        act = activity_from_dict(dict(activity), p, len(layers))
    else:
        act = load_activity(activity, p, len(layers))
    st = stage_times(m, p, T)
    chips = chips_needed(m, p)
    tr = simulate_time(m, p, st, samples, batch, chips=chips, fast=fast)
    epoch = default_samples(w, batch)
    led = energy_ledger(m, p, act, T, samples, tr.batches, tr.time_s, samples / epoch)
    makespan = tr.makespan_ticks
    util = {r: v / makespan for r, v in sorted(tr.busy_ticks.items())} if makespan else {}
    run = {
        "arch": arch,
        "workload": w.name if w else spec.name,
        "preset": cfg.preset,
        "T": T,
        "batch": batch,
        "samples": samples,
        "time_s": tr.time_s,
        "energy_j": led.total,
        "area_mm2": area_mm2(m, p),
        "chips": chips,
        "crossbars": {"weights": m.weight_crossbars, "total": m.total_crossbars,
                      "feedback": m.feedback.crossbars if m.feedback else 0},
        "breakdown": led.to_dict(),
        "schedule": {
            "batches": tr.batches,
            "period_s": tr.period_ticks * TICK_S if tr.period_ticks is not None else None,
            "fast_path": tr.fast_path,
            "max_in_flight": tr.max_in_flight,
            "peak_buffer_bytes": tr.peak_buffer_bits / 8,
            "buffer_bytes_per_sample": sum(stored_bits(m, p, T)) / 8,
            "buffer_capacity_bytes": p.buffer.capacity_bytes * chips,
            # False: even one sample's training state exceeds the on-chip buffers (it would
            # spill off chip, which we do not cost); the schedule then runs one sample at a time
            "buffer_fits_one_sample": sum(stored_bits(m, p, T)) / 8 <= p.buffer.capacity_bytes * chips,
            "utilization": util,
            "stage_s": {"forward_step": [x * TICK_S for x in st.f], "backward_step": [x * TICK_S for x in st.b],
                        "gradient_step": [x * TICK_S for x in st.g], "update": [x * TICK_S for x in st.u],
                        "error": st.e * TICK_S, "feedback": st.fb * TICK_S},
        },
        "layers": [{**l.to_dict(), "stored_bytes_per_sample": b / 8,
                    "adc_conversions_per_sample_forward": T * l.positions * l.conversions_per_read}
                   for l, b in zip(m.layers, stored_bits(m, p, T))],
        "activity": {"source": act.source, "input_rate": act.input_rate, "layer_rates": list(act.layer_rates),
                     "pulses_per_weight_per_epoch": act.pulses_per_weight_per_epoch},
    }
    return Detailed(run, m, st, tr, led, cfg)


def simulate(workload: str | Workload | ModelSpec, arch: str, *, preset: str = "pipelayer-2017",
             overrides: Mapping[str, Any] | None = None, T: int | None = None, batch: int | None = None,
             samples: int | None = None, activity: str | Path | Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Simulated training cost of ``workload`` on ``arch`` (``"pipelayer"`` or ``"pipesdfa"``).

    ``workload``: a name from :data:`pipesdfa.workloads.WORKLOADS`, a ``Workload`` or a
    ``ModelSpec``; ``preset``/``overrides`` pick the cost constants (dotted keys);
    ``T``/``batch`` default to the workload's; ``samples`` to one epoch; ``activity``: a
    metrics.json path or dict (default spike rates otherwise). Returns the run dict
    (``time_s``, ``energy_j``, ``area_mm2``, ``breakdown`` ...).
    """
    return simulate_detailed(workload, arch, preset=preset, overrides=overrides, T=T, batch=batch,
                             samples=samples, activity=activity).run
