"""End-to-end CLI tests on the embedded dataset, and the one-line exit-2 errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipesdfa.cli.main import main
from pipesdfa.training.config import flat_view

TINY = ["--workload", "digits-mlp", "--epochs", "1", "--T", "4", "--hidden", "32", "--max-train", "128",
        "--max-test", "64", "--no-progress"]


def run_cli(args, capsys):
    rc = main(args)
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def test_train_then_eval_end_to_end(tmp_path, capsys):
    out = tmp_path / "run"
    rc, stdout, _ = run_cli(["train", *TINY, "--method", "sdfa", "--temporal", "instantaneous", "--out", str(out)],
                            capsys)
    assert rc == 0 and "final test accuracy" in stdout
    m = json.loads((out / "metrics.json").read_text())
    assert flat_view(m["config"])["method"] == "sdfa" and m["rule"]["temporal"] == "instantaneous"
    assert flat_view(m["config"])["hidden"] == [32, 32]
    rc, stdout, _ = run_cli(["eval", "--checkpoint", str(out / "checkpoint.pt")], capsys)
    ev = json.loads(stdout)
    assert rc == 0 and ev["test_acc"] == pytest.approx(m["final"]["test_acc"])
    ops = m["final"]["ops"]  # NeuroBench-style counts, in metrics.json and in eval
    assert ops == ev["ops"]
    assert ops["training_footprint_bytes"] - ops["footprint_bytes"] == 4 * 10 * 32  # the shared feedback matrix
    assert 0 < ops["activation_sparsity"] < 1 and ops["synaptic_ops"]["effective_acs"] > 0
    assert [l["layer"] for l in ops["layers"]] == [0, 1, 2]


def test_export_writes_a_nir_graph_that_imports_to_the_same_network(tmp_path, capsys):
    import torch

    import pipesdfa
    from pipesdfa.training.checkpoint import load_checkpoint, model_from_checkpoint

    out = tmp_path / "run"
    assert run_cli(["train", *TINY, "--method", "sdfa", "--out", str(out)], capsys)[0] == 0
    rc, stdout, _ = run_cli(["export", "--checkpoint", str(out), "--out", str(tmp_path / "net.nir")], capsys)
    assert rc == 0 and "wrote" in stdout
    back = pipesdfa.from_nir(tmp_path / "net.nir")
    net = model_from_checkpoint(load_checkpoint(out))
    assert back.T == 4 and back.metadata["epoch"] == 1
    for a, b in zip(net.blocks, back.blocks):
        assert torch.equal(a.weight_op.weight, b.weight_op.weight)
    rc, _, err = run_cli(["export", "--checkpoint", str(tmp_path / "missing"), "--out", str(tmp_path / "x.nir")],
                         capsys)
    assert rc == 2 and "does not exist" in err and not (tmp_path / "x.nir").exists()


def test_layers_counts_weight_layers(tmp_path, capsys):
    out = tmp_path / "r"
    rc, _, _ = run_cli(["train", *TINY, "--layers", "4", "--out", str(out)], capsys)
    assert rc == 0
    m = json.loads((out / "metrics.json").read_text())
    assert len(m["model"]["layers"]) == 4


def test_dataset_and_model_instead_of_workload(tmp_path, capsys):
    out = tmp_path / "r"
    rc, _, _ = run_cli(["train", "--dataset", "digits", "--model", "mlp", "--layers", "2", "--hidden", "16",
                        "--epochs", "1", "--T", "2", "--max-train", "64", "--max-test", "32", "--no-progress",
                        "--out", str(out)], capsys)
    assert rc == 0 and (out / "metrics.json").exists()


BAD = [
    (["train", "--workload", "nope"], "unknown workload 'nope'"),
    (["train", "--workload", "digits-mlp", "--method", "hebb"], "unknown method 'hebb'"),
    (["train", "--workload", "digts-mlp"], "unknown workload 'digts-mlp' (did you mean 'digits-mlp'?)"),
    (["train", "--dataset", "nmnst", "--model", "mlp"], "unknown dataset 'nmnst' (did you mean 'nmnist'?)"),
    (["train", "--workload", "digits-mlp", "--method", "sdf"], "unknown method 'sdf' (did you mean 'sdfa'?)"),
    (["train", "--dataset", "digits", "--model", "mpl"], "unknown model 'mpl' (did you mean 'mlp'?)"),
    (["data", "info", "brail"], "did you mean 'braille'?"),
    (["reproduce", "hardware", "--preset", "pipelayer-2071", "--out", "o"], "did you mean 'pipelayer-2017'?"),
    (["train", "--workload", "digits-mlp", "--T", "20000", "--epochs", "1"], "needs about"),
    (["train", "--workload", "digits-mlp", "--batch", "1000000", "--max-train", "64"], "larger than the training split"),
    (["train", "--workload", "digits-mlp", "--device", "cuda:7"], "cuda"),
    (["train", "--workload", "digits-mlp", "--threads", "0"], "--threads"),
    (["train", "--workload", "digits-mlp", "--method", "bptt", "--temporal", "local"], "SDFA option"),
    (["train", "--workload", "digits-mlp", "--T", "0"], "positive integer"),
    (["train", "--workload", "digits-mlp", "--epochs", "-2"], "positive integer"),
    (["train", "--workload", "digits-mlp", "--batch", "0"], "positive integer"),
    (["train", "--workload", "dvs-convnet", "--layers", "3"], "mlp only"),
    (["train", "--model", "mlp"], "--workload NAME"),
    (["eval", "--checkpoint", "does/not/exist.pt"], "does not exist"),
]


@pytest.mark.parametrize("args,needle", BAD)
def test_bad_input_exits_2_with_one_line(args, needle, tmp_path, capsys):
    with_out = args + (["--out", str(tmp_path / "o")] if args[0] == "train" else [])
    try:
        rc, out, err = run_cli(with_out, capsys)
    except SystemExit as exc:  # argparse usage errors
        rc = exc.code
        cap = capsys.readouterr()
        out, err = cap.out, cap.err
    assert rc == 2
    lines = [l for l in err.splitlines() if l.strip()]
    assert len(lines) == 1 and needle in lines[0], err
    assert "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_corrupt_checkpoint_one_line(tmp_path, capsys):
    bad = tmp_path / "checkpoint.pt"
    bad.write_bytes(b"\x80\x04garbage")
    rc, _, err = run_cli(["eval", "--checkpoint", str(bad)], capsys)
    assert rc == 2 and err.count("\n") == 1 and str(bad) in err


def test_unwritable_output_folder(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    rc, _, err = run_cli(["train", *TINY, "--out", str(blocker / "run")], capsys)
    assert rc == 2 and err.count("\n") == 1 and "output folder" in err


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores permission bits")
def test_read_only_output_folder(tmp_path, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    rc, _, err = run_cli(["train", *TINY, "--out", str(ro)], capsys)
    assert rc == 2 and "not writable" in err and list(ro.iterdir()) == []


def test_console_script_help_documents_every_command():
    res = subprocess.run([sys.executable, "-m", "pipesdfa", "--help"], capture_output=True, text=True)
    assert res.returncode == 0
    for cmd in ("demo", "train", "eval"):
        assert cmd in res.stdout
