"""Dotted keys of the hardware parameter tree: listing, typed coercion, applying changes.

``flatten(params)`` lists every leaf as ``"section.key"``; :func:`coerce` converts a value from
YAML/JSON/``--set`` to a leaf's type (one function for every command: ``pipesdfa simulate --set
device.levels=32`` and ``pipesdfa train --hardware rram --set device.levels=32`` both use it);
:func:`apply_changes` applies dotted changes to a tree, refusing unknown keys by name.
"""

from __future__ import annotations

import math
from dataclasses import fields, is_dataclass, replace
from typing import Any, Mapping

from pipesdfa.util.errors import UserError

__all__ = ["flatten", "coerce", "apply_changes", "flatten_nested", "parse_set"]


def flatten(p: Any, prefix: str = "") -> dict[str, Any]:
    """``{"section.key": value}`` for every leaf of a params dataclass."""
    out: dict[str, Any] = {}
    for f in fields(p):
        v = getattr(p, f.name)
        key = f"{prefix}{f.name}"
        if is_dataclass(v):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def coerce(key: str, current: Any, raw: Any, where: str) -> Any:
    """Convert ``raw`` (from YAML/JSON/--set) to the type of ``current``; errors name ``key``."""
    try:
        if isinstance(current, bool):
            if isinstance(raw, bool):
                return raw
            s = str(raw).strip().lower()
            if s in ("true", "1", "yes", "on"):
                return True
            if s in ("false", "0", "no", "off"):
                return False
            raise ValueError
        if isinstance(current, int):
            if isinstance(raw, bool):
                raise ValueError
            f = float(raw)
            if not math.isfinite(f) or f != int(f):
                raise ValueError
            return int(f)
        if isinstance(current, float):
            if isinstance(raw, bool):
                raise ValueError
            return float(raw)
        return str(raw).strip()
    except (TypeError, ValueError):
        kind = "true/false" if isinstance(current, bool) else {int: "an integer", float: "a number"}.get(
            type(current), "a string")
        raise UserError(f"{where}: {key} = {raw!r}; expected {kind}") from None


def apply_changes(p: Any, changes: Mapping[str, Any], where: str) -> Any:
    """``p`` with dotted-key ``changes`` applied (typed); a new ``device.preset`` first resets
    every device fact to that preset's. Unknown keys are refused, naming them."""
    known = flatten(p)
    for key in changes:
        if key not in known:
            close = [k for k in known if k.split(".")[-1] == key.split(".")[-1]]
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise UserError(f"{where}: unknown key {key!r}{hint}; expected one of: {', '.join(sorted(known))}")
    if "device.preset" in changes:
        from pipesdfa.hw.config.device import get_device_preset
        from pipesdfa.hw.config.tree import DEVICE_KEYS

        name = coerce("device.preset", "", changes["device.preset"], where)
        try:
            base = get_device_preset(name)
        except UserError as exc:
            raise UserError(f"{where}: device.preset = {name!r}: {exc}") from None
        p = replace(p, device=replace(p.device, preset=name, **{k: getattr(base, k) for k in DEVICE_KEYS}))
        known = flatten(p)
    groups: dict[str, dict[str, Any]] = {}
    for key, raw in changes.items():
        if key == "device.preset":
            continue
        section, leaf = key.split(".", 1)
        groups.setdefault(section, {})[leaf] = coerce(key, known[key], raw, where)
    for section, vals in groups.items():
        p = replace(p, **{section: replace(getattr(p, section), **vals)})
    return p


def flatten_nested(d: Mapping[str, Any], where: str, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}`` (dotted keys pass through)."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(flatten_nested(v, where, key + "."))
        else:
            out[key] = v
    return out


def parse_set(items: list[str] | None, flag: str = "--set") -> dict[str, str]:
    """``["a.b=1", ...]`` -> ``{"a.b": "1"}``; rejects items without ``=``."""
    out: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UserError(f"{flag} {item!r}: expected KEY=VALUE, e.g. {flag} crossbar.rows=256")
        out[key.strip()] = value.strip()
    return out
