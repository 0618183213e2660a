"""benchmarks/gpu_check.sh, the one GPU script, in its dry-run mode on the CPU (Triton's
interpreter): it must run every step and write every result file. Slow (about 2 minutes);
skipped without Triton."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipesdfa.snn.kernels import triton_backend

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.skipif(not triton_backend.HAVE_TRITON, reason="triton not importable")
def test_gpu_check_dry_run(tmp_path):
    env = {**os.environ, "DEVICE": "cpu", "TRITON_INTERPRET": "1", "QUICK": "1", "OUT": str(tmp_path),
           "PY": sys.executable, "OMP_NUM_THREADS": "1", "DATA": str(tmp_path / "no-data")}
    proc = subprocess.run(["bash", "benchmarks/gpu_check.sh"], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "passed" in (tmp_path / "gpu_tests.txt").read_text()
    res = tmp_path / "benchmarks" / "results"
    real = json.loads((res / "train_step_gpu.json").read_text())
    assert real["settings"]["input"] == "real" and real["rows"]
    assert all("embedded digits" in r["input_source"] for r in real["rows"])  # no data folder: the fallback
    assert json.loads((res / "train_step_gpu_synthetic.json").read_text())["settings"]["input"] == "synthetic"
    assert json.loads((res / "sparse_crossover_gpu.json").read_text())["crossover"]
