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

from pipesdfa.learning.feedback import ALIGNED, aligned_block_matrices
from pipesdfa.training.config import ADAPT
from pipesdfa.training.hooks import LoopHook, register_hook
from pipesdfa.util.errors import UserError

__all__ = ["ADAPT", "FineTune", "check_base", "shift_options", "extra_tests", "load_base", "trainable",
           "drop_frozen_grads", "evaluate_before", "evaluate_extra", "feedback_options", "align_feedback",
           "finetune_config", "finetune_metrics"]


class FineTune(LoopHook):
    """The loop hooks of a run that adapts a base run or trains on shifted data (module docstring);
    also the aligned feedback of a rule with ``distribution: aligned``."""

    def __init__(self, cfg) -> None:
        self.cfg = cfg

    def check(self, cfg, fresh: bool) -> None:
        if fresh and cfg.finetune.base is not None:
            check_base(cfg)

    def loader_options(self, cfg) -> dict[str, Any]:
        return shift_options(cfg)

    def extra_tests(self, cfg) -> dict[str, Dataset]:
        return extra_tests(cfg)

    def initialise(self, model, cfg, fresh: bool) -> dict[str, Any] | None:
        if cfg.finetune.base is None:
            return None
        return load_base(model, cfg) if fresh else {}  # resumed: the checkpoint holds the weights

    def rule_options(self, options: dict[str, Any]) -> dict[str, Any]:
        return {**options, **feedback_options(options)} if "distribution" in options else options

    def after_rule(self, run, fresh: bool) -> None:
        if not _aligned(run.cfg):
            return
        if fresh:  # from the weights the run starts with
            align_feedback(run.rule, run.model, run.hw, run.rule.options().get("feedback_seed", run.cfg.seed))
        else:  # resumed: the checkpoint restores the aligned matrices
            run.rule.feedback.distribution = ALIGNED

    def trainable(self, model):
        return trainable(model, self.cfg.finetune.adapt)

    def before_training(self, run, loss_fn) -> None:
        if run.cfg.finetune.base is not None:  # the base network as deployed, before the first step
            run.before = evaluate_before(run, loss_fn, run.init)

    def after_backward(self, run) -> None:
        drop_frozen_grads(run.frozen)

    def epoch_metrics(self, run, loss_fn) -> dict[str, Any]:
        return evaluate_extra(run, loss_fn)

    def final_metrics(self, run, history: list[dict]) -> dict[str, Any]:
        return finetune_metrics(run, history)


def _aligned(cfg) -> bool:
    """The run's rule is bound with aligned feedback (given, or a composed model's default)."""
    return cfg.rule_kwargs().get("distribution") == ALIGNED


@register_hook
def _finetune_hook(cfg) -> FineTune | None:
    f = cfg.finetune
    if f.base is None and f.shift is None and f.samples_per_class is None and f.adapt == "all" and not _aligned(cfg):
        return None
    return FineTune(cfg)



def shift_options(cfg) -> dict[str, Any]:
    """The loader options of ``cfg``'s shift and few-shot subset (none when unset)."""
    out: dict[str, Any] = {}
    if cfg.finetune.shift is not None:
        out.update(shift=cfg.finetune.shift, shift_seed=cfg.finetune.shift_seed)
    if cfg.finetune.samples_per_class is not None:
        out.update(samples_per_class=cfg.finetune.samples_per_class, subset_seed=cfg.seed)
    return out


def extra_tests(cfg) -> dict[str, Dataset]:
    """``{"unshifted": the test split without the shift}`` for a shifted run, else ``{}``."""
    if cfg.finetune.shift is None:
        return {}
    from pipesdfa.data.registry import load_dataset

    clean = load_dataset(cfg.data.dataset, T=cfg.data.T, data_dir=cfg.data.dir, seed=cfg.seed, max_train=1,
                         max_test=cfg.data.max_test, **cfg.data.options)
    return {"unshifted": clean.test}


def check_base(cfg) -> None:
    """Refuse a base that is not a finished run of ``cfg``'s dataset (reads the checkpoint)."""
    _base_state(cfg)


def _base_state(cfg) -> dict[str, Any]:
    from pipesdfa.training.checkpoint import load_checkpoint
    from pipesdfa.training.config import TrainConfig

    state = load_checkpoint(cfg.finetune.base)
    where = f"checkpoint {state['path']}"
    base = TrainConfig.from_values(state["config"], f"{where}: field 'config'")
    if base.data.dataset != cfg.data.dataset:
        raise UserError(f"{where} is a run of dataset {base.data.dataset!r}; this run adapts on "
                        f"{cfg.data.dataset!r}: give a checkpoint trained on {cfg.data.dataset}")
    if state["epoch"] < 1:
        raise UserError(f"{where} has no finished epoch; pre-train it first")
    return state


def load_base(model: nn.Module, cfg) -> dict[str, Any]:
    """Load the weights of ``cfg.finetune.base`` into ``model``; returns what ``metrics.json`` records of
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
    return {"path": str(state["path"]), "epochs": int(state["epoch"]), "method": state["config"]["rule"]["method"],
            "hardware": state["config"]["hardware"]["kind"], "test_acc": last.get("test_acc")}


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
        e = evaluate(run.model, ds, loss_fn, max(run.cfg.optim.batch, 64), run.device, run.cfg.runtime.num_workers)
        out[f"test_acc_{name}"], out[f"test_loss_{name}"] = e["acc"], e["loss"]
    return out


def evaluate_before(run, loss_fn, base: dict[str, Any]) -> dict[str, Any]:
    """The deployed base network on the test split and on every extra test split."""
    from pipesdfa.training.evaluation import evaluate

    ev = evaluate(run.model, run.data.test, loss_fn, max(run.cfg.optim.batch, 64), run.device, run.cfg.runtime.num_workers)
    return {"base": base, "test_acc": ev["acc"], "test_loss": ev["loss"], **evaluate_extra(run, loss_fn)}


def feedback_options(options: dict[str, Any]) -> dict[str, Any]:
    """A rule's ``feedback``/``distribution`` options as it is bound: ``aligned`` starts from a
    placeholder sample, replaced by :func:`align_feedback`, and needs one matrix per layer."""
    if options.get("distribution") != ALIGNED:
        return {}
    return {"feedback": options.get("feedback") or "independent", "distribution": "gaussian"}


def align_feedback(rule, model: nn.Module, hw, seed: int) -> None:
    """Set SDFA's feedback matrices to :func:`~pipesdfa.learning.feedback.aligned_block_matrices`
    of ``model`` (a zoo :class:`~pipesdfa.zoo.models.SpikingNet`: the products of its weights for an
    MLP, its linearised chain with convolutions); on RRAM (``hw``) as a crossbar of the run's
    device holds them."""
    shapes = [(l.out_channels, *l.pooled_hw) if l.kind == "conv" else (l.out_channels,) for l in model.layers[:-1]]
    mats = aligned_block_matrices(model.blocks, shapes, model.num_classes, model.spec.vote)
    if hw is not None:
        from pipesdfa.analog.feedback import program_matrices

        mats = program_matrices(mats, hw.device, seed)
    rule.feedback.assign(mats)


def finetune_metrics(run, history: list[dict]) -> dict[str, Any]:
    """The ``finetune`` block of ``metrics.json`` (empty for a run without a base)."""
    cfg = run.cfg
    if cfg.finetune.base is None:
        return {}
    last = history[-1] if history else {}
    before = run.before or {}
    return {"finetune": {
        "base": before.get("base", {"path": cfg.finetune.base}), "shift": cfg.finetune.shift,
        "shift_seed": cfg.finetune.shift_seed if cfg.finetune.shift else None, "samples_per_class": cfg.finetune.samples_per_class,
        "train_samples": len(run.data.train), "adapt": cfg.finetune.adapt,  # type: ignore[arg-type]
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
    from pipesdfa.training.config import FinetuneSection, HardwareSection, RuleSection

    keep = {k: v for k, v in changes.items() if v is not None}
    cfg = replace(base, data=replace(base.data, max_train=None), optim=replace(base.optim, lr_restarts=()),
                  runtime=replace(base.runtime, tensorboard=False), rule=RuleSection(method=base.rule.method),
                  hardware=HardwareSection(), finetune=FinetuneSection(base=str(base_path)), seed=0)
    cfg = cfg.updated("finetune options", **keep)
    if cfg.finetune.shift is not None:  # the canonical NAME:key=value form (what config.yaml records)
        from pipesdfa.data.shifting import resolve_shift

        f = cfg.finetune
        cfg.finetune = replace(f, shift=resolve_shift(cfg.data.dataset, f.shift, f.shift_seed).spec)
    return cfg.validate()
