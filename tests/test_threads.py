"""The thread policy (pipesdfa.util.threads): the rule, the measurement, and its use by the commands."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
import torch
import yaml

from pipesdfa.util.threads import WORK_PER_THREAD, busy_cores, choose_threads, cpu_budget, parse_threads
from pipesdfa.training.config import flat_view


@pytest.mark.parametrize("budget,busy,work,expected", [
    (8, 0.0, 1e12, 8),            # idle machine, big step: every core
    (8, 2.0, 1e12, 6),            # two busy processes: the cores left
    (8, 2.6, 1e12, 5),            # 5.4 free: round down
    (8, 2.8, 1e12, 5),            # 5.2 free: rounds to 5 (within 0.25 of a whole core)
    (2, 2.0, 1e12, 1),            # every core busy: one thread
    (2, 0.0, 36e6, 1),            # digits-mlp's step (36 M MACs): one thread
    (4, 0.0, 2.5 * WORK_PER_THREAD, 2),  # work for two threads only
    (1, 0.0, 1e12, 1),            # one core
])
def test_auto_rule(budget, busy, work, expected):
    assert choose_threads("auto", work, busy=busy, budget=budget).threads == expected


def test_explicit_and_parsing():
    assert choose_threads(3).threads == 3 and choose_threads("2").reason == "explicit"
    for bad in ("0", "-1", "x", 0, True, 1.5):
        with pytest.raises(ValueError):
            parse_threads(bad)
    assert parse_threads("auto") == "auto"


def test_budget_respects_omp_num_threads(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert cpu_budget() == 1
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert cpu_budget() >= 1


def test_busy_cores_sees_a_busy_process():
    """A spinning child keeps about one core busy; the measurement sees it (other load only adds)."""
    child = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)
        busy = busy_cores(0.5)
    finally:
        child.kill()
        child.wait()
    assert busy is not None and busy >= 0.6


def test_train_records_and_reuses_the_thread_count(tmp_path):
    from pipesdfa.cli.main import main

    out = tmp_path / "r"
    old = torch.get_num_threads()
    try:
        assert main(["train", "--workload", "digits-mlp", "--T", "2", "--hidden", "8", "--max-train", "32",
                     "--max-test", "16", "--epochs", "1", "--threads", "2", "--no-progress", "--out", str(out)]) == 0
        assert torch.get_num_threads() == 2
        assert flat_view(yaml.safe_load((out / "config.yaml").read_text()))["threads"] == 2
        torch.set_num_threads(1)
        assert main(["train", "--resume", str(out), "--epochs", "2", "--no-progress"]) == 0
        assert torch.get_num_threads() == 2  # the run's own count
        import json

        assert json.loads((out / "metrics.json").read_text())["runtime"]["threads"]["threads"] == 2
    finally:
        torch.set_num_threads(old)


def test_reproduce_takes_threads():
    from pipesdfa.cli.main import build_parser

    args = build_parser().parse_args(["reproduce", "validation", "--out", "x", "--threads", "1"])
    assert args.threads == 1
    args = build_parser().parse_args(["demo", "--threads", "auto"])
    assert args.threads == "auto"


@pytest.mark.parametrize("argv", [["demo"], ["train", "--workload", "digits-mlp"], ["reproduce", "hardware", "--out", "x"],
                                  ["data", "info", "digits"], ["data", "fetch", "nmnist", "--to", "x"]])
def test_every_long_command_takes_no_progress(argv):
    from pipesdfa.cli.main import build_parser

    args = build_parser().parse_args([*argv, "--no-progress"])
    assert getattr(args, "no_progress", None) or getattr(args, "quiet", None)
