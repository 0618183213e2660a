"""Endurance: how often each RRAM array's cells are written per training epoch, and the epochs a
device of a given endurance (write cycles per cell) survives.

Per epoch of ``N`` samples in batches of ``B`` (``n_b = ceil(N / B)`` updates):

* **weight arrays** (every copy, PipeLayer's transposed copy too): each update rewrites every
  cell once (a serial read-modify-write or an outer-product write touches every cell) ->
  ``n_b`` writes per cell;
* **gradient arrays** (``gradient.technology = "rram"``; SRAM has no endurance limit here):
  per sample, layer ``l``'s ``tiles_l`` operand tiles (each written into ``copies_l`` arrays)
  go to its ``n_g`` arrays in ``ceil(tiles_l copies_l / n_g)`` waves, each wave rewriting the
  cells it uses -> ``N ceil(tiles_l copies_l / n_g)`` writes per cell of the most-written array;
* **feedback arrays** (PipeSDFA): programmed once before training -> 0 writes per epoch.

Epochs survived at endurance ``W``: ``W / max(writes per cell per epoch)`` over the RRAM arrays.
Endurance levels reported: 1e6, 1e9, 1e12 cycles (the range reported for HfOx/TaOx RRAM, from
~1e6 in dense 1T1R macros to ~1e12 in single TaOx cells; Yu & Chen, IEEE Solid-State Circuits
Magazine 8(2), 2016, "Emerging memory technologies").
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from pipesdfa.hw.engine import Detailed

__all__ = ["ENDURANCE_LEVELS", "writes_per_cell", "epochs_survived", "endurance_summary", "endurance_key"]

#: write cycles per cell at which the lifetime is reported
ENDURANCE_LEVELS: tuple[float, ...] = (1e6, 1e9, 1e12)


def writes_per_cell(updates: int, samples: int, gradient_waves: list[int], rram_gradient: bool,
                    has_feedback: bool) -> dict[str, float]:
    """Most-written cell of each array kind per epoch: ``{"weights": n_b, "gradient": N max_l waves_l,
    "feedback": 0}`` (``gradient`` 0 when the gradient unit is SRAM; ``feedback`` absent without one)."""
    out = {"weights": float(updates),
           "gradient": float(samples * max(gradient_waves, default=0)) if rram_gradient else 0.0}
    if has_feedback:
        out["feedback"] = 0.0
    return out


def epochs_survived(writes: dict[str, float], endurance: float) -> float:
    """``endurance / max(writes per cell per epoch)`` (infinite when nothing is rewritten)."""
    worst = max(writes.values(), default=0.0)
    return endurance / worst if worst > 0 else math.inf


def endurance_key(e: float) -> str:
    """``1e+09`` -> ``"1e09"``: the JSON key of an endurance level."""
    return f"{e:.0e}".replace("+", "")


def endurance_summary(d: "Detailed", epoch_samples: int) -> dict[str, Any]:
    """Writes per cell per epoch of every RRAM array of a simulated run, and the epochs survived at
    :data:`ENDURANCE_LEVELS` (JSON-ready; infinite lifetimes as ``None``)."""
    p = d.config.params
    batch = d.run["batch"]
    updates = -(-epoch_samples // batch)
    waves = [-(-(g.tiles * g.copies) // max(1, l.gradient_arrays)) for g, l in zip(d.gradients, d.mapping.layers)]
    w = writes_per_cell(updates, epoch_samples, waves, p.gradient.technology == "rram", d.mapping.feedback is not None)
    surv = {endurance_key(e): epochs_survived(w, e) for e in ENDURANCE_LEVELS}
    return {"writes_per_cell_per_epoch": w,
            "epochs_survived": {k: (None if math.isinf(v) else v) for k, v in surv.items()}}
