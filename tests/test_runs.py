"""The run folder contract: config files, resume semantics, per-epoch logs, guards, umask, init."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest
import torch
import yaml

from pipesdfa.cli.main import main
from pipesdfa.util.errors import UserError
from pipesdfa.training.config import flat_view

TINY = ["--workload", "digits-mlp", "--T", "4", "--hidden", "32", "--max-train", "128", "--max-test", "64",
        "--batch", "32", "--no-progress"]


def cli(args, capsys):
    try:
        rc = main(args)
    except SystemExit as exc:
        rc = exc.code
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def weights(run) -> dict:
    return torch.load(run / "checkpoint.pt", weights_only=False)["model"]


def same_weights(a, b) -> bool:
    wa, wb = weights(a), weights(b)
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


def no_none(obj) -> bool:
    if isinstance(obj, dict):
        return all(no_none(v) for v in obj.values())
    if isinstance(obj, list):
        return all(no_none(v) for v in obj)
    return obj is not None


# ------------------------------------------------------------------------- config files

def test_config_yaml_is_resolved_and_reproduces_the_run_bit_identically(tmp_path, capsys):
    run, again = tmp_path / "run", tmp_path / "again"
    assert cli(["train", *TINY, "--method", "sdfa", "--epochs", "2", "--out", str(run)], capsys)[0] == 0
    cfg = flat_view(yaml.safe_load((run / "config.yaml").read_text()))
    assert no_none(cfg)
    assert cfg["alpha"] == 2.0 and cfg["backend"] == "fused" and cfg["feedback"] == "shared"
    assert cfg["temporal"] == "local" and cfg["feedback_seed"] == 0 and isinstance(cfg["threads"], int)
    assert cfg["max_train"] == 128 and cfg["hidden"] == [32, 32]
    assert cli(["train", "--config", str(run / "config.yaml"), "--out", str(again), "--no-progress"], capsys)[0] == 0
    assert same_weights(run, again)
    m1, m2 = (json.loads((p / "metrics.json").read_text()) for p in (run, again))
    assert [e["test_loss"] for e in m1["epochs"]] == [e["test_loss"] for e in m2["epochs"]]


def test_bptt_config_omits_sdfa_keys_and_flags_override_the_file(tmp_path, capsys):
    f = tmp_path / "c.yaml"
    f.write_text("workload: digits-mlp\ndata: {T: 4, max_train: 64, max_test: 32}\nmodel: {hidden: [16]}\n"
                 "optim:\n  epochs: 3\n  lr: 1e-3\n")
    out = tmp_path / "r"
    assert cli(["train", "--config", str(f), "--epochs", "1", "--out", str(out), "--no-progress"], capsys)[0] == 0
    cfg = flat_view(yaml.safe_load((out / "config.yaml").read_text()))
    assert cfg["epochs"] == 1 and cfg["lr"] == 1e-3 and cfg["T"] == 4 and cfg["hidden"] == [16]
    assert not {"feedback", "distribution", "temporal", "feedback_seed", "device_preset"} & set(cfg)
    assert no_none(cfg)


@pytest.mark.parametrize("text,needle", [
    ("workload: digits-mlp\noptim: {epoch: 3}\n", "unknown key 'epoch' (did you mean 'epochs'?)"),
    ("workload: digits-mlp\ndata: {T: four}\n", "key 'T': expected an integer, got 'four'"),
    ("workload: digits-mlp\nmodel: {hidden: 32}\n", "key 'hidden': expected a list of an integer"),
    ("workload: digits-mlp\noptim: {lr: fast}\n", "key 'lr': expected a number"),
    ("workload: digits-mlp\nruntime: {tensorboard: 1}\n", "key 'tensorboard': expected true or false"),
    ("workload: digits-mlp\nruntime: {threads: many}\n", "key 'threads'"),
    ("workload: digits-mlp\nlr: 0.01\n", "key 'lr' moved to optim.lr"),
    ("workload: digits-mlp\nsdfa_variant: authors\n", "key 'sdfa_variant' moved to rule.sdfa.variant"),
    ("workload: digits-mlp\nrule: {sdfa: {feedback_seed: x}}\n", "section 'rule.sdfa': key 'feedback_seed'"),
    ("workload: digits-mlp\noptimiser: {lr: 0.1}\n", "unknown key 'optimiser'"),
    ("- 1\n- 2\n", "expected a mapping"),
    ("workload: [unclosed\n", "not valid YAML"),
])
def test_bad_config_files_exit_2_naming_key_and_file(tmp_path, capsys, text, needle):
    f = tmp_path / "bad.yaml"
    f.write_text(text)
    rc, _, err = cli(["train", "--config", str(f), "--out", str(tmp_path / "o")], capsys)
    assert rc == 2 and str(f) in err and needle in err and err.count("\n") == 1, err
    assert not (tmp_path / "o").exists()


# ------------------------------------------------------------------------------ resume

@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished 2-epoch BPTT run (made once for the resume tests)."""
    out = tmp_path_factory.mktemp("resume") / "run"
    assert main(["train", *TINY, "--epochs", "2", "--out", str(out)]) == 0
    return out


@pytest.mark.parametrize("flags,named", [
    (["--workload", "braille-mlp"], "--workload braille-mlp"),
    (["--method", "sdfa"], "--method sdfa"),
    (["--temporal", "local"], "--temporal local"),
    (["--lr", "0.5"], "--lr 0.5"),
    (["--seed", "3"], "--seed 3"),
    (["--hidden", "64"], "--layers/--hidden"),
    (["--data-dir", "elsewhere"], "--data-dir elsewhere"),
    (["--backend", "torch"], "--backend torch"),
])
def test_resume_with_a_contradicting_flag_exits_2_naming_it(finished, flags, named, capsys):
    before = (finished / "checkpoint.pt").read_bytes()
    rc, _, err = cli(["train", "--resume", str(finished), *flags, "--no-progress"], capsys)
    assert rc == 2 and named in err and err.count("\n") == 1, err
    assert (finished / "checkpoint.pt").read_bytes() == before


def test_resume_out_elsewhere_and_agreeing_flags(finished, tmp_path, capsys):
    rc, _, err = cli(["train", "--resume", str(finished), "--out", str(tmp_path / "other")], capsys)
    assert rc == 2 and "--out" in err and not (tmp_path / "other").exists()
    # flags equal to the run's, and the run's own folder, are fine (nothing left to do)
    rc, out, err = cli(["train", "--resume", str(finished), "--lr", "0.002", "--out", str(finished),
                        "--workload", "digits-mlp", "--no-progress"], capsys)
    assert rc == 0, err
    rc, _, err = cli(["train", "--resume", str(finished), "--epochs", "1"], capsys)
    assert rc == 2 and "--epochs 1" in err


def test_new_run_into_a_run_folder_is_refused(finished, capsys):
    rc, _, err = cli(["train", *TINY, "--epochs", "1", "--out", str(finished)], capsys)
    assert rc == 2 and "already holds a run" in err and "--resume" in err


def test_resume_epochs_extends_deterministically_with_a_warm_restart(finished, tmp_path, capsys):
    import shutil

    a, b = tmp_path / "a", tmp_path / "b"
    shutil.copytree(finished, a)
    shutil.copytree(finished, b)
    for run in (a, b):
        assert cli(["train", "--resume", str(run), "--epochs", "4", "--no-progress"], capsys)[0] == 0
    assert same_weights(a, b)
    m = json.loads((a / "metrics.json").read_text())
    assert [e["epoch"] for e in m["epochs"]] == [1, 2, 3, 4]
    lrs = [e["lr"] for e in m["epochs"]]  # the lr after each epoch's scheduler step
    assert lrs[1] == pytest.approx(0.0, abs=1e-12) and lrs[2] == pytest.approx(0.001) and lrs[3] == pytest.approx(0.0, abs=1e-12)
    cfg = flat_view(yaml.safe_load((a / "config.yaml").read_text()))
    assert cfg["epochs"] == 4 and cfg["lr_restarts"] == [2]
    # the extended run is the fresh run of its config.yaml
    fresh = tmp_path / "fresh"
    assert cli(["train", "--config", str(a / "config.yaml"), "--out", str(fresh), "--no-progress"], capsys)[0] == 0
    assert same_weights(a, fresh)


def test_resume_of_a_run_killed_before_its_first_checkpoint_starts_it(tmp_path, capsys):
    from pipesdfa.training.loop import config_from_workload, train

    cfg = config_from_workload("digits-mlp", T=4, hidden=(16,), max_train=64, max_test=32, epochs=1,
                               out=str(tmp_path / "full"))
    train(cfg, progress=False, log=None)
    early = tmp_path / "early"
    early.mkdir()
    text = (tmp_path / "full" / "config.yaml").read_text()
    (early / "config.yaml").write_text(text)
    assert cli(["train", "--resume", str(early), "--no-progress"], capsys)[0] == 0
    assert same_weights(tmp_path / "full", early)
    rc, _, err = cli(["train", "--resume", str(tmp_path / "empty_nothing")], capsys)
    assert rc == 2 and "does not exist" in err


# --------------------------------------------------------------------------------- logs

def test_metrics_are_written_after_every_epoch(tmp_path, monkeypatch):
    import pipesdfa.training.loop as tr
    from pipesdfa.training.loop import config_from_workload, train

    seen = []
    real = tr.RunLog.epoch

    def spy(self, history, metrics):
        real(self, history, metrics)
        on_disk = json.loads((self.out / "metrics.json").read_text())
        rows = (self.out / "metrics.csv").read_text().splitlines()
        seen.append((on_disk["status"], len(on_disk["epochs"]), len(rows) - 1))

    monkeypatch.setattr(tr.RunLog, "epoch", spy)
    cfg = config_from_workload("digits-mlp", method="sdfa", T=4, hidden=(16, 16), max_train=64, max_test=32,
                               epochs=3, out=str(tmp_path / "r"))
    m = train(cfg, progress=False, log=None)
    assert seen == [("running", 1, 1), ("running", 2, 2), ("running", 3, 3)]
    assert json.loads((tmp_path / "r" / "metrics.json").read_text())["status"] == "finished"
    import csv

    rows = list(csv.DictReader((tmp_path / "r" / "metrics.csv").open()))
    assert len(rows) == 3
    for row, e in zip(rows, m["epochs"]):
        assert float(row["test_acc"]) == e["test_acc"] and float(row["spike_rate_1"]) == e["spike_rates"][1]
        assert float(row["alignment_0"]) == e["alignment"][0]
    assert set(rows[0]) == {k for k in m["epochs"][0] if k not in ("spike_rates", "alignment")} | {
        "spike_rate_0", "spike_rate_1", "spike_rate_2", "alignment_0", "alignment_1"}


def test_non_tty_log_is_one_line_per_epoch_without_carriage_returns(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    res = subprocess.run([sys.executable, "-m", "pipesdfa", "train", *TINY[:-1], "--epochs", "3", "--out",
                          str(tmp_path / "r")], capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0, res.stderr
    assert "\r" not in res.stdout + res.stderr and res.stderr.strip() == ""
    lines = res.stdout.strip().splitlines()
    assert [l.split()[1] for l in lines[:-1]] == ["1/3", "2/3", "3/3"] and "final test accuracy" in lines[-1]


def test_tensorboard_flag(tmp_path, capsys, monkeypatch):
    try:
        import torch.utils.tensorboard  # noqa: F401
        have = True
    except ImportError:
        have = False
    if have:
        out = tmp_path / "tb"
        assert cli(["train", *TINY, "--epochs", "2", "--tensorboard", "--out", str(out)], capsys)[0] == 0
        assert list((out / "tensorboard").glob("events.out.tfevents.*"))
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

        acc = EventAccumulator(str(out / "tensorboard"))
        acc.Reload()
        assert [s.step for s in acc.Scalars("test/acc")] == [1, 2]
    import builtins

    real_import = builtins.__import__

    def no_tb(name, *a, **k):
        if name.startswith("torch.utils.tensorboard"):
            raise ImportError(name)
        return real_import(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_tb)
    rc, _, err = cli(["train", *TINY, "--epochs", "1", "--tensorboard", "--out", str(tmp_path / "none")], capsys)
    assert rc == 2 and "pip install 'pipesdfa[tensorboard]'" in err and not (tmp_path / "none").exists()


# ------------------------------------------------------------------------------- guards

def test_memory_estimate_by_hand():
    from pipesdfa.training.guards import BASELINE_BYTES, estimate_memory
    from pipesdfa.training.loop import config_from_workload
    from pipesdfa.zoo.workloads import build_spec, resolve

    cfg = config_from_workload("digits-mlp", T=10, batch=20, hidden=(100,), max_train=50, max_test=30)
    layers = resolve(build_spec("mlp", (2, 12, 12), 10, (100,)))
    from pipesdfa.learning import RULES

    rule = RULES[cfg.rule.method]
    est = estimate_memory(cfg, layers, (2, 12, 12), rule.state_bytes(10, layers), rule.step_bytes(layers, 10 * 20))
    assert est.data == 2 * 80 * 10 * 288 * 4
    assert est.model == 4 * (288 * 100 + 100 * 10) * 4
    TB = 10 * 20
    assert est.step == TB * 4 * (288 + 300 + 100) + TB * 4 * (100 + 30 + 10)  # BPTT
    assert est.eval == 10 * 30 * 4 * (288 + 2 * 100)  # B_e = min(max(20, 64), 30)
    assert est.total == est.data + est.model + est.step + est.eval + BASELINE_BYTES


def test_sdfa_state_bytes_count_every_feedback_matrix():
    """Shared feedback: one [C, max n_l] float32 matrix; independent (and aligned, which needs
    it): one [C, n_l] per hidden layer. The output layer gets the error itself, no matrix."""
    from pipesdfa.learning import RULES
    from pipesdfa.learning.options import SDFAOptions
    from pipesdfa.zoo.workloads import build_spec, resolve

    layers = resolve(build_spec("mlp", (2, 12, 12), 10, (100, 50)))
    sdfa = RULES["sdfa"]
    assert sdfa.state_bytes(10, layers) == 4 * 10 * 100
    assert sdfa.state_bytes(10, layers, SDFAOptions(feedback="shared")) == 4 * 10 * 100
    assert sdfa.state_bytes(10, layers, SDFAOptions(feedback="independent")) == 4 * 10 * 150
    assert sdfa.state_bytes(10, layers, SDFAOptions(distribution="aligned")) == 4 * 10 * 150
    assert RULES["bptt"].state_bytes(10, layers) == 0


def test_run_plan_counts_the_feedback_a_composed_model_binds(monkeypatch):
    """A composed model's SDFA binds aligned, independent feedback by default (one matrix per
    hidden layer); a workload's the paper's shared one: the memory plan follows what is bound."""
    from pipesdfa.training.loop import TrainConfig, config_from_workload, plan_run

    monkeypatch.delenv("PIPESDFA_MEMORY_AVAILABLE", raising=False)
    composed = TrainConfig.from_flat(dataset="digits", model="mlp", hidden=(100, 50), method="sdfa", T=10, threads=1)
    pinned = TrainConfig.from_flat(dataset="digits", model="mlp", hidden=(100, 50), method="sdfa", T=10, threads=1,
                                   feedback="shared")
    workload = config_from_workload("digits-mlp", method="sdfa", hidden=(100, 50), T=10, threads=1)
    model = {k: plan_run(c)["memory"].model for k, c in
             (("composed", composed), ("pinned", pinned), ("workload", workload))}
    assert model["composed"] - model["pinned"] == 4 * 10 * 50  # B_1 [10, 50] beside B_0 [10, 100]
    assert model["workload"] == model["pinned"]


def test_the_memory_estimate_feeds_no_trained_number(tmp_path, monkeypatch):
    """The memory plan only guards a run and is recorded as memory_estimate_mib: a run whose
    rule reports other state bytes trains to the same numbers (the evidence behind declaring a
    change of the estimate harmless to trained results)."""
    from pipesdfa.learning.sdfa import SDFA
    from pipesdfa.training.loop import config_from_workload, train

    monkeypatch.delenv("PIPESDFA_MEMORY_AVAILABLE", raising=False)
    runs = []
    for extra in (0.0, 3.0 * 2**20):
        if extra:
            monkeypatch.setattr(SDFA, "state_bytes", classmethod(lambda cls, *a, **k: extra))
        cfg = config_from_workload("digits-mlp", method="sdfa", epochs=1, T=4, hidden=(32,), max_train=128,
                                   max_test=64, batch=32, threads=1, out=str(tmp_path / f"r{len(runs)}"))
        runs.append(train(cfg, progress=False, log=None))
    a, b = runs
    assert a["runtime"]["memory_estimate_mib"] != b["runtime"]["memory_estimate_mib"]
    timing = {"seconds"}
    assert a["epochs"][0]["train_loss"] == b["epochs"][0]["train_loss"]
    assert {k: v for k, v in a["final"].items() if k not in timing} == {k: v for k, v in b["final"].items() if k not in timing}


def test_memory_guard_refuses_with_needed_and_available(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PIPESDFA_MEMORY_AVAILABLE", str(300 << 20))
    rc, _, err = cli(["train", *TINY, "--epochs", "1", "--out", str(tmp_path / "o")], capsys)
    assert rc == 2 and "needs about 0.4 GiB" in err and "0.3 GiB is available" in err
    assert not (tmp_path / "o").exists()


def test_nan_loss_stops_keeps_last_good_checkpoint_and_exits_nonzero(tmp_path, capsys, monkeypatch):
    import pipesdfa.training.config as rc_mod

    calls = {"n": 0}
    real = rc_mod.LOSSES["mse"]

    def flaky(rates, y):
        calls["n"] += 1
        loss = real(rates, y)
        return loss * float("nan") if calls["n"] > 6 else loss  # 4 steps per epoch: NaN in epoch 2

    monkeypatch.setitem(rc_mod.LOSSES, "mse", flaky)
    out = tmp_path / "r"
    rc, _, err = cli(["train", *TINY, "--epochs", "3", "--out", str(out)], capsys)
    assert rc == 2 and "diverged at epoch 2" in err and "checkpoint of epoch 1 is kept" in err, err
    assert torch.load(out / "checkpoint.pt", weights_only=False)["epoch"] == 1
    m = json.loads((out / "metrics.json").read_text())
    assert m["status"] == "diverged" and len(m["epochs"]) == 1


def test_bad_data_dir_leaves_no_folder(tmp_path, capsys):
    rc, _, err = cli(["train", "--dataset", "nmnist", "--model", "mlp", "--data-dir", str(tmp_path / "nothing"),
                      "--out", str(tmp_path / "o")], capsys)
    assert rc == 2 and not (tmp_path / "o").exists()


def test_files_and_folders_follow_the_umask(tmp_path, capsys):
    old = os.umask(0o027)
    try:
        out = tmp_path / "deep" / "run"
        assert main(["train", *TINY, "--epochs", "1", "--out", str(out)]) == 0
    finally:
        os.umask(old)
    assert (out.stat().st_mode & 0o777) == 0o750
    for name in ("checkpoint.pt", "metrics.json", "metrics.csv", "config.yaml", "learning_curve.png"):
        assert ((out / name).stat().st_mode & 0o777) == 0o640, name
    assert not list(out.glob(".*.tmp"))


# --------------------------------------------------------------------------------- init

def test_composed_model_learns_in_its_first_epoch(tmp_path):
    """The default data-driven init at the composed defaults: no silent layer, loss below a
    silent network's in epoch 1, SDFA at the composed variant. PyTorch's init (the old default),
    under the old defaults (cross-entropy at 1e-3, the authors' rule), sits at ln(10) with a
    silent second layer."""
    from pipesdfa.learning.sdfa_variants import COMPOSED
    from pipesdfa.training.config import make_loss
    from pipesdfa.training.loop import TrainConfig, train

    runs = {}
    for init, old in (("data", {}), ("default", {"loss": "ce", "lr": 1e-3, "sdfa_variant": "authors"})):
        cfg = TrainConfig.from_flat(dataset="digits", model="mlp", method="sdfa", epochs=2, init=init,
                          out=str(tmp_path / init), **old)  # the issue's `--dataset digits --model mlp --epochs 2`
        runs[init] = train(cfg, progress=False, log=None)
    data, default = runs["data"], runs["default"]
    y = torch.arange(10)
    silent = float(make_loss(TrainConfig().optim.loss)(torch.zeros(10, 10), y))  # every class equally often
    assert data["rule"]["variant"] == COMPOSED and default["rule"]["variant"] == "authors"
    rates = data["epochs"][0]["spike_rates"]
    assert min(rates[:-1]) > 0.05 and rates[-1] > 0.005, rates
    assert data["epochs"][0]["train_loss"] < 0.9 * silent and data["epochs"][0]["test_acc"] > 0.15
    assert [l["rate"] for l in data["init"]["layers"]][:2] == pytest.approx([0.1, 0.1], rel=0.05)
    assert data["init"]["layers"][2]["rate"] == pytest.approx(0.02, rel=0.1)
    assert default["epochs"][0]["train_loss"] == pytest.approx(math.log(10), abs=1e-3)
    assert default["epochs"][0]["test_acc"] == pytest.approx(0.1, abs=0.01)
    assert default["epochs"][0]["spike_rates"][1] < 0.05
    assert len(data["epochs"][0]["alignment"]) == 2


def test_workload_sdfa_is_the_authors_rule_and_a_composed_model_gets_the_composed_variant(tmp_path):
    """One config field, two defaults: a workload reproduces the paper (the authors' rule), a
    composed model trains with ``COMPOSED``; ``--sdfa-variant`` overrides either."""
    from pipesdfa.learning.sdfa_variants import AUTHORS, COMPOSED
    from pipesdfa.training.config import config_from_workload
    from pipesdfa.training.loop import TrainConfig, build_run

    assert COMPOSED != AUTHORS
    wl = build_run(config_from_workload("digits-mlp", method="sdfa", epochs=1, out=str(tmp_path / "w")))
    comp = build_run(TrainConfig.from_flat(dataset="digits", model="mlp", method="sdfa", out=str(tmp_path / "c")))
    pinned = build_run(TrainConfig.from_flat(dataset="digits", model="mlp", method="sdfa", sdfa_variant=AUTHORS,
                                             out=str(tmp_path / "p")))
    assert (wl.rule.variant.name, comp.rule.variant.name, pinned.rule.variant.name) == (AUTHORS, COMPOSED, AUTHORS)
    o = TrainConfig().optim
    assert (o.loss, o.lr) == ("mse", 1e-3)


def test_composed_sdfa_gets_aligned_feedback_and_workloads_random(tmp_path):
    """A composed model binds SDFA with aligned feedback (one matrix per hidden layer, the product
    of the initial forward weights above it) and records it; a workload, a given ``--distribution``
    or ``--feedback`` keep the random ``B``."""
    from pipesdfa.learning.feedback import aligned_matrices
    from pipesdfa.learning.sdfa_variants import COMPOSED_FEEDBACK
    from pipesdfa.training.config import config_from_workload
    from pipesdfa.training.configfile import resolved_config
    from pipesdfa.training.loop import TrainConfig, build_run

    def composed(**kw):
        return TrainConfig.from_flat(dataset="digits", method="sdfa", out=str(tmp_path / "x"), **kw)

    mlp = build_run(composed(model="mlp", hidden=(32, 24, 16)))
    fb = mlp.rule.feedback
    assert (fb.mode, fb.distribution) == ("independent", "aligned") == (COMPOSED_FEEDBACK["feedback"],
                                                                          COMPOSED_FEEDBACK["distribution"])
    want = aligned_matrices([b.weight_op.weight for b in mlp.model.blocks])
    assert [tuple(m.shape) for m in want] == [(10, 32), (10, 24), (10, 16)]
    assert all(torch.equal(fb.matrix(i), m) for i, m in enumerate(want))
    sdfa = resolved_config(mlp.cfg, mlp)["rule"]["sdfa"]
    assert (sdfa["feedback"], sdfa["distribution"], sdfa["variant"]) == ("independent", "aligned", "centered-lr3")
    assert resolved_config(mlp.cfg)["rule"]["sdfa"]["distribution"] == "aligned"  # before the run is built, too
    assert composed(model="convnet").rule_kwargs()["distribution"] == "aligned"
    for cfg in (config_from_workload("digits-mlp", method="sdfa"), composed(model="mlp", distribution="gaussian"),
                composed(model="mlp", feedback="shared"), composed(model="mlp", feedback="independent")):
        assert cfg.rule_kwargs()["distribution"] in (None, "gaussian"), cfg.to_dict()["rule"]


def test_workload_runs_do_not_read_the_composed_defaults():
    """What a workload trains with does not come from the composed-model defaults: every
    workload's config carries its own loss and learning rate, names its workload (so the loop
    binds SDFA with ``composed=False``) and leaves the SDFA variant to the rule's default, the
    authors' rule. docs/results/provenance.json cites this test for the commit that changed
    those defaults (``unaffected_by``)."""
    from pipesdfa.learning import SDFA
    from pipesdfa.learning.sdfa_variants import AUTHORS, get_variant
    from pipesdfa.training.config import config_from_workload
    from pipesdfa.zoo.workloads import WORKLOADS

    assert SDFA.__init__.__kwdefaults__["variant"] is None and get_variant(None).name == AUTHORS
    for name, w in WORKLOADS.items():
        cfg = config_from_workload(name, method="sdfa")
        assert cfg.workload == name, name
        assert (cfg.optim.loss, cfg.optim.lr) == (w.loss, w.lr), name
        assert cfg.rule.kwargs(cfg.seed, composed=cfg.workload is None)["variant"] is None, name
        assert cfg.rule_kwargs()["variant"] is None and cfg.rule_kwargs()["distribution"] is None, name
    from pipesdfa.training.finetune import finetune_config  # an adaptation of a workload's run stays one

    tuned = finetune_config(config_from_workload("digits-mlp", method="bptt"), "base", method="sdfa")
    assert tuned.workload == "digits-mlp" and tuned.rule_kwargs()["distribution"] is None


def test_typo_in_device_preset_and_config_key(tmp_path, capsys):
    rc, _, err = cli(["train", *TINY, "--hardware", "rram", "--device-preset", "neurosim-defualt"], capsys)
    assert rc == 2 and "did you mean 'neurosim-default'?" in err
    with pytest.raises(UserError, match="did you mean 'init_rate'"):
        from pipesdfa.training.configfile import check_fields

        check_fields({"model": {"init_rat": 0.1}}, "x.yaml")


def test_progress_bar_only_on_a_terminal(tmp_path):
    import fcntl
    import pty
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a 0-column terminal gets no bar
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    p = subprocess.Popen([sys.executable, "-m", "pipesdfa", "train", *TINY[:-1], "--epochs", "2", "--out",
                          str(tmp_path / "r")], stdout=subprocess.DEVNULL, stderr=slave, env=env)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    assert p.wait(timeout=300) == 0
    err = b"".join(chunks).decode(errors="replace")
    assert "epoch 1/2 bptt" in err and "sample" in err and "\r" in err, err


def test_metrics_record_the_code_commit_that_trained_the_run(tmp_path):
    """``runtime.commit``: the code that trained a run (``pipesdfa.util.git.code_commit``), so a study
    that reuses a finished run folder can tell runs of older code from its own."""
    from pipesdfa.training.loop import config_from_workload, train
    from pipesdfa.util.git import code_commit

    cfg = config_from_workload("digits-mlp", epochs=1, T=4, hidden=(16,), max_train=64, max_test=32, batch=32,
                               threads=1, out=str(tmp_path / "r"))
    m = train(cfg, progress=False, log=None)
    assert m["runtime"]["commit"] == code_commit(7)
    assert json.loads((tmp_path / "r" / "metrics.json").read_text())["runtime"]["commit"] == code_commit(7)


def test_the_recorded_commit_feeds_no_trained_number(tmp_path, monkeypatch):
    """``runtime.commit`` only labels a run: under another label it trains to the same numbers (the
    evidence behind declaring the label harmless to trained results)."""
    import pipesdfa.training.loop as loop

    runs = []
    for label in (None, "abcdef0"):
        if label:
            monkeypatch.setattr(loop, "code_commit", lambda length=None: label)
        cfg = loop.config_from_workload("digits-mlp", method="sdfa", epochs=1, T=4, hidden=(16,), max_train=64,
                                        max_test=32, batch=32, threads=1, out=str(tmp_path / f"r{len(runs)}"))
        runs.append(loop.train(cfg, progress=False, log=None))
    a, b = runs
    assert b["runtime"]["commit"] == "abcdef0" != a["runtime"]["commit"]
    timing = {"seconds"}
    assert a["epochs"][0]["train_loss"] == b["epochs"][0]["train_loss"]
    assert {k: v for k, v in a["final"].items() if k not in timing} == {k: v for k, v in b["final"].items() if k not in timing}
