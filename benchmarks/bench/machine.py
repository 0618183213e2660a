"""One description of the machine a benchmark ran on, for every result JSON in benchmarks/."""

from __future__ import annotations

import os
import platform
from typing import Any

from pipesdfa.util.git import code_commit as git_commit  # noqa: F401  (every benchmark's commit)


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
