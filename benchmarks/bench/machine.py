"""One description of the machine a benchmark ran on, for every result JSON in benchmarks/."""

from __future__ import annotations

import os
import platform
import subprocess
from typing import Any


def git_commit() -> str | None:
    """The checkout's commit (``+dirty`` with uncommitted changes to anything but result files:
    ``benchmarks/results/`` and ``docs/results/``, which benchmarks running side by side rewrite),
    ``None`` outside git."""
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ":(top)",
                                ":(top,exclude)benchmarks/results", ":(top,exclude)docs/results"], cwd=here,
                               capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    if head.returncode != 0:
        return None
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def processor_name() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else what :mod:`platform` says."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info(device: Any = None, **extra: Any) -> dict[str, Any]:
    """Platform, Python, torch (version, CPU threads), CPU count and model, commit; on a CUDA
    ``device`` also its name and the CUDA and Triton versions; then ``extra`` (a script's own
    keys, e.g. its worker count)."""
    import torch

    info: dict[str, Any] = {"platform": platform.platform(), "python": platform.python_version(),
                            "torch": torch.__version__, "threads": torch.get_num_threads(),
                            "cpu_count": os.cpu_count(), "processor": processor_name()}
    if device is not None and torch.device(device).type == "cuda":
        info["device_name"] = torch.cuda.get_device_name(device)
        info["cuda"] = torch.version.cuda
        try:
            import triton

            info["triton"] = triton.__version__
        except ImportError:
            info["triton"] = None
    info["commit"] = git_commit()
    info.update(extra)
    return info
