"""A resolved hardware configuration: preset -> files -> ``--set``, with a source per value.

``load_config("pipelayer-2017", {"crossbar.rows": 64}, ["my.yaml"])`` resolves the preset
(:mod:`pipesdfa.hw.config.presets`), applies each YAML/JSON file (``{section: {key: value}}`` or
dotted keys) and then the overrides, validates (:mod:`pipesdfa.hw.config.checks`) and records where
every value came from. ``device.derive`` presets take the crossbar read energy from the device:
``cols x V_read^2 x mean(1/R_on, 1/R_off) x t_read`` per active row.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Mapping

from pipesdfa.util.errors import UserError
from pipesdfa.hw.config.checks import validate
from pipesdfa.hw.config.keys import apply_changes, flatten, flatten_nested
from pipesdfa.hw.config.tree import HwParams
from pipesdfa.hw.config.presets import DEFAULT_PRESET, DEFAULT_SOURCES, DRAM_PRESETS, PRESETS

__all__ = ["HwConfig", "load_config", "extend_config", "with_dram", "DEFAULT_PRESET"]


def _resolve_preset(name: str) -> tuple[HwParams, dict[str, str]]:
    if name not in PRESETS:
        import difflib

        close = difflib.get_close_matches(name, list(PRESETS), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise UserError(f"unknown hardware preset {name!r}{hint}; expected one of: {', '.join(PRESETS)}")
    pr = PRESETS[name]
    if pr.base is None:
        p, sources = HwParams(), dict(DEFAULT_SOURCES)
    else:
        p, sources = _resolve_preset(pr.base)
    p = apply_changes(p, {k: v for k, (v, _) in pr.changes.items()}, f"preset {name!r}")
    for k, (_, why) in pr.changes.items():
        sources[k] = why
    return p, sources


def _derive_from_device(p: HwParams, sources: dict[str, str]) -> tuple[HwParams, dict[str, str]]:
    d = p.device_params
    g_mean = 0.5 * (d.g_max_s + d.g_min_s)
    row_j = p.crossbar.cols * d.read_voltage_v ** 2 * g_mean * p.crossbar.read_latency_s
    p = replace(p, crossbar=replace(p.crossbar, read_energy_row_j=row_j))
    sources = dict(sources)
    sources["crossbar.read_energy_row_j"] = (
        f"derived: cols x V_read^2 x mean(1/R_on, 1/R_off) x t_read from device {d.name!r} ({d.source})")
    return p, sources


@dataclass(frozen=True)
class HwConfig:
    """A resolved configuration: the parameter tree, where each value comes from, the preset name."""

    params: HwParams
    sources: dict[str, str]
    preset: str

    def with_overrides(self, changes: Mapping[str, Any], where: str = "--set") -> "HwConfig":
        if not changes:
            return self
        p = apply_changes(self.params, changes, where)
        sources = dict(self.sources)
        if "device.preset" in changes:
            for k in flatten(p):
                if k.startswith("device.") and k not in ("device.preset", "device.derive"):
                    sources[k] = f"device preset {p.device.preset!r}"
        for k in changes:
            sources[k] = f"override ({where})"
        if p.device.derive and "crossbar.read_energy_row_j" not in changes:
            p, sources = _derive_from_device(p, sources)
        validate(p, where)
        return HwConfig(p, sources, self.preset)

    @property
    def device_preset(self) -> str:
        """The device this configuration prices (``*`` when its facts were overridden)."""
        from pipesdfa.hw.config.device import get_device_preset
        from pipesdfa.hw.config.tree import DEVICE_KEYS

        sec = self.params.device
        base = get_device_preset(sec.preset)
        changed = any(getattr(sec, k) != getattr(base, k) for k in DEVICE_KEYS)
        return sec.preset + ("*" if changed else "")

    def to_dict(self) -> dict[str, Any]:
        """Nested plain dict (YAML/JSON-ready) of the parameter tree."""
        out: dict[str, Any] = {}
        for key, v in flatten(self.params).items():
            section, leaf = key.split(".", 1)
            out.setdefault(section, {})[leaf] = v
        return out

    @staticmethod
    def from_dict(d: Mapping[str, Any], preset: str = "isaac-32nm", where: str = "config") -> "HwConfig":
        """Start from ``preset`` and apply a nested (or dotted) dict; unknown keys are rejected."""
        return load_config(preset).with_overrides(flatten_nested(d, where), where)


def load_config(preset: str = DEFAULT_PRESET, overrides: Mapping[str, Any] | None = None,
                files: list[str | Path] | None = None) -> HwConfig:
    """Resolve ``preset``, then apply each YAML/JSON file in order, then ``overrides``."""
    p, sources = _resolve_preset(preset)
    if p.device.derive:
        p, sources = _derive_from_device(p, sources)
    validate(p, f"preset {preset!r}")
    return extend_config(HwConfig(p, sources, preset), files, overrides)


def extend_config(cfg: HwConfig, files: list[str | Path] | None = None,
                  overrides: Mapping[str, Any] | None = None) -> HwConfig:
    """``cfg`` with each YAML/JSON file applied in order, then ``overrides`` (``--set``)."""
    for f in files or []:
        cfg = cfg.with_overrides(_read_override_file(Path(f)), str(f))
    return cfg.with_overrides(dict(overrides or {}), "--set")


def _read_override_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except Exception as exc:  # noqa: BLE001 -- any parse error is the user's file
        raise UserError(f"{path}: not valid {'JSON' if path.suffix.lower() == '.json' else 'YAML'}: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise UserError(f"{path}: expected a mapping of section -> key -> value at the top level")
    return flatten_nested(data, str(path))


def with_dram(cfg: HwConfig, name: str) -> HwConfig:
    """``cfg`` with the off-chip memory of :data:`~pipesdfa.hw.config.presets.DRAM_PRESETS` ``name`` (cited)."""
    if name not in DRAM_PRESETS:
        raise UserError(f"unknown DRAM preset {name!r}; expected one of: {', '.join(DRAM_PRESETS)}")
    changes = DRAM_PRESETS[name]
    out = cfg.with_overrides({k: v for k, (v, _) in changes.items()}, f"dram preset {name!r}")
    return HwConfig(out.params, {**out.sources, **{k: why for k, (_, why) in changes.items()}}, out.preset)
