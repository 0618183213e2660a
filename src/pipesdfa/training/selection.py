"""Which epoch a run reports: chosen on the validation split, never on the test split.

With a validation split (:mod:`pipesdfa.data.splits`) every epoch records ``val_acc``; the
run's **selected epoch** is the first epoch of the highest validation accuracy

    e* = min argmax_e val_acc[e]

and ``final`` reports ``selected_test_acc = test_acc[e*]`` next to the last epoch's
``test_acc``. Both test accuracies come with the per-sample correctness of the test split
(``test_correct``: a string of ``0``/``1``, one character per test sample in split order), which
the accuracy study needs for bootstrap intervals and paired tests
(:mod:`pipesdfa.studies.accuracy.stats`). ``best_test_acc`` (the highest test accuracy of any
epoch, what the SDFA paper reports) is kept for comparison only: choosing an epoch on the test
set flatters it.
"""

from __future__ import annotations

from typing import Any

__all__ = ["best_epoch", "select_epoch", "final_fields"]


def best_epoch(history: list[dict]) -> dict[str, Any]:
    """``{"best_test_acc", "best_epoch"}``: the highest test accuracy of any epoch and the
    (1-based) epoch that first reached it (the SDFA authors' ``max_test_acc``; chosen on the test
    set, for comparison only); ``None`` for both without epochs."""
    if not history:
        return {"best_test_acc": None, "best_epoch": None}
    best = max(history, key=lambda h: h["test_acc"])  # max() keeps the first of equals
    return {"best_test_acc": best["test_acc"], "best_epoch": best["epoch"]}


def select_epoch(history: list[dict]) -> dict[str, Any]:
    """``{"selected_epoch", "selected_val_acc", "selected_test_acc", "selected_test_correct"}``
    at the first epoch of the highest ``val_acc`` (module docstring); ``None`` values when no
    epoch has a validation accuracy."""
    scored = [h for h in history if h.get("val_acc") is not None]
    if not scored:
        return {"selected_epoch": None, "selected_val_acc": None, "selected_test_acc": None,
                "selected_test_correct": None}
    best = max(scored, key=lambda h: h["val_acc"])
    return {"selected_epoch": best["epoch"], "selected_val_acc": best["val_acc"],
            "selected_test_acc": best["test_acc"], "selected_test_correct": best.get("test_correct")}


def final_fields(history: list[dict]) -> dict[str, Any]:
    """The selection fields of ``metrics.json``'s ``final``: :func:`best_epoch`,
    :func:`select_epoch` and the last epoch's ``test_correct`` and ``val_acc``."""
    last = history[-1] if history else {}
    return {**best_epoch(history), **select_epoch(history), "val_acc": last.get("val_acc"),
            "test_correct": last.get("test_correct")}
