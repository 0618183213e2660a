"""Mapping and energy: golden numbers computed by hand; activity files."""

from __future__ import annotations

import json

import pytest

from pipesdfa.errors import UserError
from pipesdfa.hw.activity import Activity, activity_from_dict, load_activity
from pipesdfa.hw.energy import per_sample_ledger, update_ledger
from pipesdfa.hw.engine import simulate, simulate_detailed
from pipesdfa.hw.mapping import map_layers, replication_plan
from pipesdfa.hw.params import load_config
from pipesdfa.workloads import Conv, Dense, ModelSpec, resolve


def test_dense_mapping_golden():
    p = load_config("isaac-32nm").params  # 128x128, 2-bit cells, 16-bit weights -> 8 cells per weight
    spec = ModelSpec("t", (300,), (Dense(50), Dense(10)), 10)
    m = map_layers(resolve(spec), p, "pipelayer")
    l0 = m.layers[0]
    assert (l0.row_tiles, l0.col_tiles, l0.crossbars) == (3, 4, 12)  # ceil(300/128), ceil(50*8/128)
    assert l0.conversions_per_read == 3 * 400 and l0.transpose_conversions_per_read == 4 * 300
    assert m.feedback is None


def test_conv_replication_and_feedback_golden():
    p = load_config("isaac-32nm").params
    spec = ModelSpec("c", (2, 8, 8), (Conv(4, pool=2), Dense(3)), 3)
    layers = resolve(spec)
    assert replication_plan(layers, 16) == [16, 1]  # s* = max(ceil(64/16), 1) = 4 -> r = ceil(64/4)
    assert replication_plan(layers, 1) == [1, 1]
    m = map_layers(layers, p, "pipesdfa")
    conv = m.layers[0]
    assert (conv.fan_in, conv.positions, conv.steps_per_timestep, conv.crossbars) == (18, 64, 4, 16)
    # shared feedback: 3 rows x n_max = 4*4*4 = 64 hidden outputs -> one 128x128 crossbar
    assert (m.feedback.rows, m.feedback.cols, m.feedback.crossbars) == (3, 64, 1)
    p2 = load_config("isaac-32nm", {"mapping.feedback": "per-layer", "crossbar.cols": 32}).params
    m2 = map_layers(layers, p2, "pipesdfa")
    assert m2.feedback.crossbars == 2  # ceil(64 / 32)


def _tiny():
    cfg = load_config("isaac-32nm", {"crossbar.rows": 4, "crossbar.cols": 4, "precision.weight_bits": 4})
    spec = ModelSpec("tiny", (4,), (Dense(2),), 2)
    return cfg.params, spec


def test_forward_energy_golden():
    p, spec = _tiny()
    m = map_layers(resolve(spec), p, "pipesdfa")
    act = Activity(0.5, (0.1,))
    led = per_sample_ledger(m, p, act, T=2)
    f = {k[1]: v for k, v in led.entries.items() if k[0] == "forward"}
    # T=2, one position, one 4x4 crossbar (4 rows, 2 weights x 2 cells); 2 reads
    assert f["crossbar"] == pytest.approx(2 * 30e-12)
    assert f["dac"] == pytest.approx(2 * 0.5 * 4 * 0.42e-12)  # active rows x 1-bit DAC
    assert f["adc"] == pytest.approx(2 * 4 * 1.67e-12)  # 4 columns converted per read
    assert f["shift_add"] == pytest.approx(2 * 4 * 0.021e-12)
    assert f["neuron"] == pytest.approx(2 * 2 * 1.27e-12)
    buf = led.entries[("buffer", "buffer", 0)]
    # forward 2*(4 + 2 + 2*16) bits + gradient reads 2*(4 + 2*16) bits, 20 pJ per 256 bits
    assert buf == pytest.approx((76 + 72) / 256 * 20e-12)
    upd = update_ledger(m, p).total
    assert upd == pytest.approx(113e-9 * (4 * 4) / (128 * 128))  # one 4x4 crossbar, scaled by cells


def test_energy_is_linear_in_samples_and_counts_updates_per_batch():
    a = simulate("nmnist-mlp2", "pipesdfa", samples=256, batch=128)
    b = simulate("nmnist-mlp2", "pipesdfa", samples=512, batch=128)
    assert b["energy_j"] == pytest.approx(2 * a["energy_j"], rel=1e-9)
    ph = a["breakdown"]["phase"]
    assert sum(ph.values()) == pytest.approx(a["energy_j"])
    assert set(a["breakdown"]["layer"]) >= {"0", "1"}


def test_pipelayer_pays_backward_and_pipesdfa_feedback():
    pl = simulate("nmnist-mlp3", "pipelayer", samples=128)
    sd = simulate("nmnist-mlp3", "pipesdfa", samples=128)
    assert "backward" in pl["breakdown"]["phase"] and "feedback" not in pl["breakdown"]["phase"]
    assert "feedback" in sd["breakdown"]["phase"] and "backward" not in sd["breakdown"]["phase"]
    assert pl["breakdown"]["phase"]["forward"] == pytest.approx(sd["breakdown"]["phase"]["forward"])


def test_activity_drives_energy_and_is_validated(tmp_path):
    p, spec = _tiny()
    lo = simulate(spec, "pipesdfa", preset="pipelayer-2017", T=2, batch=1, samples=1,
                  activity={"activity": {"input_rate": 0.1, "layers": [{"layer": 0, "rate": 0.2}]}})
    hi = simulate(spec, "pipesdfa", preset="pipelayer-2017", T=2, batch=1, samples=1,
                  activity={"activity": {"input_rate": 0.9}})
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
    assert d.run["breakdown"]["phase"]["update"] == pytest.approx(2.0 * cells * p.pulse_energy_j)


def test_per_device_pulses_from_device_training_are_charged_per_cell():
    # device-aware training reports per_weight (both devices of a differential pair) and
    # per_device (one cell); the cost model charges cells, so per_device wins.
    p = load_config("pipelayer-2017").params
    act = activity_from_dict({"pulses": {"per_weight_per_epoch": 4.0, "per_device_per_epoch": 2.0}}, p, 1)
    assert act.pulses_per_weight_per_epoch == 2.0
