"""What ``pipesdfa reproduce personalisation`` runs: the studies, the rules compared, the budgets.

A *study* is one workload pre-trained with BPTT on public (unshifted) data (or with SDFA:
``--pretrain sdfa`` puts ``method: sdfa`` into ``Study.pretrain``) and the device shifts it is
adapted to. An *arm* is one way of adapting it: a rule, its feedback and the
hardware it runs on. For every study, shift, ``K`` (labelled samples per class), arm and seed
the runner adapts the pre-trained network (``pipesdfa finetune``'s machinery) and prices the
adaptation on PipeSDFA and PipeLayer.

The shifts are chosen from the measured cost to the pre-trained network (each costs it 10 to
30 points; ``pipesdfa data info NAME --shift S`` shows what each does to the data):

* digits (event camera): a contrast threshold twice the recording's (half the events), the
  sensor mounted 15 degrees rotated, an inverted polarity bit;
* Braille (tactile): per-taxel gain drift (sigma 0.2) with offset 5, the taxel under the third
  active trace (10) dead, a finger sliding at 0.8 times the recording's speed.

Only four of the twelve Braille taxels carry contact in these recordings (1, 2, 6, 10; the
others read 255), so a dead taxel drawn at random is most often a silent one and costs nothing:
the study names taxel 10.

Epochs of an adaptation depend on ``K`` (:data:`EPOCHS`): fewer samples get more passes, so
that every ``K`` takes a few tens of optimiser steps.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pipesdfa.learning import takes_option, trains_output_only

__all__ = ["Arm", "Study", "Budget", "ARMS", "BUDGETS", "EPOCHS"]


@dataclass(frozen=True)
class Arm:
    """One way of adapting: ``method``, SDFA's feedback ``distribution`` (None otherwise), ``hardware``."""

    method: str
    distribution: str | None = None
    hardware: str = "ideal"

    @property
    def key(self) -> str:
        """A folder-safe name: ``sdfa-aligned-rram``."""
        return "-".join(x for x in (self.method, self.distribution, self.hardware if self.hardware != "ideal" else None)
                        if x)

    @property
    def label(self) -> str:
        name = {"bptt": "BPTT", "output": "output only"}.get(self.method)
        if name is None:
            name = "SDFA, aligned B" if self.distribution == "aligned" else "SDFA, random B"
        return name + (" on RRAM" if self.hardware == "rram" else "")

    @property
    def feedback(self) -> str | None:
        """The feedback kind a table shows: random (gaussian, or sampled from RRAM) or aligned."""
        if not takes_option(self.method, "distribution"):
            return None
        return "aligned" if self.distribution == "aligned" else "random"

    def changes(self) -> dict[str, Any]:
        """The :func:`~pipesdfa.training.finetune.finetune_config` changes of this arm."""
        out: dict[str, Any] = {"method": self.method, "hardware": self.hardware,
                               "adapt": "last" if trains_output_only(self.method) else "all"}
        if self.distribution is not None:
            out["distribution"] = self.distribution
            if self.distribution == "aligned":
                out["feedback"] = "independent"
        return out


#: BPTT, SDFA with the paper's random feedback, SDFA with aligned feedback, the output layer
#: alone, and both SDFA variants on the default RRAM device (random B read from the device's
#: variation, as PipeSDFA samples it; aligned B programmed onto the feedback array).
ARMS: tuple[Arm, ...] = (Arm("bptt"), Arm("sdfa", "gaussian"), Arm("sdfa", "aligned"), Arm("output"),
                         Arm("sdfa", "rram", "rram"), Arm("sdfa", "aligned", "rram"))

#: Epochs of an adaptation on K samples per class.
EPOCHS: dict[int, int] = {1: 30, 5: 20, 20: 10}


@dataclass(frozen=True)
class Study:
    """A workload, its pre-training (BPTT, ``pretrain`` overrides of its config) and its shifts."""

    workload: str
    shifts: tuple[str, ...]
    pretrain: dict[str, Any] = field(default_factory=dict)
    needs_data: bool = False  # reads ../shared/data (skipped when absent)


@dataclass(frozen=True)
class Budget:
    name: str
    studies: tuple[Study, ...]
    ks: tuple[int, ...]
    seeds: tuple[int, ...]
    epochs: dict[int, int]
    arms: tuple[Arm, ...] = ARMS
    adapt: dict[str, Any] = field(default_factory=dict)  # overrides of every adaptation's config


DIGITS_SHIFTS = ("contrast-threshold:factor=2", "rotation:degrees=15", "polarity-swap")
BRAILLE_SHIFTS = ("taxel-drift:gain_sigma=0.2,offset=5", "dead-taxel:taxel=10", "time-warp:speed=0.8")

BUDGETS: dict[str, Budget] = {b.name: b for b in (
    Budget("full", (Study("digits-mlp", DIGITS_SHIFTS),
                    Study("braille-mlp", BRAILLE_SHIFTS, needs_data=True)),
           ks=(1, 5, 20), seeds=(0, 1, 2), epochs=EPOCHS),
    # make test: every path (pre-training, each arm, RRAM, pricing, table, plots) in seconds
    Budget("tiny", (Study("digits-mlp", ("contrast-threshold:factor=2",),
                          pretrain={"hidden": (64, 64), "T": 4, "epochs": 5, "max_test": 90}),),
           ks=(1, 2), seeds=(0,), epochs={1: 2, 2: 2}),
)}
