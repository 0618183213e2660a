"""End-to-end: ``pipesdfa simulate`` (workloads and training runs) and ``pipesdfa reproduce``."""

from __future__ import annotations

import json

import pytest

from pipesdfa.cli.main import main


@pytest.fixture(scope="module")
def digits_runs(tmp_path_factory):
    """Two tiny ``pipesdfa train`` run folders of digits-mlp: ideal SDFA, and BPTT on RRAM."""
    root = tmp_path_factory.mktemp("runs")
    common = ["--workload", "digits-mlp", "--epochs", "1", "--T", "2", "--batch", "32", "--max-train", "64",
              "--max-test", "32", "--no-progress"]
    assert main(["train", *common, "--method", "sdfa", "--out", str(root / "sdfa")]) == 0
    assert main(["train", *common, "--method", "bptt", "--out", str(root / "rram"), "--hardware", "rram",
                 "--device-preset", "taox-hfox", "--set", "device.levels=64", "--set", "analog.adc_bits=6"]) == 0
    return root


def test_simulate_json_prints_runs(capsys, tmp_path):
    out = tmp_path / "sim.json"
    rc = main(["simulate", "--workload", "digits-mlp", "--arch", "pipelayer", "--arch", "pipesdfa", "--samples", "64",
               "--set", "crossbar.rows=64", "--json", "--out", str(out)])
    assert rc == 0
    doc = json.loads(capsys.readouterr().out)
    assert [r["arch"] for r in doc["runs"]] == ["pipelayer", "pipesdfa"]
    for r in doc["runs"]:
        assert r["time_s"] > 0 and r["energy_j"] > 0 and r["area_mm2"] > 0 and r["device_preset"] == "neurosim-default"
        assert set(r["breakdown"]) >= {"phase", "component", "layer"} and "memory" in r and "silicon" in r
    assert json.loads(out.read_text()) == doc


def test_simulate_checkpoint_prices_the_run_it_is_given(capsys, digits_runs):
    rc = main(["simulate", "--checkpoint", str(digits_runs / "sdfa"), "--arch", "pipelayer", "--arch", "pipesdfa",
               "--json"])
    assert rc == 0
    doc = json.loads(capsys.readouterr().out)
    metrics = json.loads((digits_runs / "sdfa" / "metrics.json").read_text())
    for r in doc["runs"]:
        assert (r["T"], r["batch"], r["samples"]) == (2, 32, metrics["dataset"]["train"])
        assert r["source"]["checkpoint"] == str(digits_runs / "sdfa") and r["workload"] == "digits-mlp"
        assert r["activity"]["input_rate"] == pytest.approx(metrics["activity"]["input_rate"])
        assert r["device_preset"] == "neurosim-default"
    # an RRAM run: the device it trained on is the device priced, recorded in every run
    assert main(["simulate", "--checkpoint", str(digits_runs / "rram" / "metrics.json"), "--json"]) == 0
    runs = json.loads(capsys.readouterr().out)["runs"]
    assert {r["device_preset"] for r in runs} == {"taox-hfox*"}  # taox-hfox with levels=64
    assert all(r["activity"]["pulses_per_weight_per_epoch"] is not None for r in runs)


def test_simulate_checkpoint_adds_the_setup_of_aligned_feedback(capsys, tmp_path, digits_runs):
    """A composed MLP trains SDFA with aligned feedback: PipeSDFA's price of the run adds the
    one-off programming of its C x sum(n_l) feedback cells, outside the totals; a run with random
    feedback (the workload) has none."""
    assert main(["train", "--dataset", "digits", "--model", "mlp", "--layers", "3", "--hidden", "24", "--method", "sdfa",
                 "--epochs", "1", "--T", "2", "--max-train", "64", "--max-test", "32", "--no-progress",
                 "--out", str(tmp_path / "c")]) == 0
    capsys.readouterr()
    assert main(["simulate", "--checkpoint", str(tmp_path / "c"), "--json"]) == 0
    runs = {r["arch"]: r for r in json.loads(capsys.readouterr().out)["runs"]}
    setup = runs["pipesdfa"]["feedback_setup"]
    assert setup["cells"] == 10 * (24 + 24) and setup["energy_j"] > 0 and setup["time_s"] > 0
    assert "feedback_setup" not in runs["pipelayer"]
    assert main(["simulate", "--checkpoint", str(tmp_path / "c")]) == 0
    assert "one-off programming of the aligned feedback" in capsys.readouterr().out
    assert main(["simulate", "--checkpoint", str(digits_runs / "sdfa"), "--json"]) == 0
    assert all("feedback_setup" not in r for r in json.loads(capsys.readouterr().out)["runs"])


def test_activity_prices_its_runs_device_and_refuses_another_workload(capsys, digits_runs):
    rram = str(digits_runs / "rram" / "metrics.json")
    assert main(["simulate", "--workload", "digits-mlp", "--samples", "64", "--activity", rram, "--json"]) == 0
    assert {r["device_preset"] for r in json.loads(capsys.readouterr().out)["runs"]} == {"taox-hfox*"}
    assert main(["simulate", "--workload", "braille-mlp", "--activity", rram]) == 2
    err = capsys.readouterr().err
    assert "run of workload 'digits-mlp', not 'braille-mlp'" in err and err.count("\n") == 1
    assert main(["simulate", "--checkpoint", str(digits_runs / "sdfa"), "--activity", rram]) == 2
    assert "--activity and --checkpoint" in capsys.readouterr().err


def test_simulate_reads_a_plain_activity_file_and_prints_a_table(capsys, tmp_path):
    m = tmp_path / "metrics.json"
    m.write_text(json.dumps({"activity": {"input_rate": 0.3, "layers": [{"layer": 0, "rate": 0.05}]}}))
    assert main(["simulate", "--workload", "digits-mlp", "--samples", "32", "--activity", str(m)]) == 0
    text = capsys.readouterr().out
    assert "pipesdfa" in text and "ratio pipelayer/pipesdfa" in text and "DRAM" in text


@pytest.mark.parametrize("argv, needle", [
    (["--set", "crossbar.read_energy_cycle_j=-1"], "crossbar.read_energy_cycle_j"),
    (["--set", "crossbar.nonsense=1"], "crossbar.nonsense"),
    (["--set", "crossbar.rows=4096"], "crossbar.rows = 4096"),
    (["--set", "adc.bits=40"], "adc.bits = 40"),
    (["--set", "adc.bits=8"], "needs 10 bits"),
    (["--set", "device.levels=8"], "device.levels = 8"),
    (["--activity", "/nonexistent/metrics.json"], "metrics.json"),
    (["--samples", "0"], "samples"),
])
def test_simulate_bad_input_is_one_line_exit_2(capsys, argv, needle):
    rc = main(["simulate", "--workload", "digits-mlp"] + argv)
    err = capsys.readouterr().err
    assert rc == 2
    assert err.startswith("pipesdfa: error:") and needle in err and err.count("\n") == 1


def test_simulate_checkpoint_needs_a_run_folder(capsys, tmp_path):
    assert main(["simulate", "--checkpoint", str(tmp_path)]) == 2
    assert "metrics.json does not exist" in capsys.readouterr().err
    (tmp_path / "metrics.json").write_text(json.dumps({"config": {}, "model": {}, "dataset": {}}))
    assert main(["simulate", "--checkpoint", str(tmp_path)]) == 2
    assert "field 'model'" in capsys.readouterr().err


def test_reproduce_hardware_writes_every_artifact(tmp_path, capsys):
    out = tmp_path / "rep"
    rc = main(["reproduce", "hardware", "--out", str(out), "--workloads", "digits-mlp", "braille-mlp",
               "--samples", "256", "--gantt-workload", "digits-mlp", "--sweep-workload", "braille-mlp",
               "--no-progress"])
    assert rc == 0
    doc = json.loads((out / "hardware.json").read_text())
    assert [r["workload"] for r in doc["rows"]] == ["digits-mlp", "braille-mlp"]
    for r in doc["rows"]:
        assert r["time_ratio"] == pytest.approx(r["pipelayer"]["time_s"] / r["pipesdfa"]["time_s"])
        for key in ("time_ratio", "energy_ratio"):
            lo, hi = r[f"{key}_range"]
            assert lo <= r[key] <= hi
        assert r["time_ratio_timestep_pipelined"] > 0 and r["time_ratio_iso_area"] > 0
        assert r["energy_ratio_iso_area"] > 0 and r["sweep"]
    assert doc["sources"]["crossbar.read_latency_s"].startswith("PipeLayer")
    assert doc["device_preset"] == "neurosim-default" and doc["sweep_factors"]
    assert "| `crossbar.read_latency_s` |" in (out / "constants.md").read_text()
    table = (out / "hardware.md").read_text()
    assert "| digits-mlp |" in table and "iso-area" in table
    for png in ("gantt.png", "energy_breakdown.png", "ratio_ranges.png", "sensitivity.png"):
        data = (out / png).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10000
    assert not list(out.glob(".*.tmp"))


def test_reproduce_validation_matches_published_figures_through_the_engine(tmp_path, capsys):
    out = tmp_path / "val"
    assert main(["reproduce", "validation", "--out", str(out)]) == 0
    doc = json.loads((out / "validation.json").read_text())
    assert all(r["through_engine"] for r in doc["rows"])
    ok = [r for r in doc["rows"] if r["rel_err"] <= 0.05]
    assert len(ok) >= 3 and len({r["source"] for r in ok}) >= 2
    for r in doc["rows"]:
        assert set(r) >= {"name", "source", "quantity", "published", "simulated", "rel_err", "through_engine"}
        if r["rel_err"] > 0.05:
            assert r["note"].startswith("not matched")
    assert "| SpikeSim VGG9, energy |" in (out / "validation.md").read_text()


def test_reproduce_rejects_unknown_workload(capsys, tmp_path):
    rc = main(["reproduce", "hardware", "--out", str(tmp_path / "x"), "--workloads", "nope"])
    assert rc == 2 and "unknown workload 'nope'" in capsys.readouterr().err


def test_run_overrides_carry_the_runs_feedback_layout():
    from pipesdfa.hw.runs import run_overrides

    assert run_overrides({"rule": {"feedback": "independent"}}, "m.json") == {"mapping.feedback": "per-layer"}
    assert run_overrides({"rule": {"feedback": "shared"}}, "m.json") == {}
    assert run_overrides({"rule": {"name": "bptt"}}, "m.json") == {}


def test_simulate_checkpoint_prices_per_layer_feedback_of_an_independent_run(capsys, digits_runs, tmp_path):
    """A run with one feedback matrix per hidden layer is priced with one feedback array per layer
    (more arrays than the shared one), by simulate as by reproduce personalisation."""
    metrics = json.loads((digits_runs / "sdfa" / "metrics.json").read_text())
    assert metrics["rule"]["feedback"] == "shared"
    energy = {}
    for layout in ("shared", "independent"):
        folder = tmp_path / layout
        folder.mkdir()
        (folder / "metrics.json").write_text(json.dumps({**metrics, "rule": {**metrics["rule"], "feedback": layout}}))
        assert main(["simulate", "--checkpoint", str(folder), "--arch", "pipesdfa", "--json"]) == 0
        energy[layout] = json.loads(capsys.readouterr().out)["runs"][0]["energy_j"]
    assert energy["independent"] > energy["shared"]


def test_explore_checkpoint_searches_the_run_it_is_given(digits_runs, tmp_path):
    from pipesdfa.hw.config import load_config

    chip = load_config("pipelayer-2017").params.chip_area_mm2
    out = tmp_path / "ex"
    assert main(["explore", "--checkpoint", str(digits_runs / "rram"), "--budget-mm2", str(chip), "--points", "3",
                 "--no-progress", "--out", str(out)]) == 0
    doc = json.loads((out / "explore.json").read_text())
    assert doc["source"]["checkpoint"] == str(digits_runs / "rram") and doc["workload"] == "digits-mlp"
    # 64 training samples less the stratified validation split (10 %)
    assert doc["T"] == 2 and doc["batch"] == 32 and doc["epoch_samples"] == 58
    assert set(doc["archs"]) == {"pipelayer", "pipesdfa"} and doc["ratios"]["time_best_vs_best"] > 0
