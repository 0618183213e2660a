"""tonic adapters: a duck-typed fake dataset (and tonic itself when importable) through our framing."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pipesdfa.data.events import make_events
from pipesdfa.data.frames import events_to_frames
from pipesdfa.data.tonic import from_tonic, tonic_events
from pipesdfa.util.errors import UserError

TONIC_DTYPE = np.dtype([("x", np.int16), ("y", np.int16), ("t", np.int64), ("p", np.int8)])  # tonic's DVS order


class FakeTonic:
    """What a tonic dataset offers: ``len``, ``[i] -> (events, target)``, ``sensor_size``."""

    sensor_size = (6, 4, 2)

    def __init__(self, n=5):
        rng = np.random.default_rng(0)
        self.samples = []
        for i in range(n):
            m = 40 + i
            ev = np.zeros(m, dtype=TONIC_DTYPE)
            ev["x"], ev["y"] = rng.integers(0, 6, m), rng.integers(0, 4, m)
            ev["t"], ev["p"] = np.sort(rng.integers(0, 10_000, m)), rng.integers(0, 2, m)
            self.samples.append((ev, i % 3))

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, i):
        return self.samples[i]


def test_fake_tonic_dataset_frames_like_our_readers(tmp_path):
    ds = FakeTonic()
    frames = from_tonic(ds, T=4, cache_dir=tmp_path / "cache")
    assert len(frames) == 5 and frames.labels.tolist() == [0, 1, 2, 0, 1]
    x, y = frames[2]
    ev, _ = ds[2]
    ours = make_events(ev["t"], ev["x"], ev["y"], ev["p"])
    want = events_to_frames(ours, (6, 4, 2), 4, "number")
    assert x.shape == (4, 2, 4, 6) and y == 2
    assert torch.equal(x, torch.from_numpy(want)) and float(x.sum()) == len(ev)
    again = from_tonic(ds, T=4, cache_dir=tmp_path / "cache")  # served from the cache
    assert torch.equal(again[2][0], x) and any((tmp_path / "cache").rglob("*"))


def test_one_dimensional_sensor_and_float_times():
    ev = np.zeros(3, dtype=[("t", np.float64), ("x", np.int16), ("p", np.int8)])
    ev["t"], ev["x"], ev["p"] = [0.0, 1.0e3, 2.0e3], [0, 2, 2], [1, 1, 0]

    class Audio:
        sensor_size = (3, 1, 2)
        targets = [7]

        def __len__(self):
            return 1

        def __getitem__(self, i):
            return ev, 7

    x, y = from_tonic(Audio(), T=1)[0]
    # one bin, channels x (ON, OFF): ch0 ON 1; ch2 ON 1, OFF 1
    assert y == 7 and x.tolist() == [[1.0, 0.0, 0.0, 0.0, 1.0, 1.0]]


def test_bad_events_and_missing_sensor_size_are_named():
    with pytest.raises(UserError, match="missing t"):
        tonic_events(np.zeros(2, dtype=[("x", np.int16)]))

    class NoSize(FakeTonic):
        sensor_size = None

    with pytest.raises(UserError, match="give sensor_size"):
        from_tonic(NoSize(), T=3)


def test_events_in_tonic_own_dtype_when_importable():
    """With tonic installed: events in the dtype its NMNIST class declares, framed by our adapter."""
    tonic = pytest.importorskip("tonic")
    cls = tonic.datasets.NMNIST
    dtype, size = np.dtype(cls.dtype), tuple(cls.sensor_size)
    ev = np.zeros(4, dtype=dtype)
    ev["x"], ev["y"], ev["t"], ev["p"] = [0, 33, 5, 5], [0, 33, 7, 7], [10, 20, 30, 40], [1, 0, 1, 1]

    class Wrapped:
        sensor_size = size

        def __len__(self):
            return 1

        def __getitem__(self, i):
            return ev, 3

    x, y = from_tonic(Wrapped(), T=2)[0]
    assert y == 3 and x.shape == (2, 2, 34, 34) and float(x.sum()) == 4
    assert float(x[:, :, 7, 5].sum()) == 2  # [T, P, H, W]: y indexes rows
