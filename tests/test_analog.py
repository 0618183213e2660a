"""Analog crossbar layers: pulse-count updates, reads, ADC, straight-through gradients, feedback."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from pipesdfa.analog import (
    AnalogConfig,
    AnalogConv2d,
    AnalogLinear,
    AnalogTraining,
    Crossbar,
    adc_quantise,
    gaussianity,
    rram_feedback,
)
from pipesdfa.analog.crossbar import round_pulses
from pipesdfa.util.errors import UserError
from pipesdfa.hw.config.device import DeviceParams, get_device_preset
from pipesdfa.training.config import flat_view

LINEAR = DeviceParams(levels=11, nu_ltp=0.0, nu_ltd=0.0, c2c_sigma=0.0)
EXACT = AnalogConfig(rounding="nearest", program_noise=False)


def small_crossbar(device=LINEAR, config=EXACT, **kw) -> Crossbar:
    xbar = Crossbar(2, 3, device, config, w_max=1.0, seed=0, **kw)
    xbar.program(torch.zeros(2, 3))
    return xbar


def test_pulse_update_on_small_crossbar_equals_expected_conductance_change():
    xbar = small_crossbar()
    dg = LINEAR.g_max_s - LINEAR.g_min_s
    g_mid = LINEAR.g_min_s + 0.5 * dg
    gp0, gn0 = xbar.conductances()
    assert torch.allclose(gp0, torch.full((2, 3), g_mid)) and torch.allclose(gn0, torch.full((2, 3), g_mid))
    # dual scheme, P = 10, w_max = 1: one pulse pair = 0.2 of weight
    dw = torch.tensor([[0.2, -0.4, 0.0], [0.6, 0.1, -0.29]])
    n = xbar.update(dw)
    assert n.tolist() == [[1, -2, 0], [3, 1, -1]]  # 0.1/0.2 = 0.5 rounds away from zero
    gp, gn = xbar.conductances()
    assert torch.allclose(gp - gp0, n * dg / 10, atol=1e-12)
    assert torch.allclose(gn - gn0, -n * dg / 10, atol=1e-12)
    assert torch.allclose(xbar.weights(), 0.2 * n, atol=1e-6)
    st = xbar.stats
    assert (st.ltp, st.ltd, st.writes, st.updates) == (8, 8, 10, 1)


def test_pulse_update_nonlinear_device_follows_the_curves():
    device = DeviceParams(levels=5, nu_ltp=1.0, nu_ltd=2.0, c2c_sigma=0.0)
    xbar = Crossbar(1, 1, device, AnalogConfig(rounding="nearest", program_noise=False, update_scheme="single"),
                    w_max=1.0)
    xbar.u_pos = torch.zeros(1, 1)
    xbar.apply(torch.tensor([[2.0]]))
    assert float(xbar.u_pos) == pytest.approx(0.6224593, abs=1e-6)
    xbar.apply(torch.tensor([[-1.0]]))
    assert float(xbar.u_pos) == pytest.approx(0.3159558, abs=1e-6)
    assert float(xbar.u_neg) == 0.0  # single scheme: the reference device is never written


def test_outer_product_update():
    xbar = small_crossbar()
    x = torch.tensor([[1.0, 0.0, 1.0]])
    delta = torch.tensor([[1.0, -2.0]])
    n = xbar.outer_product_update(x, delta, lr=0.2)  # dW = -0.2 delta^T x
    assert n.tolist() == [[-1, 0, -1], [2, 0, 2]]


def test_pulse_counts_clip_at_full_range():
    xbar = small_crossbar()
    n = xbar.update(torch.full((2, 3), 5.0))
    assert torch.all(n == 10) and xbar.stats.clipped == 6
    assert torch.allclose(xbar.weights(), torch.ones(2, 3), atol=1e-6)  # saturated at w_max


def test_stochastic_rounding_is_unbiased_and_accumulate_keeps_remainder():
    gen = torch.Generator().manual_seed(0)
    v = torch.full((200_000,), 0.3)
    assert float(round_pulses(v, "stochastic", gen).mean()) == pytest.approx(0.3, abs=0.005)
    assert torch.all(round_pulses(torch.tensor([-0.5, 0.49, 1.5]), "nearest") == torch.tensor([-1.0, 0.0, 2.0]))
    xbar = small_crossbar(config=AnalogConfig(rounding="accumulate", program_noise=False))
    step = xbar.pulse_step
    assert xbar.update(torch.full((2, 3), 0.3 * step)).abs().sum() == 0
    assert torch.all(xbar.update(torch.full((2, 3), 0.3 * step)) == 1)  # 0.6 -> 1, keeps -0.4
    assert torch.allclose(xbar.residual, torch.full((2, 3), -0.4), atol=1e-5)


def test_adc_quantise_hand_computed():
    y = torch.tensor([0.7, 2.0, -3.0, 0.2, -0.3, 0.0])
    # 2 bits over [-1, 1): step 0.5, codes -2..1
    assert adc_quantise(y, 2, 1.0).tolist() == [0.5, 0.5, -1.0, 0.0, -0.5, 0.0]
    assert torch.equal(adc_quantise(y, 0, 1.0), y)


def test_tiled_reads_quantise_each_tile():
    device = DeviceParams(levels=11, nu_ltp=0.0, nu_ltd=0.0, c2c_sigma=0.0)
    xbar = Crossbar(1, 4, device, AnalogConfig(adc_bits=2, adc_range=1.0, tile_rows=2, program_noise=False),
                    w_max=1.0)
    xbar.program(torch.tensor([[0.2, 0.2, 0.2, 0.2]]))
    x = torch.ones(1, 4)
    # each tile reads 0.4 -> code 1 (0.5); two tiles -> 1.0 (one tile of 4 rows would read 0.8 -> 0.5)
    assert xbar.mvm(x).item() == pytest.approx(1.0)


def test_analog_linear_forward_and_straight_through_gradient():
    torch.manual_seed(0)
    src = nn.Linear(16, 4, bias=False)
    layer = AnalogLinear(src, get_device_preset("neurosim-default"), AnalogConfig(adc_bits=5, adc_range=2.0), seed=1)
    assert torch.allclose(layer.weight, layer.crossbar.weights(), atol=1e-7)
    x = (torch.rand(3, 7, 16) > 0.5).float().requires_grad_(True)
    y = layer(x)
    assert y.shape == (3, 7, 4)
    step = 2 * 2.0 / 2 ** 5
    assert torch.allclose(torch.round(y / step) * step, y, atol=1e-5)  # ADC grid (one tile)
    y.sum().backward()
    # gradient of the ideal op with the stored weights
    assert torch.allclose(layer.weight.grad, torch.ones(3, 7, 4).reshape(-1, 4).T @ x.detach().reshape(-1, 16))
    assert torch.allclose(x.grad, torch.ones(3, 7, 4) @ layer.weight.detach())


def test_analog_linear_ideal_read_equals_linear_with_stored_weights():
    src = nn.Linear(10, 3, bias=False)
    layer = AnalogLinear(src, DeviceParams(), AnalogConfig(program_noise=False), seed=0)
    x = torch.rand(5, 10)
    assert torch.allclose(layer(x), F.linear(x, layer.crossbar.weights()), atol=1e-6)
    assert torch.allclose(layer(x), layer.crossbar.mvm(x), atol=1e-5)
    # without programming noise each device is within half of its largest level step:
    # |dw| <= w_max f'(0) / P = pulse_step f'(0) / 2 with f'(0) = nu / (1 - e^-nu) < 2
    assert (layer.weight - src.weight).abs().max() < layer.crossbar.pulse_step


def test_commit_routes_optimiser_step_through_pulses():
    src = nn.Linear(3, 2, bias=False)
    with torch.no_grad():
        src.weight.zero_()
    layer = AnalogLinear(src, LINEAR, AnalogConfig(rounding="nearest", program_noise=False, w_max_factor=1.0))
    # zero init -> w_max = factor * 1.0; one pulse pair = 0.2
    with torch.no_grad():  # what an optimiser step does (torch.optim itself is slow to import)
        layer.weight += torch.tensor([[0.2, 0.45, -0.6], [0.0, 0.05, 0.3]])
    n = layer.commit()
    assert n.tolist() == [[1, 2, -3], [0, 0, 2]]
    assert torch.allclose(layer.weight, 0.2 * n, atol=1e-6)
    assert layer.crossbar.stats.total == 2 * 8


def test_analog_conv_parity_and_tiling():
    torch.manual_seed(0)
    src = nn.Conv2d(3, 4, 3, padding=1, bias=False)
    ideal = AnalogConv2d(src, DeviceParams(), AnalogConfig(), seed=0)
    x = torch.rand(2, 5, 3, 8, 8)  # [T, B, C, H, W]
    out = ideal(x)
    assert out.shape == (2, 5, 4, 8, 8)
    ref = F.conv2d(x.reshape(10, 3, 8, 8), ideal.crossbar.weights().reshape(4, 3, 3, 3), padding=1)
    assert torch.allclose(out.reshape(10, 4, 8, 8), ref, atol=1e-5)
    # with an ADC and one channel (9 rows) per tile, the output is the sum of 3 quantised tiles
    cfg = AnalogConfig(adc_bits=4, adc_range=2.0, tile_rows=9)
    conv = AnalogConv2d(src, DeviceParams(), cfg, seed=0)
    w = conv.crossbar.weights().reshape(4, 3, 3, 3)
    x4 = x.reshape(10, 3, 8, 8)
    expected = sum(adc_quantise(F.conv2d(x4[:, c:c + 1], w[:, c:c + 1], padding=1), 4, 2.0) for c in range(3))
    assert torch.allclose(conv(x4), expected, atol=1e-5)


def test_analog_training_hook_counts_pulses():
    class Block(nn.Module):
        def __init__(self, n_in, n_out):
            super().__init__()
            self.weight_op = nn.Linear(n_in, n_out, bias=False)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = nn.ModuleList([Block(4, 3), Block(3, 2)])

    net = Net()
    hw = AnalogTraining(net, LINEAR, AnalogConfig(rounding="nearest", program_noise=False), seed=0)
    assert all(isinstance(b.weight_op, AnalogLinear) for b in net.blocks)
    step0 = hw.layers[0].crossbar.pulse_step
    with torch.no_grad():
        hw.layers[0].weight[0, 0] += 2 * step0  # an optimiser step asking for two pulse pairs
    hw.after_step()
    hw.end_epoch()
    m = hw.metrics()
    assert m["hardware"] == "rram" and m["device"]["levels"] == 11 and m["analog"]["rounding"] == "nearest"
    assert m["pulses"]["total"] == 4 and m["pulses"]["weights"] == 18
    assert m["pulses"]["per_weight_per_epoch"] == pytest.approx(4 / 18)
    with pytest.raises(UserError, match="already mapped"):
        AnalogTraining(net, LINEAR, AnalogConfig())


def test_rram_feedback_close_to_gaussian_for_default_preset():
    b = rram_feedback(10, 2000, get_device_preset("neurosim-default"), seed=0)
    stats = gaussianity(b)
    assert abs(stats["mean"]) < 1e-6 and stats["std"] == pytest.approx(1.0, abs=1e-6)
    assert abs(stats["skewness"]) < 0.1 and abs(stats["excess_kurtosis"]) < 0.2
    assert stats["ks_statistic"] < 0.02 and stats["ks_pvalue"] > 0.01
    # the same check flags a non-Gaussian device (many stuck-at faults): the test can fail
    bad = gaussianity(rram_feedback(10, 2000, DeviceParams(stuck_on_fraction=0.2), seed=0))
    assert bad["ks_statistic"] > 0.1 and bad["ks_pvalue"] < 1e-6


def test_rram_feedback_needs_stochastic_devices():
    with pytest.raises(UserError, match="no stochasticity"):
        rram_feedback(4, 8, DeviceParams(c2c_sigma=0.0))


# ----------------------------------------------------------------------------- trainer and CLI


def rram_cfg(tmp_path, name="run", **kw):
    from pipesdfa.training.loop import config_from_workload

    base = dict(method="sdfa", epochs=2, T=2, batch=32, max_train=64, max_test=32, hidden=(16,),
                hardware="rram", device_set=["levels=32", "adc_bits=6"], out=str(tmp_path / name))
    base.update(kw)
    return config_from_workload("digits-mlp", **base)


def test_train_on_rram_records_pulses_and_resumes_bit_identically(tmp_path):
    import json

    from pipesdfa.training.loop import load_checkpoint, train
    from tests.test_train import run_one_epoch_then_stop

    straight = train(rram_cfg(tmp_path, "straight"), progress=False, log=None)
    on_disk = json.loads((tmp_path / "straight" / "metrics.json").read_text())
    assert on_disk["hardware"] == "rram" and flat_view(on_disk["config"])["hardware"] == "rram"
    assert on_disk["device"]["levels"] == 32 and on_disk["device"]["name"] == "neurosim-default"
    assert on_disk["analog"]["adc_bits"] == 6
    p = on_disk["pulses"]
    assert p["weights"] == 288 * 16 + 16 * 10 and p["epochs"] == 2
    assert p["total"] == p["ltp"] + p["ltd"] == sum(layer["total"] for layer in p["per_layer"]) > 0
    assert p["per_weight_per_epoch"] == pytest.approx(p["total"] / p["weights"] / 2)
    assert straight["pulses"] == p
    # the same run interrupted after epoch 1 and resumed: identical losses, pulses, conductances
    partial = rram_cfg(tmp_path, "partial")
    run_one_epoch_then_stop(partial)
    resumed = train(resume=tmp_path / "partial", progress=False, log=None)
    assert [e["train_loss"] for e in straight["epochs"]] == [e["train_loss"] for e in resumed["epochs"]]
    assert straight["pulses"]["total"] == resumed["pulses"]["total"]
    a = load_checkpoint(tmp_path / "straight")["analog"]["layers"]
    b = load_checkpoint(tmp_path / "partial")["analog"]["layers"]
    assert all(torch.equal(x["u_pos"], y["u_pos"]) and torch.equal(x["u_neg"], y["u_neg"]) for x, y in zip(a, b))


def test_rram_feedback_distribution_in_sdfa_rule():
    from pipesdfa.learning.feedback import SAMPLERS, FeedbackMatrices

    assert "rram" in SAMPLERS
    fb = FeedbackMatrices(10, [300, 100], "shared", "rram", seed=3)
    b = fb.matrix(0)
    assert b.shape == (10, 300) and abs(float(b.mean())) < 1e-5 and float(b.var()) == pytest.approx(1.0, abs=0.01)
    assert torch.equal(FeedbackMatrices(10, [300, 100], "shared", "rram", seed=3).matrix(0), b)


def test_cli_train_hardware_rram_end_to_end(tmp_path, capsys):
    import json

    from pipesdfa.cli.main import main

    out = tmp_path / "cli"
    rc = main(["train", "--dataset", "digits", "--model", "mlp", "--hidden", "16", "--T", "2", "--epochs", "1",
               "--max-train", "64", "--max-test", "32", "--method", "sdfa", "--distribution", "rram",
               "--hardware", "rram", "--device-preset", "taox-hfox", "--set", "levels=16", "--set", "rounding=accumulate",
               "--out", str(out), "--no-progress"])
    assert rc == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["device"]["name"] == "taox-hfox" and m["device"]["levels"] == 16 and m["device"]["r_on_ohm"] == 100e3
    assert m["analog"]["rounding"] == "accumulate" and m["rule"]["distribution"] == "rram"
    assert m["pulses"]["per_weight_per_epoch"] >= 0


@pytest.mark.parametrize("argv,match", [
    (["--set", "levels=16"], "apply to --hardware rram only"),
    (["--hardware", "rram", "--set", "levels=1"], "levels must be >= 2"),
    (["--hardware", "rram", "--set", "c2c_sigma=-1"], "c2c_sigma must be a finite number >= 0"),
    (["--hardware", "rram", "--set", "bogus=1"], "--set bogus: unknown key"),
    (["--hardware", "rram", "--device", "cuda"], "use --device cpu"),
])
def test_cli_hardware_errors_are_one_line_and_write_nothing(tmp_path, capsys, argv, match):
    from pipesdfa.cli.main import main

    out = tmp_path / "bad"
    rc = main(["train", "--workload", "digits-mlp", "--epochs", "1", "--out", str(out), "--no-progress", *argv])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and err.startswith("pipesdfa: error: ") and match in err
    assert not out.exists()


def test_cli_unknown_device_preset_is_a_usage_error(tmp_path, capsys):
    from pipesdfa.cli.main import main

    with pytest.raises(SystemExit) as exc:
        main(["train", "--workload", "digits-mlp", "--hardware", "rram", "--device-preset", "nope",
              "--out", str(tmp_path / "x")])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "--device-preset: unknown device preset 'nope'" in err and err.count("\n") == 1
