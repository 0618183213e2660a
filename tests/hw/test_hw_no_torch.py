"""The cost engine is torch-free: importing it (and the architectures) must not load torch."""

from __future__ import annotations

import subprocess
import sys


def test_engine_and_archs_import_without_torch():
    code = ("import sys, pipesdfa.hw.engine, pipesdfa.hw.archs, pipesdfa.hw.config, pipesdfa.hw.config.device; "
            "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", out


def test_device_physics_lives_in_analog():
    import pipesdfa.hw.config.device as dev
    from pipesdfa.analog import physics

    assert not hasattr(dev, "apply_pulses") and callable(physics.apply_pulses)
