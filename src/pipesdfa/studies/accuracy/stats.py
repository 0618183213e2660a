"""Statistics of the accuracy table: bootstrap intervals and McNemar's paired test (pure functions).

Inputs are per-sample correctness strings (``"0110..."``: one character per test sample, ``1``
where the prediction is right; :mod:`pipesdfa.training.selection`), one per seed, all over the
same test split.

**Bootstrap interval** (:func:`bootstrap_ci`) of the mean accuracy over ``k`` seeds and ``n``
test samples: each of ``B`` replicates draws ``k`` seeds and ``n`` test samples with replacement
(the same samples for every drawn seed, since all seeds share the test split), and takes

    acc* = mean_{j in seeds*} mean_{i in samples*} c[j, i]

the interval is the ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles of ``acc*`` (percentile
method; NumPy's default linear interpolation). It covers both the test set's sampling error and
the run-to-run spread. :func:`bootstrap_diff_ci` does the same for the paired difference
``acc_a - acc_b`` of two rules trained with the same seeds (one draw for both).

**McNemar's test** (:func:`mcnemar`) of two rules on the same samples: with ``n10`` samples only
``a`` gets right and ``n01`` only ``b`` does, under the null hypothesis of equal accuracy
``n10 ~ Binomial(n10 + n01, 1/2)``; the exact two-sided p-value is

    p = min(1, 2 * sum_{x=0}^{min(n10, n01)} C(n, x) / 2^n),   n = n10 + n01

(1 when ``n = 0``). Pooled over seeds, the discordant counts are summed (every seed's pairs are
a paired comparison on the same test split; the pooled test treats them as independent, which
the per-seed counts let a reader check).
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

__all__ = ["as_matrix", "bootstrap_ci", "bootstrap_diff_ci", "mcnemar", "mcnemar_pooled"]


def as_matrix(correct: Sequence[str]) -> np.ndarray:
    """``[k seeds, n samples]`` 0/1 array from correctness strings of equal length."""
    if not correct:
        raise ValueError("no correctness strings")
    n = len(correct[0])
    if any(len(c) != n for c in correct) or n == 0:
        raise ValueError(f"correctness strings of unequal or zero length: {[len(c) for c in correct]}")
    if any(set(c) - {"0", "1"} for c in correct):
        raise ValueError("correctness strings hold only '0' and '1'")
    return np.array([[ch == "1" for ch in c] for c in correct], dtype=np.float64)


def _draws(k: int, n: int, n_boot: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, k, size=(n_boot, k)), rng.integers(0, n, size=(n_boot, n))


def _replicates(c: np.ndarray, seeds: np.ndarray, samples: np.ndarray) -> np.ndarray:
    # per replicate: mean over the drawn seeds of (mean over the drawn samples)
    per_seed = np.stack([c[:, s].mean(1) for s in samples])  # [B, k]: each seed's accuracy on the drawn samples
    return np.take_along_axis(per_seed, seeds, 1).mean(1)


def _interval(reps: np.ndarray, level: float) -> tuple[float, float]:
    lo, hi = np.quantile(reps, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def bootstrap_ci(correct: Sequence[str], n_boot: int = 2000, level: float = 0.95, seed: int = 0) -> dict[str, float]:
    """``{"mean", "lo", "hi"}`` (fractions): the mean accuracy over seeds and its bootstrap
    interval over seeds and test samples (module docstring)."""
    c = as_matrix(correct)
    s, i = _draws(c.shape[0], c.shape[1], n_boot, seed)
    lo, hi = _interval(_replicates(c, s, i), level)
    return {"mean": float(c.mean()), "lo": lo, "hi": hi}


def bootstrap_diff_ci(a: Sequence[str], b: Sequence[str], n_boot: int = 2000, level: float = 0.95,
                      seed: int = 0) -> dict[str, float]:
    """``{"mean", "lo", "hi"}`` of ``acc_a - acc_b`` (fractions) for two rules run with the same
    seeds in the same order, one bootstrap draw for both (module docstring)."""
    ca, cb = as_matrix(a), as_matrix(b)
    if ca.shape != cb.shape:
        raise ValueError(f"paired runs differ in shape: {ca.shape} vs {cb.shape}")
    s, i = _draws(ca.shape[0], ca.shape[1], n_boot, seed)
    lo, hi = _interval(_replicates(ca - cb, s, i), level)
    return {"mean": float((ca - cb).mean()), "lo": lo, "hi": hi}


def _exact_p(n10: int, n01: int) -> float:
    n = n10 + n01
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, x) for x in range(min(n10, n01) + 1)) / 2 ** n
    return min(1.0, 2 * tail)


def mcnemar(a: str, b: str) -> dict[str, float | int]:
    """``{"n10", "n01", "p_value"}``: samples only ``a`` / only ``b`` gets right, and McNemar's
    exact two-sided p-value (module docstring)."""
    c = as_matrix([a, b])
    n10 = int(((c[0] == 1) & (c[1] == 0)).sum())
    n01 = int(((c[0] == 0) & (c[1] == 1)).sum())
    return {"n10": n10, "n01": n01, "p_value": _exact_p(n10, n01)}


def mcnemar_pooled(a: Sequence[str], b: Sequence[str]) -> dict[str, float | int | list]:
    """McNemar over seeds: per-seed counts (``per_seed``) and the test on the summed counts."""
    if len(a) != len(b):
        raise ValueError(f"{len(a)} runs of one rule against {len(b)} of the other")
    per = [mcnemar(x, y) for x, y in zip(a, b)]
    n10, n01 = sum(int(p["n10"]) for p in per), sum(int(p["n01"]) for p in per)
    return {"n10": n10, "n01": n01, "p_value": _exact_p(n10, n01), "per_seed": per}
