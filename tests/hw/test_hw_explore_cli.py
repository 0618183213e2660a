"""``pipesdfa explore`` end to end on a small workload, its errors, and its parallel backends."""

from __future__ import annotations

import importlib.util
import json

import pytest

from pipesdfa.cli.main import main
from pipesdfa.hw.config import load_config

CHIP = load_config("pipelayer-2017").params.chip_area_mm2
SMALL = ["--workload", "digits-mlp", "--points", "6", "--no-progress"]


def test_explore_writes_json_png_and_html(tmp_path, capsys):
    out = tmp_path / "ex"
    assert main(["explore", *SMALL, "--budget-mm2", str(2 * CHIP), "--out", str(out), "--seed", "3", "--polish", "1"]) == 0
    doc = json.loads((out / "explore.json").read_text())
    assert doc["workload"] == "digits-mlp" and doc["semantics"] == "strict" and doc["dram"] == "hbm2"
    assert doc["budget_mm2"] == pytest.approx(2 * CHIP) and doc["provenance"]["command"] == ""
    for arch in ("pipelayer", "pipesdfa"):
        a = doc["archs"][arch]
        assert a["evaluated"] > 6 and 1 <= len(a["pareto"]) and a["default"]["feasible"]  # 6 drawn + polish
        assert {"params", "time_s", "energy_j", "area_mm2"} <= set(a["pareto"][0])
        assert a["best_time"]["time_s"] == min(p["time_s"] for p in a["pareto"])
        assert a["best_time"]["time_s"] <= a["default"]["time_s"]  # the hand-picked design is in the search
        assert all(p["area_mm2"] <= doc["budget_mm2"] for p in a["pareto"])
    r = doc["ratios"]
    b, p = doc["archs"]["pipelayer"], doc["archs"]["pipesdfa"]
    assert r["time_best_vs_best"] == pytest.approx(b["best_time"]["time_s"] / p["best_time"]["time_s"])
    assert r["default_energy"] == pytest.approx(b["default"]["energy_j"] / p["default"]["energy_j"])
    assert (out / "pareto.png").stat().st_size > 1000
    html = (out / "pareto.html").read_text()
    assert "<script" in html and "<script src=" not in html and "hand-picked" in html  # plotly.js inline
    assert "best vs best" in capsys.readouterr().out


def test_explore_nsga2_and_grid_with_two_jobs(tmp_path):
    for search in ("nsga2", "grid"):
        out = tmp_path / search
        assert main(["explore", *SMALL, "--arch", "pipesdfa", "--budget-mm2", str(CHIP), "--search", search,
                     "--jobs", "2", "--out", str(out), "--fix", "gradient.technology=sram"]) == 0
        doc = json.loads((out / "explore.json").read_text())
        a = doc["archs"]["pipesdfa"]
        assert a["evaluated"] == 6 and doc["ratios"] == {}
        assert all(p["params"]["gradient.technology"] == "sram" for p in a["pareto"])


@pytest.mark.parametrize("args, message", [
    (["--budget-mm2", "-3"], "--budget-mm2 -3.0: expected a positive area"),
    (["--budget-mm2", "10"], "smaller than one chip"),
    (["--budget-mm2", "1000", "--fix", "chip.frobs=2"], "--fix chip.frobs: unknown design variable"),
    (["--budget-mm2", "1000", "--fix", "mapping.feedback_copies=3"], "mapping.feedback_copies = 3"),
    (["--budget-mm2", "1000", "--min-epochs", "1e30"], "no pipelayer design of the 6 evaluated fits"),
])
def test_explore_errors_are_one_line_and_leave_no_folder(tmp_path, capsys, args, message):
    out = tmp_path / "ex"
    assert main(["explore", *SMALL, *args, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not out.exists() and list(tmp_path.iterdir()) == []


@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="ray is not installed")
def test_explore_on_ray(tmp_path):
    out = tmp_path / "ray"
    assert main(["explore", *SMALL, "--arch", "pipesdfa", "--budget-mm2", str(CHIP), "--jobs", "ray",
                 "--out", str(out)]) == 0
    assert json.loads((out / "explore.json").read_text())["archs"]["pipesdfa"]["evaluated"] == 6


def test_headline_explores_both_memories_and_cross_seeds(tmp_path):
    from pipesdfa.studies.exploration.headline import explore_workloads, headline_markdown

    docs = explore_workloads(["digits-mlp"], load_config("pipelayer-2017"), tmp_path, points=4, search="random",
                             polish=1, command="test")
    assert [d["dram"] for d in docs] == ["hbm2", "lpddr5"]
    for d in docs:
        on_disk = json.loads((tmp_path / f"explore-digits-mlp-{d['dram']}.json").read_text())
        assert on_disk == d and d["semantics"] == "strict" and d["provenance"]["command"] == "test"
        assert d["budget_mm2"] == pytest.approx(CHIP)  # both hand-picked designs take one chip
        for a in d["archs"].values():
            assert a["evaluated"] >= 4 + a["cross_seeded"] and a["cross_seeded"] >= 0
    table = headline_markdown(docs)
    assert table.count("| digits-mlp |") == 2 and "lpddr5" in table


def test_a_regeneration_starts_from_the_fronts_it_replaces(tmp_path):
    """A weak search (one random point) over files of a stronger one keeps the stronger bests:
    the replaced files' Pareto designs are evaluated again and join the candidates."""
    from pipesdfa.studies.exploration.headline import explore_workloads

    cfg = load_config("pipelayer-2017")
    strong = explore_workloads(["digits-mlp"], cfg, tmp_path, points=16, search="random", polish=0, command="strong",
                               warm_start=False)
    weak = explore_workloads(["digits-mlp"], cfg, tmp_path, points=1, search="random", seed=7, polish=0,
                             command="weak")
    cold = explore_workloads(["digits-mlp"], cfg, tmp_path / "cold", points=1, search="random", seed=7, polish=0,
                             command="weak", warm_start=False)
    lost = False
    for s, w, c in zip(strong, weak, cold):
        assert "warm_start_from" in w["provenance"] and "warm_start_from" not in c["provenance"]
        for arch in s["archs"]:
            for obj, best in (("time_s", "best_time"), ("energy_j", "best_energy")):
                assert w["archs"][arch][best][obj] <= s["archs"][arch][best][obj] * (1 + 1e-12)
                lost |= c["archs"][arch][best][obj] > s["archs"][arch][best][obj] * (1 + 1e-12)
    assert lost  # without the warm start the weak search does lose a design (the test can fail)


@pytest.mark.skipif(importlib.util.find_spec("ray") is not None, reason="ray is installed")
def test_explore_on_ray_without_ray_is_a_clear_error(tmp_path, capsys):
    out = tmp_path / "ray"
    assert main(["explore", *SMALL, "--arch", "pipesdfa", "--budget-mm2", str(CHIP), "--jobs", "ray",
                 "--out", str(out)]) == 2
    assert "--jobs ray needs the ray package" in capsys.readouterr().err and not out.exists()
