"""Learning rules on the same models, selected by name: ``bptt``, ``sdfa``, ``output``."""

from __future__ import annotations

from typing import Any

from torch import nn

from pipesdfa.errors import UserError
from pipesdfa.learning.base import LossFn, Rule
from pipesdfa.learning.bptt import BPTT
from pipesdfa.learning.output_only import OutputOnly
from pipesdfa.learning.sdfa import SDFA

__all__ = ["Rule", "LossFn", "BPTT", "SDFA", "OutputOnly", "RULES", "make_rule"]

RULES: dict[str, type[Rule]] = {"bptt": BPTT, "sdfa": SDFA, "output": OutputOnly}
SDFA_OPTIONS = ("feedback", "distribution", "temporal", "feedback_seed")


def make_rule(name: str, model: nn.Module, **options: Any) -> Rule:
    """Bind rule ``name`` to ``model``. Only ``sdfa`` takes options (``None`` values are ignored)."""
    options = {k: v for k, v in options.items() if v is not None}
    try:
        cls = RULES[name]
    except KeyError:
        raise UserError(f"unknown method {name!r}; expected one of: {', '.join(RULES)}") from None
    if cls is not SDFA and set(options) - {"feedback_seed"}:
        bad = ", ".join(sorted(set(options) - {"feedback_seed"}))
        raise UserError(f"method {name!r} takes no SDFA option(s): {bad}")
    if cls is SDFA:
        unknown = set(options) - set(SDFA_OPTIONS)
        if unknown:
            raise UserError(f"unknown sdfa option(s): {', '.join(sorted(unknown))}")
        return SDFA(model, **options)
    return cls(model)
