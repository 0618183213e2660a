"""Training configuration files (``pipesdfa train --config FILE.yaml``) and the run folder's
``config.yaml``.

A file is a YAML (or JSON) mapping whose keys are :class:`~pipesdfa.runconfig.TrainConfig`
fields (``pipesdfa train --help`` names the flag of each: ``--init-gain`` is ``init_gain``).
``workload: NAME`` starts from that workload's settings; otherwise ``dataset`` and ``model``
are required (from the file or the flags). Values are checked against the field's type:
an unknown key, or a value of the wrong type, is a :class:`UserError` naming the key and
the file. YAML 1.1 reads ``1e-3`` as a string; float fields accept such strings.

``config.yaml`` in a run folder is the *resolved* configuration (:func:`resolved_config`):
every default written out as the value it took (the surrogate's alpha, the concrete neuron
backend and device, the thread count ``auto`` chose, the split sizes), and no key that does
not apply to the run (SDFA options of a BPTT run, device options of an ideal run, ``init_gain``
of a data-driven init), so no value is ``null``. ``pipesdfa train --config RUN/config.yaml
--out NEW`` repeats the run bit-identically on the same machine.
"""

from __future__ import annotations

import json
import os
import types
import typing
from dataclasses import fields
from pathlib import Path
from typing import Any

from pipesdfa.errors import UserError
from pipesdfa.names import did_you_mean

__all__ = ["read_config_file", "check_fields", "resolved_config", "dump_config", "CONFIG_FILE"]

CONFIG_FILE = "config.yaml"


def _hints() -> dict[str, Any]:
    from pipesdfa.runconfig import TrainConfig

    hints = typing.get_type_hints(TrainConfig)
    return {f.name: hints[f.name] for f in fields(TrainConfig)}


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


def check_fields(values: dict[str, Any], source: str) -> dict[str, Any]:
    """``values`` with each key checked to be a config field and each value coerced to its
    type; :class:`UserError` naming the key and ``source`` otherwise."""
    from pipesdfa.threads import parse_threads

    hints = _hints()
    out: dict[str, Any] = {}
    for key, value in values.items():
        if not isinstance(key, str) or key not in hints:
            raise UserError(f"{source}: unknown key {key!r}{did_you_mean(str(key), hints)}; expected one of: "
                            f"{', '.join(hints)}")
        if key == "threads":
            try:
                out[key] = parse_threads(value)
            except ValueError as exc:
                raise UserError(f"{source}: key 'threads': {exc}") from None
            continue
        try:
            out[key] = _coerce(value, hints[key])
        except TypeError:
            raise UserError(f"{source}: key {key!r}: expected {_describe(hints[key])}, got {value!r}") from None
    return out


def read_config_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The checked key/values of a YAML or JSON config file (see the module docstring)."""
    import yaml

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"config file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read config file {path}: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (yaml.YAMLError, ValueError, RecursionError) as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" at line {where.line + 1}" if where is not None else ""
        raise UserError(f"{path}: not valid {'JSON' if path.suffix == '.json' else 'YAML'}{at}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a mapping of config keys, got {type(data).__name__}")
    return check_fields(data, str(path))


def resolved_config(cfg, run=None) -> dict[str, Any]:
    """The fully resolved configuration of ``cfg`` (``run``: the built run, which knows the
    concrete device, backend and split sizes); see the module docstring."""
    from pipesdfa.kernels.backends import resolve_backend
    from pipesdfa.surrogates import get_surrogate

    d = cfg.to_dict()
    if d["alpha"] is None:
        d["alpha"] = get_surrogate(cfg.surrogate).default_alpha
    if run is not None:
        d["device"] = str(run.device)
        d["backend"] = resolve_backend(cfg.backend, run.device)
        d["max_train"] = len(run.data.train)
        d["max_test"] = len(run.data.test)
    if cfg.method == "sdfa":
        opts = run.rule.options() if run is not None else {}
        for k, default in (("feedback", "shared"), ("distribution", "gaussian"), ("temporal", "local")):
            if d[k] is None:
                d[k] = opts.get(k, default)
        if d["feedback_seed"] is None:
            d["feedback_seed"] = cfg.seed
        if d["sdfa_variant"] is None:
            d["sdfa_variant"] = opts.get("variant", "authors")
    else:
        for k in ("feedback", "distribution", "temporal", "feedback_seed", "sdfa_impl", "sdfa_store", "sdfa_variant"):
            d.pop(k)
    if cfg.hardware != "rram":
        d.pop("device_preset")
        d.pop("device_set")
    if cfg.init == "data":
        d.pop("init_gain")
    else:
        d.pop("init_rate")
    d["lr_restarts"] = list(d["lr_restarts"])
    if cfg.shift is None:
        d.pop("shift_seed")
    else:  # the canonical NAME:key=value form
        from pipesdfa.data.shifting import resolve_shift

        d["shift"] = resolve_shift(cfg.dataset, cfg.shift, cfg.shift_seed).spec
    left = [k for k, v in d.items() if v is None]
    for k in left:  # not applicable to this run (no workload name, an embedded dataset's data_dir)
        d.pop(k)
    return d


def dump_config(d: dict[str, Any]) -> str:
    """YAML text of a resolved configuration (keys in field order)."""
    import yaml

    head = "# pipesdfa resolved training configuration: pipesdfa train --config THIS_FILE --out NEW repeats the run\n"
    return head + yaml.safe_dump(d, sort_keys=False, default_flow_style=None)
