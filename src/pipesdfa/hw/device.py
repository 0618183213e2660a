"""RRAM device parameters: the one source of truth for the device (training and cost model).

Both the device-aware training (analog layers) and the hardware cost simulator read device
facts from here (conductance range, number of levels, pulse width and voltages), so the
accuracy we report for a configuration and its cost describe the same device.

Units are in the field names: ``_ohm``, ``_s`` (seconds), ``_v`` (volts), ``_j`` (joules).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from pipesdfa.errors import UserError

__all__ = ["DeviceParams", "DEVICE_PRESETS", "get_device_preset"]


@dataclass(frozen=True)
class DeviceParams:
    """Static description of one RRAM cell.

    ``r_on_ohm``/``r_off_ohm``: low/high resistance state; ``levels``: distinguishable
    conductance levels (>= 2); ``write_pulse_s``: width of one programming pulse;
    ``read_voltage_v``: read voltage on the word line; ``source``: citation.
    """

    name: str = "neurosim-default"
    r_on_ohm: float = 240e3
    r_off_ohm: float = 24e6
    levels: int = 60
    write_pulse_s: float = 50e-9
    read_voltage_v: float = 0.5
    source: str = "DNN+NeuroSim V2.1 default RRAM (Peng et al., IEDM 2019; PAPER.md section 5)"

    def __post_init__(self) -> None:
        if not self.levels >= 2:
            raise UserError(f"device {self.name!r}: levels must be >= 2, got {self.levels}")
        if not self.r_on_ohm > 0:
            raise UserError(f"device {self.name!r}: r_on_ohm must be > 0, got {self.r_on_ohm}")
        if not self.r_off_ohm > self.r_on_ohm:
            raise UserError(f"device {self.name!r}: r_off_ohm ({self.r_off_ohm}) must exceed r_on_ohm ({self.r_on_ohm})")
        if not self.write_pulse_s > 0:
            raise UserError(f"device {self.name!r}: write_pulse_s must be > 0, got {self.write_pulse_s}")
        if not self.read_voltage_v > 0:
            raise UserError(f"device {self.name!r}: read_voltage_v must be > 0, got {self.read_voltage_v}")

    @property
    def g_max_s(self) -> float:
        """Largest conductance ``1 / R_on`` in siemens."""
        return 1.0 / self.r_on_ohm

    @property
    def g_min_s(self) -> float:
        """Smallest conductance ``1 / R_off`` in siemens."""
        return 1.0 / self.r_off_ohm

    def with_(self, **changes: Any) -> "DeviceParams":
        known = {f.name for f in fields(self)}
        for k in changes:
            if k not in known:
                raise UserError(f"unknown device parameter {k!r}; expected one of: {', '.join(sorted(known))}")
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


DEVICE_PRESETS: dict[str, DeviceParams] = {
    "neurosim-default": DeviceParams(),
}


def get_device_preset(name: str) -> DeviceParams:
    try:
        return DEVICE_PRESETS[name]
    except KeyError:
        raise UserError(f"unknown device preset {name!r}; expected one of: {', '.join(DEVICE_PRESETS)}") from None
