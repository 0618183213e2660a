"""Training configuration files (``pipesdfa train --config FILE.yaml``) and the run folder's
``config.yaml``.

A file is a YAML (or JSON) mapping of :class:`~pipesdfa.training.config.TrainConfig`'s sections
(``data``, ``model``, ``rule`` with ``rule.sdfa``, ``optim``, ``hardware``, ``finetune``,
``runtime``) and ``seed``/``workload``; ``pipesdfa train --help`` names the flag of each key
(``--init-gain`` is ``model.init_gain``). A key of the flat files before sections is refused
with its new place (``lr`` moved to ``optim.lr``).
``workload: NAME`` starts from that workload's settings; otherwise ``dataset`` and ``model``
are required (from the file or the flags). Values are checked against the field's type:
an unknown key, or a value of the wrong type, is a :class:`UserError` naming the key and
the file. YAML 1.1 reads ``1e-3`` as a string; float fields accept such strings.

``config.yaml`` in a run folder is the *resolved* configuration (:func:`resolved_config`):
every default written out as the value it took (the surrogate's alpha, the concrete neuron
backend and device, the thread count ``auto`` chose, the split sizes), and no key that does
not apply to the run (the options of another rule, device options of an ideal run,
``init_gain`` of a data-driven init), so no value is ``null``. ``pipesdfa train --config RUN/config.yaml
--out NEW`` repeats the run bit-identically on the same machine.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pipesdfa.util.errors import UserError
from pipesdfa.training.config import check_fields

__all__ = ["read_config_file", "check_fields", "resolved_config", "dump_config", "CONFIG_FILE"]

CONFIG_FILE = "config.yaml"


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
    from pipesdfa.snn.kernels.backends import resolve_backend
    from pipesdfa.snn.surrogates import get_surrogate

    from pipesdfa.learning.options import RULE_OPTIONS

    d = cfg.to_dict()
    model, data, rule = d["model"], d["data"], d["rule"]
    opts = cfg.rule.options()  # the layers from the top down: rule, neuron, data
    for name in RULE_OPTIONS:  # only the run's rule's options, each as the bound rule uses it
        rule.pop(name)
    if opts is not None:
        bound = {k: v for k, v in cfg.rule_kwargs().items() if v is not None}  # before the run: the bound defaults
        rule[cfg.rule.method] = opts.resolved({**bound, **(run.rule.options() if run is not None else {})}, cfg.seed)
    if model["alpha"] is None:
        model["alpha"] = get_surrogate(cfg.model.surrogate).default_alpha
    if run is not None:
        d["runtime"]["device"] = str(run.device)
        model["backend"] = resolve_backend(cfg.model.backend, run.device)
        data["max_train"] = len(run.data.train) + (len(run.data.val) if run.data.val is not None else 0)  # before the split
        data["max_test"] = len(run.data.test)
    if cfg.hardware.kind != "rram":
        d["hardware"].pop("device_preset")
        d["hardware"].pop("device_set")
    model.pop("init_gain" if cfg.model.init == "data" else "init_rate")
    if cfg.finetune.shift is None:
        d["finetune"].pop("shift_seed")
    else:  # the canonical NAME:key=value form
        from pipesdfa.data.shifting import resolve_shift

        d["finetune"]["shift"] = resolve_shift(cfg.data.dataset, cfg.finetune.shift, cfg.finetune.shift_seed).spec
    return _drop_none(d)


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    """``d`` without ``None`` values (not applicable to this run: no workload name, an embedded
    dataset's directory), recursively."""
    return {k: _drop_none(v) if isinstance(v, dict) and k != "options" else v for k, v in d.items() if v is not None}


def dump_config(d: dict[str, Any]) -> str:
    """YAML text of a resolved configuration (keys in field order)."""
    import yaml

    head = "# pipesdfa resolved training configuration: pipesdfa train --config THIS_FILE --out NEW repeats the run\n"
    return head + yaml.safe_dump(d, sort_keys=False, default_flow_style=None)
