"""Properties of the physical model on the nine paper workloads (published, time-step-pipelined
and iso-area comparisons), and the committed results behind the README's hardware table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipesdfa.hw.config import load_config
from pipesdfa.hw.report import DEPTH_SERIES, checks, comparison_rows
from pipesdfa.zoo.workloads import PAPER_WORKLOADS, get_workload

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def rows():
    # 12 batches per workload: the steady state of an epoch at a fraction of the cost
    out = []
    for w in PAPER_WORKLOADS:
        out += comparison_rows([w], load_config(), sweeps=False, samples=12 * get_workload(w).batch)
    return {r["workload"]: r for r in out}


def test_pipesdfa_is_never_slower_and_always_saves_energy(rows):
    for w, r in rows.items():
        assert r["time_ratio"] >= 0.99, (w, r["time_ratio"])
        assert r["energy_ratio"] > 1.0, (w, r["energy_ratio"])
        assert r["time_ratio_iso_area"] >= 0.99, (w, r["time_ratio_iso_area"])


def test_the_time_step_pipeline_never_slows_pipelayer_down(rows):
    for w, r in rows.items():
        assert r["pipelayer_timestep_pipelined"]["time_s"] <= r["pipelayer"]["time_s"] * 1.001, w
        assert r["time_ratio_timestep_pipelined"] <= r["time_ratio"] * 1.001, w


def test_deep_convolutional_workloads_gain_most(rows):
    c = checks(list(rows.values()))
    assert c["time_ratio_grows_with_depth"], [rows[w]["time_ratio"] for w in DEPTH_SERIES]
    mlp = max(rows[w]["time_ratio"] for w in rows if get_workload(w).model == "mlp")
    conv = min(rows[w]["time_ratio"] for w in rows if get_workload(w).model != "mlp")
    assert conv > 2 * mlp  # PipeLayer's E-bit transposed reads bind the conv nets, the gradient unit the MLPs


def test_both_machines_fit_the_iso_area_budget(rows):
    for w, r in rows.items():
        iso = r["iso_area"]
        for arch in ("pipelayer", "pipesdfa"):
            assert iso[arch]["area_mm2"] <= iso["budget_mm2"] * (1 + 1e-9), (w, arch)


def test_committed_hardware_results_carry_every_field():
    """The README's hardware table is rendered from this file (benchmarks/render_readme.py)."""
    path = ROOT / "docs" / "results" / "hardware" / "hardware.json"
    doc = json.loads(path.read_text())
    assert [r["workload"] for r in doc["rows"]] == list(PAPER_WORKLOADS)
    for r in doc["rows"]:
        for key in ("time_ratio", "energy_ratio", "time_ratio_timestep_pipelined", "time_ratio_iso_area",
                    "energy_ratio_iso_area", "time_ratio_range", "energy_ratio_range"):
            assert r[key] is not None, (r["workload"], key)
        for key in ("time_ratio", "energy_ratio"):
            lo, hi = r[f"{key}_range"]
            assert lo <= r[key] <= hi
    val = json.loads((ROOT / "docs" / "results" / "validation" / "validation.json").read_text())
    ok = [v for v in val["rows"] if v["rel_err"] <= 0.05 and v["through_engine"]]
    assert len(ok) >= 3 and len({v["source"] for v in ok}) >= 2
