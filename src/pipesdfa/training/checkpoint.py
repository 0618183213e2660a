"""Checkpoints of a training run: written atomically, read with one clear error per problem."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from pipesdfa.util.atomic import atomic_write_with
from pipesdfa.util.errors import UserError

__all__ = ["CHECKPOINT", "CHECKPOINT_VERSION", "save_checkpoint", "load_checkpoint", "restore", "model_from_checkpoint"]

CHECKPOINT = "checkpoint.pt"
#: 2: the config in sections (:data:`pipesdfa.training.config.SECTIONS`); version 1 (flat
#: config keys) is still read, its config moved into sections.
CHECKPOINT_VERSION = 2


def save_checkpoint(path: Path, run: Any, epoch: int, history: list[dict]) -> None:
    state = {
        "version": CHECKPOINT_VERSION,
        "config": run.cfg.to_dict(),
        "epoch": epoch,
        "model": run.model.state_dict(),
        "model_spec": run.model.spec.to_dict(),
        "rule": run.rule.state_dict(),
        "optimizer": run.optimizer.state_dict(),
        "scheduler": run.scheduler.state_dict(),
        "history": history,
        "torch_rng": torch.get_rng_state(),
    }
    if run.hw is not None:
        state["analog"] = run.hw.state_dict()
    if getattr(run, "before", None) is not None:  # a fine-tuning run's base network (pipesdfa.training.finetune)
        state["before"] = run.before
    atomic_write_with(path, lambda tmp: torch.save(state, tmp))


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a checkpoint, with one clear error for a missing, truncated or foreign file.

    ``torch.load(weights_only=True)``: torch's restricted unpickler, which rebuilds tensors and
    plain containers only, so a checkpoint from someone else cannot run code when loaded; it is
    written in Python and keeps its memo in a dict, so a damaged memo index or length fails
    fast instead of allocating what it names."""
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT
    if not path.is_file():
        raise UserError(f"checkpoint {path} does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 -- any unpickling failure means a corrupt file
        raise UserError(f"checkpoint {path} is corrupt or not a pipesdfa checkpoint ({type(exc).__name__})") from None
    if not isinstance(state, dict) or state.get("version") not in (1, CHECKPOINT_VERSION):
        raise UserError(f"checkpoint {path}: field 'version' missing or not 1 or {CHECKPOINT_VERSION}")
    for key in ("config", "epoch", "model", "rule", "optimizer", "scheduler", "history"):
        if key not in state:
            raise UserError(f"checkpoint {path}: field {key!r} missing")
    for key, kind, what in (("config", dict, "a mapping"), ("model", dict, "a mapping of tensors"),
                            ("rule", dict, "a mapping"), ("optimizer", dict, "a mapping"),
                            ("scheduler", dict, "a mapping"), ("history", list, "a list of epochs"),
                            ("model_spec", dict, "a mapping")):
        if key in state and not isinstance(state[key], kind):
            raise UserError(f"checkpoint {path}: field {key!r} must be {what}, got {type(state[key]).__name__}")
    epoch = state["epoch"]
    if isinstance(epoch, bool) or not isinstance(epoch, int) or not 0 <= epoch <= len(state["history"]):
        raise UserError(f"checkpoint {path}: field 'epoch' must be an integer between 0 and the {len(state['history'])} "
                        f"epochs of its history, got {epoch!r}")
    if not all(isinstance(h, dict) for h in state["history"]):
        raise UserError(f"checkpoint {path}: field 'history' must be a list of mappings")
    if not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state["model"].items()):
        raise UserError(f"checkpoint {path}: field 'model' must map parameter names to tensors")
    if state["version"] == 1:  # flat config keys: into sections
        from pipesdfa.training.config import TrainConfig

        state["config"] = TrainConfig.from_flat(state["config"], f"checkpoint {path}: field 'config'").to_dict()
        state["version"] = CHECKPOINT_VERSION
    state["path"] = str(path)
    return state


def restore(run: Any, state: dict[str, Any]) -> None:
    path = state.get("path", "checkpoint")
    try:
        run.model.load_state_dict(state["model"])
        run.rule.load_state_dict(state["rule"])
        run.optimizer.load_state_dict(state["optimizer"])
        run.scheduler.load_state_dict(state["scheduler"])
        if run.hw is not None:
            run.hw.load_state_dict(state["analog"])
    except (RuntimeError, KeyError, ValueError) as exc:
        raise UserError(f"checkpoint {path} does not match its config: {str(exc).splitlines()[0]}") from None
    if "torch_rng" in state:
        torch.set_rng_state(state["torch_rng"])


def model_from_checkpoint(state: dict[str, Any]):
    """The zoo network of a checkpoint, weights loaded, without loading its dataset (the
    checkpoint's ``model_spec``; older checkpoints, which lack it, load the data for its shape)."""
    from pipesdfa.zoo.models import build_model
    from pipesdfa.snn.neurons import NeuronParams
    from pipesdfa.training.config import TrainConfig
    from pipesdfa.zoo.workloads import ModelSpec

    where = f"checkpoint {state.get('path')}"
    cfg = TrainConfig.from_values(state["config"], f"{where}: field 'config'")
    if "model_spec" in state:
        try:
            spec = ModelSpec.from_dict(state["model_spec"])
        except UserError as exc:
            raise UserError(f"{where}: field 'model_spec': {exc}") from None
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise UserError(f"{where}: field 'model_spec' is not a model description ({type(exc).__name__}: "
                            f"{exc})") from None
    else:
        from pipesdfa.data.registry import load_dataset
        from pipesdfa.zoo.workloads import build_spec

        data = load_dataset(cfg.data.dataset, T=cfg.data.T, data_dir=cfg.data.dir, seed=cfg.seed, max_train=1, max_test=1,
                            **cfg.data.options)
        spec = build_spec(cfg.model.name, data.input_shape, data.num_classes, cfg.model.hidden, name=cfg.workload or cfg.model.name)
    _check_shapes(spec, state["model"], where)
    try:
        net = build_model(spec, NeuronParams(kind=cfg.model.neuron, tau=cfg.model.tau, surrogate=cfg.model.surrogate, alpha=cfg.model.alpha),
                          backend="auto")
    except UserError as exc:
        raise UserError(f"{where}: {exc}") from None
    except (TypeError, ValueError, RuntimeError) as exc:
        raise UserError(f"{where}: field 'model_spec' does not build a network ({type(exc).__name__}: {exc})") from None
    try:
        net.load_state_dict(state["model"])
    except (RuntimeError, TypeError, ValueError, KeyError) as exc:
        raise UserError(f"checkpoint {state.get('path')}: field 'model' does not match its config: "
                        f"{str(exc).splitlines()[0]}") from None
    return net


def _check_shapes(spec, weights: dict, where: str) -> None:
    """The spec's weight shapes against the saved tensors, before anything is allocated (a
    damaged spec could ask for gigabytes)."""
    from pipesdfa.zoo.workloads import resolve

    try:
        layers = resolve(spec)
    except UserError as exc:
        raise UserError(f"{where}: field 'model_spec': {exc}") from None
    except (TypeError, ValueError) as exc:
        raise UserError(f"{where}: field 'model_spec' does not resolve ({exc})") from None
    for l in layers:
        key = f"blocks.{l.index}.weight_op.weight"
        shape = (l.out_channels, l.in_channels, l.kernel, l.kernel) if l.kind == "conv" else (l.out_channels, l.in_channels)
        got = weights.get(key)
        if got is None or tuple(got.shape) != shape:
            raise UserError(f"{where}: field 'model' has {key} of shape {None if got is None else tuple(got.shape)}, "
                            f"but field 'model_spec' needs {shape}")
