"""Training runs as simulator input: the model, T, batch, measured activity and device of a run.

``pipesdfa simulate --checkpoint RUN`` reads ``RUN/metrics.json`` (a ``pipesdfa train`` run
folder, its ``metrics.json`` or its ``checkpoint.pt``): the model it trained (``model``, the
layer spec both engines share), its ``T`` and batch (``config``), one epoch of its training
split (``dataset.train``), its spike rates (``activity``), its update pulses (``pulses``) and,
for ``--hardware rram`` runs, the device it trained on (``device``), which becomes the
simulator's ``device.*`` keys so that the cost describes the device the accuracy describes, and,
for SDFA with one feedback matrix per hidden layer (``rule.feedback = "independent"``, as
aligned feedback needs), ``mapping.feedback = "per-layer"`` (one feedback array per layer
instead of one shared). :attr:`RunSpec.overrides` holds both.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipesdfa.util.errors import UserError
from pipesdfa.hw.activity import read_metrics
from pipesdfa.hw.config.tree import DEVICE_KEYS
from pipesdfa.zoo.workloads import ModelSpec, get_workload

__all__ = ["RunSpec", "read_run", "run_overrides", "device_overrides", "check_same_model"]


@dataclass(frozen=True)
class RunSpec:
    path: str
    spec: ModelSpec
    workload: str | None
    method: str
    T: int
    batch: int
    train_samples: int
    metrics: dict[str, Any] = field(repr=False)
    overrides: dict[str, Any] = field(default_factory=dict)  # hardware keys the run implies (run_overrides)

    @property
    def name(self) -> str:
        return self.workload or self.spec.name


def _metrics_path(path: str | Path) -> Path:
    p = Path(path)
    if p.is_dir():
        p = p / "metrics.json"
    elif p.name != "metrics.json":
        p = p.parent / "metrics.json"
    if not p.is_file():
        raise UserError(f"{p} does not exist: --checkpoint needs a pipesdfa train run folder whose training has "
                        "written metrics.json")
    return p


def device_overrides(d: dict[str, Any], where: str) -> dict[str, Any]:
    """``device.*`` keys of the device a ``--hardware rram`` run trained on ({} otherwise)."""
    if d.get("hardware") != "rram":
        return {}
    dev = d.get("device")
    if not isinstance(dev, dict):
        raise UserError(f"{where}: a --hardware rram run must record its 'device' (an object)")
    from pipesdfa.hw.config.device import DEVICE_PRESETS

    preset = _config_value(d.get("config") or {}, "hardware", "device_preset") or dev.get("name")
    out: dict[str, Any] = {}
    if preset in DEVICE_PRESETS:
        out["device.preset"] = preset
    for k in DEVICE_KEYS:
        if k in dev:
            out[f"device.{k}"] = dev[k]
    return out


def run_overrides(d: dict[str, Any], where: str) -> dict[str, Any]:
    """The simulator keys a run's ``metrics.json`` implies: its device (:func:`device_overrides`)
    and its SDFA feedback layout (module docstring)."""
    out = device_overrides(d, where)
    if (d.get("rule") or {}).get("feedback") == "independent":
        out["mapping.feedback"] = "per-layer"
    return out


def _config_value(config: dict[str, Any], section: str, key: str) -> Any:
    """``config[section][key]`` of a run's recorded config (sections), or ``config[key]`` (the
    flat configs of runs before sections)."""
    sec = config.get(section)
    return sec.get(key) if isinstance(sec, dict) else config.get(key)


def read_run(path: str | Path) -> RunSpec:
    mpath = _metrics_path(path)
    where = str(mpath)
    d = read_metrics(mpath)
    for key in ("config", "model", "dataset"):
        if not isinstance(d.get(key), dict):
            raise UserError(f"{where}: field {key!r} missing or not an object; is this a pipesdfa train run?")
    ds = d["dataset"]
    cfg = {"T": _config_value(d["config"], "data", "T"), "batch": _config_value(d["config"], "optim", "batch"),
           "method": _config_value(d["config"], "rule", "method"), "workload": d["config"].get("workload")}
    try:
        spec = ModelSpec.from_dict(d["model"])
    except UserError as exc:
        raise UserError(f"{where}: field 'model': {exc}") from None
    except (KeyError, TypeError, ValueError) as exc:
        raise UserError(f"{where}: field 'model' is not a model spec ({type(exc).__name__}: {exc})") from None
    ints = {}
    for key, src in (("T", cfg), ("batch", cfg), ("train", ds)):
        v = src.get(key)
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise UserError(f"{where}: field {'config' if src is cfg else 'dataset'}.{key} = {v!r}; "
                            "expected a positive integer")
        ints[key] = v
    return RunSpec(str(mpath.parent), spec, cfg.get("workload"), str(cfg.get("method", "?")), ints["T"],
                   ints["batch"], ints["train"], d, run_overrides(d, where))


def check_same_model(run: RunSpec, workload: str) -> None:
    """Refuse pricing ``workload`` with the activity of a run of another model."""
    if run.workload is not None and run.workload != workload:
        raise UserError(f"--activity {run.path}/metrics.json is a run of workload {run.workload!r}, not "
                        f"{workload!r}; use --workload {run.workload} or --checkpoint {run.path}")
    target = get_workload(workload).model_spec()
    widths = [getattr(l, "out_features", getattr(l, "out_channels", None)) for l in run.spec.layers]
    want = [getattr(l, "out_features", getattr(l, "out_channels", None)) for l in target.layers]
    if run.workload is None and widths != want:
        raise UserError(f"--activity {run.path}/metrics.json trained a model with layer widths {widths}; "
                        f"workload {workload!r} has {want}; use --checkpoint {run.path}")


def epochs_of(run: RunSpec) -> float:
    e = (run.metrics.get("final") or {}).get("epochs")
    return float(e) if isinstance(e, (int, float)) and math.isfinite(e) and e > 0 else 1.0
