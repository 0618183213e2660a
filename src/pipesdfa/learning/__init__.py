"""Learning rules bound to blocks and a readout: ``BPTT``, ``SDFA``, ``OutputOnly``.

``make_rule(name, net, **options)`` binds a rule by name to a network with ``blocks``,
``num_classes`` and ``readout`` (the CLI's entry point); ``SDFA(blocks, num_classes, ...)``
binds any sequence of spiking blocks (see :mod:`pipesdfa.learning.base`).
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from torch import nn

from pipesdfa.util.errors import UserError
from pipesdfa.learning.alignment import alignment
from pipesdfa.learning.base import LossFn, Rule
from pipesdfa.learning.bptt import BPTT
from pipesdfa.learning.feedback import SAMPLERS, FeedbackMatrices, register_sampler
from pipesdfa.learning.options import RULE_OPTIONS
from pipesdfa.learning.output_only import OutputOnly
from pipesdfa.learning.sdfa import SDFA, TEMPORAL_MODES
from pipesdfa.learning.sdfa_variants import VARIANTS
from pipesdfa.learning.tap import TappedSDFA, tap

__all__ = ["Rule", "LossFn", "BPTT", "SDFA", "OutputOnly", "RULES", "make_rule", "alignment", "FeedbackMatrices",
           "SAMPLERS", "register_sampler", "TEMPORAL_MODES", "TappedSDFA", "tap", "VARIANTS", "RULE_OPTIONS",
           "is_baseline", "trains_output_only", "takes_option"]

RULES: dict[str, type[Rule]] = {"bptt": BPTT, "sdfa": SDFA, "output": OutputOnly}


def is_baseline(name: str) -> bool:
    """Whether rule ``name`` is the one the others are measured against (BPTT: the true gradient)."""
    return RULES.get(name) is BPTT


def trains_output_only(name: str) -> bool:
    """Whether rule ``name`` leaves the hidden blocks as they are (their weights never change)."""
    return RULES.get(name) is OutputOnly


def takes_option(name: str, option: str) -> bool:
    """Whether rule ``name`` has the option ``option`` (e.g. ``distribution``: a feedback rule)."""
    cls = RULE_OPTIONS.get(name)
    return cls is not None and option in {f.name for f in fields(cls)}

SDFA_OPTIONS = ("feedback", "distribution", "temporal", "feedback_seed", "fast", "store", "widths", "variant")


def make_rule(name: str, model: nn.Module, **options: Any) -> Rule:
    """Bind rule ``name`` to ``model`` (``Rule.for_model``). Only ``sdfa`` takes options
    (``None`` values are ignored)."""
    options = {k: v for k, v in options.items() if v is not None}
    try:
        cls = RULES[name]
    except KeyError:
        from pipesdfa.util.names import unknown_name

        raise unknown_name("method", name, RULES) from None
    if cls is not SDFA:
        if set(options) - {"feedback_seed"}:
            bad = ", ".join(sorted(set(options) - {"feedback_seed"}))
            raise UserError(f"method {name!r} takes no SDFA option(s): {bad}")
        return cls.for_model(model)
    unknown = set(options) - set(SDFA_OPTIONS)
    if unknown:
        raise UserError(f"unknown sdfa option(s): {', '.join(sorted(unknown))}")
    return cls.for_model(model, **options)
