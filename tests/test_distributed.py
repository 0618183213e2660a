"""Two CPU processes (gloo): one step on a global batch = one process on that batch."""

from __future__ import annotations

import json

import pytest
import torch

from pipesdfa.cli.main import main
from pipesdfa.training.distributed import DistContext, context
from pipesdfa.training.loop import CHECKPOINT, load_checkpoint


def _args(out, *extra):
    # 15 samples, global batch 15: exactly one optimiser step, split 8 + 7 over two ranks.
    return ["train", "--workload", "digits-mlp", "--method", "sdfa", "--temporal", "instantaneous",
            "--sdfa-store", "float",  # exact gradients: equality up to summation order
            "--init-gain", "3", "--epochs", "1", "--max-train", "15", "--batch", "15", "--max-test", "10",
            "--no-progress", "--out", str(out), *extra]


@pytest.mark.timeout(300)
def test_two_processes_match_one_process_on_the_global_batch(tmp_path, capsys):
    assert main(_args(tmp_path / "one")) == 0
    assert main(_args(tmp_path / "two", "--nproc", "2")) == 0
    one = load_checkpoint(tmp_path / "one" / CHECKPOINT)
    two = load_checkpoint(tmp_path / "two" / CHECKPOINT)
    for name, w1 in one["model"].items():
        # Adam's first step is lr * g / (|g| + eps): a gradient equal up to summation order
        # moves the weight by the same amount to ~1e-6
        torch.testing.assert_close(two["model"][name], w1, rtol=1e-5, atol=1e-5, msg=lambda m: f"{name}: {m}")
    assert one["optimizer"]["state"], "the step must have updated the weights"
    # the feedback matrices are identical, the metrics say how many processes ran
    for k, v in one["rule"].items():
        assert torch.equal(v, two["rule"][k])
    m2 = json.loads((tmp_path / "two" / "metrics.json").read_text())
    assert m2["nproc"] == 2 and m2["epochs"][0]["train_loss"] == pytest.approx(
        json.loads((tmp_path / "one" / "metrics.json").read_text())["epochs"][0]["train_loss"], rel=1e-5)


def test_single_process_context_is_a_no_op():
    ctx = context()
    assert ctx == DistContext() and not ctx.active and ctx.is_main
    x, y = torch.zeros(5, 2), torch.arange(5)
    assert ctx.shard(x, y)[0] is x
    assert DistContext(1, 2).shard(x, y)[1].tolist() == [1, 3]
    assert ctx.sum([1.0, 2.0]) == [1.0, 2.0]


def test_nproc_rejects_zero(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--workload", "digits-mlp", "--nproc", "0"])
    assert "--nproc" in capsys.readouterr().err
