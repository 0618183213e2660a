"""Parameter tree: presets, sources, refusals naming the key, round trips, device keys."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipesdfa.util.errors import UserError
from pipesdfa.hw.adc import ADC_TABLE, adc_energy_j, required_bits
from pipesdfa.hw.config import HwConfig, load_config
from pipesdfa.hw.config.keys import flatten, parse_set
from pipesdfa.hw.config.presets import DEFAULT_SOURCES, PRESETS


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_is_valid_and_every_value_has_a_source(name):
    cfg = load_config(name)
    keys = set(flatten(cfg.params))
    assert keys == set(DEFAULT_SOURCES)
    assert all(cfg.sources[k] for k in keys)


def test_no_preset_is_fitted_to_the_paper():
    assert "paper-calibrated" not in PRESETS
    assert not any("calibrat" in p.description or "fitted" in p.name for p in PRESETS.values())


def test_preset_values_come_from_the_cited_numbers():
    pl = load_config("pipelayer-2017").params
    assert pl.crossbar.read_latency_s == pytest.approx(29.31e-9)
    assert pl.crossbar.read_energy_row_j == pytest.approx(1.08e-12)
    assert pl.cells_per_weight == 4  # 16-bit weights from four 4-bit cells
    assert pl.adc.bits == 10 and pl.adc.conversion_energy_j() == pytest.approx(2.379e-12, rel=1e-3)
    isaac = load_config("isaac-32nm").params
    assert isaac.cycle_s == pytest.approx(100e-9)  # 128 columns / 1.28 GS/s = 100 ns = read cycle
    assert isaac.crossbar.read_energy_cycle_j == pytest.approx(30e-12)
    assert isaac.cells_per_weight == 8
    # ISAAC Table 6: 8 x 128 x 128 arrays, 8 ADCs, IMA periphery -> 12 IMAs + eDRAM + tile units = 0.372 mm^2
    assert isaac.tile_area_um2 == pytest.approx(12 * (8 * 25 + 8 * 1200 + 3320) + 83000 + 131850)
    assert isaac.chip_area_mm2 == pytest.approx(85.4, rel=1e-3) and isaac.crossbars_per_chip == 16128
    assert isaac.static_power_per_chip_w == pytest.approx(16128 * 0.2e-3)  # ADC leakage of every ADC
    # write-power budget: 65.8 W / (113 nJ / 475 ns) = 276 crossbars written at once per chip
    assert isaac.parallel_writes(1) == 276 and isaac.parallel_writes(2) == 553
    ns = load_config("neurosim-rram").params
    # cols * V^2 * mean(G_on, G_off) * t_read = 128 * 0.25 * 0.5*(1/240k + 1/24M) * 100 ns
    assert ns.crossbar.read_energy_row_j == pytest.approx(128 * 0.25 * 0.5 * (1 / 240e3 + 1 / 24e6) * 100e-9)
    # the update pulse energy reads the device: V_w^2 / R_on * t_pulse = 4 / 240k * 50 ns
    assert ns.pulse_energy_j == pytest.approx(4 / 240e3 * 50e-9)


def test_adc_table_and_required_bits_golden():
    assert adc_energy_j(8) == 1.67e-12 and adc_energy_j(4) == 0.79e-12
    assert [b for b in sorted(ADC_TABLE)] == list(range(4, 11))
    energies = [ADC_TABLE[b][0] for b in sorted(ADC_TABLE)]
    assert energies == sorted(energies)
    # ISAAC: log2(128) + 1 + 2 - 1 (1-bit inputs) - 1 (flipped encoding) = 8
    assert required_bits(128, 2) == 8
    assert required_bits(128, 4) == 10 and required_bits(64, 4) == 9 and required_bits(32, 1) == 5
    assert required_bits(128, 2, input_bits=2) == 10  # v, w > 1: log2 R + v + w - 1 (encoding) = 7 + 2 + 2 - 1


def test_round_trip_through_json_and_yaml(tmp_path):
    cfg = load_config("isaac-32nm", {"crossbar.rows": "256", "adc.bits": 9, "update.scheme": "outer-product"})
    back = HwConfig.from_dict(json.loads(json.dumps(cfg.to_dict())), preset="isaac-32nm")
    assert back.params == cfg.params
    import yaml

    f = tmp_path / "o.yaml"
    f.write_text(yaml.safe_dump({"crossbar": {"rows": 64}, "pipeline": {"batch_dependency": "strict"}}))
    c2 = load_config("isaac-32nm", {"adc.bits": 7}, [f])
    assert c2.params.crossbar.rows == 64 and c2.params.pipeline.batch_dependency == "strict"
    assert c2.params.adc.bits == 7 and c2.sources["crossbar.rows"] == f"override ({f})"


@pytest.mark.parametrize("changes, needle", [
    ({"crossbar.read_energy_cycle_j": -1e-12}, "crossbar.read_energy_cycle_j"),
    ({"update.serial_energy_j": "-3"}, "update.serial_energy_j"),
    ({"crossbar.rows": 0}, "crossbar.rows"),
    ({"crossbar.rows": 4096}, "32..256"),
    ({"crossbar.cols": 16}, "32..256"),
    ({"crossbar.bogus": 1}, "crossbar.bogus"),
    ({"nosection.x": 1}, "nosection.x"),
    ({"rows": 64}, "did you mean 'crossbar.rows'"),
    ({"update.scheme": "magic"}, "update.scheme"),
    ({"gradient.operand": "weights"}, "gradient.operand"),
    ({"mapping.conv_scheme": "winograd"}, "mapping.conv_scheme"),
    ({"crossbar.cell_bits": 7}, "crossbar.cell_bits"),
    ({"crossbar.rows": "abc"}, "crossbar.rows"),
    ({"crossbar.rows": 64.5}, "crossbar.rows"),
    ({"activity.layer_rate": 2.0}, "activity.layer_rate"),
    ({"adc.allow_truncation": "maybe"}, "adc.allow_truncation"),
    ({"device.preset": "nope"}, "device.preset"),
    ({"adc.bits": 40}, "at most 16"),
    ({"adc.bits": 12}, "outside the cited ADC scaling"),
    ({"adc.bits": 6}, "needs 8 bits"),
    ({"adc.energy_j": -2.0}, "adc.energy_j"),
    ({"dram.bandwidth_bits_per_s": 0}, "dram.bandwidth_bits_per_s"),
    ({"device.levels": 1}, "device.levels"),
    ({"device.levels": 3}, "device.levels = 3"),  # 2-bit cells need 4 levels
    ({"area.budget_mm2": -5}, "area.budget_mm2"),
])
def test_bad_configurations_are_rejected_naming_the_key(changes, needle):
    with pytest.raises(UserError, match=needle.replace(".", r"\.").replace("(", r"\(")):
        load_config("isaac-32nm", changes)


def test_adc_refusals_have_their_documented_ways_out():
    load_config("isaac-32nm", {"adc.bits": 6, "adc.allow_truncation": True})  # truncated partial sums, accepted
    load_config("isaac-32nm", {"adc.bits": 12, "adc.energy_j": 3e-12, "adc.area_um2": 5000})  # explicit costs
    with pytest.raises(UserError, match="needs 10 bits"):
        load_config("pipelayer-2017", {"adc.bits": 8})


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
    with pytest.raises(UserError, match="did you mean 'pipelayer-2017'"):
        load_config("pipelayer2017")


def test_device_keys_start_from_the_preset_and_are_recorded():
    from pipesdfa.hw.config.device import get_device_preset

    cfg = load_config("isaac-32nm", {"device.preset": "taox-hfox"})
    assert cfg.params.device_params == get_device_preset("taox-hfox") and cfg.device_preset == "taox-hfox"
    cfg2 = load_config("isaac-32nm", {"device.preset": "taox-hfox", "device.levels": 16})
    assert cfg2.params.device_params.levels == 16 and cfg2.params.device_params.r_on_ohm == 100e3
    assert cfg2.device_preset == "taox-hfox*"
    # a later preset change resets every fact to the new preset's
    cfg3 = cfg2.with_overrides({"device.preset": "neurosim-default"})
    assert cfg3.params.device_params == get_device_preset("neurosim-default")


@settings(max_examples=40, deadline=None)
@given(key=st.sampled_from(sorted(k for k, v in flatten(load_config("isaac-32nm").params).items()
                                  if isinstance(v, float) and k not in ("adc.energy_j", "adc.area_um2"))),
       value=st.floats(min_value=-1e3, max_value=-1e-30))
def test_any_negative_value_is_rejected_naming_it(key, value):
    with pytest.raises(UserError, match=key.replace(".", r"\.")):
        load_config("isaac-32nm", {key: value})


@settings(max_examples=30, deadline=None)
@given(rows=st.integers(32, 256), cols=st.integers(32, 256), bits=st.sampled_from([1, 2]))
def test_set_strings_round_trip(rows, cols, bits):
    cfg = load_config("isaac-32nm", parse_set([f"crossbar.rows={rows}", f"crossbar.cols={cols}",
                                              f"crossbar.cell_bits={bits}", "adc.bits=10"]))
    assert (cfg.params.crossbar.rows, cfg.params.crossbar.cols, cfg.params.crossbar.cell_bits) == (rows, cols, bits)
    assert HwConfig.from_dict(cfg.to_dict()).params == cfg.params
