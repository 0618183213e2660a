"""Placement: a network's layers onto one accelerator's arrays (:mod:`pipesdfa.hw.archs` decides
the transposed copies and the feedback arrays; :mod:`pipesdfa.hw.mapping` sizes each layer).

Kept apart from :mod:`~pipesdfa.hw.mapping` so that the per-layer arithmetic below the
architectures never imports them back.
"""

from __future__ import annotations

from pipesdfa.hw.archs import get_arch
from pipesdfa.hw.mapping import ModelMap, layer_map, replication_plan
from pipesdfa.hw.config.tree import HwParams
from pipesdfa.zoo.workloads import ResolvedLayer

__all__ = ["map_layers"]


def map_layers(layers: list[ResolvedLayer], p: HwParams, arch: str, num_classes_x_vote: int | None = None,
               max_replication: int | None = None, training: bool = True, replication: list[int] | None = None,
               t_replication: list[int] | None = None) -> ModelMap:
    """Map ``layers`` for ``arch`` (a name in :data:`pipesdfa.hw.archs.ARCHS`); ``training=False``
    maps the inference arrays only (no gradient, feedback or transposed arrays).

    ``replication`` / ``t_replication`` (per layer) fix the copies of each layer and of its
    transposed copy (a design point of :mod:`pipesdfa.hw.design`) instead of balancing them
    under ``max_replication``; the architecture still decides whether a transposed copy exists."""
    a = get_arch(arch)
    r_max = max_replication or p.mapping.max_replication
    reps = list(replication) if replication is not None else replication_plan(layers, r_max)
    t_reps = a.transposed_copies(layers, p, r_max) if training else [0] * len(layers)
    if t_replication is not None and training:
        t_reps = [t and tr for t, tr in zip(t_reps, t_replication)]  # only where the machine has the copy
    maps = tuple(layer_map(l, p, r, t, training) for l, r, t in zip(layers, reps, t_reps))
    c = num_classes_x_vote if num_classes_x_vote is not None else layers[-1].out_channels
    fb = a.feedback_map(layers, p, c) if training else None
    return ModelMap(a.name, maps, fb, p.cycle_s, a.transpose_periphery(p) and training)
