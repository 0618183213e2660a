"""Resuming a run: which folder, which config, what a flag may change, how epochs extend.

The run folder contract (docs/training.md; ``pipesdfa finetune`` builds on it):

* ``RUN/config.yaml`` exists from the moment a run starts (before its first epoch) and
  holds its resolved configuration; ``RUN/checkpoint.pt`` holds the state after the last
  finished epoch (written atomically: a killed run leaves the previous one).
* ``resume RUN`` (a folder or its checkpoint file) continues from the checkpoint, or from the
  start with ``config.yaml`` when the run was killed before its first checkpoint. It ends
  bit-identical to an uninterrupted run (same machine, same thread count: ``config.yaml``
  records the count the run used).
* A flag given with ``--resume`` must agree with the run (:func:`check_agrees`): a flag that
  would change what is trained (workload, dataset, model, widths, method, rule options, data,
  hyper-parameters, seed, device, backend) or ``--out`` elsewhere is an error naming it. Only
  the run-time fields :data:`RUNTIME_FIELDS` may differ (a different thread count may change
  the last bits of the result).
* ``--epochs N``: N above the run's planned epochs ``E`` extends it; the learning-rate schedule
  restarts at ``E`` (:mod:`pipesdfa.training.schedules`), so the extended run is deterministic and equals
  a fresh run with ``epochs: N`` and ``lr_restarts: [.., E]``. N below ``E`` is an error.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any

from pipesdfa.training.checkpoint import CHECKPOINT, load_checkpoint
from pipesdfa.training.configfile import CONFIG_FILE, read_config_file, resolved_config
from pipesdfa.util.errors import UserError
from pipesdfa.training.config import TrainConfig, flat_view

__all__ = ["open_run", "extend", "check_agrees", "continued", "RUNTIME_FIELDS"]

#: Fields a resumed run may change: they do not change what is trained.
RUNTIME_FIELDS = ("threads", "num_workers", "tensorboard")


def open_run(path: str | os.PathLike[str]) -> tuple[TrainConfig, dict[str, Any] | None, Path]:
    """``(config, checkpoint state or None, run folder)`` of the run at ``path``."""
    path = Path(path)
    if path.is_dir() and not (path / CHECKPOINT).is_file():
        if (path / CONFIG_FILE).is_file():  # killed before its first checkpoint: start it again
            cfg = TrainConfig.from_values(read_config_file(path / CONFIG_FILE), str(path / CONFIG_FILE))
            return cfg.updated(out=str(path)), None, path
        raise UserError(f"{path} is not a run folder: it has no {CHECKPOINT} and no {CONFIG_FILE}")
    state = load_checkpoint(path)
    folder = Path(state["path"]).parent
    cfg = TrainConfig.from_values(state["config"], f"checkpoint {state['path']}: field 'config'")
    return cfg.updated(out=str(folder)), state, folder


def extend(cfg: TrainConfig, done: int, epochs: int | None) -> TrainConfig:
    """``cfg`` with ``epochs`` as its new end (see the module docstring)."""
    if epochs is None or epochs == cfg.optim.epochs:
        return cfg
    if epochs < done:
        raise UserError(f"--epochs {epochs}: the run in {cfg.runtime.out} has already done {done} epochs")
    if epochs < cfg.optim.epochs:
        raise UserError(f"--epochs {epochs} would shorten the run in {cfg.runtime.out} (planned for {cfg.optim.epochs} epochs, "
                        f"{done} done); --epochs only extends a run")
    return cfg.updated(epochs=epochs, lr_restarts=tuple(cfg.optim.lr_restarts) + (cfg.optim.epochs,))


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return float(a) == float(b)
    return a == b


def check_agrees(cfg: TrainConfig, given: dict[str, tuple[str, Any]], folder: Path) -> None:
    """Every ``{field: (flag, value)}`` in ``given`` agrees with the run's ``cfg``, else a
    :class:`UserError` naming the flag (run-time fields and ``epochs`` are not checked)."""
    saved = flat_view(resolved_config(cfg))
    for key, (flag, value) in given.items():
        if key in RUNTIME_FIELDS or key == "epochs" or value is None:
            continue
        if key == "out":
            if Path(value).resolve() != folder.resolve():
                raise UserError(f"--out {value} contradicts --resume {folder}: a resumed run writes into its own "
                                f"folder; drop --out, or start a new run there without --resume")
            continue
        if key == "data_dir":
            old = saved.get("data_dir")
            if old is None or Path(value).resolve() != Path(old).resolve():
                raise UserError(f"{flag} {value} contradicts the run in {folder} (data_dir {old}); --resume "
                                f"continues a run on its own data")
            continue
        if key in ("backend", "device") and value == "auto":
            continue
        if key not in saved:
            raise UserError(f"{flag} {value} does not apply to the run in {folder} (method {cfg.rule.method}, "
                            f"hardware {cfg.hardware.kind}); --resume continues a run as it was configured")
        if not _same(saved[key], value):
            raise UserError(f"{flag} {value} contradicts the run in {folder} ({key} {saved[key]}); --resume "
                            f"continues a run as it was configured: drop the flag, or start a new run with --out")


def continued(cfg: TrainConfig, state: dict[str, Any] | None, folder: Path, given: dict[str, tuple[str, Any]],
              tensorboard: bool | None, epochs: int | None) -> TrainConfig:
    """The config a resumed run continues with: ``given`` flags checked against the run
    (:func:`check_agrees`), the run-time ones applied, ``epochs`` extending it (:func:`extend`)."""
    check_agrees(cfg, given, folder)
    runtime = {k: given[k][1] for k in RUNTIME_FIELDS if k in given}
    if tensorboard:
        runtime["tensorboard"] = True
    cfg = cfg.updated(**runtime)
    return extend(cfg, int(state["epoch"]) if state else 0, epochs).validate()
