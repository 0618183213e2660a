"""The options each learning rule takes in a training configuration (``rule.<name>`` in a config
file, :class:`pipesdfa.training.config.RuleSection`).

A rule with options registers a dataclass here (:data:`RULE_OPTIONS`); the trainer reads the
section of the run's rule and hands :meth:`kwargs` to the rule's constructor, so no code outside
``learning/`` needs to know which rule takes what. BPTT and output-only take none.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from pipesdfa.learning.local.state import DEFAULT_STORE
from pipesdfa.util.errors import UserError

__all__ = ["SDFAOptions", "RULE_OPTIONS", "IMPLS"]

#: ``fast``: the graph-free path for known block kinds; ``autograd``: autograd everywhere (the reference).
IMPLS = ("fast", "autograd")


@dataclass
class SDFAOptions:
    """SDFA's options (:class:`pipesdfa.learning.SDFA`); ``None`` = the rule's own default, which
    the resolved ``config.yaml`` writes out (``feedback: shared``, ``distribution: gaussian``,
    ``temporal: local``, ``feedback_seed``: the run's seed, ``variant``: the authors' rule for a
    workload, ``centered-lr3`` for a composed model, which also gets ``feedback: independent,
    distribution: aligned``: :meth:`kwargs`)."""

    feedback: str | None = None
    distribution: str | None = None
    temporal: str | None = None
    feedback_seed: int | None = None
    impl: str = "fast"
    store: str = DEFAULT_STORE
    variant: str | None = None

    def check(self) -> None:
        if self.impl not in IMPLS:
            raise UserError(f"rule.sdfa.impl {self.impl!r} unknown; expected one of: {', '.join(IMPLS)}")
        if self.variant is not None:
            from pipesdfa.learning.sdfa_variants import get_variant

            get_variant(self.variant)
        if self.distribution == "aligned" and self.feedback == "shared":
            raise UserError("sdfa distribution 'aligned' gives one matrix per hidden layer: use feedback 'independent' "
                            "(the default with 'aligned'), not 'shared'")

    def given(self) -> list[str]:
        """The options set to something other than their default."""
        default = type(self)()
        return [f.name for f in fields(self) if getattr(self, f.name) != getattr(default, f.name)]

    def kwargs(self, seed: int, composed: bool = False) -> dict[str, Any]:
        """Keyword arguments of :class:`~pipesdfa.learning.SDFA` (``seed``: the run's, the feedback
        seed when none is set; ``composed``: a model composed without a workload, whose variant
        defaults to :data:`~pipesdfa.learning.sdfa_variants.COMPOSED`, not to the authors' rule, and
        its feedback to :data:`~pipesdfa.learning.sdfa_variants.COMPOSED_FEEDBACK` when neither
        ``feedback`` nor ``distribution`` is given)."""
        variant, feedback, distribution = self.variant, self.feedback, self.distribution
        if composed:
            from pipesdfa.learning.sdfa_variants import COMPOSED, COMPOSED_FEEDBACK

            variant = COMPOSED if variant is None else variant
            if feedback is None and distribution is None:
                feedback, distribution = COMPOSED_FEEDBACK["feedback"], COMPOSED_FEEDBACK["distribution"]
        return {"feedback": feedback, "distribution": distribution, "temporal": self.temporal,
                "feedback_seed": seed if self.feedback_seed is None else self.feedback_seed,
                "fast": self.impl == "fast", "store": self.store, "variant": variant}

    def resolved(self, built: dict[str, Any], seed: int) -> dict[str, Any]:
        """Every option as the run uses it (``built``: the bound rule's :meth:`options`)."""
        d = asdict(self)
        for k, default in (("feedback", "shared"), ("distribution", "gaussian"), ("temporal", "local")):
            if d[k] is None:
                d[k] = built.get(k, default)
        if d["feedback_seed"] is None:
            d["feedback_seed"] = seed
        if d["variant"] is None:
            d["variant"] = built.get("variant", "authors")
        return d


#: rule name -> the dataclass of its options (rules without options are absent).
RULE_OPTIONS: dict[str, type] = {"sdfa": SDFAOptions}
