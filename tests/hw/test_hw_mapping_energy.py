"""Mapping, gradient unit, memory plan, silicon and energy: golden numbers computed by hand."""

from __future__ import annotations

import json

import pytest

from pipesdfa.util.errors import UserError
from pipesdfa.hw.activity import Activity, activity_from_dict, load_activity
from pipesdfa.hw.area import fit_replication, silicon
from pipesdfa.hw.config import load_config
from pipesdfa.hw.energy import energy_ledger, per_sample_ledger, update_ledger
from pipesdfa.hw.engine import simulate, simulate_detailed
from pipesdfa.hw.gradient import gradient_cost, layer_gradient
from pipesdfa.hw.archs import get_arch
from pipesdfa.hw.mapping import replication_plan
from pipesdfa.hw.placement import map_layers
from pipesdfa.hw.memory import plan_memory
from pipesdfa.zoo.workloads import Conv, Dense, ModelSpec, resolve


def test_dense_mapping_golden():
    p = load_config("isaac-32nm").params  # 128x128, 2-bit cells, 16-bit weights -> 8 cells per weight
    spec = ModelSpec("t", (300,), (Dense(50), Dense(10)), 10)
    m = map_layers(resolve(spec), p, "pipesdfa")
    l0 = m.layers[0]
    assert (l0.row_tiles, l0.col_tiles, l0.crossbars) == (3, 4, 12)  # ceil(300/128), ceil(50*8/128)
    assert l0.conversions_per_read == 3 * 400 and l0.transpose_conversions_per_read == 4 * 300
    assert l0.gradient_arrays == 12 and l0.t_replication == 0
    assert (m.feedback.rows, m.feedback.cols, m.feedback.crossbars) == (10, 50, 1)
    pl = map_layers(resolve(spec), p, "pipelayer")
    assert pl.feedback is None
    # PipeLayer's separate transposed copy: none for layer 0, E = 16 copies for the one-position output layer
    assert [l.t_replication for l in pl.layers] == [0, 16]
    assert pl.layers[1].t_cycles_per_timestep(16) == 1  # the 16 error bit-planes on 16 copies at once
    assert pl.weight_crossbars == 12 + 1 + 16
    shared = map_layers(resolve(spec), load_config("isaac-32nm", {"pipeline.pipelayer_shared_transpose": True}).params,
                        "pipelayer")
    assert shared.transpose_periphery and all(l.t_replication == 0 for l in shared.layers)
    assert shared.layers[1].t_cycles_per_timestep(16) == 16
    inference = map_layers(resolve(spec), p, "pipesdfa", training=False)
    assert inference.feedback is None and inference.gradient_crossbars == 0


def test_conv_replication_feedback_and_transposed_copies_golden():
    p = load_config("isaac-32nm").params
    spec = ModelSpec("c", (2, 8, 8), (Conv(4, pool=2), Dense(3)), 3)
    layers = resolve(spec)
    assert replication_plan(layers, 16) == [16, 1]  # s* = max(ceil(64/16), 1) = 4 -> r = ceil(64/4)
    assert replication_plan(layers, 1) == [1, 1]
    assert replication_plan(layers, 16, [16, 16]) == [16, 4]  # E passes: ceil(16 * 1 / 4) = 4 copies
    m = map_layers(layers, p, "pipesdfa")
    conv = m.layers[0]
    assert (conv.fan_in, conv.positions, conv.steps_per_timestep, conv.crossbars) == (18, 64, 4, 16)
    # shared feedback: 3 rows x n_max = 4*4*4 = 64 hidden outputs -> one 128x128 crossbar
    assert (m.feedback.rows, m.feedback.cols, m.feedback.crossbars) == (3, 64, 1)
    p2 = load_config("isaac-32nm", {"mapping.feedback": "per-layer", "crossbar.cols": 32}).params
    assert map_layers(layers, p2, "pipesdfa").feedback.crossbars == 2  # ceil(64 / 32)


def test_kernel_split_mapping_golden():
    p = load_config("spikesim-vgg9").params  # 64x64, 4-bit weights in one cell, PEs of 9 arrays
    spec = ModelSpec("k", (3, 32, 32), (Conv(64), Conv(128), Dense(10)), 10)
    m = map_layers(resolve(spec)[:2], p, "pipesdfa", training=False)
    a, b = m.layers
    assert (a.row_tiles, a.col_tiles, a.conversions_per_read) == (9, 1, 64)  # 3x3 arrays of ceil(3/64) rows
    assert (b.row_tiles, b.col_tiles, b.conversions_per_read) == (9, 2, 128)  # currents of a PE add: 1 x 128
    sil = silicon(m, p)
    assert (sil.groups, sil.tiles) == (1 + 2, 1)  # SpikeSim's PEs: ceil(C_in/64) ceil(C_out/64) each


def _tiny(**ov):
    cfg = load_config("isaac-32nm", {"crossbar.rows": 32, "crossbar.cols": 32, "precision.weight_bits": 4, **ov})
    return cfg.params, ModelSpec("tiny", (32,), (Dense(2),), 2)


def test_forward_energy_golden():
    p, spec = _tiny()
    m = map_layers(resolve(spec), p, "pipesdfa")
    grads = [layer_gradient(m.layers[0], p, 2, 0.5)]
    led = per_sample_ledger(m, p, Activity(0.5, (0.1,)), 2, grads, arch=get_arch(m.arch))
    f = {k[1]: v for k, v in led.entries.items() if k[0] == "forward"}
    # T=2, one position, one 32x32 crossbar (32 rows, 2 weights x 2 cells); 2 reads
    assert f["crossbar"] == pytest.approx(2 * 30e-12)
    assert f["dac"] == pytest.approx(2 * 0.5 * 32 * 0.42e-12)  # active rows x 1-bit DAC
    assert f["adc"] == pytest.approx(2 * 4 * 1.67e-12)  # 4 columns converted per read
    assert f["shift_add"] == pytest.approx(2 * 4 * 0.021e-12)
    assert f["neuron"] == pytest.approx(2 * 2 * 1.27e-12)
    # forward 2*(32 + 2 + 2*16) bits + gradient reads 2*(32 + 2*16) bits, 20 pJ per 256 bits
    assert led.entries[("buffer", "buffer", 0)] == pytest.approx((132 + 128) / 256 * 20e-12)
    assert update_ledger(m, p).total == pytest.approx(113e-9 * (32 * 32) / (128 * 128))  # scaled by cells


def test_gradient_unit_golden():
    p, spec = _tiny()
    l = map_layers(resolve(spec), p, "pipesdfa").layers[0]
    T, tc, t_row = 2, 100e-9, 475e-9 / 128
    err = gradient_cost(l, p, T, 0.5, "error")
    # D: Q = T P = 2 rows x C k_E = 2 x 8 cells -> one tile; F = 32 binary reads; F a_r C k_E conversions
    assert (err.tiles, err.cells_written, err.reads, err.conversions) == (1, 32, 32, 512)
    assert err.active_rows == pytest.approx(32 * 2 * 0.5)
    assert err.time_s == pytest.approx(2 * t_row + 32 * tc)
    act = gradient_cost(l, p, T, 0.5, "activation")
    # X: 2 x 32 binary cells -> one tile; C E = 32 bit-serial reads; C E a_r F conversions
    assert (act.tiles, act.cells_written, act.reads, act.conversions) == (1, 64, 32, 1024)
    assert act.active_rows == pytest.approx(2 * 16 * 2 * 0.5)
    assert layer_gradient(l, p, T, 0.5).operand == "error"  # equal time, fewer cells written
    p4, _ = _tiny(**{"gradient.arrays_per_weight_array": 4})
    l4 = map_layers(resolve(spec), p4, "pipesdfa").layers[0]
    four = gradient_cost(l4, p4, T, 0.5, "error")  # 4 arrays hold copies of the tile and share its 32 reads
    assert four.copies == 4 and four.cells_written == 4 * 32 and four.time_s == pytest.approx(2 * t_row + 8 * tc)
    sram, _ = _tiny(**{"gradient.technology": "sram"})
    s = gradient_cost(map_layers(resolve(spec), sram, "pipesdfa").layers[0], sram, T, 0.5, "error")
    assert s.cells_written == 2 * 2 * 16 and s.bits_written == 64  # 1-bit SRAM cells: 16 per 16-bit error


def test_memory_plan_golden():
    p, spec = _tiny()
    m = map_layers(resolve(ModelSpec("m", (32,), (Dense(8), Dense(4), Dense(2)), 2)), p, "pipesdfa")
    state, B = [100, 50, 30], 4
    acc = 4 + 2  # weight bits + log2(B)
    two = plan_memory(m, p, state, B, capacity_bits=200, K=2, input_bits=64)
    assert two.spill_bits == (80, 0, 0)  # each sample keeps 100 of its 180 bits; the first layer spills
    assert two.dw_bits == (32 * 8 * acc, 8 * 4 * acc, 4 * 2 * acc) and two.dw_dram_fraction == 1.0
    assert two.dram_bits_per_sample == 64 + 2 * 80 + 2 * sum(two.dw_bits)
    one = plan_memory(m, p, state, B, capacity_bits=200, K=1, input_bits=64)
    assert one.spill_bits == (0, 0, 0)
    assert one.dw_dram_fraction == pytest.approx(1 - 20 / sum(one.dw_bits))  # 20 bits left for accumulators
    roomy = plan_memory(m, p, state, B, capacity_bits=10**9, K=8, input_bits=64)
    assert roomy.spill_bits == (0, 0, 0) and roomy.dw_dram_fraction == 0.0 and roomy.dram_bits_per_batch == 0


def test_static_energy_is_proportional_to_powered_silicon():
    p = load_config("pipelayer-2017").params
    per_tile = 96 * 0.2e-3  # 12 IMAs x 8 ADCs x PUMA's 0.2 mW ADC leakage
    assert p.static_power_per_chip_w == pytest.approx(168 * per_tile)
    vgg = ModelSpec("v", (2, 128, 128), (Conv(64), Conv(128, pool=2), Dense(10)), 10)
    for gating in (True, False):
        q = load_config("pipelayer-2017", {"chip.power_gating": gating}).params
        sil = silicon(map_layers(resolve(vgg), q, "pipesdfa"), q)
        powered = sil.tiles if gating else sil.chips * 168
        assert sil.static_power_w == pytest.approx(powered * per_tile)
    ungated = load_config("pipelayer-2017", {"chip.power_gating": False})
    runs = [simulate_detailed("dvs-vgg11", a, config=ungated, samples=16) for a in ("pipelayer", "pipesdfa")]
    for d in runs:  # whole chips leak: static energy = chips x chip leakage x time
        assert d.ledger.entries[("static", "static", -1)] == pytest.approx(
            d.silicon.chips * p.static_power_per_chip_w * d.timing.time_s)
    m = map_layers(resolve(vgg), p, "pipesdfa")
    grads = [layer_gradient(l, p, 2, 0.1) for l in m.layers]
    led = energy_ledger(m, p, Activity(0.1, (0.1, 0.1, 0.1)), 2, 10, 1, 1e-3, 1.0, grads, static_power_w=3.0,
                        arch=get_arch(m.arch))
    assert led.entries[("static", "static", -1)] == pytest.approx(3e-3)


def test_silicon_golden_and_transposed_periphery():
    p = load_config("isaac-32nm").params
    spec = ModelSpec("t", (300,), (Dense(50), Dense(10)), 10)
    m = map_layers(resolve(spec), p, "pipesdfa")
    sil = silicon(m, p)
    # weights ceil(12/8) + ceil(1/8), gradient arrays the same, feedback 1 group; one tile, one chip
    assert (sil.groups, sil.tiles, sil.chips) == (2 + 1 + 2 + 1 + 1, 1, 1)
    assert sil.area_mm2 == pytest.approx(p.chip_area_mm2) and sil.buffer_bits == 168 * 64 * 1024 * 8
    ps = load_config("isaac-32nm", {"pipeline.pipelayer_shared_transpose": True}).params
    sh = silicon(map_layers(resolve(spec), ps, "pipelayer"), ps)
    assert sh.transpose_groups == 3  # row-side ADCs on every group of weight arrays


def test_area_budget_sets_replication_and_refuses_what_cannot_fit():
    p = load_config("pipelayer-2017", {"area.budget_mm2": 2 * 114.49}).params
    layers = resolve(ModelSpec("c", (2, 64, 64), (Conv(32), Conv(32, pool=2), Dense(10)), 10))
    r = fit_replication(layers, p, "pipesdfa", 10)
    assert silicon(map_layers(layers, p, "pipesdfa", 10, r), p).chips <= 2
    assert silicon(map_layers(layers, p, "pipesdfa", 10, r + 1), p).chips > 2 or r + 1 > 64 * 64 * 16
    for arch in ("pipelayer", "pipesdfa"):
        run = simulate(ModelSpec("c", (2, 64, 64), (Conv(32), Conv(32, pool=2), Dense(10)), 10), arch,
                       overrides={"area.budget_mm2": 2 * 114.49}, T=2, batch=2, samples=4)
        assert run["area_mm2"] <= 2 * 114.49 + 1e-9
    with pytest.raises(UserError, match="smaller than one chip"):
        simulate("dvs-vgg11", "pipesdfa", overrides={"area.budget_mm2": 50}, samples=8)
    with pytest.raises(UserError, match="even without replication"):
        simulate("dvs-vgg11", "pipelayer", overrides={"area.budget_mm2": 115}, samples=8)


def test_energy_is_linear_in_samples_and_counts_updates_per_batch():
    a = simulate("nmnist-mlp2", "pipesdfa", samples=256, batch=128)
    b = simulate("nmnist-mlp2", "pipesdfa", samples=512, batch=128)
    dyn = lambda r: r["energy_j"] - r["breakdown"]["phase"].get("static", 0.0)  # noqa: E731
    assert dyn(b) == pytest.approx(2 * dyn(a), rel=1e-9)
    assert sum(a["breakdown"]["phase"].values()) == pytest.approx(a["energy_j"])
    assert set(a["breakdown"]["layer"]) >= {"0", "1"}


def test_pipelayer_pays_backward_and_pipesdfa_feedback():
    pl = simulate("nmnist-mlp3", "pipelayer", samples=128)
    sd = simulate("nmnist-mlp3", "pipesdfa", samples=128)
    assert "backward" in pl["breakdown"]["phase"] and "feedback" not in pl["breakdown"]["phase"]
    assert "feedback" in sd["breakdown"]["phase"] and "backward" not in sd["breakdown"]["phase"]
    assert pl["breakdown"]["phase"]["forward"] == pytest.approx(sd["breakdown"]["phase"]["forward"])


def test_activity_drives_energy_and_is_validated(tmp_path):
    p, spec = _tiny()
    lo = simulate(spec, "pipesdfa", preset="isaac-32nm", overrides={"crossbar.rows": 32, "crossbar.cols": 32},
                  T=2, batch=1, samples=1,
                  activity={"activity": {"input_rate": 0.1, "layers": [{"layer": 0, "rate": 0.2}]}})
    hi = simulate(spec, "pipesdfa", preset="isaac-32nm", overrides={"crossbar.rows": 32, "crossbar.cols": 32},
                  T=2, batch=1, samples=1, activity={"activity": {"input_rate": 0.9}})
    assert hi["breakdown"]["phase"]["forward"] > lo["breakdown"]["phase"]["forward"]
    f = tmp_path / "metrics.json"
    f.write_text(json.dumps({"activity": {"layers": [{"layer": 5, "rate": 0.1}]}}))
    with pytest.raises(UserError, match=r"metrics.json.*activity.layers\[0\].layer"):
        load_activity(f, p, 1)
    f.write_text(json.dumps({"activity": {"input_rate": 1.5}}))
    with pytest.raises(UserError, match="activity.input_rate"):
        load_activity(f, p, 1)
    f.write_text("{")
    with pytest.raises(UserError, match="not valid JSON"):
        load_activity(f, p, 1)
    with pytest.raises(UserError, match="no 'activity'"):
        activity_from_dict({"loss": 1}, p, 1)
    with pytest.raises(UserError, match="pulses.per_weight_per_epoch"):
        activity_from_dict({"pulses": {"per_weight_per_epoch": -1}}, p, 1)


def test_reported_pulses_replace_the_per_crossbar_update_cost():
    d = simulate_detailed("nmnist-mlp2", "pipesdfa", samples=60000,
                          activity={"pulses": {"per_weight_per_epoch": 2.0}})
    p = d.config.params
    cells = sum(l.weights * l.cells_per_weight * l.replication for l in d.mapping.layers)
    assert d.ledger.entries[("update", "write", 0)] + d.ledger.entries[("update", "write", 1)] == pytest.approx(
        2.0 * cells * p.pulse_energy_j)


def test_per_device_pulses_from_device_training_are_charged_per_cell():
    # device-aware training reports per_weight (both devices of a differential pair) and
    # per_device (one cell); the cost model charges cells, so per_device wins.
    p = load_config("pipelayer-2017").params
    act = activity_from_dict({"pulses": {"per_weight_per_epoch": 4.0, "per_device_per_epoch": 2.0}}, p, 1)
    assert act.pulses_per_weight_per_epoch == 2.0
