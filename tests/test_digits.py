"""The embedded digits dataset: saccade events, determinism, split, frames."""

from __future__ import annotations

import numpy as np
import torch

from pipesdfa.data.digits import digits_events, saccade_path, simulate_saccade_events, split_indices
from pipesdfa.data.events import check_sorted
from pipesdfa.data.registry import dataset_names, load_dataset


def test_saccade_path_is_a_closed_triangle():
    p = saccade_path(1.5, 4)
    assert p.shape == (13, 2)
    np.testing.assert_allclose(p[0], p[-1])
    np.testing.assert_allclose(p[:-1].mean(axis=0), 0, atol=0.2)


def test_a_moving_edge_emits_on_and_off_events_by_threshold():
    # A single bright pixel: as the sensor moves, pixels brighten (ON) and darken (OFF).
    img = np.zeros((1, 3, 3))
    img[0, 1, 1] = 1.0
    (ev,) = simulate_saccade_events(img, margin=2, amplitude=1.0, substeps=4, theta=0.5, noise_hz=0.0)
    assert ev.shape[0] > 0 and check_sorted(ev)
    assert set(np.unique(ev["p"])) == {0, 1}
    # the path is closed, so every pixel's log-intensity ends where it started: its reference
    # level moved by (ON - OFF) thresholds and must be back within one threshold, i.e. ON == OFF
    net = np.zeros((7, 7), dtype=int)
    np.add.at(net, (ev["y"], ev["x"]), np.where(ev["p"] == 1, 1, -1))
    assert (net == 0).all()
    assert ev["t"].min() >= 0 and ev["t"].max() < 3 * 100_000


def test_events_are_deterministic_for_a_seed():
    img = np.random.default_rng(0).random((3, 8, 8))
    a = simulate_saccade_events(img, seed=5)
    b = simulate_saccade_events(img, seed=5)
    c = simulate_saccade_events(img, seed=6)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c))


def test_dataset_shapes_split_and_frames():
    assert "digits" in dataset_names()
    b = load_dataset("digits", T=5)
    assert len(b.train) == 1437 and len(b.test) == 360 and b.input_shape == (2, 12, 12)
    x, y = b.train[0]
    assert x.shape == (5, 2, 12, 12) and x.dtype == torch.float32 and 0 <= y < 10
    events, labels, size = digits_events(0)
    tr, te = split_indices(labels)
    assert len(set(tr) & set(te)) == 0
    # stratified: every class in both splits, in proportion
    for c in range(10):
        assert abs((labels[te] == c).mean() - (labels == c).mean()) < 0.01
    # frames hold every event of the sample
    i = int(tr[0])
    assert float(b.train.frames[0].sum()) == events[i].shape[0]


def test_max_train_and_max_test_keep_the_first_samples():
    full = load_dataset("digits", T=3)
    b = load_dataset("digits", T=3, max_train=5, max_test=7)
    assert len(b.train) == 5 and len(b.test) == 7
    assert torch.equal(b.train.frames, full.train.frames[:5])
    import pytest

    from pipesdfa.util.errors import UserError

    with pytest.raises(UserError, match="max_train"):
        load_dataset("digits", T=3, max_train=0)
