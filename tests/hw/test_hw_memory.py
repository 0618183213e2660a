"""Off-chip memory as a resource: spills appear as buffers shrink, vanish when they suffice, and
cost time through the DRAM's bandwidth."""

from __future__ import annotations

import pytest

from pipesdfa.hw.engine import simulate_detailed


def _run(arch: str, workload: str = "dvs-convnet", samples: int = 32, **ov):
    return simulate_detailed(workload, arch, overrides=ov, samples=samples)


@pytest.mark.parametrize("arch", ["pipelayer", "pipesdfa"])
def test_dram_traffic_appears_as_buffers_shrink_and_vanishes_when_they_suffice(arch):
    spills = []
    for per_tile in (16 * 1024, 64 * 1024, 1 << 30):
        d = _run(arch, **{"buffer.capacity_bytes_per_tile": per_tile})
        spills.append(d.run["memory"]["spill_bytes_per_sample"])
        frames = d.run["T"] * d.mapping.layers[0].n_in / 8  # input frames, read once per sample
        if per_tile == 1 << 30:
            assert d.run["memory"]["dw_dram_fraction"] == 0.0
            assert d.run["memory"]["dram_bytes"] == pytest.approx(d.run["samples"] * frames)
    assert spills[0] > spills[1] > spills[2] == 0
    d = _run(arch, **{"buffer.capacity_bytes_per_tile": 16 * 1024})
    assert d.run["breakdown"]["phase"]["dram"] > 0 and d.run["schedule"]["utilization"]["dram"] > 0
    assert any(t.resource == "dram" and t.phase == "dram" and t.layer == 0 for t in d.timing.prefix.tasks)


@pytest.mark.parametrize("arch", ["pipelayer", "pipesdfa"])
def test_bandwidth_limits_training_that_spills_and_not_training_that_fits(arch):
    slow = {"dram.bandwidth_bits_per_s": 1e11, "dram.load_inputs": False}
    fits = {"buffer.capacity_bytes_per_tile": 1 << 30, "dram.load_inputs": False}
    assert _run(arch, **slow).run["time_s"] > _run(arch, **{"dram.load_inputs": False}).run["time_s"]
    assert _run(arch, **{**fits, **slow}).run["time_s"] == pytest.approx(_run(arch, **fits).run["time_s"])


def test_spilling_workloads_keep_more_than_one_sample_in_flight():
    """One sample's state exceeds the chip's buffers, yet the engine keeps several in flight
    (their state streams through DRAM) when that trains faster -- no free cap at one."""
    for arch in ("pipelayer", "pipesdfa"):
        d = _run(arch, samples=64)
        assert d.run["memory"]["state_bytes_per_sample"] > d.run["memory"]["capacity_bytes"] / 2
        assert d.run["memory"]["max_in_flight"] >= 2
        one = _run(arch, samples=64, **{"pipeline.max_in_flight": 1})
        assert d.run["time_s"] <= one.run["time_s"]
