"""``pipesdfa reproduce accuracy``: planning, summaries, the table, and an end-to-end run on digits."""

from __future__ import annotations

import json

import pytest

from pipesdfa.studies.accuracy.plan import Method, default_methods, parse_assignments, parse_method, plan_runs
from pipesdfa.studies.accuracy.report import compact_markdown, document, markdown, plateau_epoch, summarise
from pipesdfa.cli.main import main
from pipesdfa.util.errors import UserError
from pipesdfa.learning.sdfa_variants import VARIANTS
from pipesdfa.training.config import flat_view

ROW_FIELDS = {"workload", "method", "variant", "seed", "final_acc", "best_acc", "best_epoch", "epochs", "batch",
              "seconds"}


def test_parse_method_and_defaults():
    assert parse_method("bptt") == Method("bptt")
    assert parse_method("sdfa") == Method("sdfa", "authors") and parse_method("sdfa").label == "sdfa"
    for v in VARIANTS:
        assert parse_method(f"sdfa:{v}").variant == v
    labels = [m.label for m in default_methods()]
    assert labels[0] == "bptt" and labels[-1] == "output" and "sdfa" in labels
    assert len(labels) == len(VARIANTS) + 2  # every variant, the authors' rule among them
    for bad, msg in (("adam", "unknown rule"), ("bptt:x", "only sdfa"), ("sdfa:nope", "unknown sdfa variant")):
        with pytest.raises(UserError, match=msg):
            parse_method(bad)


def test_parse_assignments():
    wls = ["a", "b"]
    assert parse_assignments(["3"], "--epochs", int, wls) == {"a": [3], "b": [3]}
    assert parse_assignments(["3", "b=5"], "--epochs", int, wls) == {"a": [3], "b": [5]}
    assert parse_assignments(["a=1e-2,1e-3"], "--lr", float, wls) == {"a": [1e-2, 1e-3]}
    with pytest.raises(UserError, match="workload 'c' is not among"):
        parse_assignments(["c=3"], "--epochs", int, wls)
    with pytest.raises(UserError, match="cannot read 'x'"):
        parse_assignments(["a=x"], "--epochs", int, wls)
    with pytest.raises(UserError, match="positive"):
        parse_assignments(["a=0"], "--epochs", int, wls)


def test_plan_runs_order_and_overrides():
    runs = plan_runs(["digits-mlp"], [Method("bptt"), Method("sdfa", "authors")], [0, 1],
                     epochs={"digits-mlp": [2]}, lrs={"digits-mlp": [1e-3, 2e-3]})
    assert [(r.lr, r.method.label, r.seed) for r in runs] == [
        (1e-3, "bptt", 0), (1e-3, "bptt", 1), (1e-3, "sdfa", 0), (1e-3, "sdfa", 1),
        (2e-3, "bptt", 0), (2e-3, "bptt", 1), (2e-3, "sdfa", 0), (2e-3, "sdfa", 1)]
    assert all(r.epochs == 2 and r.batch == 32 for r in runs)
    assert runs[0].folder() == "digits-mlp-lr0.001/bptt-seed0" and runs[4].folder() == "digits-mlp/bptt-seed0"
    cfg = runs[2].config(None, "x")
    assert cfg.rule.method == "sdfa" and cfg.rule.sdfa.variant == "authors" and cfg.optim.lr == 1e-3 and cfg.optim.epochs == 2
    assert cfg.model.init_gain == 3.0  # the workload's own gain
    g = plan_runs(["digits-mlp"], [Method("bptt")], [0], gains={"digits-mlp": [1.0]})
    assert g[0].init_gain == 1.0 and g[0].folder() == "digits-mlp-gain1/bptt-seed0"
    assert g[0].config(None, "x").model.init_gain == 1.0
    with pytest.raises(UserError, match="unknown workload"):
        plan_runs(["nope"], [Method("bptt")], [0])
    with pytest.raises(UserError, match="one value"):
        plan_runs(["digits-mlp"], [Method("bptt")], [0], epochs={"digits-mlp": [1, 2]})


def test_plateau_epoch_by_hand():
    assert plateau_epoch([]) is None
    # smoothed over 2: 0.1, 0.3, 0.6, 0.85, 0.9, 0.905 -> max 0.905, tolerance 0.01: first >= 0.895 is epoch 5
    curve = [0.1, 0.5, 0.7, 1.0, 0.8, 1.01]
    assert plateau_epoch(curve, window=2, tol=0.01) == 5
    assert plateau_epoch(curve, window=1, tol=0.0) == 6
    assert plateau_epoch([0.5] * 10) == 1 and plateau_epoch([0.5] * 9) is None  # too short to tell


def _row(wl, method, variant, seed, final, best, epoch, curve, lr=1e-3):
    return {"workload": wl, "method": method, "variant": variant, "seed": seed, "final_acc": final, "best_acc": best,
            "best_epoch": epoch, "epochs": len(curve), "batch": 8, "lr": lr, "seconds": 2.0, "curve": curve}


def test_summarise_and_markdown_golden():
    rows = [_row("digits-mlp", "bptt", None, 0, 0.90, 0.92, 2, [0.5, 0.92, 0.90]),
            _row("digits-mlp", "bptt", None, 1, 0.80, 0.84, 1, [0.84, 0.8, 0.8]),
            _row("digits-mlp", "sdfa", "authors", 0, 0.70, 0.75, 2, [0.6, 0.75, 0.7]),
            {**_row("digits-mlp", "sdfa", "authors", 1, None, None, None, []), "epochs": 3, "error": "boom"}]
    s = summarise(rows)
    assert [(g["method"], g["final"]["n"]) for g in s] == [("bptt", 2), ("sdfa", 1)]
    b = s[0]
    assert b["final"]["mean"] == pytest.approx(0.85) and b["final"]["std"] == pytest.approx(0.0707106781)
    assert b["best"]["mean"] == pytest.approx(0.88) and b["best_epoch"] == pytest.approx(1.5)
    assert b["mean_curve"] == pytest.approx([0.67, 0.86, 0.85])
    assert s[1]["failed"] == [1] and s[1]["seeds"] == [0]
    doc = {"rows": rows, "workloads": {"digits-mlp": {"data": "digits", "paper_epochs": 25}}, "command": "cmd",
           "machine": {"torch": "t", "threads": 1, "processor": "p"}, "wall_seconds": 60}
    md = markdown(doc)
    lines = md.splitlines()
    assert "| BPTT | 2 | 85.00 ± 7.07 | 88.00 ± 5.66 | 2 |" in lines[2]
    # SDFA - BPTT: final 70 - 85 = -15, best 75 - 88 = -13
    assert "| SDFA (authors) | 1 (1 failed) | 70.00 | 75.00 | 2 | - | -15.00 / -13.00 |" in lines[3]
    assert "Command: `cmd`" in md and "* digits-mlp SDFA (authors) seed 1: boom" in md
    compact = compact_markdown(doc).splitlines()
    assert compact[0].startswith("| workload | data | epochs (paper) | batch | lr | init gain | BPTT: final / best % | "
                                 "SDFA (authors): final / best % | paper")
    assert compact[2] == ("| digits-mlp | digits | 3 (25) | 8 | 0.001 | 1 | 85.00 ± 7.07 / 88.00 | 70.00 / 75.00 | - | "
                          "- / - |")


def test_accuracy_end_to_end_on_digits(tmp_path, capsys):
    out = tmp_path / "acc"
    args = ["reproduce", "accuracy", "--workloads", "digits-mlp", "--epochs", "1", "--seeds", "0",
            "--out", str(out), "--no-progress"]
    assert main(args) == 0
    doc = json.loads((out / "accuracy.json").read_text())
    rows = doc["rows"]
    assert [(r["method"], r["variant"]) for r in rows] == [
        (m.method, m.variant if m.method == "sdfa" else None) for m in default_methods()]
    for r in rows:
        assert ROW_FIELDS <= set(r) and r["error"] is None and not r["reused"]
        assert 0.0 <= r["final_acc"] <= r["best_acc"] <= 1.0 and r["best_epoch"] == 1 and r["epochs"] == 1
        assert r["batch"] == 32 and r["seconds"] > 0
        m = json.loads((out / "runs" / r["run"] / "metrics.json").read_text())
        assert m["final"]["best_test_acc"] == r["best_acc"] and m["final"]["best_epoch"] == 1
        assert not (out / "runs" / r["run"] / "checkpoint.pt").exists()
        if r["method"] == "sdfa":
            assert m["rule"]["variant"] == r["variant"] and flat_view(m["config"])["sdfa_variant"] == r["variant"]
    assert rows[0]["final_acc"] > 0.5  # BPTT learns in one epoch
    md = (out / "accuracy.md").read_text()
    assert md == document(doc) and "| digits-mlp |" in md and "output only" in md
    assert doc["command"].startswith("pipesdfa reproduce accuracy --workloads digits-mlp --seeds 0 --epochs 1 --out")
    assert (out / "curves-digits-mlp.png").stat().st_size > 1000
    stdout = capsys.readouterr().out
    assert "runs done" in stdout and compact_markdown(doc) in stdout  # README's table, from this doc
    # a second call reuses every finished run (same numbers, nothing retrained)
    assert main(args) == 0
    again = json.loads((out / "accuracy.json").read_text())["rows"]
    assert all(r["reused"] for r in again)
    assert [r["final_acc"] for r in again] == [r["final_acc"] for r in rows]
    assert doc["run_commits"] == [str(doc["commit"])] and "warning" not in capsys.readouterr().err
    # a reused run that other code trained is named, in the file and on stderr
    path = out / "runs" / rows[0]["run"] / "metrics.json"
    m = json.loads(path.read_text())
    m["runtime"]["commit"] = "0000000"
    path.write_text(json.dumps(m))
    assert main(args) == 0
    third = json.loads((out / "accuracy.json").read_text())
    assert "0000000" in third["run_commits"] and f"1 of {len(rows)} runs were trained by other" in capsys.readouterr().err


def test_one_failing_run_is_reported_not_fatal(tmp_path, capsys, monkeypatch):
    import pipesdfa.studies.accuracy.runner as runner

    real = runner.train

    def flaky(cfg, **kw):
        if cfg is not None and cfg.rule.method == "sdfa":
            raise RuntimeError("simulated crash")
        return real(cfg, **kw)

    monkeypatch.setattr(runner, "train", flaky)
    (tmp_path / "no-data").mkdir()
    out = tmp_path / "acc"
    rc = main(["reproduce", "accuracy", "--workloads", "digits-mlp", "braille-mlp", "--methods", "bptt", "sdfa",
               "--epochs", "1", "--seeds", "0", "--data-dir", str(tmp_path / "no-data"), "--out", str(out),
               "--no-progress"])
    assert rc == 1
    rows = json.loads((out / "accuracy.json").read_text())["rows"]
    status = [(r["workload"], r["method"], r["final_acc"] is not None) for r in rows]
    assert status == [("digits-mlp", "bptt", True), ("digits-mlp", "sdfa", False),
                      ("braille-mlp", "bptt", False), ("braille-mlp", "sdfa", False)]
    assert rows[1]["error"] == "RuntimeError: simulated crash"
    assert "Braille letters not found" in rows[2]["error"]
    md = (out / "accuracy.md").read_text()
    assert "Failed runs:" in md and "simulated crash" in md
    assert "1 of 4 runs done" in capsys.readouterr().out


def test_option_errors(tmp_path, capsys):
    base = ["reproduce", "accuracy", "--workloads", "digits-mlp", "--out", str(tmp_path / "x")]
    for extra, msg in ((["--samples", "3"], "--samples apply to 'reproduce hardware' or 'personalisation'"),
                       (["--set", "crossbar.rows=64"], "--set apply to 'reproduce hardware'"),
                       (["--budget", "tiny"], "--budget apply to 'reproduce hardware' or 'personalisation'"),
                       (["--methods", "sgd"], "unknown rule"),
                       (["--epochs", "mnist=3"], "not among --workloads"),
                       (["--seeds", "1", "1"], "repeats a seed")):
        assert main(base + extra) == 2
        assert msg in capsys.readouterr().err
    assert main(["reproduce", "hardware", "--out", str(tmp_path / "h"), "--seeds", "1"]) == 2
    assert "--seeds apply to 'reproduce accuracy' only" in capsys.readouterr().err
    assert main(["reproduce", "personalisation", "--out", str(tmp_path / "p"), "--methods", "bptt"]) == 2
    assert "--methods apply to 'reproduce accuracy' (and --seeds, --lr, --data-dir to 'personalisation')" in \
        capsys.readouterr().err
    assert main(["reproduce", "personalisation", "--out", str(tmp_path / "p"), "--lr", "digits-mlp=1e-3"]) == 2
    assert "this subject takes one learning rate" in capsys.readouterr().err


def test_readme_accuracy_table_is_rendered_from_accuracy_json():
    # docs/accuracy.md's block is what benchmarks/render_readme.py makes of docs/results/accuracy/accuracy.json
    import importlib.util
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("render_readme", root / "benchmarks" / "render_readme.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    body = mod.TABLES["accuracy"]()
    doc = json.loads((root / "docs" / "results" / "accuracy" / "accuracy.json").read_text())
    stale = mod.STALE_TABLES["accuracy"]()
    # the validated table (every rule, a run at several init gains named by its gain), then every run
    assert body.startswith(f"**Stale:** {stale}.\n\n" if stale else "**Chosen on validation")
    assert body.endswith(compact_markdown(doc)) and "| test % at chosen epoch [95 % CI] |" in body
    assert "| nmnist-mlp5 (init gain 3) | BPTT |" in body
    assert "| braille-analog-mlp |" in body
    readme = (root / "docs" / "accuracy.md").read_text()
    start, end = "<!-- accuracy:start -->\n", "<!-- accuracy:end -->"
    assert readme[readme.index(start) + len(start): readme.index(end)].rstrip() == body.rstrip()
