"""RRAM device model: update curves at hand-computed points, levels, noise statistics, validation."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from pipesdfa.analog.config import AnalogConfig, parse_set_options, split_device_and_analog
from pipesdfa.analog.crossbar import Crossbar
from pipesdfa.util.errors import UserError
from pipesdfa.analog.physics import (
    apply_pulses,
    ltd_curve,
    ltd_position,
    ltp_curve,
    ltp_position,
    quantise_to_levels,
    saturating_curve,
)
from pipesdfa.hw.config.device import DEVICE_PRESETS, DeviceParams, get_device_preset, neurosim_nu

# ----------------------------------------------------------------------------- curves


def test_ltp_curve_hand_computed():
    # f(0.5; 1) = (1 - e^-0.5) / (1 - e^-1) = 0.393469 / 0.632121
    assert float(ltp_curve(0.5, 1.0)) == pytest.approx(0.6224593312, abs=1e-9)
    # f(0.25; 2) = (1 - e^-0.5) / (1 - e^-2) = 0.393469 / 0.864665
    assert float(ltp_curve(0.25, 2.0)) == pytest.approx(0.4550542339, abs=1e-9)
    assert float(ltp_curve(0.0, 3.0)) == 0.0 and float(ltp_curve(1.0, 3.0)) == pytest.approx(1.0)


def test_ltd_curve_hand_computed_and_saturating():
    # u = 1 - f(1 - 0.5; 1) = 1 - 0.6224593
    assert float(ltd_curve(0.5, 1.0)) == pytest.approx(0.3775406688, abs=1e-9)
    # Depression from the top gives the biggest steps first: convex in the position.
    x = torch.linspace(0, 1, 11, dtype=torch.float64)
    steps = torch.diff(ltd_curve(x, 2.0))
    assert torch.all(steps[1:] > steps[:-1])


def test_curves_match_neurosim_form():
    """u = f(p/P; nu) equals NeuroSim's G = B (1 - exp(-p/A)) + G_min with A = P / nu."""
    g_min, g_max, p_max, nu = 1e-6, 1e-5, 64, 1.5
    a = p_max / nu
    b = (g_max - g_min) / (1 - math.exp(-p_max / a))
    for p in (0, 7, 32, 50, 64):
        g_neurosim = b * (1 - math.exp(-p / a)) + g_min
        g_ours = g_min + (g_max - g_min) * float(ltp_curve(p / p_max, nu))
        assert g_ours == pytest.approx(g_neurosim, rel=1e-12)
        g_ltd_neurosim = -b * (1 - math.exp((p - p_max) / a)) + g_max
        g_ltd_ours = g_min + (g_max - g_min) * float(ltd_curve(p / p_max, nu))
        assert g_ltd_ours == pytest.approx(g_ltd_neurosim, rel=1e-12)


def test_linear_limit_and_inverses():
    x = torch.linspace(0, 1, 21, dtype=torch.float64)
    assert torch.allclose(saturating_curve(x, 0.0), x)
    assert torch.allclose(saturating_curve(x, 1e-9), x)
    for nu in (0.0, 0.3, 1.0, 5.0):
        assert torch.allclose(ltp_position(ltp_curve(x, nu), nu), x, atol=1e-9)
        assert torch.allclose(ltd_position(ltd_curve(x, nu), nu), x, atol=1e-9)


def test_apply_pulses_linear_hand_computed():
    u = torch.tensor([0.3, 0.3, 0.3, 0.9], dtype=torch.float64)
    n = torch.tensor([2, -5, 0, 3])
    out = apply_pulses(u, n, levels=11, nu_ltp=0.0, nu_ltd=0.0)
    assert torch.allclose(out, torch.tensor([0.5, 0.0, 0.3, 1.0], dtype=torch.float64))


def test_apply_pulses_nonlinear_asymmetric_hand_computed():
    # levels=5 (P=4), nu_p=1, nu_d=2. From u=0, +2 pulses: u = f(0.5; 1) = 0.6224593.
    u = apply_pulses(torch.zeros(1, dtype=torch.float64), torch.tensor([2]), 5, 1.0, 2.0)
    assert float(u) == pytest.approx(0.6224593312, abs=1e-9)
    # Then -1 pulse on the LTD curve: x_d = 1 - f^-1(1 - u; 2) = 0.8024064, x_d - 1/4 = 0.5524064,
    # u = 1 - f(0.4475936; 2) = 0.3159558.
    u2 = apply_pulses(u, torch.tensor([-1]), 5, 1.0, 2.0)
    assert float(u2) == pytest.approx(0.3159557752, abs=1e-9)


# ----------------------------------------------------------------------------- levels


def test_quantise_to_levels_linear_and_nonlinear():
    u, n = quantise_to_levels(torch.tensor([0.33, 0.0, 1.0, 0.96], dtype=torch.float64), 11, 0.0)
    assert torch.allclose(u, torch.tensor([0.3, 0.0, 1.0, 1.0], dtype=torch.float64))
    assert n.tolist() == [3.0, 0.0, 10.0, 10.0]
    # levels=5, nu=1: f^-1(0.5; 1) * 4 = 1.5195 -> 2 pulses -> u = f(0.5; 1)
    u, n = quantise_to_levels(torch.tensor([0.5], dtype=torch.float64), 5, 1.0)
    assert n.item() == 2 and float(u) == pytest.approx(0.6224593312, abs=1e-9)


def test_levels_reachable_are_exactly_levels():
    device = DeviceParams(levels=16, nu_ltp=0.0, nu_ltd=0.0, c2c_sigma=0.0)
    xbar = Crossbar(1, 1000, device, AnalogConfig(update_scheme="single", program_noise=False), w_max=1.0)
    xbar.program(torch.rand(1, 1000) * 2 - 1)
    assert torch.unique(xbar.u_pos).numel() <= 16
    assert torch.allclose(xbar.u_pos * 15, torch.round(xbar.u_pos * 15), atol=1e-5)


# ----------------------------------------------------------------------------- noise statistics


def test_c2c_write_noise_mean_and_variance():
    n_samples = 200_000
    gen = torch.Generator().manual_seed(1)
    u = torch.full((n_samples,), 0.5, dtype=torch.float64)
    out = apply_pulses(u, torch.full((n_samples,), 4), levels=101, nu_ltp=0.0, nu_ltd=0.0,
                       c2c_sigma=0.01, generator=gen)
    # mean 0.5 + 4/100, std 0.01 sqrt(4) = 0.02
    assert float(out.mean()) == pytest.approx(0.54, abs=4 * 0.02 / math.sqrt(n_samples))
    assert float(out.std()) == pytest.approx(0.02, rel=0.01)
    # No pulse, no noise.
    same = apply_pulses(u[:10], torch.zeros(10), 101, 0.0, 0.0, c2c_sigma=0.01, generator=gen)
    assert torch.equal(same, u[:10])


def test_read_noise_mean_and_variance():
    device = DeviceParams(levels=11, nu_ltp=0.0, nu_ltd=0.0, c2c_sigma=0.0, read_noise_sigma=0.05)
    xbar = Crossbar(2, 3, device, AnalogConfig(program_noise=False), w_max=1.0, seed=3)
    xbar.program(torch.tensor([[0.2, -0.4, 0.6], [0.0, 1.0, -1.0]]))
    x = torch.tensor([1.0, 0.0, 1.0], dtype=torch.float64)
    reads = xbar.mvm(x.expand(100_000, 3).contiguous())
    gp, gn = xbar.conductances()
    s = 1.0 / (device.g_max_s - device.g_min_s)
    expected_mean = (xbar.weights().double() @ x)
    expected_var = 0.05 ** 2 * (((gp.double() * s) ** 2 + (gn.double() * s) ** 2) @ (x * x))
    assert torch.allclose(reads.mean(0), expected_mean, atol=5 * torch.sqrt(expected_var.max() / 100_000).item())
    assert torch.allclose(reads.var(0), expected_var, rtol=0.02)


def test_d2d_variation_and_stuck_fractions():
    device = DeviceParams(d2d_sigma=0.1, stuck_on_fraction=0.05, stuck_off_fraction=0.1, c2c_sigma=0.0)
    xbar = Crossbar(200, 200, device, AnalogConfig(program_noise=False), w_max=1.0, seed=0)
    rel = xbar.pos.g_max / device.g_max_s - 1
    assert float(rel.mean()) == pytest.approx(0.0, abs=0.003)
    assert float(rel.std()) == pytest.approx(0.1, rel=0.03)
    stuck = xbar.pos.stuck
    assert float((stuck == 1).float().mean()) == pytest.approx(0.05, abs=0.005)
    assert float((stuck == -1).float().mean()) == pytest.approx(0.10, abs=0.006)
    before = xbar.u_pos.clone()
    xbar.apply(torch.full((200, 200), 3.0))
    free = stuck == 0
    assert torch.equal(xbar.u_pos[~free], before[~free])
    assert torch.all(xbar.u_pos[free] > before[free] - 1e-6)
    assert torch.all(xbar.u_pos[stuck == 1] == 1.0) and torch.all(xbar.u_pos[stuck == -1] == 0.0)


# ----------------------------------------------------------------------------- params and presets


def test_existing_fields_keep_their_meaning():
    """The cost simulator reads these; adding the device model must not change them."""
    d = get_device_preset("neurosim-default")
    assert (d.r_on_ohm, d.r_off_ohm, d.levels, d.write_pulse_s, d.read_voltage_v) == (240e3, 24e6, 60, 50e-9, 0.5)
    assert d.g_max_s == pytest.approx(1 / 240e3) and d.g_min_s == pytest.approx(1 / 24e6)


@pytest.mark.parametrize("name", sorted(DEVICE_PRESETS))
def test_presets_valid_and_cited(name):
    d = DEVICE_PRESETS[name]
    assert d.name == name and len(d.source) > 20 and d.g_max_s > d.g_min_s > 0


def test_neurosim_nonlinearity_table_conversion():
    # NeuroSim label 1.00 -> normalised A 1.251653 (table), nu = 0.79894
    assert neurosim_nu(1.251653) == pytest.approx(0.798944, abs=1e-6)
    assert get_device_preset("taox-hfox").nu_ltd == pytest.approx(1 / 1.997332, abs=1e-5)
    with pytest.raises(UserError):
        neurosim_nu(0.0)


@pytest.mark.parametrize("field,value", [
    ("levels", 1), ("levels", 0), ("r_on_ohm", -100.0), ("r_on_ohm", 0.0),
    ("c2c_sigma", -0.01), ("d2d_sigma", -0.1), ("d2d_nl_sigma", -1.0), ("read_noise_sigma", -0.01),
    ("nu_ltp", -0.5), ("nu_ltd", float("nan")), ("stuck_on_fraction", 1.5), ("stuck_off_fraction", -0.1),
])
def test_bad_parameters_rejected_by_name(field, value):
    with pytest.raises(UserError, match=field):
        DeviceParams(**{field: value})


def test_stuck_fractions_sum_and_unknown_key():
    with pytest.raises(UserError, match="stuck_on_fraction \\+ stuck_off_fraction"):
        DeviceParams(stuck_on_fraction=0.6, stuck_off_fraction=0.6)
    with pytest.raises(UserError, match="unknown device parameter 'bogus'"):
        DeviceParams().with_(bogus=1)
    with pytest.raises(UserError, match="unknown device preset"):
        get_device_preset("nope")


# ----------------------------------------------------------------------------- --set parsing


def test_parse_set_options_routes_and_converts():
    dev, ana = parse_set_options(["levels=64", "c2c_sigma=0.01", "adc_bits=6", "rounding=nearest",
                                  "program_noise=false", "levels=32"])
    assert dev == {"levels": 32, "c2c_sigma": 0.01}
    assert ana == {"adc_bits": 6, "rounding": "nearest", "program_noise": False}
    # the canonical keys, shared with `pipesdfa simulate --set device.KEY=V`
    assert parse_set_options(["device.levels=16", "analog.adc_bits=4"]) == ({"levels": 16}, {"adc_bits": 4})


def test_train_and_simulate_read_the_same_device_keys():
    from pipesdfa.hw.config import load_config

    dev, _ = parse_set_options(["device.levels=16", "device.r_on_ohm=1e5", "device.c2c_sigma=0.02"])
    sim = load_config("isaac-32nm", {"device.levels": "16", "device.r_on_ohm": "1e5", "device.c2c_sigma": "0.02"})
    assert sim.params.device_params == DeviceParams().with_(**dev)
    device, config = split_device_and_analog(get_device_preset("taox-hfox"), ["levels=16", "adc_bits=4"])
    assert device.levels == 16 and device.r_on_ohm == 100e3 and config.adc_bits == 4


@pytest.mark.parametrize("item,match", [
    ("levels", "expected KEY=VALUE"), ("=3", "expected KEY=VALUE"), ("nope=1", "unknown key"),
    ("levels=6.5", r"device\.levels = '6\.5'; expected an integer"),
    ("c2c_sigma=abc", r"device\.c2c_sigma = 'abc'; expected a number"),
    ("program_noise=maybe", "expected true/false"), ("device.adc_bits=4", "unknown key"),
    ("board.levels=4", "unknown key"), ("device.preset=x", "--device-preset"),
])
def test_parse_set_options_errors(item, match):
    with pytest.raises(UserError, match=match):
        parse_set_options([item])


def test_set_values_are_validated():
    with pytest.raises(UserError, match="levels must be >= 2"):
        split_device_and_analog(DeviceParams(), ["levels=1"])
    with pytest.raises(UserError, match="adc_bits"):
        split_device_and_analog(DeviceParams(), ["adc_bits=40"])
    with pytest.raises(UserError, match="rounding"):
        split_device_and_analog(DeviceParams(), ["rounding=up"])


@settings(max_examples=60, deadline=None)
@given(levels=st.integers(2, 4096), sigma=st.floats(0, 10, allow_nan=False), bits=st.integers(0, 16))
def test_parse_set_roundtrip_property(levels, sigma, bits):
    dev, ana = parse_set_options([f"levels={levels}", f"c2c_sigma={sigma!r}", f"adc_bits={bits}"])
    assert dev == {"levels": levels, "c2c_sigma": sigma} and ana == {"adc_bits": bits}
    device, config = split_device_and_analog(DeviceParams(), [f"levels={levels}", f"adc_bits={bits}"])
    assert device.levels == levels and config.adc_bits == bits
