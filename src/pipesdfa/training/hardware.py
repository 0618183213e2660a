"""The loop hook of a run whose weights live on simulated RRAM crossbars (``hardware.kind: rram``).

Before the rule and optimiser see the weights, every weight op becomes an analog one
(:class:`pipesdfa.analog.training.AnalogTraining`); a rule whose feedback matrices are sampled
from the device (``distribution: rram``) gets them from the run's own device; every optimiser step
is committed to the devices as pulse counts, and ``metrics.json`` gains ``"hardware"``,
``"device"``, ``"analog"`` and ``"pulses"``.
"""

from __future__ import annotations

from typing import Any

from pipesdfa.training.hooks import LoopHook, register_hook

__all__ = ["RRAMWeights"]


class RRAMWeights(LoopHook):
    def __init__(self, setup: tuple[Any, Any]) -> None:
        self.setup = setup

    def wrap(self, model, cfg):
        from pipesdfa.analog.training import AnalogTraining

        self.hw = AnalogTraining(model, *self.setup, seed=cfg.seed)
        return self.hw

    def after_rule(self, run, fresh: bool) -> None:
        from pipesdfa.analog.feedback import refill_with_rram

        opts = run.rule.options()
        if opts.get("distribution") == "rram":  # the feedback array is the same device
            refill_with_rram(run.rule.feedback, self.hw.device, opts["feedback_seed"])

    def after_step(self, run) -> None:
        self.hw.after_step()

    def end_epoch(self, run) -> None:
        self.hw.end_epoch()

    def final_metrics(self, run, history: list[dict]) -> dict[str, Any]:
        return self.hw.metrics()


@register_hook
def _rram_hook(cfg) -> RRAMWeights | None:
    setup = cfg.hardware_setup()
    return None if setup is None else RRAMWeights(setup)
