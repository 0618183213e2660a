"""Checking a mapping of fields (a config file's, a checkpoint's) against a dataclass: every key a
field, every value coerced to the field's type hint (``int``, ``float`` -- also from a string
such as YAML 1.1's ``1e-3`` --, ``str``, ``bool``, ``list``/``tuple`` of those, ``dict``,
optional), or a :class:`~pipesdfa.util.errors.UserError` naming the key, what was expected and the
source."""

from __future__ import annotations

import types
import typing
from dataclasses import fields
from typing import Any, Callable

from pipesdfa.util.errors import UserError
from pipesdfa.util.names import did_you_mean

__all__ = ["check_dataclass_fields"]


def _describe(hint: Any) -> str:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join("null" if a is type(None) else _describe(a) for a in args)
    if origin in (tuple, list):
        return f"a list of {_describe(args[0])}"
    if origin is dict or hint is dict:
        return "a mapping"
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false"}.get(hint, str(hint))


def _coerce(value: Any, hint: Any) -> Any:
    """``value`` as ``hint`` (raises ``TypeError`` when it is not one)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for a in args:
            if a is type(None):
                continue
            try:
                return _coerce(value, a)
            except TypeError:
                pass
        raise TypeError
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise TypeError
        return tuple(_coerce(v, args[0]) for v in value)
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise TypeError
        return [_coerce(v, args[0]) for v in value]
    if origin is dict or hint is dict:
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            raise TypeError
        return dict(value)
    if hint is bool:
        if not isinstance(value, bool):
            raise TypeError
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError
        return value
    if hint is float:
        if isinstance(value, bool):
            raise TypeError
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                raise TypeError from None
        raise TypeError
    if hint is str:
        if not isinstance(value, str):
            raise TypeError
        return value
    if hint is Any:
        return value
    raise TypeError



def check_dataclass_fields(cls: type, values: dict[str, Any], source: str,
                           parsers: dict[str, Callable[[Any], Any]] | None = None) -> dict[str, Any]:
    """``values`` with each key checked to be a field of the dataclass ``cls`` and each value
    coerced to the field's type (``parsers[key]``, when given, parses that key instead and
    raises ``ValueError``); :class:`UserError` naming the key and ``source`` otherwise."""
    hints_all = typing.get_type_hints(cls)
    hints = {f.name: hints_all[f.name] for f in fields(cls)}
    parsers = parsers or {}
    out: dict[str, Any] = {}
    for key, value in values.items():
        if not isinstance(key, str) or key not in hints:
            raise UserError(f"{source}: unknown key {key!r}{did_you_mean(str(key), hints)}; expected one of: "
                            f"{', '.join(hints)}")
        if key in parsers:
            try:
                out[key] = parsers[key](value)
            except ValueError as exc:
                raise UserError(f"{source}: key {key!r}: {exc}") from None
            continue
        try:
            out[key] = _coerce(value, hints[key])
        except TypeError:
            raise UserError(f"{source}: key {key!r}: expected {_describe(hints[key])}, got {value!r}") from None
    return out
