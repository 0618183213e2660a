"""``pipesdfa reproduce personalisation`` on the tiny budget, and its summaries by hand."""

from __future__ import annotations

import json

import pytest
import torch

from pipesdfa.cli.main import main
from pipesdfa.studies.personalisation import report
from pipesdfa.studies.personalisation.plan import ARMS, BUDGETS
from pipesdfa.training.config import flat_view

ROW_KEYS = {"workload", "shift", "k", "method", "hardware", "seed", "acc_before", "acc_after", "acc_unshifted_after",
            "sim"}


def test_tiny_personalisation_end_to_end_and_rerun_reuses_the_runs(tmp_path, capsys):
    out = tmp_path / "p"
    args = ["reproduce", "personalisation", "--budget", "tiny", "--out", str(out), "--no-progress", "--threads", "1"]
    assert main(args) == 0
    text = capsys.readouterr().out
    doc = json.loads((out / "personalisation.json").read_text())
    assert "commit" in doc  # the code's commit (None outside a git checkout), for the provenance test
    tiny = BUDGETS["tiny"]
    assert len(doc["rows"]) == len(tiny.ks) * len(ARMS) * len(tiny.seeds)
    for r in doc["rows"]:
        setup = {"pipesdfa_feedback_setup"} if r["feedback"] == "aligned" else set()
        assert ROW_KEYS <= set(r) and set(r["sim"]) == {"pipesdfa", "pipelayer"} | setup
        assert all(r["sim"][a]["energy_j"] > 0 and r["sim"][a]["time_s"] > 0 for a in r["sim"])
        assert 0 <= r["acc_before"] <= 1 and 0 <= r["acc_after"] <= 1
    ideal = {r["acc_before"] for r in doc["rows"] if r["hardware"] == "ideal"}
    assert len(ideal) == 1  # the same pre-trained network on the same shifted test split
    rram = [r for r in doc["rows"] if r["hardware"] == "rram"]
    assert rram and all(r["pulses_per_device_per_epoch"] > 0 for r in rram)
    # the adaptation is priced on its own samples: more samples trained, more energy
    by_k = {r["k"]: r for r in doc["rows"] if r["arm"] == "BPTT"}
    assert by_k[2]["samples_trained"] > by_k[1]["samples_trained"]
    assert by_k[2]["sim"]["pipelayer"]["energy_j"] > by_k[1]["sim"]["pipelayer"]["energy_j"]
    for f in ("personalisation.md", "recovery.png", "energy.png"):
        assert (out / f).stat().st_size > 0
    assert "PipeSDFA energy" in text and "| digits-mlp |" in text
    assert doc["acceptance"]["workloads"]["digits-mlp"]["shifts"][0]["shift"] == "contrast-threshold:factor=2"
    assert doc["machine"]["threads"] >= 1 and doc["machine"]["torch"] == torch.__version__  # what a rerun needs
    stamps = {p: p.stat().st_mtime_ns for p in (out / "runs").rglob("metrics.json")}
    assert doc["run_commits"] == [str(doc["commit"])]  # every run trained by this code
    assert main(args) == 0  # the second call reads the finished runs back
    assert "warning" not in capsys.readouterr().err
    assert {p: p.stat().st_mtime_ns for p in (out / "runs").rglob("metrics.json")} == stamps
    assert json.loads((out / "personalisation.json").read_text())["rows"] == doc["rows"]
    # a reused run that other code trained is named, in the file and on stderr
    one = next(p for p in (out / "runs").rglob("metrics.json") if "/k" in str(p))
    m = json.loads(one.read_text())
    m["runtime"]["commit"] = "0000000"
    one.write_text(json.dumps(m))
    assert main(args) == 0
    err = capsys.readouterr().err
    again = json.loads((out / "personalisation.json").read_text())
    assert "0000000" in again["run_commits"] and f"1 of {len(doc['rows'])} adaptations were trained by other" in err


def test_sdfa_pretraining_adapts_with_its_own_random_feedback(tmp_path, capsys):
    import torch

    out = tmp_path / "p"
    assert main(["reproduce", "personalisation", "--budget", "tiny", "--pretrain", "sdfa", "--ks", "1", "--out",
                 str(out), "--no-progress", "--threads", "1"]) == 0
    capsys.readouterr()
    doc = json.loads((out / "personalisation.json").read_text())
    assert "--pretrain sdfa" in doc["command"] and doc["budget"]["studies"][0]["pretrain"]["method"] == "sdfa"
    assert "SDFA, random B on RRAM" not in doc["budget"]["arms"] and "SDFA, aligned B on RRAM" in doc["budget"]["arms"]
    runs = out / "runs" / "digits-mlp"
    base = torch.load(runs / "base" / "checkpoint.pt", weights_only=False)
    assert flat_view(base["config"])["method"] == "sdfa"
    random_b = torch.load(next(runs.glob("*/k1/sdfa-gaussian/seed0/checkpoint.pt")), weights_only=False)["rule"]
    aligned_b = torch.load(next(runs.glob("*/k1/sdfa-aligned/seed0/checkpoint.pt")), weights_only=False)["rule"]
    fb = [k for k in base["rule"] if k.startswith("feedback.B_")]
    assert fb and all(torch.equal(random_b[k], base["rule"][k]) for k in fb)  # the very B it was pre-trained with
    assert "feedback.B_0" in aligned_b and "feedback.B_0" not in base["rule"]  # one matrix per layer, not shared


def test_personalisation_refusals(tmp_path, capsys):
    rc = main(["reproduce", "personalisation", "--budget", "tiny", "--workloads", "nmnist-mlp2", "--out",
               str(tmp_path / "x")])
    err = capsys.readouterr().err
    assert rc == 2 and "has digits-mlp" in err and err.count("\n") == 1


def _row(arm, seed, before, after, unshifted=0.9, hardware="ideal", k=20, shift="s"):
    method = {"BPTT": "bptt", "output only": "output"}.get(arm, "sdfa")
    sim = {a: {"time_s": 1e-3, "energy_j": 2e-3} for a in ("pipesdfa", "pipelayer")}
    return {"workload": "w", "shift": shift, "k": k, "arm": arm, "method": method, "feedback": None,
            "hardware": hardware, "seed": seed, "acc_before": before, "acc_after": after,
            "acc_unshifted_after": unshifted, "base_acc": 0.95, "samples_trained": 200, "sim": sim}


def test_summary_and_acceptance_by_hand():
    rows = [_row("BPTT", 0, 0.70, 0.90), _row("BPTT", 1, 0.70, 0.92),
            _row("SDFA, aligned B", 0, 0.70, 0.88), _row("SDFA, aligned B", 1, 0.70, 0.86),
            _row("SDFA, random B", 0, 0.70, 0.60), _row("SDFA, random B", 1, 0.70, 0.62),
            _row("SDFA, random B on RRAM", 0, 0.60, 0.80, hardware="rram")]
    s = {x["arm"]: x for x in report.summarise(rows)}
    assert s["BPTT"]["recovered"] == pytest.approx(0.21) and s["BPTT"]["share_of_bptt"] == pytest.approx(1.0)
    assert s["SDFA, aligned B"]["share_of_bptt"] == pytest.approx(0.17 / 0.21)
    assert s["SDFA, random B"]["recovered"] == pytest.approx(-0.09)
    # an RRAM arm's recovery counts from the ideal network (its programming loss counts against it)
    rr = s["SDFA, random B on RRAM"]
    assert rr["acc_before"] == pytest.approx(0.70) and rr["acc_before_device"] == pytest.approx(0.60)
    assert rr["recovered"] == pytest.approx(0.10)
    acc = report.acceptance(report.summarise(rows))
    shift = acc["workloads"]["w"]["shifts"][0]
    assert shift["drop"] == pytest.approx(0.25) and shift["counts"] and shift["met"] and acc["met"]
    assert shift["sdfa_share_of_bptt"]["SDFA, aligned B"] == pytest.approx(0.17 / 0.21)
    by_arm = acc["workloads"]["w"]["by_arm"]
    assert by_arm["SDFA, aligned B"] == {"shifts_counted": 1, "shifts_met": 1, "met": True}
    assert by_arm["SDFA, random B"] == {"shifts_counted": 1, "shifts_met": 0, "met": False}
    assert acc["met_by"] == ["SDFA, aligned B"]  # the RRAM arm is not an ideal arm: not judged
    small = [_row("BPTT", 0, 0.90, 0.93), _row("SDFA, aligned B", 0, 0.90, 0.93)]
    assert not report.acceptance(report.summarise(small))["met"]  # the shift costs only 5 points
    md = report.markdown(report.summarise(rows))
    assert "| w | s | 20 | SDFA, aligned B | 2 | 70.0 | 87.0 ± 1.4 | 90.0 | +17.0 | 81 % |" in md
    assert "70.0 (60.0 on RRAM)" in md and "2 mJ" in md and "1 ms" in md


def test_aligned_feedback_setup_by_hand():
    from types import SimpleNamespace

    from pipesdfa.studies.personalisation.setup_cost import aligned_feedback_setup

    p = SimpleNamespace(crossbar=SimpleNamespace(rows=128, cols=128), cell_write_energy_j=2e-12, row_write_latency_s=3e-9)
    c = aligned_feedback_setup([256, 200], 10, p)  # B_0: 10 x 256 (2 crossbars), B_1: 10 x 200 (2 crossbars)
    assert c == {"entries": 4560, "cells": 4560, "crossbars": 4, "forward_reads": 256 * 2 + 200,
                 "energy_j": pytest.approx(4560 * 2e-12), "time_s": pytest.approx(4 * 10 * 3e-9)}
    c = aligned_feedback_setup([300], 200, p)  # 200 classes: 2 row tiles x 3 column tiles, 128 rows each
    assert c["crossbars"] == 6 and c["forward_reads"] == 300 and c["time_s"] == pytest.approx(6 * 128 * 3e-9)


def test_committed_results_carry_the_issue_fields_and_the_readme_is_rendered_from_them():
    import importlib.util
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    path = root / "docs" / "results" / "personalisation" / "personalisation.json"
    if not path.is_file():
        pytest.skip("no committed personalisation.json")
    doc = json.loads(path.read_text())
    assert len(doc["rows"]) == 2 * 3 * 3 * len(ARMS) * 3  # workloads x shifts x K x arms x seeds
    for r in doc["rows"]:
        assert ROW_KEYS <= set(r) and all(r["sim"][a]["energy_j"] > 0 for a in ("pipesdfa", "pipelayer"))
    assert doc["acceptance"]["met_by"] == ["SDFA, aligned B"]  # random B on a BPTT base does not adapt it
    spec = importlib.util.spec_from_file_location("render_readme", root / "benchmarks" / "render_readme.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    text = (root / "docs" / "personalisation.md").read_text()
    assert "<!-- personalisation:start -->" in text and mod.render(text) == text
    # a result the current code did not produce is labelled, and README shows no number of it
    assert ("**Stale:**" in mod.TABLES["personalisation"]()) == bool(mod.STALE_TABLES["personalisation"]())
    assert "<!-- personalisation-summary:start -->" not in (root / "README.md").read_text()


def test_committed_feedback_setup_prices_are_run_feedback_setup():
    """Every committed aligned row's ``pipesdfa_feedback_setup`` is what
    :func:`run_feedback_setup` gives for the row's workload (cells, crossbars and reads; and the
    energy and time on the study's chip for the rows trained on ideal weights): the one helper
    that replaced the study's own copy prices these workloads number for number."""
    from pathlib import Path
    from types import SimpleNamespace

    from pipesdfa.hw.config.resolve import load_config
    from pipesdfa.studies.personalisation.setup_cost import run_feedback_setup
    from pipesdfa.zoo.workloads import get_workload

    root = Path(__file__).resolve().parents[1] / "docs" / "results" / "personalisation"
    paths = sorted(root.rglob("personalisation.json"))
    if not paths:
        pytest.skip("no committed personalisation results")
    checked = 0
    for path in paths:
        doc = json.loads(path.read_text())
        params = load_config(doc["hardware_config"]["preset"]).params
        for r in doc["rows"]:
            got = r["sim"].get("pipesdfa_feedback_setup")
            if r["distribution"] != "aligned":
                assert got is None, (path, r["arm"])
                continue
            run = SimpleNamespace(metrics={"rule": {"distribution": "aligned"}},
                                  spec=get_workload(r["workload"]).model_spec())
            want = run_feedback_setup(run, params)
            keys = ("entries", "cells", "crossbars", "forward_reads") + (("energy_j", "time_s") if r["hardware"] == "ideal" else ())
            assert {k: got[k] for k in keys} == {k: pytest.approx(want[k]) for k in keys}, (path, r["workload"], r["arm"])
            checked += 1
    assert checked > 0
