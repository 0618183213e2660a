"""Parameter tree: presets, validation naming the key, round trips, overrides."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipesdfa.errors import UserError
from pipesdfa.hw.params import (ADC_ENERGY_BY_BITS_J, DEFAULT_SOURCES, PRESETS, HwConfig, adc_energy_j, flatten,
                                load_config, parse_set)


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_is_valid_and_every_value_has_a_source(name):
    cfg = load_config(name)
    keys = set(flatten(cfg.params))
    assert keys == set(DEFAULT_SOURCES)
    assert all(cfg.sources[k] for k in keys)


def test_preset_values_come_from_the_cited_numbers():
    pl = load_config("pipelayer-2017").params
    assert pl.crossbar.read_latency_s == pytest.approx(29.31e-9)
    assert pl.crossbar.read_energy_row_j == pytest.approx(1.08e-12)
    assert pl.cells_per_weight == 4  # 16-bit weights from four 4-bit cells
    isaac = load_config("isaac-32nm").params
    assert isaac.cycle_s == pytest.approx(100e-9)  # 128 columns / 1.28 GS/s = 100 ns = read cycle
    assert isaac.crossbar.read_energy_cycle_j == pytest.approx(30e-12)
    assert isaac.cells_per_weight == 8
    ns = load_config("neurosim-rram").params
    # cols * V^2 * mean(G_on, G_off) * t_read = 128 * 0.25 * 0.5*(1/240k + 1/24M) * 100 ns
    assert ns.crossbar.read_energy_row_j == pytest.approx(128 * 0.25 * 0.5 * (1 / 240e3 + 1 / 24e6) * 100e-9)
    # the update pulse energy reads the device: V_w^2 / R_on * t_pulse = 4 / 240k * 50 ns
    assert ns.pulse_energy_j == pytest.approx(4 / 240e3 * 50e-9)


def test_adc_energy_table_and_interpolation():
    for b, e in ADC_ENERGY_BY_BITS_J.items():
        assert adc_energy_j(b) == e
    assert adc_energy_j(4) < adc_energy_j(5) < adc_energy_j(6) < adc_energy_j(7) < adc_energy_j(8) < adc_energy_j(10)
    assert adc_energy_j(3) < adc_energy_j(4)


def test_round_trip_through_json_and_yaml(tmp_path):
    cfg = load_config("pipelayer-2017", {"crossbar.rows": "256", "update.scheme": "outer-product"})
    d = cfg.to_dict()
    back = HwConfig.from_dict(json.loads(json.dumps(d)), preset="isaac-32nm")
    assert back.params == cfg.params
    import yaml

    f = tmp_path / "o.yaml"
    f.write_text(yaml.safe_dump({"crossbar": {"rows": 64}, "pipeline": {"batch_dependency": "strict"}}))
    c2 = load_config("isaac-32nm", {"adc.bits": 6}, [f])
    assert c2.params.crossbar.rows == 64 and c2.params.pipeline.batch_dependency == "strict"
    assert c2.params.adc.bits == 6 and c2.sources["crossbar.rows"] == f"override ({f})"


@pytest.mark.parametrize("changes, needle", [
    ({"crossbar.read_energy_cycle_j": -1e-12}, "crossbar.read_energy_cycle_j"),
    ({"update.serial_energy_j": "-3"}, "update.serial_energy_j"),
    ({"crossbar.rows": 0}, "crossbar.rows"),
    ({"crossbar.rows": 300000, "crossbar.cols": 300000}, "chip.area_mm2"),
    ({"crossbar.rows": 2000000}, "crossbar.rows"),
    ({"crossbar.bogus": 1}, "crossbar.bogus"),
    ({"nosection.x": 1}, "nosection.x"),
    ({"update.scheme": "magic"}, "update.scheme"),
    ({"crossbar.cell_bits": 7}, "crossbar.cell_bits"),
    ({"crossbar.rows": "abc"}, "crossbar.rows"),
    ({"crossbar.rows": 1.5}, "crossbar.rows"),
    ({"activity.layer_rate": 2.0}, "activity.layer_rate"),
    ({"buffer.enforce_capacity": "maybe"}, "buffer.enforce_capacity"),
    ({"device.preset": "nope"}, "device.preset"),
])
def test_bad_configurations_are_rejected_naming_the_key(changes, needle):
    with pytest.raises(UserError, match=needle.replace(".", r"\.")):
        load_config("pipelayer-2017", changes)


def test_bad_files_and_set_syntax(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text("crossbar: [1, 2")
    with pytest.raises(UserError, match="bad.yaml"):
        load_config("isaac-32nm", files=[f])
    f2 = tmp_path / "list.json"
    f2.write_text("[1]")
    with pytest.raises(UserError, match="list.json"):
        load_config("isaac-32nm", files=[f2])
    with pytest.raises(UserError, match="KEY=VALUE"):
        parse_set(["crossbar.rows"])
    with pytest.raises(UserError, match="unknown hardware preset"):
        load_config("nope")


@settings(max_examples=40, deadline=None)
@given(key=st.sampled_from(sorted(k for k, v in flatten(load_config("isaac-32nm").params).items()
                                  if isinstance(v, float) and k != "adc.energy_j")),
       value=st.floats(min_value=-1e3, max_value=-1e-30))
def test_any_negative_cost_is_rejected_naming_it(key, value):
    with pytest.raises(UserError, match=key.replace(".", r"\.")):
        load_config("isaac-32nm", {key: value})


@settings(max_examples=30, deadline=None)
@given(rows=st.integers(1, 512), cols=st.integers(1, 512), bits=st.sampled_from([1, 2, 4]))
def test_set_strings_round_trip(rows, cols, bits):
    cfg = load_config("isaac-32nm", parse_set([f"crossbar.rows={rows}", f"crossbar.cols={cols}",
                                              f"crossbar.cell_bits={bits}"]))
    assert (cfg.params.crossbar.rows, cfg.params.crossbar.cols, cfg.params.crossbar.cell_bits) == (rows, cols, bits)
    assert HwConfig.from_dict(cfg.to_dict()).params == cfg.params
