"""Device-aware training hook: swap a model's weight ops for analog ones, route updates as pulses.

Usage in a trainer (the smallest hook)::

    hw = AnalogTraining(model, device, config, seed)   # before building the rule and optimiser
    ...
    optimizer.step(); hw.after_step()                   # every mini-batch
    hw.end_epoch()                                      # every epoch
    metrics.update(hw.metrics())                        # "hardware", "device", "analog", "pulses"

:func:`analogize` replaces every ``block.weight_op`` (``nn.Linear``/``nn.Conv2d`` without bias)
of a model with ``.blocks`` by :class:`~pipesdfa.analog.layers.AnalogLinear` /
:class:`~pipesdfa.analog.layers.AnalogConv2d`, programmed with the op's current weights.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from pipesdfa.analog.config import AnalogConfig
from pipesdfa.analog.layers import AnalogConv2d, AnalogLinear, AnalogMixin
from pipesdfa.util.errors import UserError
from pipesdfa.hw.config.device import DeviceParams

__all__ = ["analogize", "AnalogTraining", "analog_layers"]


def _to_analog(op: nn.Module, device: DeviceParams, config: AnalogConfig, seed: int) -> AnalogMixin:
    if isinstance(op, AnalogMixin):
        raise UserError("model is already mapped onto analog crossbars")
    if isinstance(op, nn.Linear):
        return AnalogLinear(op, device, config, seed)
    if isinstance(op, nn.Conv2d):
        return AnalogConv2d(op, device, config, seed)
    raise UserError(f"--hardware rram supports Linear and Conv2d weight ops, got {type(op).__name__}")


def analogize(model: nn.Module, device: DeviceParams, config: AnalogConfig, seed: int = 0) -> list[AnalogMixin]:
    """Replace each ``model.blocks[i].weight_op`` with its analog version; returns them in order."""
    blocks = getattr(model, "blocks", None)
    if blocks is None:
        raise UserError("--hardware rram needs a model with .blocks (a SpikingNet)")
    layers: list[AnalogMixin] = []
    for i, block in enumerate(blocks):
        op = block.weight_op
        analog = _to_analog(op, device, config, seed=seed * 1009 + i)
        analog.to(next(op.parameters()).device)
        block.weight_op = analog
        layers.append(analog)
    return layers


def analog_layers(model: nn.Module) -> list[AnalogMixin]:
    """The analog layers of a model, in module order."""
    return [m for m in model.modules() if isinstance(m, AnalogMixin)]


class AnalogTraining:
    """Maps a model onto crossbars and turns every optimiser step into pulses, with counters."""

    def __init__(self, model: nn.Module, device: DeviceParams, config: AnalogConfig, seed: int = 0) -> None:
        self.device = device
        self.config = config
        self.layers = analogize(model, device, config, seed)
        self.epochs = 0

    def after_step(self) -> None:
        """Commit the optimiser's weight change of every analog layer as pulse counts."""
        for layer in self.layers:
            layer.commit()

    def end_epoch(self) -> None:
        self.epochs += 1

    def state_dict(self) -> dict[str, Any]:
        """Crossbar states for checkpoints (the device constants are redrawn from the seed)."""
        return {"epochs": self.epochs, "layers": [layer.crossbar.state() for layer in self.layers]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if len(state["layers"]) != len(self.layers):
            raise ValueError(f"checkpoint has {len(state['layers'])} analog layers, the model {len(self.layers)}")
        for layer, st in zip(self.layers, state["layers"]):
            layer.crossbar.load_state(st)
            layer._sync()
        self.epochs = int(state["epochs"])

    @property
    def n_weights(self) -> int:
        return sum(layer.crossbar.n_out * layer.crossbar.n_in for layer in self.layers)

    def pulse_metrics(self) -> dict[str, Any]:
        """Pulse statistics: per weight (both devices of its pair) and per device, per epoch."""
        epochs = max(self.epochs, 1)
        per_layer = []
        total = ltp = ltd = 0
        for i, layer in enumerate(self.layers):
            st = layer.crossbar.stats
            n = layer.crossbar.n_out * layer.crossbar.n_in
            per_layer.append({"layer": i, "weights": n, "w_max": layer.crossbar.w_max, **st.to_dict(),
                              "per_weight_per_epoch": st.total / n / epochs})
            total += st.total
            ltp += st.ltp
            ltd += st.ltd
        weights = self.n_weights
        return {
            "per_weight_per_epoch": total / weights / epochs,
            "per_device_per_epoch": total / (2 * weights) / epochs,
            "total": total, "ltp": ltp, "ltd": ltd, "weights": weights, "devices": 2 * weights,
            "epochs": self.epochs, "write_pulse_s": self.device.write_pulse_s, "per_layer": per_layer,
        }

    def metrics(self) -> dict[str, Any]:
        """The block a run's ``metrics.json`` records for ``--hardware rram``."""
        return {"hardware": "rram", "device": self.device.to_dict(), "analog": self.config.to_dict(),
                "pulses": self.pulse_metrics()}
