"""pipesdfa.util.malloc: the allocator setting of training processes (applied in a child process,
since mallopt changes the whole process)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from pipesdfa.util import malloc
from pipesdfa.util.errors import UserError


def test_mode_reads_the_environment(monkeypatch):
    monkeypatch.delenv("PIPESDFA_MALLOC", raising=False)
    assert malloc.mode() == "keep"
    monkeypatch.setenv("PIPESDFA_MALLOC", "default")
    assert malloc.mode() == "default"
    monkeypatch.setenv("PIPESDFA_MALLOC", "fast")
    with pytest.raises(UserError, match="PIPESDFA_MALLOC='fast'.*keep.*default"):
        malloc.mode()


def test_default_mode_leaves_glibc_alone(monkeypatch):
    monkeypatch.setenv("PIPESDFA_MALLOC", "default")
    if not malloc._applied:  # (another test in this process may have applied it)
        assert malloc.keep_freed_memory() is False


def _child(code: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "OMP_NUM_THREADS": "1", **env}, timeout=120)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt is Linux-only")
def test_setting_is_accepted_and_steps_reuse_their_memory_in_a_child():
    """glibc accepts all three values (mallopt returns 1 for each; a rejected value fails here),
    and 20 step-like rounds of seven 1-8 MiB temporaries (28 MiB, 7168 pages a round) fault in
    almost none of their pages again. (The per-step effect on real training steps is measured
    by benchmarks/train_step.py --malloc keep|default.)"""
    code = """
import resource
from pipesdfa.util import malloc
assert malloc.keep_freed_memory(force=True)
import torch
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
def step():
    ts = [torch.empty(n * 2**18).fill_(1.0) for n in (1, 3, 8, 2, 5, 8, 1)]
    del ts
for _ in range(3):
    step()
f0 = faults()
for _ in range(20):
    step()
print(faults() - f0)
"""
    r = _child(code, {})
    assert r.returncode == 0, r.stderr
    assert int(r.stdout.strip()) < 0.05 * 20 * 7168


def test_bad_setting_is_refused_by_the_cli_with_one_line():
    r = _child("import sys; from pipesdfa.cli.main import main; sys.exit(main(['train', '--workload', 'digits-mlp', "
               "'--epochs', '1', '--out', '/nonexistent/never-written']))", {"PIPESDFA_MALLOC": "fast"})
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "PIPESDFA_MALLOC='fast'" in r.stderr
