"""The one-off cost, on PipeSDFA, of SDFA's aligned feedback: computing ``B_l`` and programming it.

``B_l = W_{L-1} ... W_{l+1}`` (``[C, n_l]``, :func:`pipesdfa.learning.feedback.aligned_matrices`)
is set once, before the first step of the run that uses it: an adaptation of this study, or the
training of a composed model (whose SDFA default is aligned feedback). One function prices a
run, :func:`run_feedback_setup`, used by the study and by ``pipesdfa simulate --checkpoint``.
For a conv net ``B_l`` is the matrix of the linearised chain above layer ``l``
(:func:`pipesdfa.learning.feedback.aligned_block_matrices`), computed off-chip; only its
programming is priced, the same way. Column ``j`` of ``B_l`` is the response of
the layers above ``l`` to a one-hot input on neuron ``j`` of layer ``l``, read linearly
(no neuron): ``B_l e_j = W_{L-1} (... (W_{l+1} e_j))``. So the matrices come from
``sum_l n_l (L - 1 - l)`` forward reads of the forward crossbars in their usual direction; no
transposed read and no ``W^T`` product, and none at all while the network trains. What the
setup adds to PipeSDFA is programming the values into the feedback arrays (the random ``B``
of the paper is read from device variation and needs no programming), one analog cell per
value, per hidden layer (``mapping.feedback = per-layer``):

* cells: ``C * sum_l n_l``;
* energy: ``cells * E_cell`` with ``E_cell`` the serial write of one cell
  (:attr:`pipesdfa.hw.config.tree.HwParams.cell_write_energy_j`, J);
* time: ``crossbars * C * t_row`` with ``t_row`` the serial write of one row
  (:attr:`~pipesdfa.hw.config.tree.HwParams.row_write_latency_s`, s): the feedback crossbars
  written one after another, ``C`` rows each (an upper bound; PipeSDFA can write several
  at once within its power budget).

A single write per cell: write-verify (``analog.feedback.program_matrices``, a few pulses
per cell) multiplies the energy and time by its pulse count; the forward reads are counted,
not priced. Both are small next to the adaptation: see docs/personalisation.md.
"""

from __future__ import annotations

from typing import Any

__all__ = ["aligned_feedback_setup", "run_feedback_setup"]


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


def aligned_feedback_setup(hidden: list[int], num_classes: int, params: Any) -> dict[str, float | int]:
    """``{"entries", "cells", "crossbars", "forward_reads", "energy_j", "time_s"}`` of setting
    the aligned feedback of a network whose hidden layers have ``hidden`` neurons, with
    ``num_classes`` outputs, on the chip of ``params`` (a :class:`pipesdfa.hw.config.tree.HwParams`)."""
    L = len(hidden) + 1
    entries = num_classes * sum(hidden)
    rows, cols = params.crossbar.rows, params.crossbar.cols
    crossbars = sum(_ceil(num_classes, rows) * _ceil(h, cols) for h in hidden)
    return {
        "entries": entries,
        "cells": entries,
        "crossbars": crossbars,
        "forward_reads": sum(n * (L - 1 - l) for l, n in enumerate(hidden)),
        "energy_j": entries * params.cell_write_energy_j,
        "time_s": crossbars * min(num_classes, rows) * params.row_write_latency_s,
    }


def run_feedback_setup(run: Any, params: Any) -> dict[str, float | int] | None:
    """:func:`aligned_feedback_setup` of a trained run (a :class:`pipesdfa.hw.runs.RunSpec`) whose
    SDFA used aligned feedback, ``None`` for any other run (the paper's random ``B`` is read from
    device variation and needs no programming). ``n_l`` is layer ``l``'s output after pooling
    (``B_l`` is ``[C, n_l]``); ``C`` is the number of classes, not of output neurons: with a vote
    readout ``B_l`` maps the class error (:func:`pipesdfa.learning.feedback.aligned_block_matrices`)."""
    if (run.metrics.get("rule") or {}).get("distribution") != "aligned":
        return None
    from pipesdfa.zoo.workloads import resolve

    hidden = [layer.n_out for layer in resolve(run.spec)[:-1]]
    return aligned_feedback_setup(hidden, run.spec.num_classes, params)
