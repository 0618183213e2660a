"""The interface an accelerator implements to be simulated (one module per accelerator).

An :class:`Architecture` says what differs between machines: which extra arrays it maps
(feedback matrix, transposed copy, transposed-read periphery), what one sample keeps in its
buffers, the task graph of consecutive batches, and the energy of its own stages. Everything
else (mapping, gradient unit, memory plan, scheduler, generic energy) is shared. A new
accelerator is one new module registered in :data:`pipesdfa.hw.archs.ARCHS`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from pipesdfa.hw.activity import Activity
    from pipesdfa.hw.dataflow import StageTimes
    from pipesdfa.hw.energy import Ledger
    from pipesdfa.hw.mapping import FeedbackMap, ModelMap
    from pipesdfa.hw.config.tree import HwParams
    from pipesdfa.hw.schedule import Task
    from pipesdfa.zoo.workloads import ResolvedLayer

__all__ = ["Architecture", "COMMON_DESIGN_KEYS"]


#: Design variables (parameter-tree leaves) every machine has (:mod:`pipesdfa.hw.design`).
COMMON_DESIGN_KEYS: tuple[str, ...] = ("buffer.capacity_bytes_per_tile", "chip.adcs_per_group",
                                       "gradient.arrays_per_weight_array", "gradient.technology")


class Architecture(ABC):
    name: str = ""
    #: the parameter-tree leaves this machine's design search varies (each marked with its choices
    #: in :mod:`pipesdfa.hw.config.tree`); per-layer copies are added by :func:`pipesdfa.hw.design.design_space`
    design_keys: tuple[str, ...] = COMMON_DESIGN_KEYS

    def feedback_map(self, layers: "list[ResolvedLayer]", p: "HwParams", rows_c: int) -> "FeedbackMap | None":
        """Extra arrays holding a feedback matrix (none by default)."""
        return None

    def transposed_copies(self, layers: "list[ResolvedLayer]", p: "HwParams", r_max: int) -> list[int]:
        """Copies of a separate transposed weight copy per layer (0: none)."""
        return [0] * len(layers)

    def transpose_periphery(self, p: "HwParams") -> bool:
        """Whether the weight arrays carry row-side ADCs for transposed reads."""
        return False

    @abstractmethod
    def stored_bits(self, m: "ModelMap", p: "HwParams", T: int) -> list[int]:
        """Bits one sample keeps per layer between its forward pass and its gradient."""

    @abstractmethod
    def build_batches(self, m: "ModelMap", p: "HwParams", st: "StageTimes", sizes: list[int], K: int,
                      fine: bool = False) -> "list[Task]":
        """Task graph of consecutive batches of ``sizes`` samples, ``K`` samples in flight at most
        (0 = no limit); ``fine`` builds per-time-step reference tasks where chains are used."""

    @abstractmethod
    def sample_energy(self, led: "Ledger", m: "ModelMap", p: "HwParams", act: "Activity", T: int) -> None:
        """Add this machine's own per-sample energy entries (beyond the shared ones)."""
