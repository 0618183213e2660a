"""Loaders on tiny trees written in each official format: shapes, labels, splits, cache, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from pipesdfa.data.datasets import balanced_head, encode_braille, load_braille, load_dvsgesture, load_ncaltech101, load_nmnist, load_shd
from pipesdfa.data.formats.braille_pkl import sigma_delta_encode
from pipesdfa.data.layouts import stratified_split
from _writers import (random_events, write_atis_bin, write_braille_events, write_braille_raw,
                                   write_dvsgesture_tree, write_ncaltech_tree, write_nmnist_tree, write_shd_h5)
from pipesdfa.util.errors import UserError


@pytest.fixture
def nmnist_root(tmp_path):
    root = tmp_path / "nm"
    samples = {"Train": [(d % 10, random_events(50 + d, (34, 34, 2), 300_000, d)) for d in range(12)],
               "Test": [(d, random_events(40, (34, 34, 2), 300_000, 100 + d)) for d in (3, 7)]}
    write_nmnist_tree(root, samples)
    return root


def test_nmnist_official_layout(nmnist_root, tmp_path):
    b = load_nmnist(T=5, data_dir=nmnist_root, cache_dir=tmp_path / "cache")
    assert b.input_shape == (2, 34, 34) and b.num_classes == 10 and len(b.train) == 12 and len(b.test) == 2
    x, y = b.train[0]
    assert x.dtype == torch.float32 and x.shape == (5, 2, 34, 34)
    # files are walked digit by digit: Train/0/00001.bin (50 events) and Train/0/00011.bin
    assert y == 0 and float(x.sum()) == 50
    assert sorted(int(b.train[i][1]) for i in range(12)) == sorted(d % 10 for d in range(12))
    assert b.test[1][1] == 7


def test_max_train_keeps_every_class_of_a_class_sorted_list(nmnist_root, tmp_path):
    # the file list is Train/0/..., Train/0/..., Train/1/...: the first 4 files would be classes 0, 0, 1, 2
    b = load_nmnist(T=2, data_dir=nmnist_root, cache_dir=tmp_path / "cache", max_train=4, max_test=1)
    assert len(b.train) == 4 and len(b.test) == 1
    assert sorted(int(b.train[i][1]) for i in range(4)) == [0, 1, 2, 3]
    # the first file of class 0 (50 events), as in the full split
    assert int(b.train[0][1]) == 0 and float(b.train[0][0].sum()) == 50


@settings(max_examples=200, deadline=None)
@given(labels=st.lists(st.integers(0, 5), min_size=1, max_size=60), n=st.integers(1, 70))
def test_balanced_head_properties(labels, n):
    lab = np.array(labels)
    keep = balanced_head(lab, n)
    assert len(keep) == min(n, len(lab))
    assert list(keep) == sorted(set(keep.tolist()))  # sorted, no repeats
    counts = {c: int((lab[keep] == c).sum()) for c in set(labels)}
    for c, k in counts.items():  # each class contributes its first k samples, in order
        assert list(keep[lab[keep] == c]) == list(np.flatnonzero(lab == c)[:k])
    # balanced: a class has fewer than another only when it ran out of samples
    top = max(counts.values())
    for c, k in counts.items():
        assert k >= top - 1 or k == int((lab == c).sum())


def test_nmnist_slayer_layout(tmp_path):
    d = tmp_path / "flat"
    d.mkdir()
    for i in (1, 2, 3):
        write_atis_bin(d / f"{i}.bs2", random_events(10 * i, (34, 34, 2), 1000, i))
    write_atis_bin(d / "60001.bs2", random_events(7, (34, 34, 2), 1000, 9))
    (d / "train1K.txt").write_text("#sample #class\n1\t5\n2\t0\n3\t4\n")
    (d / "test100.txt").write_text("#sample #class\n60001\t7\n")
    b = load_nmnist(T=2, data_dir=d, cache_dir=False)
    assert [b.train[i][1] for i in range(3)] == [5, 0, 4] and b.test[0][1] == 7
    assert float(b.train[2][0].sum()) == 30


def test_nmnist_missing_lists_what_was_expected(tmp_path):
    with pytest.raises(UserError, match=r"expected .*Train/<digit>/<n>\.bin.*Mendeley"):
        load_nmnist(T=2, data_dir=tmp_path)
    with pytest.raises(UserError, match="--data-dir"):
        load_nmnist(T=2, data_dir=None)


def test_cache_keyed_by_T_and_reused(nmnist_root, tmp_path):
    cache = tmp_path / "cache"
    b5 = load_nmnist(T=5, data_dir=nmnist_root, cache_dir=cache, in_memory=False)
    x5 = b5.train[3][0]
    b4 = load_nmnist(T=4, data_dir=nmnist_root, cache_dir=cache, in_memory=False)
    assert b4.train[3][0].shape[0] == 4
    assert b5.train.cache.dir != b4.train.cache.dir
    p = b5.train.cache.path("train", 3)
    assert p.is_file() and (b5.train.cache.dir / "params.json").is_file()
    # a cached entry is what is served next time (write a marker to prove it is read)
    marker = np.zeros((5, 2, 34, 34), np.uint8)
    marker[0, 0, 0, 0] = 9
    np.save(p, marker)
    again = load_nmnist(T=5, data_dir=nmnist_root, cache_dir=cache, in_memory=False)
    assert float(again.train[3][0].sum()) == 9
    # an unreadable entry is recomputed and rewritten
    p.write_bytes(b"garbage")
    assert torch.equal(again.train[3][0], x5)
    assert np.load(p).sum() == x5.sum()
    assert not list(cache.rglob("*.tmp"))


def test_cache_not_left_half_written(nmnist_root, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    b = load_nmnist(T=3, data_dir=nmnist_root, cache_dir=cache, in_memory=False)

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(np, "save", boom)
    with pytest.raises(RuntimeError):
        b.train[0]
    assert not list(cache.rglob("*.npy")) and not list(cache.rglob("*.tmp"))


def test_dataloader_workers(nmnist_root, tmp_path):
    from pipesdfa.data.dataset import make_loader

    b = load_nmnist(T=3, data_dir=nmnist_root, cache_dir=tmp_path / "c")
    xs = torch.cat([x for x, _ in make_loader(b.train, 4, shuffle=False, workers=2)])
    assert xs.shape == (12, 3, 2, 34, 34)
    assert torch.equal(xs[5], b.train[5][0])


def test_ncaltech_grid_and_split(tmp_path):
    root = tmp_path / "Caltech101"
    samples = []
    for c, n in (("BACKGROUND_Google", 5), ("accordion", 5), ("airplanes", 10)):
        for k in range(n):
            ev = random_events(80, (240, 180, 2), 300_000, seed=len(samples))
            ev["x"][0], ev["y"][0] = 239, 179  # the far corner stays on the grid
            samples.append((c, ev))
    # an event outside the 240x180 extent is cropped away
    samples[0][1]["x"][1] = 300
    write_ncaltech_tree(root, samples)
    b = load_ncaltech101(T=3, data_dir=tmp_path, cache_dir=False)
    assert b.input_shape == (2, 128, 128) and b.class_names == ["BACKGROUND_Google", "accordion", "airplanes"]
    assert len(b.train) == 16 and len(b.test) == 4  # 1 + 1 + 2 test samples
    xs = [b.train[i][0] for i in range(len(b.train))]
    assert all(float(x[:, :, :19].sum()) == 0 and float(x[:, :, 19 + 90:].sum()) == 0 for x in xs)
    assert all(float(x[:, :, :, :4].sum()) == 0 for x in xs)
    c = load_ncaltech101(T=3, data_dir=tmp_path, cache_dir=False, split_seed=1)
    assert sorted(map(str, c.test.source.items)) != sorted(map(str, b.test.source.items))


def test_stratified_split_properties():
    labels = np.repeat(np.arange(27), 50)
    tr, te = stratified_split(labels, 0.2, 0)
    assert len(te) == 270 and len(set(tr) | set(te)) == 1350 and not set(tr) & set(te)
    assert np.all(np.bincount(labels[te]) == 10)
    tr2, te2 = stratified_split(labels, 0.2, 0)
    assert np.array_equal(te, te2)


def test_shd(tmp_path):
    rng = np.random.default_rng(0)
    tr = [(np.sort(rng.uniform(0, 1.3, 30)), rng.integers(0, 700, 30)) for _ in range(4)]
    write_shd_h5(tmp_path / "shd_train.h5", tr, [0, 5, 19, 5], keys=[f"w{i}" for i in range(20)])
    write_shd_h5(tmp_path / "shd_test.h5", tr[:2] + [(np.array([]), np.array([]))], [1, 2, 3])
    b = load_shd(T=10, data_dir=tmp_path, cache_dir=False)
    assert b.input_shape == (700,) and b.num_classes == 20 and b.class_names[19] == "w19"
    x, y = b.train[2]
    assert x.shape == (10, 700) and y == 19 and float(x.sum()) == 30
    assert float(b.test[2][0].sum()) == 0


def test_shd_packed_archive_named(tmp_path):
    (tmp_path / "shd_train.h5.zip").write_bytes(b"")
    with pytest.raises(UserError, match=r"shd_train\.h5\.zip.*unzip"):
        load_shd(T=4, data_dir=tmp_path)


def _gesture_tree(root):
    ev1 = random_events(3000, (128, 128, 2), 6_000_000, 1)
    ev2 = random_events(2000, (128, 128, 2), 4_000_000, 2)
    trials = {"user01_fluorescent": (ev1, [(1, 0, 2_000_000), (9, 1_500_000, 4_000_000), (11, 4_000_000, 6_000_000)]),
              "user24_led": (ev2, [(3, 1_000_000, 3_000_000)])}
    write_dvsgesture_tree(root, trials, ["user01_fluorescent"], ["user24_led"])
    return ev1, ev2


def test_dvsgesture_cutting(tmp_path):
    root = tmp_path / "DvsGesture"
    ev1, ev2 = _gesture_tree(root)
    b = load_dvsgesture(T=4, data_dir=tmp_path, cache_dir=False)
    assert b.num_classes == 11 and len(b.train) == 3 and len(b.test) == 1
    assert [b.train[i][1] for i in range(3)] == [0, 8, 10]
    # an overlapping window (user22_led style) keeps the events of both gestures
    n_win = int(((ev1["t"] >= 1_500_000) & (ev1["t"] < 4_000_000)).sum())
    assert float(b.train[1][0].sum()) == n_win
    assert b.train[1][0].shape == (4, 2, 128, 128)
    ev = b.train.source.events(1)
    assert ev["t"].min() >= 0 and ev["t"].max() < 2_500_000
    d = load_dvsgesture(T=4, data_dir=tmp_path, cache_dir=False, spatial_factor=4)
    assert d.input_shape == (2, 32, 32) and float(d.test[0][0].sum()) == int(
        ((ev2["t"] >= 1_000_000) & (ev2["t"] < 3_000_000)).sum())


def test_dvsgesture_missing_trial_file(tmp_path):
    root = tmp_path / "DvsGesture"
    _gesture_tree(root)
    (root / "user24_led_labels.csv").unlink()
    with pytest.raises(UserError, match=r"lacks 1 files.*user24_led_labels\.csv"):
        load_dvsgesture(T=4, data_dir=tmp_path)


def test_braille_raw_and_events(tmp_path):
    from pipesdfa.data.formats.braille_pkl import LETTERS

    rng = np.random.default_rng(0)
    data = [255 - np.abs(np.cumsum(rng.normal(0, 5, (76 + i % 2, 12)), axis=0)) for i in range(27 * 5)]
    letters = [LETTERS[i // 5] for i in range(27 * 5)]
    write_braille_raw(tmp_path / "tutorial5_braille_spiking_data.pkl.gz", data, letters)
    b = load_braille(T=51, data_dir=tmp_path, threshold=2.0, cache_dir=False)
    assert b.input_shape == (24,) and b.num_classes == 27 and len(b.train) == 108 and len(b.test) == 27
    x, y = b.train[0]
    assert x.shape == (51, 24)
    # the batched encoder equals the per-sample encoder
    one = sigma_delta_encode(data[7], 2.0)
    assert np.array_equal(encode_braille(data, 2.0)[7], one)
    # ON/OFF interleaving: column 2k = taxel k ON, 2k+1 = taxel k OFF (within the 51 x 25 ms window)
    src = b.train.source
    ev = src.events(0)
    ev = ev[ev["t"] < 51 * 25_000]
    assert float(x[:, 0].sum()) == int(((ev["x"] == 0) & (ev["p"] == 1)).sum())
    assert float(x[:, 1].sum()) == int(((ev["x"] == 0) & (ev["p"] == 0)).sum())
    # the authors' event pickle for that threshold is preferred when present
    write_braille_events(tmp_path / "data_braille_letters_th_2.pkl",
                         [(LETTERS[i % 27], [([0.01 * i], [])] + [([], [])] * 11) for i in range(54)])
    e = load_braille(T=51, data_dir=tmp_path, threshold=2, cache_dir=False)
    assert len(e.train) + len(e.test) == 54
    r = load_braille(T=51, data_dir=tmp_path, threshold=2, source="raw", cache_dir=False)
    assert len(r.train) == 108


def test_braille_not_found(tmp_path):
    with pytest.raises(UserError, match=r"data_braille_letters_th_1\.pkl.*tutorial5"):
        load_braille(T=5, data_dir=tmp_path)


def test_registry_and_materialized_equals_lazy(nmnist_root, tmp_path):
    from pipesdfa.data.registry import FrameTensorDataset, dataset_names, load_dataset

    assert {"nmnist", "ncaltech101", "shd", "dvsgesture", "braille", "digits"} <= set(dataset_names())
    fast = load_dataset("nmnist", T=4, data_dir=str(nmnist_root), cache_dir=tmp_path / "c")
    lazy = load_dataset("nmnist", T=4, data_dir=str(nmnist_root), cache_dir=tmp_path / "c", materialize=False)
    assert isinstance(fast.train, FrameTensorDataset) and not isinstance(lazy.train, FrameTensorDataset)
    assert fast.train.frames.dtype == torch.uint8
    for i in range(len(lazy.train)):
        assert torch.equal(fast.train[i][0], lazy.train[i][0]) and fast.train[i][1] == lazy.train[i][1]
    assert fast.meta["layout"] == "official" and "GridFramer" in fast.meta["framing"]


def test_train_command_on_nmnist_tree(nmnist_root, tmp_path, monkeypatch):
    """`pipesdfa train --workload nmnist-mlp2 --data-dir ROOT` finds the files (1 tiny epoch)."""
    from pipesdfa.cli.main import main

    monkeypatch.setenv("PIPESDFA_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "run"
    rc = main(["train", "--workload", "nmnist-mlp2", "--data-dir", str(nmnist_root), "--epochs", "1",
               "--hidden", "16", "--batch", "4", "--out", str(out), "--no-progress"])
    assert rc == 0
    import json

    m = json.loads((out / "metrics.json").read_text())
    assert m["dataset"]["train"] == 12 and m["dataset"]["input_shape"] == [2, 34, 34]
    rc = main(["train", "--workload", "nmnist-mlp2", "--data-dir", str(tmp_path / "nowhere"), "--epochs", "1",
               "--out", str(tmp_path / "r2"), "--no-progress"])
    assert rc == 2


def test_dvsgesture_lazy_split_is_cached_in_file_order(tmp_path, monkeypatch):
    import pipesdfa.data.datasets as d

    _gesture_tree(tmp_path / "DvsGesture")
    calls = []
    real = d.read_aedat31
    monkeypatch.setattr(d, "read_aedat31", lambda path: calls.append(path) or real(path))
    b = load_dvsgesture(T=3, data_dir=tmp_path, cache_dir=tmp_path / "c", in_memory=False)
    assert len(calls) == 2  # one parse per trial for 4 samples
    assert all(b.train.cache.path("train", i).is_file() for i in range(3))


def test_trainer_lazy_dataloader_path(nmnist_root, tmp_path):
    """A split left on disk (not materialised) trains through the trainer's DataLoader path,
    with worker processes reading the frame cache."""
    from pipesdfa.training.loop import TrainConfig, train

    cfg = TrainConfig.from_flat(dataset="nmnist", model="mlp", hidden=(16,), T=3, batch=4, epochs=1, data_dir=str(nmnist_root),
                      data_options={"materialize": False, "cache_dir": str(tmp_path / "cache")}, num_workers=2,
                      out=str(tmp_path / "run"))
    m = train(cfg, progress=False, log=None)
    assert m["dataset"]["train"] == 12 and len(list((tmp_path / "cache").rglob("*.npy"))) == 14


def test_info_every_format(tmp_path):
    from pipesdfa.data.info import dataset_info

    # DVS Gesture: events per sample = events inside each labels.csv window
    ev1, ev2 = _gesture_tree(tmp_path / "g" / "DvsGesture")
    info = dataset_info("dvsgesture", tmp_path / "g")
    win = [(0, 2_000_000), (1_500_000, 4_000_000), (4_000_000, 6_000_000)]
    assert info["sensor_size"] == [128, 128, 2]
    assert info["splits"]["train"]["events"] == sum(int(((ev1["t"] >= a) & (ev1["t"] < b)).sum()) for a, b in win)
    assert info["splits"]["train"]["classes"] == {"hand_clapping": 1, "air_drums": 1, "other_gestures": 1}
    # SHD: t_max in us from float16 seconds
    write_shd_h5(tmp_path / "s" / "shd_train.h5", [(np.array([0.5, 1.25]), np.array([1, 2]))], [4])
    write_shd_h5(tmp_path / "s" / "shd_test.h5", [(np.array([0.25]), np.array([3]))], [7])
    info = dataset_info("shd", tmp_path / "s")
    assert info["splits"]["train"] == {"samples": 1, "events": 2, "t_max_us": 1_250_000, "classes": {"class-4": 1}}
    # N-Caltech101: the split covers every file once
    write_ncaltech_tree(tmp_path / "c", [(c, random_events(5, (240, 180, 2), 1000, k)) for k, c in
                                         enumerate(["a", "a", "a", "b", "b"])])
    info = dataset_info("ncaltech101", tmp_path / "c")
    assert info["splits"]["train"]["samples"] + info["splits"]["test"]["samples"] == 5
    assert info["splits"]["train"]["events"] + info["splits"]["test"]["events"] == 25


def test_nmnist_folds_pool_train_and_test(tmp_path):
    """--data-option folds=K,fold=k: the test split is one stratified fold of train+test pooled."""
    d = tmp_path / "flat"
    d.mkdir()
    names = list(range(1, 9)) + [60001, 60002]
    for j, i in enumerate(names):
        write_atis_bin(d / f"{i}.bs2", random_events(5 + j, (34, 34, 2), 1000, j))
    (d / "train1K.txt").write_text("#sample #class\n" + "".join(f"{i}\t{i % 2}\n" for i in names[:8]))
    (d / "test100.txt").write_text("#sample #class\n60001\t1\n60002\t0\n")
    seen = []
    for fold in range(5):
        b = load_nmnist(T=2, data_dir=d, cache_dir=False, folds=5, fold=fold)
        assert len(b.train) == 8 and len(b.test) == 2
        seen += [int(b.test[i][0].sum()) for i in range(2)]
        assert sorted(int(b.test[i][1]) for i in range(2)) == [0, 1]  # stratified
    assert sorted(seen) == sorted(5 + j for j in range(10))  # every sample tested once
    with pytest.raises(UserError, match="nmnist's folds: fold must be"):
        load_nmnist(T=2, data_dir=d, cache_dir=False, folds=5, fold=5)
