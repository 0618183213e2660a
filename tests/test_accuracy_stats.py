"""Golden values, computed by hand, for the accuracy table's statistics (studies/accuracy/stats.py)."""

from __future__ import annotations

import math

import pytest

from pipesdfa.studies.accuracy.stats import bootstrap_ci, bootstrap_diff_ci, mcnemar, mcnemar_pooled


def test_mcnemar_exact_by_hand():
    # 10 samples only a gets right, 2 only b: p = 2 (C(12,0)+C(12,1)+C(12,2)) / 2^12 = 2 * 79 / 4096
    a = "1" * 10 + "0" * 2 + "11" + "00"
    b = "0" * 10 + "1" * 2 + "11" + "00"
    r = mcnemar(a, b)
    assert (r["n10"], r["n01"]) == (10, 2)
    assert r["p_value"] == pytest.approx(158 / 4096)
    assert mcnemar("1100", "1100")["p_value"] == 1.0  # no discordant pair
    assert mcnemar("10", "01")["p_value"] == 1.0  # 2 * (1/4 + 2/4) capped at 1
    assert mcnemar("1" * 6, "0" * 6)["p_value"] == pytest.approx(2 / 64)


def test_mcnemar_agrees_with_scipy():
    scipy_stats = pytest.importorskip("scipy.stats")
    a, b = "1101110111011" * 3, "1010101110100" * 3
    r = mcnemar(a, b)
    want = scipy_stats.binomtest(r["n10"], r["n10"] + r["n01"], 0.5).pvalue
    assert r["p_value"] == pytest.approx(want)


def test_mcnemar_pooled_sums_the_seeds():
    r = mcnemar_pooled(["1" * 5, "1" * 5], ["0" * 5, "1" * 4 + "0"])
    assert (r["n10"], r["n01"]) == (6, 0) and r["p_value"] == pytest.approx(2 / 64)
    assert [p["n10"] for p in r["per_seed"]] == [5, 1]


def test_bootstrap_interval_by_hand():
    # one seed, 4 samples, 3 right: the bootstrap mean is Binomial(4, 3/4) / 4, whose CDF is
    # 1/256 at 0, 13/256 = 0.051 at 1/4, 67/256 at 1/2, 175/256 = 0.68 at 3/4: the 2.5 %
    # quantile is 1/4 and the 97.5 % quantile 1 (both far from the CDF's steps)
    r = bootstrap_ci(["1110"], n_boot=20000, seed=1)
    assert r["mean"] == 0.75 and r["lo"] == 0.25 and r["hi"] == 1.0
    # every sample right on every seed: no spread
    assert bootstrap_ci(["111", "111"]) == {"mean": 1.0, "lo": 1.0, "hi": 1.0}
    # seeds at 1 and at 0 on 1 sample: seeds drawn with replacement give 0, 1/2, 1 with 1/4, 1/2, 1/4
    r = bootstrap_ci(["1", "0"], n_boot=20000, seed=2)
    assert r["mean"] == 0.5 and r["lo"] == 0.0 and r["hi"] == 1.0


def test_bootstrap_difference_is_paired():
    a, b = ["1101" * 25, "1111" * 25], ["1100" * 25, "1101" * 25]
    r = bootstrap_diff_ci(a, b, n_boot=4000)
    assert r["mean"] == pytest.approx(0.25 / 2 + 0.25 / 2)
    assert 0 < r["lo"] <= r["mean"] <= r["hi"]  # a is never worse than b on any sample
    with pytest.raises(ValueError, match="differ in shape"):
        bootstrap_diff_ci(["11"], ["1"])
    with pytest.raises(ValueError, match="only '0' and '1'"):
        bootstrap_ci(["12"])
    assert math.isfinite(bootstrap_ci(["10" * 50])["lo"])
