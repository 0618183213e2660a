"""``pipesdfa reproduce personalisation`` on the tiny budget, and its summaries by hand."""

from __future__ import annotations

import json

import pytest

from pipesdfa.cli import main
from pipesdfa.personalise import report
from pipesdfa.personalise.plan import ARMS, BUDGETS

ROW_KEYS = {"workload", "shift", "k", "method", "hardware", "seed", "acc_before", "acc_after", "acc_unshifted_after",
            "sim"}


def test_tiny_personalisation_end_to_end_and_rerun_reuses_the_runs(tmp_path, capsys):
    out = tmp_path / "p"
    args = ["reproduce", "personalisation", "--budget", "tiny", "--out", str(out), "--no-progress", "--threads", "1"]
    assert main(args) == 0
    text = capsys.readouterr().out
    doc = json.loads((out / "personalisation.json").read_text())
    tiny = BUDGETS["tiny"]
    assert len(doc["rows"]) == len(tiny.ks) * len(ARMS) * len(tiny.seeds)
    for r in doc["rows"]:
        assert ROW_KEYS <= set(r) and set(r["sim"]) == {"pipesdfa", "pipelayer"}
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
    stamps = {p: p.stat().st_mtime_ns for p in (out / "runs").rglob("metrics.json")}
    assert main(args) == 0  # the second call reads the finished runs back
    capsys.readouterr()
    assert {p: p.stat().st_mtime_ns for p in (out / "runs").rglob("metrics.json")} == stamps
    assert json.loads((out / "personalisation.json").read_text())["rows"] == doc["rows"]


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
    small = [_row("BPTT", 0, 0.90, 0.93), _row("SDFA, aligned B", 0, 0.90, 0.93)]
    assert not report.acceptance(report.summarise(small))["met"]  # the shift costs only 5 points
    md = report.markdown(report.summarise(rows))
    assert "| w | s | 20 | SDFA, aligned B | 2 | 70.0 | 87.0 ± 1.4 | 90.0 | +17.0 | 81 % |" in md
    assert "70.0 (60.0 on RRAM)" in md and "2 mJ" in md and "1 ms" in md
