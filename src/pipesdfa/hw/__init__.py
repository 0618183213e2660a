"""Hardware engine: RRAM device, crossbar mapping, PipeLayer/PipeSDFA dataflows, schedule, cost.

Entry point: :func:`simulate` (see :mod:`pipesdfa.hw.engine`).
"""

from __future__ import annotations

from typing import Any


def simulate(*args: Any, **kwargs: Any) -> dict[str, Any]:
    """Simulated training cost of a workload on an architecture (see :func:`pipesdfa.hw.engine.simulate`)."""
    from pipesdfa.hw.engine import simulate as _simulate

    return _simulate(*args, **kwargs)
