"""Configuration of the analog (RRAM crossbar) layers and the ``--set key=value`` parser.

Device facts live in :class:`pipesdfa.hw.config.device.DeviceParams`; this module holds what is a
choice of the circuit and the update scheme around the devices, not a device fact:

* ``adc_bits`` (0 = no ADC quantisation) and ``adc_range``: each crossbar tile's column output
  is quantised to ``2^bits`` uniform levels over ``[-adc_range, +adc_range]`` (output units:
  the pre-activation, where the neuron threshold is 1).
* ``tile_rows``: rows per crossbar tile; larger fan-ins are split into tiles whose partial sums
  are quantised separately, then added digitally (ISAAC/PipeLayer-style 128x128 arrays).
* ``w_max_factor``: the weight range of a layer is ``[-w_max, w_max]`` with
  ``w_max = w_max_factor * max|W_init|``; ``w = w_max (G+ - G-) / (G_max - G_min)``.
* ``update_scheme``: ``"dual"`` moves both devices of a differential pair (``n`` pulses up on
  one, ``n`` down on the other, so one pulse pair is a weight step of ``2 w_max / P``);
  ``"single"`` writes only ``G+`` (step ``w_max / P``) and keeps ``G-`` as a fixed reference.
* ``rounding`` of the desired update ``dW / step`` to a pulse count: ``"stochastic"``
  (unbiased, ``floor(v + U[0,1))``), ``"nearest"`` (NeuroSim's truncation at 0.5) or
  ``"accumulate"`` (nearest, with the remainder kept in a digital accumulator for the next
  update, as in mixed-precision training, Nandakumar et al., Frontiers in Neuroscience 2020).
* ``program_noise``: apply the cycle-to-cycle noise to the initial programming pulses too.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Iterable

from pipesdfa.util.errors import UserError
from pipesdfa.hw.config.device import DeviceParams

__all__ = ["AnalogConfig", "UPDATE_SCHEMES", "ROUNDINGS", "parse_set_options", "split_device_and_analog"]

UPDATE_SCHEMES = ("dual", "single")
ROUNDINGS = ("stochastic", "nearest", "accumulate")


@dataclass(frozen=True)
class AnalogConfig:
    """Circuit and update-scheme choices of the analog layers (module docstring)."""

    adc_bits: int = 0
    adc_range: float = 4.0
    tile_rows: int = 128
    w_max_factor: float = 2.0
    update_scheme: str = "dual"
    rounding: str = "stochastic"
    program_noise: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.adc_bits, bool) or not isinstance(self.adc_bits, int) or not 0 <= self.adc_bits <= 16:
            raise UserError(f"analog option adc_bits must be an integer in [0, 16] (0 = no ADC), got {self.adc_bits!r}")
        if not (isinstance(self.adc_range, (int, float)) and math.isfinite(self.adc_range) and self.adc_range > 0):
            raise UserError(f"analog option adc_range must be a number > 0, got {self.adc_range!r}")
        if isinstance(self.tile_rows, bool) or not isinstance(self.tile_rows, int) or self.tile_rows < 1:
            raise UserError(f"analog option tile_rows must be an integer >= 1, got {self.tile_rows!r}")
        if not (isinstance(self.w_max_factor, (int, float)) and math.isfinite(self.w_max_factor) and self.w_max_factor > 0):
            raise UserError(f"analog option w_max_factor must be a number > 0, got {self.w_max_factor!r}")
        if self.update_scheme not in UPDATE_SCHEMES:
            raise UserError(f"analog option update_scheme must be one of {', '.join(UPDATE_SCHEMES)}, got {self.update_scheme!r}")
        if self.rounding not in ROUNDINGS:
            raise UserError(f"analog option rounding must be one of {', '.join(ROUNDINGS)}, got {self.rounding!r}")
        if not isinstance(self.program_noise, bool):
            raise UserError(f"analog option program_noise must be true or false, got {self.program_noise!r}")

    def with_(self, **changes: Any) -> "AnalogConfig":
        known = {f.name for f in fields(self)}
        for k in changes:
            if k not in known:
                raise UserError(f"unknown analog option {k!r}; expected one of: {', '.join(sorted(known))}")
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_set_options(items: Iterable[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Parse ``--set key=value`` items into ``(device_changes, analog_changes)``.

    Keys are ``device.KEY`` for the device facts (``device.levels``, ``device.c2c_sigma``, ...: the
    same keys, parsed by the same code, as ``pipesdfa simulate --set device.KEY=V``) and
    ``analog.KEY`` for the analog options (``analog.adc_bits``, ``analog.rounding``, ...); a bare
    ``KEY`` is accepted for either. Values are converted to the field's type by
    :func:`pipesdfa.hw.config.tree.coerce`; a later item overrides an earlier one with the same key.
    """
    from pipesdfa.hw.config.keys import coerce, parse_set
    from pipesdfa.hw.config.tree import DEVICE_KEYS

    dev0, ana0 = DeviceParams(), AnalogConfig()
    analog_keys = {f.name for f in fields(AnalogConfig)}
    device: dict[str, Any] = {}
    analog: dict[str, Any] = {}
    for key, value in parse_set(list(items)).items():
        section, dot, leaf = key.rpartition(".")
        if dot and section not in ("device", "analog"):
            raise UserError(f"--set {key}: unknown key; expected device.KEY or analog.KEY")
        if key == "device.preset":
            raise UserError("--set device.preset: choose the device with --device-preset")
        if leaf in DEVICE_KEYS and section in ("", "device"):
            device[leaf] = coerce(f"device.{leaf}", getattr(dev0, leaf), value, "--set")
        elif leaf in analog_keys and section in ("", "analog"):
            analog[leaf] = coerce(f"analog.{leaf}", getattr(ana0, leaf), value, "--set")
        else:
            raise UserError(f"--set {key}: unknown key; expected a device parameter "
                            f"(device.{{{', '.join(sorted(DEVICE_KEYS))}}}) or an analog option "
                            f"(analog.{{{', '.join(sorted(analog_keys))}}})")
    return device, analog


def split_device_and_analog(preset: DeviceParams, items: Iterable[str]) -> tuple[DeviceParams, AnalogConfig]:
    """Apply ``--set`` items to a device preset and to the default :class:`AnalogConfig`."""
    device_changes, analog_changes = parse_set_options(items)
    return preset.with_(**device_changes), AnalogConfig().with_(**analog_changes)
