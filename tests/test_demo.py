from __future__ import annotations

import json

from pipesdfa.cli.main import main


def test_demo_writes_summary_and_plot(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--epochs", "1", "--no-progress"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert [r["method"] for r in summary["results"]] == ["bptt", "sdfa", "output"]
    for r in summary["results"]:
        assert 0 <= r["test_acc"] <= 1 and r["seconds"] > 0
    assert (out / "comparison.png").stat().st_size > 1000
    hw = summary["hardware"]
    assert [r["arch"] for r in hw["runs"]] == ["pipelayer", "pipesdfa"]
    assert hw["samples"] == 1437 - 142 and all(r["time_s"] > 0 and r["energy_j"] > 0 for r in hw["runs"])
    table = capsys.readouterr().out
    assert "method" in table and "sdfa" in table
    assert "\r" not in table and len(table.splitlines()) < 30  # a log, not a progress-bar stream


def test_log_every_shows_the_first_every_kth_and_the_last_epoch(tmp_path):
    from pipesdfa.cli.demo import LOG_EVERY
    from pipesdfa.training.loop import config_from_workload, train

    lines: list[str] = []
    cfg = config_from_workload("digits-mlp", T=2, hidden=(8,), max_train=32, max_test=16, epochs=6, out=str(tmp_path))
    train(cfg, progress=False, log=lines.append, log_every=LOG_EVERY)
    assert [l.split()[1] for l in lines] == ["1/6", "5/6", "6/6"]
