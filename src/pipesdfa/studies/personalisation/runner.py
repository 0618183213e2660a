"""Running a personalisation study: pre-train, adapt every (shift, K, arm, seed), price each adaptation.

Every run is a run folder under ``OUT/runs/`` written by :func:`pipesdfa.training.loop.train` (the
pre-training from the workload's config, each adaptation from
:func:`pipesdfa.training.finetune.finetune_config`), so a study that is stopped continues where it
stopped: a finished run is read back (when its configuration is the one asked for), an
interrupted one is resumed from its checkpoint.

Pricing (:func:`price`): the simulator reads the adaptation's own run folder
(:func:`pipesdfa.hw.runs.read_run`: its model, ``T``, batch, spike rates and, on RRAM, its
measured update pulses and device) and simulates the samples it trained on (training split x
epochs) on PipeSDFA and on PipeLayer; SDFA with one feedback matrix per layer (``independent``,
as ``aligned`` needs) is priced with per-layer feedback arrays, and ``aligned`` adds the one-off
cost of programming them (``sim["pipesdfa_feedback_setup"]``, :mod:`pipesdfa.studies.personalisation.setup_cost`). The simulator prices a full training step of every layer;
it has no notion of a frozen block, so the output-only arm is priced as SDFA on PipeSDFA.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

from pipesdfa.util.errors import UserError
from pipesdfa.studies.personalisation.plan import Arm, Budget, Study
from pipesdfa.studies.personalisation.setup_cost import run_feedback_setup

__all__ = ["pretrain", "adapt", "inherited_feedback", "price", "study_rows", "run_key"]

#: Config fields that do not change what a run computes (a finished run is reused across them).
_RUNTIME = ("threads", "num_workers", "tensorboard", "out", "device", "backend", "data_dir")


def _finished(folder: Path, cfg) -> dict[str, Any] | None:
    """The metrics of a finished run in ``folder`` with ``cfg``'s configuration, ``None`` when
    there is none; a finished run of another configuration is an error (nothing is overwritten)."""
    from pipesdfa.training.config import flat_view
    from pipesdfa.training.configfile import resolved_config

    path = folder / "metrics.json"
    if not path.is_file():
        return None
    try:
        m = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    if m.get("status") != "finished":
        return None
    want = {k: v for k, v in flat_view(resolved_config(cfg)).items() if k not in _RUNTIME}
    have = flat_view(m.get("config", {}))
    diff = sorted(k for k, v in want.items() if k not in ("max_train", "max_test", "feedback", "temporal",
                                                            "feedback_seed", "alpha") and have.get(k) != v)
    if diff:
        raise UserError(f"{folder} holds a finished run of another configuration ({', '.join(diff[:4])} differ); "
                        f"remove it or give another --out")
    return m


def _train(cfg, folder: Path) -> dict[str, Any]:
    from pipesdfa.training.loop import train

    done = _finished(folder, cfg)
    if done is not None:
        return done
    if (folder / "checkpoint.pt").is_file():
        return train(cfg.updated(out=str(folder)), resume=folder, log=None, progress=False)
    return train(cfg.updated(out=str(folder)), log=None, progress=False)


def pretrain(study: Study, root: Path, data_dir: str | None, threads: int | str) -> Path:
    """The pre-training of ``study`` on unshifted data (BPTT unless ``study.pretrain`` names
    another ``method``); returns its run folder."""
    from pipesdfa.training.config import config_from_workload

    folder = root / study.workload / "base"
    cfg = config_from_workload(study.workload, method="bptt", data_dir=data_dir if study.needs_data else None,
                               threads=threads, out=str(folder))
    cfg = cfg.updated(**{k: tuple(v) if k == "hidden" else v for k, v in study.pretrain.items()}).validate()
    _train(cfg, folder)
    return folder


def run_key(shift: str, k: int, arm: Arm, seed: int) -> str:
    safe = shift.replace(":", "_").replace(",", "_").replace("=", "")
    return f"{safe}/k{k}/{arm.key}/seed{seed}"


def adapt(base: Path, study: Study, shift: str, k: int, arm: Arm, seed: int, budget: Budget, root: Path,
          threads: int | str) -> tuple[dict[str, Any], Path]:
    """One adaptation of the pre-trained ``base``; returns ``(metrics, run folder)``."""
    from pipesdfa.training.checkpoint import load_checkpoint
    from pipesdfa.data.catalog import CATALOG
    from pipesdfa.training.finetune import finetune_config
    from pipesdfa.training.config import TrainConfig

    state = load_checkpoint(base)
    bcfg = TrainConfig.from_values(state["config"], f"checkpoint {state['path']}: field 'config'")
    folder = root / study.workload / run_key(shift, k, arm, seed)
    n = k * CATALOG[bcfg.data.dataset].num_classes
    cfg = finetune_config(bcfg, state["path"], shift=shift, samples_per_class=k, seed=seed, epochs=budget.epochs[k],
                          batch=min(bcfg.optim.batch, n), threads=threads, out=str(folder),
                          **{**arm.changes(), **inherited_feedback(bcfg, arm), **budget.adapt})
    return _train(cfg, folder), folder


def inherited_feedback(base, arm: Arm) -> dict[str, Any]:
    """The feedback an SDFA-pre-trained ``base`` learnt with, for an ideal random-B SDFA arm:
    its ``feedback``, ``distribution``, ``temporal`` and ``feedback_seed`` (the seed regenerates
    the very matrices the base's forward weights aligned with). Empty for any other base or arm."""
    from pipesdfa.learning import takes_option

    if not (takes_option(base.rule.method, "distribution") and takes_option(arm.method, "distribution")) \
            or arm.distribution == "aligned" or arm.hardware != "ideal":
        return {}
    opts = base.rule.options()
    return {"feedback": opts.feedback, "distribution": opts.distribution, "temporal": opts.temporal,
            "feedback_seed": base.seed if opts.feedback_seed is None else opts.feedback_seed}


def price(folder: Path, hw_config: Callable[[dict], Any]) -> dict[str, dict[str, float]]:
    """Simulated time and energy of the samples the run in ``folder`` trained on, on both
    accelerators, with its measured activity (and pulses and device on RRAM); for aligned
    feedback also ``pipesdfa_feedback_setup`` (module docstring)."""
    from pipesdfa.hw.engine import simulate_detailed
    from pipesdfa.hw.runs import read_run

    run = read_run(folder)
    samples = int(run.metrics["finetune"]["samples_trained"])
    cfg = hw_config(run.overrides)  # the run's device and feedback layout (pipesdfa.hw.runs)
    out = {}
    for arch in ("pipesdfa", "pipelayer"):
        d = simulate_detailed(run.spec, arch, config=cfg, T=run.T, batch=run.batch, samples=samples,
                              activity=run.metrics, epoch_samples=run.train_samples)
        out[arch] = {"time_s": d.run["time_s"], "energy_j": d.run["energy_j"]}
    setup = run_feedback_setup(run, cfg.params)
    if setup is not None:
        out["pipesdfa_feedback_setup"] = setup
    return out


def row(study: Study, shift: str, k: int, arm: Arm, seed: int, m: dict[str, Any], sim: dict) -> dict[str, Any]:
    ft = m["finetune"]
    b, a = ft["before"], ft["after"]
    return {"workload": study.workload, "shift": shift, "k": k, "method": arm.method, "feedback": arm.feedback,
            "distribution": arm.distribution, "hardware": arm.hardware, "arm": arm.label, "seed": seed,
            "acc_before": b["test_acc"], "acc_after": a["test_acc"],
            "acc_unshifted_before": b.get("test_acc_unshifted"), "acc_unshifted_after": a.get("test_acc_unshifted"),
            "base_acc": ft["base"].get("test_acc"), "train_samples": ft["train_samples"],
            "samples_trained": ft["samples_trained"], "epochs": m["final"]["epochs"],
            "seconds": m["final"]["seconds"], "pulses_per_device_per_epoch":
                (m.get("pulses") or {}).get("per_device_per_epoch"),
            "alignment": [x["cosine"] for x in m["final"].get("alignment", [])] or None, "sim": sim,
            "run_commit": (m.get("runtime") or {}).get("commit")}


def study_rows(study: Study, budget: Budget, root: Path, data_dir: str | None, threads: int | str,
               hw_config: Callable[[dict], Any], tick: Callable[[str], None] = lambda s: None) -> list[dict]:
    """Every row of one study (pre-training first)."""
    tick(f"{study.workload}: pre-training")
    base = pretrain(study, root, data_dir, threads)
    rows = []
    for shift in study.shifts:
        for k in budget.ks:
            for arm in budget.arms:
                for seed in budget.seeds:
                    tick(f"{study.workload} {shift} K={k} {arm.key} seed {seed}")
                    m, folder = adapt(base, study, shift, k, arm, seed, budget, root, threads)
                    rows.append(row(study, shift, k, arm, seed, m, price(folder, hw_config)))
    return rows
