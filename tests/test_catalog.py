"""Every loader matches its record in the dataset catalog (tiny files in each official format)."""

from __future__ import annotations

import numpy as np
import pytest

from pipesdfa.data.catalog import CATALOG
from pipesdfa.data.formats.braille_pkl import LETTERS
from pipesdfa.data.info import SENSOR_SIZES
from pipesdfa.data.registry import LOADERS, load_dataset
from _writers import (random_events, write_braille_raw, write_dvsgesture_tree, write_ncaltech_tree,
                                   write_nmnist_tree, write_shd_h5)
from pipesdfa.zoo.workloads import DATASET_SHAPES, EPOCH_SAMPLES


def tiny_tree(name: str, root):
    """A tiny copy of dataset ``name`` in its official layout under ``root``; returns the data dir."""
    rec = CATALOG[name]
    W, H, P = rec.sensor_size
    if name == "nmnist":
        write_nmnist_tree(root / "nm", {"Train": [(d, random_events(30, (W, H, P), 300_000, d)) for d in range(10)],
                                        "Test": [(3, random_events(30, (W, H, P), 300_000, 99))]})
        return root / "nm"
    if name == "shd":
        rng = np.random.default_rng(0)
        ev = [(np.sort(rng.uniform(0, 1.3, 20)), rng.integers(0, W, 20)) for _ in range(3)]
        write_shd_h5(root / "shd_train.h5", ev, [0, 5, 19], keys=[f"w{i}" for i in range(20)])
        write_shd_h5(root / "shd_test.h5", ev[:1], [2], keys=[f"w{i}" for i in range(20)])
        return root
    if name in ("braille", "braille-analog"):  # the same raw recordings (12 taxels)
        rng = np.random.default_rng(0)
        data = [255 - np.abs(np.cumsum(rng.normal(0, 5, (76, 12)), axis=0)) for _ in range(27 * 5)]
        write_braille_raw(root / "tutorial5_braille_spiking_data.pkl.gz", data, [LETTERS[i // 5] for i in range(135)])
        return root
    if name == "dvsgesture":
        ev = random_events(500, (W, H, P), 2_000_000, 1)
        write_dvsgesture_tree(root / "DvsGesture", {"user01_fluorescent": (ev, [(1, 0, 1_000_000)]),
                                                    "user24_led": (ev, [(11, 0, 2_000_000)])},
                              ["user01_fluorescent"], ["user24_led"])
        return root
    if name == "ncaltech101":  # the record's classes: 100 categories + BACKGROUND_Google
        classes = ["BACKGROUND_Google"] + [f"class{k:03d}" for k in range(rec.num_classes - 1)]
        write_ncaltech_tree(root / "Caltech101", [(c, random_events(5, (W, H, P), 1000, 7 * k + j))
                                                  for k, c in enumerate(classes) for j in range(2)])
        return root
    assert rec.embedded
    return None


def test_catalog_and_loaders_name_the_same_datasets():
    assert set(CATALOG) == set(LOADERS)
    assert DATASET_SHAPES == {n: (r.input_shape, r.num_classes) for n, r in CATALOG.items()}
    assert EPOCH_SAMPLES == {n: r.epoch_samples for n, r in CATALOG.items()}
    assert SENSOR_SIZES == {n: r.sensor_size for n, r in CATALOG.items()}


@pytest.mark.parametrize("name", list(CATALOG))
def test_every_loader_matches_its_record(name, tmp_path):
    rec = CATALOG[name]
    root = tiny_tree(name, tmp_path)
    T = 4 if name == "braille-analog" else 3  # braille-analog: T a multiple of its repeat (2)
    b = load_dataset(name, T=T, data_dir=None if root is None else str(root),
                     **({} if rec.embedded else {"cache_dir": False}))
    assert b.input_shape == rec.input_shape, f"{name}: loader frames {b.input_shape}, catalog says {rec.input_shape}"
    assert b.num_classes == rec.num_classes, f"{name}: loader has {b.num_classes} classes, catalog {rec.num_classes}"
    x, _ = b.train[0]
    assert tuple(x.shape) == (T, *rec.input_shape)
    if rec.embedded:  # the whole dataset is here: its epoch size too
        assert len(b.train) == rec.epoch_samples


@pytest.mark.slow
def test_real_braille_epoch_size_matches_the_catalog(shared_data):
    if not (shared_data / "braille").is_dir():
        pytest.skip("../shared/data/braille absent")
    for name in ("braille", "braille-analog"):
        b = load_dataset(name, T=4, data_dir=str(shared_data), cache_dir=False)
        assert len(b.train) == CATALOG[name].epoch_samples and b.num_classes == CATALOG[name].num_classes
