"""Shifts and few-shot subsets as dataset options: what the loaders and `data info --shift` do."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from pipesdfa.cli.main import main
from pipesdfa.data.datasets import braille_taxels, encode_braille, load_braille, load_nmnist
from pipesdfa.data.digits import digits_events, load_digits_dataset, split_indices
from pipesdfa.data.events import make_events
from pipesdfa.data.frames import events_to_frames
from pipesdfa.data.shifting import noise_index, per_class_indices
from pipesdfa.data.shifts import parse_shift
from _writers import random_events, write_braille_raw, write_nmnist_tree
from pipesdfa.util.errors import UserError


def test_digits_shift_acts_on_the_events_before_framing():
    plain = load_digits_dataset(T=4)
    shifted = load_digits_dataset(T=4, shift="polarity-swap")
    # polarity swap exchanges the two polarity planes of every frame exactly
    assert torch.equal(shifted.test.frames[:, :, [1, 0]], plain.test.frames)
    assert shifted.meta["shift"] == "polarity-swap" and "shift" not in plain.meta
    # the frames of sample i are the frames of its shifted events, drawn with the split's noise index
    events, labels, size = digits_events(0)
    tr, te = split_indices(labels)
    sh = parse_shift("background-activity:rate_hz=50", seed=3)
    noisy = load_digits_dataset(T=4, shift="background-activity:rate_hz=50", shift_seed=3)
    want = events_to_frames(sh.events(events[te[5]], size, noise_index("test", 5)), size, 4, "number")
    assert np.array_equal(noisy.test.frames[5].numpy(), want)
    other_seed = load_digits_dataset(T=4, shift="background-activity:rate_hz=50", shift_seed=4)
    assert not torch.equal(other_seed.test.frames, noisy.test.frames)


def test_samples_per_class_is_a_seeded_stratified_draw_of_the_shifted_split():
    full = load_digits_dataset(T=4, shift="rotation")
    few = load_digits_dataset(T=4, shift="rotation", samples_per_class=3, subset_seed=1)
    assert len(few.train) == 30 and torch.equal(torch.bincount(few.train.labels), torch.full((10,), 3))
    assert len(few.test) == len(full.test)  # the test split is never cut
    # each kept sample carries the same shifted frames as in the whole split (noise by position in the split)
    keep = per_class_indices(full.train.labels.numpy(), 3, 1)
    assert torch.equal(few.train.frames, full.train.frames[torch.from_numpy(keep)])
    again = load_digits_dataset(T=4, shift="rotation", samples_per_class=3, subset_seed=1)
    assert torch.equal(again.train.frames, few.train.frames)
    other = load_digits_dataset(T=4, shift="rotation", samples_per_class=3, subset_seed=2)
    assert not torch.equal(other.train.frames, few.train.frames)  # another seed draws other samples
    with pytest.raises(UserError, match=r"--samples-per-class 500 is larger than digits' training split: "
                                        r"class '0' has 142"):
        load_digits_dataset(T=4, samples_per_class=500)


def test_per_class_indices_golden_and_nested():
    labels = np.array([0, 1, 0, 1, 0, 2, 2])
    k1, k2 = per_class_indices(labels, 1, 0), per_class_indices(labels, 2, 0)
    assert sorted(labels[k2].tolist()) == [0, 0, 1, 1, 2, 2] and len(k1) == 3
    assert set(k1) <= set(k2) and sorted(labels[k1].tolist()) == [0, 1, 2]  # nested: K=1 is part of K=2
    with pytest.raises(UserError, match="class '1' has 2 samples"):
        per_class_indices(labels, 3, 0)


@pytest.fixture
def nmnist_root(tmp_path):
    root = tmp_path / "nm"
    write_nmnist_tree(root, {"Train": [(d % 10, random_events(60, (34, 34, 2), 300_000, d)) for d in range(20)],
                             "Test": [(d, random_events(40, (34, 34, 2), 300_000, 100 + d)) for d in (3, 7)]})
    return root


def test_real_event_loader_shift_is_in_the_cache_key(nmnist_root, tmp_path):
    cache = tmp_path / "cache"
    plain = load_nmnist(T=3, data_dir=nmnist_root, cache_dir=cache)
    moved = load_nmnist(T=3, data_dir=nmnist_root, cache_dir=cache, shift="translation:dx=5,dy=0")
    again = load_nmnist(T=3, data_dir=nmnist_root, cache_dir=cache, shift="translation:dx=5,dy=0")
    assert plain.meta["cache"] != moved.meta["cache"] and moved.meta["cache"] == again.meta["cache"]
    x0, x1 = plain.train.frames.float().sum(1), moved.train.frames.float().sum(1)  # over time (slices move)
    assert torch.equal(x1[..., 5:], x0[..., :-5]) and x1[..., :5].sum() == 0  # 5 pixels right, those leaving dropped
    assert torch.equal(again.train.frames, moved.train.frames)
    few = load_nmnist(T=3, data_dir=nmnist_root, cache_dir=cache, samples_per_class=2, subset_seed=0)
    assert len(few.train) == 20 and few.meta["samples_per_class"] == 2
    with pytest.raises(UserError, match="class '0' has 2 samples"):
        load_nmnist(T=3, data_dir=nmnist_root, cache_dir=cache, samples_per_class=3)
    with pytest.raises(UserError, match="tactile data"):
        load_nmnist(T=3, data_dir=nmnist_root, cache_dir=cache, shift="time-warp")


def _braille_root(tmp_path):
    from pipesdfa.data.formats.braille_pkl import LETTERS

    rng = np.random.default_rng(0)
    data = [255 - np.abs(np.cumsum(rng.normal(0, 5, (40, 12)), axis=0)) for i in range(27 * 5)]
    write_braille_raw(tmp_path / "tutorial5_braille_spiking_data.pkl.gz", data, [LETTERS[i // 5] for i in range(135)])
    return tmp_path


def test_braille_shift_acts_on_raw_taxels_before_encoding(tmp_path):
    root = _braille_root(tmp_path)
    raw = braille_taxels(root)
    warped = braille_taxels(root, shift=parse_shift("time-warp:speed=2"))
    assert [w.shape[0] for w in warped["train"]] == [20] * len(raw["train"])
    b = load_braille(T=40, data_dir=root, cache_dir=False, shift="dead-taxel:taxel=4")
    dead = parse_shift("dead-taxel:taxel=4")
    want = encode_braille([dead.taxels(x, noise_index("test", i)) for i, x in enumerate(raw["test"])], 1.0)
    assert np.array_equal(b.test.source.events(2), want[2])
    assert float(b.train.frames.float()[:, :, 8:10].sum()) == 0  # taxel 4's ON and OFF columns
    with pytest.raises(UserError, match="event cameras"):
        load_braille(T=40, data_dir=root, cache_dir=False, shift="hot-pixels")


def test_data_info_shift(capsys, tmp_path):
    rc = main(["data", "info", "digits", "--shift", "contrast-threshold:factor=2", "--json"])
    info = json.loads(capsys.readouterr().out)
    assert rc == 0 and info["shift"] == "contrast-threshold:factor=2" and info["kind"] == "events"
    tr = info["splits"]["train"]
    assert tr["shifted"]["samples"] == tr["unshifted"]["samples"] == 1437
    assert tr["shifted"]["events_per_sample"] == pytest.approx(tr["unshifted"]["events_per_sample"] / 2, rel=0.02)
    rc = main(["data", "info", "digits", "--shift", "hot-pixels"])
    out = capsys.readouterr().out
    assert rc == 0 and "defective pixels" in out and "events_per_sample" in out and "%" in out
    root = _braille_root(tmp_path)
    assert main(["data", "info", "braille", "--data-dir", str(root), "--shift", "time-warp:speed=2", "--json"]) == 0
    b = json.loads(capsys.readouterr().out)["splits"]["test"]
    assert b["shifted"]["length"] == 20 and b["unshifted"]["length"] == 40
    assert main(["data", "info", "digits", "--shift", "rotaton"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "did you mean 'rotation'" in err


def test_shift_index_separates_splits():
    ev = make_events([0, 100_000], [0, 1], [0, 0], [1, 0])
    sh = parse_shift("background-activity:rate_hz=100")
    a = sh.events(ev, (12, 12, 2), noise_index("train", 0))
    b = sh.events(ev, (12, 12, 2), noise_index("test", 0))
    assert not np.array_equal(a, b)
