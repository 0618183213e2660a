"""The ``braille-analog`` dataset (the SDFA authors' Braille recipe) on a tiny raw pickle."""

from __future__ import annotations

import numpy as np
import pytest

from pipesdfa.data.braille_analog import (AUTHORS_TAXELS, analog_signals, braille_analog_frames,
                                          load_braille_analog, standardise_stats)
from pipesdfa.data.formats.braille_pkl import LETTERS
from pipesdfa.data.layouts import stratified_split
from _writers import write_braille_raw
from pipesdfa.util.errors import UserError

RAW = "tutorial5_braille_spiking_data.pkl.gz"


@pytest.fixture()
def raw(tmp_path):
    rng = np.random.default_rng(0)
    data = [np.clip(255 - np.abs(np.cumsum(rng.normal(0, 5, (6 + i % 2, 12)), axis=0)), 0, 255)
            for i in range(27 * 5)]
    letters = [LETTERS[i // 5] for i in range(27 * 5)]
    write_braille_raw(tmp_path / RAW, data, letters)
    return tmp_path, data, letters


def test_analog_signals_and_frames_by_hand():
    # two recordings, two steps, taxels 1 and 2 of 12: 1 - v/255
    a = np.full((3, 12), 255.0)
    a[:, 1] = [0.0, 51.0, 102.0]
    a[:, 2] = [255.0, 204.0, 0.0]
    b = np.full((2, 12), 255.0)
    x = analog_signals([a, b], 2, (1, 2))
    assert x.shape == (2, 2, 2)
    np.testing.assert_allclose(x[0], [[1.0, 0.0], [0.8, 0.2]])
    np.testing.assert_allclose(x[1], [[0.0, 0.0], [0.0, 0.0]])
    mean, std = standardise_stats(x)
    # taxel 1 over the 4 values 1, 0.8, 0, 0: mean 0.45, unbiased std sqrt(0.73/3)
    np.testing.assert_allclose(mean, [0.45, 0.05])
    np.testing.assert_allclose(std[0], np.sqrt((0.55 ** 2 + 0.35 ** 2 + 2 * 0.45 ** 2) / 3))
    f = braille_analog_frames(x, mean, std, repeat=2)
    assert f.shape == (2, 4, 2)
    np.testing.assert_allclose(f[0, :, 0], np.repeat((x[0, :, 0] - 0.45) / (std[0] + 1e-6), 2))
    with pytest.raises(UserError, match="recording 1 has only 2"):
        analog_signals([a, b], 3, (1, 2))


def test_loader_recipe_split_and_stats(raw):
    root, data, letters = raw
    b = load_braille_analog(T=12, data_dir=root)  # 6 samples (the shortest) x 2
    assert b.input_shape == (4,) and b.num_classes == 27 and b.class_names[0] == "Space"
    assert len(b.train) == 108 and len(b.test) == 27
    labels = np.array([LETTERS.index(x) for x in letters])
    tr, te = stratified_split(labels, 0.2, 0)
    assert b.train.labels.tolist() == labels[tr].tolist() and b.test.labels.tolist() == labels[te].tolist()
    x = analog_signals(data, 6, AUTHORS_TAXELS)
    mean, std = standardise_stats(x[tr])  # training split only: no test statistics
    np.testing.assert_allclose(b.meta["mean"], mean)
    expect = braille_analog_frames(x[te], mean, std, 2)
    np.testing.assert_allclose(b.test.frames.numpy(), expect, rtol=1e-5, atol=1e-5)
    assert b.test.frames.dtype.is_floating_point and b.train.frames.shape == (108, 12, 4)
    # steps repeated: frames 2k and 2k+1 are equal
    assert bool((b.train.frames[:, 0::2] == b.train.frames[:, 1::2]).all())
    # the training split is standardised exactly
    flat = b.train.frames[:, 0::2].reshape(-1, 4).double()
    np.testing.assert_allclose(flat.mean(0).numpy(), 0.0, atol=1e-5)
    # the authors' statistics: over all samples, train and test (the leak)
    a = load_braille_analog(T=12, data_dir=root, stats="all")
    mean_all, _ = standardise_stats(x)
    np.testing.assert_allclose(a.meta["mean"], mean_all)
    assert not np.allclose(a.meta["mean"], b.meta["mean"])
    assert a.meta["stats"] == "all" and b.meta["stats"] == "train"
    # another split seed, another split; max_train keeps every class
    c = load_braille_analog(T=12, data_dir=root, split_seed=1, max_train=27)
    assert sorted(c.train.labels.tolist()) == list(range(27))
    assert not np.allclose(c.meta["mean"], b.meta["mean"])  # other training samples, other statistics


def test_loader_errors(raw, tmp_path_factory):
    root, _, _ = raw
    with pytest.raises(UserError, match="multiple of repeat"):
        load_braille_analog(T=11, data_dir=root)
    with pytest.raises(UserError, match="has only 6"):
        load_braille_analog(T=16, data_dir=root)
    with pytest.raises(UserError, match="stats 'test' unknown"):
        load_braille_analog(T=12, data_dir=root, stats="test")
    with pytest.raises(UserError, match="taxels"):
        load_braille_analog(T=12, data_dir=root, taxels=(1, 12))
    empty = tmp_path_factory.mktemp("empty")
    with pytest.raises(UserError, match="tutorial5_braille_spiking_data"):
        load_braille_analog(T=12, data_dir=empty)


def test_registered_and_trains(raw, tmp_path):
    from pipesdfa.training.loop import config_from_workload, train
    from pipesdfa.zoo.workloads import get_workload

    root, _, _ = raw
    w = get_workload("braille-analog-mlp")
    assert (w.T, w.batch, w.hidden, w.neuron, w.loss, w.drop_last) == (152, 64, (200, 200), "if", "mse", True)
    cfg = config_from_workload("braille-analog-mlp", T=12, epochs=2, batch=50, hidden=(16,), method="sdfa",
                               data_dir=str(root), out=str(tmp_path / "run"))
    m = train(cfg, progress=False, log=None)
    assert m["dataset"]["name"] == "braille-analog" and m["dataset"]["input_shape"] == [4]
    assert m["model"]["layers"][0]["out_features"] == 16
    assert m["final"]["best_epoch"] in (1, 2)


def test_batches_drop_last():
    import torch

    from pipesdfa.data.registry import FrameTensorDataset
    from pipesdfa.training.loop import batches

    ds = FrameTensorDataset(torch.zeros(108, 3, 4), torch.arange(108) % 27)
    order = torch.randperm(108, generator=torch.Generator().manual_seed(0))
    assert [len(y) for _, y in batches(ds, order, 50)] == [50, 50, 8]
    kept = [y for _, y in batches(ds, order, 50, drop_last=True)]
    assert [len(y) for y in kept] == [50, 50]
    assert torch.cat(kept).tolist() == (order[:100] % 27).tolist()
    assert [len(y) for _, y in batches(ds, order[:20], 50, drop_last=True)] == [20]  # fewer than a batch: kept


def test_train_cli_data_option_reaches_the_loader(raw, tmp_path, capsys):
    import json

    from pipesdfa.cli.main import main
    from pipesdfa.cli.train import parse_data_options

    assert parse_data_options(["stats=all", "repeat=2", "taxels=1,2", "x=0.5", "flag=true"]) == {
        "stats": "all", "repeat": 2, "taxels": [1, 2], "x": 0.5, "flag": True}
    with pytest.raises(UserError, match="expected KEY=VALUE"):
        parse_data_options(["stats"])
    root, _, _ = raw
    out = tmp_path / "run"
    rc = main(["train", "--dataset", "braille-analog", "--model", "mlp", "--hidden", "8", "--neuron", "if",
               "--T", "12", "--epochs", "1", "--data-dir", str(root), "--data-option", "stats=all",
               "--data-option", "taxels=0,3,5", "--method", "sdfa", "--sdfa-variant", "centered-lr3",
               "--out", str(out), "--no-progress"])
    assert rc == 0
    m = json.loads((out / "metrics.json").read_text())
    assert flat_view(m["config"])["data_options"] == {"stats": "all", "taxels": [0, 3, 5]}
    assert m["dataset"]["stats"] == "all" and m["dataset"]["input_shape"] == [3]
    assert m["rule"]["variant"] == "centered-lr3"
    assert main(["train", "--dataset", "braille-analog", "--model", "mlp", "--T", "12", "--epochs", "1",
                 "--data-dir", str(root), "--data-option", "stats=none", "--out", str(tmp_path / "r2"),
                 "--no-progress"]) == 2
    assert "stats 'none' unknown" in capsys.readouterr().err


def test_unknown_data_option_is_refused_by_name(raw, tmp_path, capsys):
    from pipesdfa.cli.main import main

    root, _, _ = raw
    rc = main(["train", "--workload", "braille-analog-mlp", "--T", "12", "--epochs", "1", "--data-dir", str(root),
               "--data-option", "stat=all", "--out", str(tmp_path / "r"), "--no-progress"])
    assert rc == 2
    err = capsys.readouterr().err
    assert "dataset 'braille-analog' has no option 'stat' (did you mean 'stats'?)" in err
    assert not (tmp_path / "r").exists()


from hypothesis import given, strategies as st  # noqa: E402
from pipesdfa.training.config import flat_view

_KEY = st.from_regex(r"[a-z][a-z_]{0,8}", fullmatch=True)
_WORD = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True).filter(lambda w: w not in ("true", "false")
                                                                      and not w.isdigit())
_VALUE = st.one_of(st.integers(-10**6, 10**6), st.booleans(), _WORD,
                   st.lists(st.integers(0, 99), min_size=2, max_size=4))


def _text(v) -> str:
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, list):
        return ",".join(map(str, v))
    return str(v)


@given(st.dictionaries(_KEY, _VALUE, max_size=4))
def test_parse_data_options_round_trip(opts):
    from pipesdfa.cli.train import parse_data_options

    assert parse_data_options([f"{k}={_text(v)}" for k, v in opts.items()]) == opts


@given(st.text(max_size=12).filter(lambda t: "=" not in t or t.startswith("=") or t.endswith("=")))
def test_parse_data_options_refuses_what_is_not_key_value(item):
    from pipesdfa.cli.train import parse_data_options

    if item.partition("=")[0].strip() and item.partition("=")[2]:
        return  # (a key and a value after all)
    with pytest.raises(UserError, match="expected KEY=VALUE"):
        parse_data_options([item])
