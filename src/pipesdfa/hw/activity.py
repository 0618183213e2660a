"""Spike activity (and optional update-pulse counts) that drive the energy model.

Read from a training run's ``metrics.json``::

    "activity": {"input_rate": 0.08, "layers": [{"layer": 0, "rate": 0.12}, ...]},
    "pulses":   {"per_weight_per_epoch": 3.5}

Rates are mean spikes per neuron per time step of the input frames and of each block's output.
Layers missing from the file (or no file) use ``activity.input_rate`` / ``activity.layer_rate``
of the hardware config (default 0.1: an assumption, documented in docs/hardware.md).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipesdfa.util.errors import UserError
from pipesdfa.hw.config.tree import HwParams

__all__ = ["Activity", "default_activity", "load_activity", "activity_from_dict", "read_metrics"]


@dataclass(frozen=True)
class Activity:
    input_rate: float
    layer_rates: tuple[float, ...]  # output spike rate of each weight layer
    pulses_per_weight_per_epoch: float | None = None
    source: str = "default"

    def in_rate(self, layer: int) -> float:
        """Spike rate of the input of ``layer``."""
        return self.input_rate if layer == 0 else self.layer_rates[layer - 1]


def default_activity(p: HwParams, n_layers: int) -> Activity:
    return Activity(p.activity.input_rate, (p.activity.layer_rate,) * n_layers, None, "default")


def _rate(v: Any, where: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not 0 <= v <= 1:
        raise UserError(f"{where}: expected a spike rate in [0, 1], got {v!r}")
    return float(v)


def activity_from_dict(d: dict[str, Any], p: HwParams, n_layers: int, where: str = "activity") -> Activity:
    base = default_activity(p, n_layers)
    act = d.get("activity")
    pulses = d.get("pulses")
    if act is None and pulses is None:
        raise UserError(f"{where}: no 'activity' (or 'pulses') field; expected "
                        "{\"activity\": {\"input_rate\": ..., \"layers\": [{\"layer\": i, \"rate\": r}, ...]}}")
    inp, rates = base.input_rate, list(base.layer_rates)
    if act is not None:
        if not isinstance(act, dict):
            raise UserError(f"{where}: field 'activity' must be an object")
        if "input_rate" in act:
            inp = _rate(act["input_rate"], f"{where}: activity.input_rate")
        layers = act.get("layers", [])
        if not isinstance(layers, list):
            raise UserError(f"{where}: activity.layers must be a list of {{\"layer\": i, \"rate\": r}}")
        for n, item in enumerate(layers):
            if not isinstance(item, dict) or "layer" not in item or "rate" not in item:
                raise UserError(f"{where}: activity.layers[{n}] must be {{\"layer\": i, \"rate\": r}}")
            li = item["layer"]
            if isinstance(li, bool) or not isinstance(li, int) or not 0 <= li < n_layers:
                raise UserError(f"{where}: activity.layers[{n}].layer = {li!r}; expected an index in 0..{n_layers - 1}")
            rates[li] = _rate(item["rate"], f"{where}: activity.layers[{n}].rate")
    ppw = None
    if pulses is not None:
        # The energy model charges pulses per *cell*. Device-aware training reports both
        # per_weight (both devices of a differential pair) and per_device (one cell): prefer the latter.
        key = "per_device_per_epoch" if isinstance(pulses, dict) and "per_device_per_epoch" in pulses \
            else "per_weight_per_epoch"
        v = pulses.get(key) if isinstance(pulses, dict) else None
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
            raise UserError(f"{where}: pulses.{key} must be a number >= 0, got {v!r}")
        ppw = float(v)
    return Activity(inp, tuple(rates), ppw, where)


def read_metrics(path: str | Path) -> dict[str, Any]:
    """The JSON object in ``path`` (a metrics.json); one clear error for a missing or bad file."""
    path = Path(path)
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}: not valid JSON: {exc}") from None
    if not isinstance(d, dict):
        raise UserError(f"{path}: expected a JSON object (a metrics.json)")
    return d


def load_activity(path: str | Path, p: HwParams, n_layers: int) -> Activity:
    return activity_from_dict(read_metrics(path), p, n_layers, str(path))
