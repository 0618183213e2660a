"""Golden tests on the real files in ../shared/data (skipped cleanly when absent)."""

from __future__ import annotations

import csv
import hashlib

import numpy as np

from pipesdfa.data.datasets import load_braille, load_nmnist
from pipesdfa.data.formats.aedat31 import parse_aedat31
from pipesdfa.data.formats.atis_bin import read_atis_bin
from pipesdfa.data.formats.braille_pkl import LETTERS, read_braille_raw
from pipesdfa.data.frames import events_to_frames
from _writers import aedat31_bytes

NMNIST = "nmnist/slayerPytorch_NMNISTsmall"
GESTURE = "dvs_gesture/slayerPytorch_binarySpikeTestFiles"
BRAILLE = "braille/spytorch_notebooks_data/tutorial5_braille_spiking_data.pkl.gz"


def _manifest(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


def test_nmnist_subset_all_samples(shared_data, tmp_path):
    folder = shared_data / NMNIST
    rows = {r["file"]: r for r in _manifest(folder / "MANIFEST.tsv")}
    b = load_nmnist(T=10, data_dir=shared_data, cache_dir=False, in_memory=False)
    assert b.train.source.identity()["files"] == 1000 and len(b.test) == 100
    seen = 0
    for split, ds in (("train", b.train), ("test", b.test)):
        for i, path in enumerate(ds.source.items):
            r = rows[path.name]
            ev = ds.source.events(i)
            assert r["split"] == split and int(r["label"]) == int(ds.labels[i])
            assert ev.shape[0] == int(r["n_events"]) and int(ev["p"].sum()) == int(r["n_on"])
            assert int(ev["t"].min()) == int(r["t_min_us"]) and int(ev["t"].max()) == int(r["t_max_us"])
            seen += 1
    assert seen == 1100
    assert np.bincount(b.train.labels).tolist() == [97, 116, 99, 93, 105, 92, 94, 117, 87, 100]
    assert np.bincount(b.test.labels).tolist() == [8, 14, 8, 11, 14, 7, 10, 15, 2, 11]
    x, _ = b.train[0]
    assert x.shape == (10, 2, 34, 34) and float(x.sum()) == int(rows["1.bs2"]["n_events"])


def test_tonic_sample(shared_data):
    p = shared_data / "nmnist/tonic_test_data/sample_nmnist.bin"
    ev = read_atis_bin(p, sensor=(34, 34))
    assert hashlib.md5(p.read_bytes()).hexdigest() == "a31ca78398ea46063dc394a5a2ba0acd"
    assert ev.shape[0] == 4325 and int(ev["t"][0]) == 654 and int(ev["t"][-1]) == 311_175 and int(ev["p"].sum()) == 2145


def test_dvsgesture_clips_128(shared_data):
    folder = shared_data / GESTURE
    for r in _manifest(folder / "MANIFEST.tsv"):
        ev = read_atis_bin(folder / r["file"], sensor=(128, 128))
        assert ev.shape[0] == int(r["n_events"]) and int(ev["p"].sum()) == int(r["n_on"])
        assert int(ev["x"].max()) == int(r["x_max"]) == 127 and int(ev["y"].max()) == 127
        fr = events_to_frames(ev, (128, 128, 2), T=30)
        assert fr.shape == (30, 2, 128, 128) and fr.sum() == ev.shape[0]


def test_real_gesture_events_through_aedat(shared_data):
    """Real DVS Gesture events wrapped in an AEDAT 3.1 container come back unchanged."""
    ev = read_atis_bin(shared_data / GESTURE / "1.bs2")
    assert np.array_equal(parse_aedat31(aedat31_bytes(ev, packet_events=5000)), ev)


def test_braille_full_raw(shared_data):
    data, letters = read_braille_raw(shared_data / BRAILLE)
    assert len(data) == 1350 and sorted(set(letters)) == sorted(LETTERS)
    assert all(letters.count(x) == 50 for x in LETTERS)
    assert {a.shape[0] for a in data} == {76, 77}
    b = load_braille(T=51, data_dir=shared_data, cache_dir=False)
    assert b.num_classes == 27 and len(b.train) + len(b.test) == 1350 and len(b.test) == 270
    assert np.all(np.bincount(b.test.labels, minlength=27) == 10)
    x, _ = b.train[0]
    assert x.shape == (51, 24) and float(x.sum()) > 0
