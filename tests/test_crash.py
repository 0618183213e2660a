"""Crash safety: a training process killed with SIGKILL at random moments, including in the
middle of a checkpoint write, resumes to the same final weights as an uninterrupted run."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

ARGS = ["train", "--workload", "digits-mlp", "--method", "sdfa", "--T", "6", "--hidden", "128", "--max-train", "1024",
        "--max-test", "64", "--batch", "32", "--epochs", "6", "--no-progress"]

#: The child: the CLI, optionally made to stop inside its first checkpoint write (HANG_MODE
#: "half": half the temporary file written; "rename": all of it, before the rename).
CHILD = r"""
import os, sys, time
mode = os.environ.get("HANG_MODE")
if mode:
    import pipesdfa.training.checkpoint as ck
    real = ck.atomic_write_with
    def hanging(path, writer):
        def w(tmp):
            writer(tmp)
            if mode == "half":
                with open(tmp, "r+b") as f:
                    f.truncate(os.path.getsize(tmp) // 2)
            open(os.environ["HANG_MARKER"], "w").close()
            time.sleep(300)
        real(path, w)
    ck.atomic_write_with = hanging
from pipesdfa.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


def _env(**extra) -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", **extra}


def _start(args, **env) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", CHILD, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=_env(**env))


def _kill_during_checkpoint_write(args, tmp_path: Path, mode: str) -> None:
    marker = tmp_path / f"marker-{mode}"
    p = _start(args, HANG_MODE=mode, HANG_MARKER=str(marker))
    deadline = time.monotonic() + 240
    while not marker.exists():
        assert p.poll() is None, p.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.02)
    p.send_signal(signal.SIGKILL)
    p.communicate()
    assert p.returncode == -signal.SIGKILL


def _kill_at_random(args, rng: random.Random) -> int:
    """Kill once the child has logged an epoch, after a random delay; its exit status."""
    p = _start(args)
    line = p.stdout.readline()  # the first epoch line, or "" when it exits first
    if line:
        time.sleep(rng.uniform(0.0, 1.0))
        p.send_signal(signal.SIGKILL)
    p.communicate()
    return p.returncode


def test_sigkill_at_random_moments_then_resume_is_bit_identical(tmp_path):
    straight, crashed = tmp_path / "straight", tmp_path / "crashed"
    assert subprocess.run([sys.executable, "-m", "pipesdfa", *ARGS, "--out", str(straight)], env=_env(),
                          capture_output=True, timeout=300).returncode == 0
    rng = random.Random(14)
    resume = ["train", "--resume", str(crashed), "--no-progress"]
    # killed inside its first checkpoint write (half a temporary file on disk): no checkpoint yet
    _kill_during_checkpoint_write([*ARGS, "--out", str(crashed)], tmp_path, "half")
    assert (crashed / "config.yaml").is_file() and not (crashed / "checkpoint.pt").exists()
    assert list(crashed.glob(".checkpoint.pt.*.tmp"))
    # resumed from config.yaml, killed after writing a whole temporary checkpoint, before the rename
    _kill_during_checkpoint_write(resume, tmp_path, "rename")
    assert not (crashed / "checkpoint.pt").exists()
    kills, at = 0, []  # epochs of the checkpoint each random kill left
    for attempt in range(8):  # then killed at random moments until a resume finishes
        rc = _kill_at_random(resume, rng)
        if rc == 0:
            break
        assert rc == -signal.SIGKILL
        kills += 1
        ck = crashed / "checkpoint.pt"
        at.append(torch.load(ck, weights_only=False)["epoch"] if ck.exists() else 0)
    else:
        res = subprocess.run([sys.executable, "-m", "pipesdfa", *resume], env=_env(), capture_output=True, timeout=300)
        assert res.returncode == 0, res.stderr
    assert kills >= 1 and any(0 < e < 6 for e in at), at
    print('random kills left checkpoints of epochs', at)
    done = torch.load(crashed / "checkpoint.pt", weights_only=False)
    ref = torch.load(straight / "checkpoint.pt", weights_only=False)
    assert done["epoch"] == ref["epoch"] == 6
    assert all(torch.equal(done["model"][k], ref["model"][k]) for k in ref["model"])
    m1, m2 = (json.loads((p / "metrics.json").read_text()) for p in (straight, crashed))
    keys = ("train_loss", "train_acc", "test_loss", "test_acc", "lr", "spike_rates", "alignment")
    assert [[e[k] for k in keys] for e in m1["epochs"]] == [[e[k] for k in keys] for e in m2["epochs"]]
    assert m2["status"] == "finished" and not list(crashed.glob(".*.tmp"))
