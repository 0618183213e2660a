"""Adapting a trained run to a user's shifted data (``pipesdfa finetune``): the parts of a run
that start from another run's weights instead of an initialisation.

A fine-tuning run is an ordinary training run (:func:`pipesdfa.training.loop.train`: the same run
folder, ``config.yaml``, checkpoints, ``metrics.json`` and resume) whose configuration has

* ``base``: the checkpoint of the pre-trained run; its weights replace the initialisation
  (:func:`load_base`, before the weights are programmed onto RRAM for ``hardware="rram"``),
  and it must be a run of the same dataset and model;
* ``shift``/``shift_seed``: the user's device (:mod:`pipesdfa.data.shifting`), on both splits;
* ``samples_per_class`` ``K``: the few labelled samples the user gives, ``K`` per class of the
  shifted training split, drawn with the run's ``seed``;
* ``adapt``: ``all`` (every block the rule trains) or ``last`` (the output block only; every
  rule then computes the same update, the output block's true gradient).

Every epoch also evaluates the *unshifted* test split (``test_acc_unshifted``: what the
adaptation made the network forget), and before the first step the run evaluates the base
network as deployed (on the crossbars for ``rram``) on both test splits: ``metrics.json``'s
``finetune.before``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from torch import nn
from torch.utils.data import Dataset

from pipesdfa.util.errors import UserError
from pipesdfa.learning.feedback import ALIGNED, aligned_matrices
from pipesdfa.training.config import ADAPT

__all__ = ["ADAPT", "check_base", "shift_options", "extra_tests", "load_base", "trainable", "drop_frozen_grads",
           "evaluate_before", "evaluate_extra", "feedback_options", "align_feedback", "finetune_config",
           "finetune_metrics"]



def shift_options(cfg) -> dict[str, Any]:
    """The loader options of ``cfg``'s shift and few-shot subset (none when unset)."""
    out: dict[str, Any] = {}
    if cfg.shift is not None:
        out.update(shift=cfg.shift, shift_seed=cfg.shift_seed)
    if cfg.samples_per_class is not None:
        out.update(samples_per_class=cfg.samples_per_class, subset_seed=cfg.seed)
    return out


def extra_tests(cfg) -> dict[str, Dataset]:
    """``{"unshifted": the test split without the shift}`` for a shifted run, else ``{}``."""
    if cfg.shift is None:
        return {}
    from pipesdfa.data.registry import load_dataset

    clean = load_dataset(cfg.dataset, T=cfg.T, data_dir=cfg.data_dir, seed=cfg.seed, max_train=1,
                         max_test=cfg.max_test, **cfg.data_options)
    return {"unshifted": clean.test}


def check_base(cfg) -> None:
    """Refuse a base that is not a finished run of ``cfg``'s dataset (reads the checkpoint)."""
    _base_state(cfg)


def _base_state(cfg) -> dict[str, Any]:
    from pipesdfa.training.checkpoint import load_checkpoint

    state = load_checkpoint(cfg.base)
    base = state["config"]
    where = f"checkpoint {state['path']}"
    if base.get("dataset") != cfg.dataset:
        raise UserError(f"{where} is a run of dataset {base.get('dataset')!r}; this run adapts on "
                        f"{cfg.dataset!r}: give a checkpoint trained on {cfg.dataset}")
    if state["epoch"] < 1:
        raise UserError(f"{where} has no finished epoch; pre-train it first")
    return state


def load_base(model: nn.Module, cfg) -> dict[str, Any]:
    """Load the weights of ``cfg.base`` into ``model``; returns what ``metrics.json`` records of
    the base (path, epochs, method, its own test accuracy on unshifted data)."""
    state = _base_state(cfg)
    where = f"checkpoint {state['path']}"
    spec = state.get("model_spec")
    if spec is not None and [l for l in spec.get("layers", [])] != [l for l in model.spec.to_dict()["layers"]]:
        raise UserError(f"{where} trained another model ({_widths(spec['layers'])}) than this run builds "
                        f"({_widths(model.spec.to_dict()['layers'])}): give its own model options")
    try:
        model.load_state_dict(state["model"])
    except (RuntimeError, KeyError) as exc:
        raise UserError(f"{where}: its weights do not fit this run's model: {str(exc).splitlines()[0]}") from None
    last = state["history"][state["epoch"] - 1] if state["history"] else {}
    return {"path": str(state["path"]), "epochs": int(state["epoch"]), "method": state["config"].get("method"),
            "hardware": state["config"].get("hardware", "ideal"), "test_acc": last.get("test_acc")}


def _widths(layers: list[dict]) -> str:
    return "x".join(str(l.get("out_features", l.get("out_channels", "?"))) for l in layers)


def trainable(model: nn.Module, adapt: str) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """``(trained, frozen)`` parameters: ``last`` freezes every block but the output block."""
    if adapt not in ADAPT:
        raise UserError(f"adapt {adapt!r} unknown; expected one of: {', '.join(ADAPT)}")
    if adapt == "all":
        return list(model.parameters()), []
    keep = {id(p) for p in model.blocks[-1].parameters()}
    frozen = [p for p in model.parameters() if id(p) not in keep]
    for p in frozen:
        p.requires_grad_(False)
    return [p for p in model.parameters() if id(p) in keep], frozen


def drop_frozen_grads(frozen: list[nn.Parameter]) -> None:
    """Forget what a rule wrote into frozen parameters (SDFA's fast path writes ``.grad`` itself)."""
    for p in frozen:
        p.grad = None


def evaluate_extra(run, loss_fn) -> dict[str, float]:
    """``test_acc_<name>``/``test_loss_<name>`` of the run's model on its extra test splits."""
    from pipesdfa.training.evaluation import evaluate

    out = {}
    for name, ds in run.extra_tests.items():
        e = evaluate(run.model, ds, loss_fn, max(run.cfg.batch, 64), run.device, run.cfg.num_workers)
        out[f"test_acc_{name}"], out[f"test_loss_{name}"] = e["acc"], e["loss"]
    return out


def evaluate_before(run, loss_fn, base: dict[str, Any]) -> dict[str, Any]:
    """The deployed base network on the test split and on every extra test split."""
    from pipesdfa.training.evaluation import evaluate

    ev = evaluate(run.model, run.data.test, loss_fn, max(run.cfg.batch, 64), run.device, run.cfg.num_workers)
    return {"base": base, "test_acc": ev["acc"], "test_loss": ev["loss"], **evaluate_extra(run, loss_fn)}


def feedback_options(cfg) -> dict[str, Any]:
    """SDFA's ``feedback``/``distribution`` as the rule is built: ``aligned`` starts from a
    placeholder sample, replaced by :func:`align_feedback`, and needs one matrix per layer."""
    if cfg.distribution != ALIGNED:
        return {"feedback": cfg.feedback, "distribution": cfg.distribution}
    return {"feedback": cfg.feedback or "independent", "distribution": "gaussian"}


def align_feedback(rule, model: nn.Module, hw, seed: int) -> None:
    """Set SDFA's feedback matrices to :func:`~pipesdfa.learning.feedback.aligned_matrices` of
    ``model``'s weights; on RRAM (``hw``) as a crossbar of the run's device holds them."""
    mats = aligned_matrices([b.weight_op.weight for b in model.blocks])
    if hw is not None:
        from pipesdfa.analog.feedback import program_matrices

        mats = program_matrices(mats, hw.device, seed)
    rule.feedback.assign(mats)


def finetune_metrics(run, history: list[dict]) -> dict[str, Any]:
    """The ``finetune`` block of ``metrics.json`` (empty for a run without a base)."""
    cfg = run.cfg
    if cfg.base is None:
        return {}
    last = history[-1] if history else {}
    before = run.before or {}
    return {"finetune": {
        "base": before.get("base", {"path": cfg.base}), "shift": cfg.shift,
        "shift_seed": cfg.shift_seed if cfg.shift else None, "samples_per_class": cfg.samples_per_class,
        "train_samples": len(run.data.train), "adapt": cfg.adapt,  # type: ignore[arg-type]
        "before": {k: v for k, v in before.items() if k != "base"},
        "after": {k: last.get(k) for k in ("test_acc", "test_loss", *(f"test_{m}_{n}" for n in run.extra_tests
                                                                       for m in ("acc", "loss")))},
        "samples_trained": len(run.data.train) * len(history),  # type: ignore[arg-type]
    }}


def finetune_config(base, base_path: str, **changes: Any):
    """The :class:`~pipesdfa.training.config.TrainConfig` of a run adapting ``base`` (the base run's
    config): the model, neuron, ``T``, data options and test split of the base, the rule,
    hyper-parameters, hardware and data shift of ``changes`` (``None`` values: keep the base's
    hyper-parameter, drop its rule options). The training split is the shifted one, cut by
    ``samples_per_class``; ``max_train`` and ``lr_restarts`` start afresh."""
    from pipesdfa.training.config import TrainConfig

    rule_opts = ("feedback", "distribution", "temporal", "feedback_seed", "sdfa_variant")
    keep = {k: v for k, v in changes.items() if v is not None}
    cfg = replace(base, max_train=None, lr_restarts=(), tensorboard=False, base=str(base_path),
                  **{k: None for k in rule_opts}, hardware="ideal", device_preset="neurosim-default",
                  device_set=[], seed=0, shift=None, shift_seed=0, samples_per_class=None, adapt="all")
    values = {**cfg.to_dict(), **keep}
    if values.get("shift") is not None:  # the canonical NAME:key=value form (what config.yaml records)
        from pipesdfa.data.shifting import resolve_shift

        values["shift"] = resolve_shift(values["dataset"], values["shift"], values.get("shift_seed", 0)).spec
    return TrainConfig.from_values(values, "finetune options").validate()
