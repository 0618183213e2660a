"""Plug-ins of the training loop: what a feature adds to a run without the loop knowing it by name.

The loop (:mod:`pipesdfa.training.loop`) calls every active hook at fixed points of a run; each
method here is a no-op, and a feature overrides the ones it needs. A hook factory, registered
with :func:`register_hook`, looks at a :class:`~pipesdfa.training.config.TrainConfig` and returns
a hook for the runs it applies to (``None`` otherwise). Built in: fine-tuning from a base run
(:mod:`pipesdfa.training.finetune`) and weights on simulated RRAM
(:mod:`pipesdfa.training.hardware`). The learning rule itself is a plug-in of the same kind
through its own interface (:class:`pipesdfa.learning.Rule`: ``param_groups``,
``epoch_metrics``, ``final_metrics``, ``shards_batch``).

The points, in the order of a run:

1. ``check(cfg)`` before any data is loaded (``fresh``: not a resumed run);
2. ``loader_options(cfg)`` extra options for the dataset's loader;
3. ``extra_tests(cfg)`` more test splits, evaluated every epoch (``test_acc_<name>``);
4. ``initialise(model, cfg, fresh)`` the weights instead of the configured init (its report, or
   ``None`` to leave the init alone);
5. ``wrap(model, cfg)`` after the init, before the rule sees the weights; what it returns (the
   first that is not ``None``) is the run's hardware state (``run.hw``, checkpointed);
6. ``rule_options(options)`` the rule's keyword arguments as it is bound, and
   ``after_rule(run, fresh)`` once it is bound;
7. ``trainable(model)`` ``(trained, frozen)`` parameters (the first hook that answers wins);
8. ``before_training(run, loss_fn)`` once, before the first step of a fresh run;
9. ``after_backward(run)`` and ``after_step(run)`` at every step, ``end_epoch(run)`` at every
   epoch's end, ``epoch_metrics(run, loss_fn)`` entries of the epoch's record;
10. ``final_metrics(run, history)`` blocks of ``metrics.json``.
"""

from __future__ import annotations

from typing import Any, Callable

__all__ = ["LoopHook", "register_hook", "active_hooks", "HOOK_FACTORIES"]


class LoopHook:
    """A plug-in of the training loop (module docstring); every method is optional."""

    def check(self, cfg: Any, fresh: bool) -> None:
        return None

    def loader_options(self, cfg: Any) -> dict[str, Any]:
        return {}

    def extra_tests(self, cfg: Any) -> dict[str, Any]:
        return {}

    def initialise(self, model: Any, cfg: Any, fresh: bool) -> Any:
        return None

    def wrap(self, model: Any, cfg: Any) -> Any:
        return None

    def rule_options(self, options: dict[str, Any]) -> dict[str, Any]:
        return options

    def after_rule(self, run: Any, fresh: bool) -> None:
        return None

    def trainable(self, model: Any) -> tuple[list, list] | None:
        return None

    def before_training(self, run: Any, loss_fn: Any) -> None:
        return None

    def after_backward(self, run: Any) -> None:
        return None

    def after_step(self, run: Any) -> None:
        return None

    def end_epoch(self, run: Any) -> None:
        return None

    def epoch_metrics(self, run: Any, loss_fn: Any) -> dict[str, Any]:
        return {}

    def final_metrics(self, run: Any, history: list[dict]) -> dict[str, Any]:
        return {}


#: Factories ``cfg -> LoopHook | None``, in the order their hooks run.
HOOK_FACTORIES: list[Callable[[Any], LoopHook | None]] = []


def register_hook(factory: Callable[[Any], LoopHook | None]) -> Callable[[Any], LoopHook | None]:
    """Add a hook factory (usable as a decorator); registering one twice keeps one."""
    if factory not in HOOK_FACTORIES:
        HOOK_FACTORIES.append(factory)
    return factory


def active_hooks(cfg: Any) -> list[LoopHook]:
    """The hooks that apply to ``cfg``'s run."""
    return [h for f in HOOK_FACTORIES if (h := f(cfg)) is not None]
