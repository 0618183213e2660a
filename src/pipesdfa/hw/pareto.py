"""Pareto fronts of (time, energy) and the ratios between two machines' fronts (pure functions).

Both objectives are minimised. A point ``a`` dominates ``b`` when ``a_t <= b_t`` and
``a_e <= b_e`` with one strictly smaller. Ratios are baseline / proposal (> 1: the proposal is
better), as everywhere in the hardware report:

* ``time_best_vs_best = min t_base / min t_prop`` and ``energy_best_vs_best`` likewise (each
  machine's fastest and most frugal design, possibly different designs);
* ``time_at_equal_energy``: at the energy ``E* = max(min e_base, min e_prop)`` both machines can
  reach, the fastest design of each with ``e <= E*``, baseline over proposal;
  ``energy_at_equal_time`` the same with the roles swapped;
* ``hypervolume_ratio = HV(prop) / HV(base)``: the area each front dominates in the
  ``(log10 t, log10 e)`` plane up to a common reference point (the worst time and energy of
  either front, one decade beyond: ``ref = max + 1`` in log10), so a front twice as fast
  everywhere gains a fixed strip whatever the units.
"""

from __future__ import annotations

import math
from typing import Iterable, Sequence

__all__ = ["pareto_front", "hypervolume", "best_at", "front_ratios", "log_reference"]

Point = tuple[float, float]


def pareto_front(points: Iterable[Point]) -> list[int]:
    """Indices of the non-dominated points, sorted by time (ties: the first of equal points kept)."""
    pts = list(points)
    order = sorted(range(len(pts)), key=lambda i: (pts[i][0], pts[i][1], i))
    front: list[int] = []
    best_e = math.inf
    for i in order:
        if pts[i][1] < best_e:
            front.append(i)
            best_e = pts[i][1]
    return front


def hypervolume(front: Sequence[Point], ref: Point) -> float:
    """Area dominated by ``front`` (minimisation) and bounded by ``ref``: the sum over the front
    sorted by ``x`` of ``(x_{k+1} - x_k) (ref_y - y_k)`` with ``x_{n} = ref_x``; points beyond
    ``ref`` contribute nothing."""
    pts = sorted((x, y) for x, y in front if x < ref[0] and y < ref[1])
    nd: list[Point] = []
    for x, y in pts:
        if not nd or y < nd[-1][1]:
            nd.append((x, y))
    hv = 0.0
    for k, (x, y) in enumerate(nd):
        x_next = nd[k + 1][0] if k + 1 < len(nd) else ref[0]
        hv += (x_next - x) * (ref[1] - y)
    return hv


def best_at(points: Sequence[Point], cap: float, axis: int) -> float:
    """Smallest value on the other axis among ``points`` whose ``axis`` value is ``<= cap`` (inf: none)."""
    other = 1 - axis
    vals = [p[other] for p in points if p[axis] <= cap * (1 + 1e-12)]
    return min(vals, default=math.inf)


def log_reference(*fronts: Sequence[Point]) -> Point:
    """The common reference point in ``(log10 t, log10 e)``: one decade beyond the worst of both."""
    xs = [math.log10(p[0]) for f in fronts for p in f]
    ys = [math.log10(p[1]) for f in fronts for p in f]
    return max(xs) + 1.0, max(ys) + 1.0


def front_ratios(base: Sequence[Point], prop: Sequence[Point]) -> dict[str, float]:
    """The ratios of the module docstring between two sets of feasible ``(time, energy)`` points."""
    if not base or not prop:
        raise ValueError("both machines need at least one feasible point")
    t_b, t_p = min(p[0] for p in base), min(p[0] for p in prop)
    e_b, e_p = min(p[1] for p in base), min(p[1] for p in prop)
    e_star = max(e_b, e_p)
    t_star = max(t_b, t_p)
    fb = [base[i] for i in pareto_front(base)]
    fp = [prop[i] for i in pareto_front(prop)]
    ref = log_reference(fb, fp)
    logf = lambda f: [(math.log10(t), math.log10(e)) for t, e in f]  # noqa: E731
    hv_b, hv_p = hypervolume(logf(fb), ref), hypervolume(logf(fp), ref)
    return {
        "time_best_vs_best": t_b / t_p,
        "energy_best_vs_best": e_b / e_p,
        "time_at_equal_energy": best_at(base, e_star, 1) / best_at(prop, e_star, 1),
        "energy_at_equal_time": best_at(base, t_star, 0) / best_at(prop, t_star, 0),
        "hypervolume_ratio": hv_p / hv_b if hv_b > 0 else math.inf,
    }
