"""End-to-end: ``pipesdfa simulate`` and ``pipesdfa reproduce hardware``."""

from __future__ import annotations

import json

import pytest

from pipesdfa.cli import main


def test_simulate_json_prints_runs(capsys, tmp_path):
    out = tmp_path / "sim.json"
    rc = main(["simulate", "--workload", "digits-mlp", "--arch", "pipelayer", "--arch", "pipesdfa", "--samples", "64",
               "--set", "crossbar.rows=64", "--json", "--out", str(out)])
    assert rc == 0
    doc = json.loads(capsys.readouterr().out)
    assert [r["arch"] for r in doc["runs"]] == ["pipelayer", "pipesdfa"]
    for r in doc["runs"]:
        assert r["time_s"] > 0 and r["energy_j"] > 0 and r["area_mm2"] > 0
        assert set(r["breakdown"]) >= {"phase", "component", "layer"}
    assert json.loads(out.read_text()) == doc


def test_simulate_reads_activity_and_prints_a_table(capsys, tmp_path):
    m = tmp_path / "metrics.json"
    m.write_text(json.dumps({"activity": {"input_rate": 0.3, "layers": [{"layer": 0, "rate": 0.05}]}}))
    assert main(["simulate", "--workload", "digits-mlp", "--samples", "32", "--activity", str(m)]) == 0
    text = capsys.readouterr().out
    assert "pipesdfa" in text and "ratio pipelayer/pipesdfa" in text


@pytest.mark.parametrize("argv, needle", [
    (["--set", "crossbar.read_energy_cycle_j=-1"], "crossbar.read_energy_cycle_j"),
    (["--set", "crossbar.nonsense=1"], "crossbar.nonsense"),
    (["--set", "crossbar.rows=300000", "--set", "crossbar.cols=300000"], "chip.area_mm2"),
    (["--activity", "/nonexistent/metrics.json"], "metrics.json"),
    (["--samples", "0"], "samples"),
])
def test_simulate_bad_input_is_one_line_exit_2(capsys, argv, needle):
    rc = main(["simulate", "--workload", "digits-mlp"] + argv)
    err = capsys.readouterr().err
    assert rc == 2
    assert err.startswith("pipesdfa: error:") and needle in err and err.count("\n") == 1


def test_reproduce_hardware_writes_every_artifact(tmp_path, capsys):
    out = tmp_path / "rep"
    rc = main(["reproduce", "hardware", "--out", str(out), "--workloads", "digits-mlp", "nmnist-mlp2",
               "--samples", "256", "--gantt-workload", "digits-mlp", "--sweep-workload", "digits-mlp"])
    assert rc == 0
    doc = json.loads((out / "hardware.json").read_text())
    assert [r["workload"] for r in doc["rows"]] == ["digits-mlp", "nmnist-mlp2"]
    for r in doc["rows"]:
        assert r["time_ratio"] == pytest.approx(r["pipelayer"]["time_s"] / r["pipesdfa"]["time_s"])
    assert doc["sources"]["crossbar.read_latency_s"].startswith("PipeLayer")
    assert "time_ratio_grows_with_T" in doc["checks"]
    assert "| `crossbar.read_latency_s` |" in (out / "constants.md").read_text()
    table = (out / "hardware.md").read_text()
    assert "| digits-mlp |" in table and "time ratio" in table
    for png in ("gantt.png", "energy_breakdown.png", "sensitivity.png"):
        data = (out / png).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10000
    assert not list(out.glob(".*.tmp"))


def test_reproduce_rejects_unknown_workload(capsys, tmp_path):
    rc = main(["reproduce", "hardware", "--out", str(tmp_path / "x"), "--workloads", "nope"])
    assert rc == 2 and "unknown workload 'nope'" in capsys.readouterr().err
