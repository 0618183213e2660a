"""Loaders of the paper's five datasets: ``loader(T, data_dir, seed, **options) -> DatasetBundle``.

Listed in :data:`pipesdfa.data.registry.LOADERS` under ``nmnist``, ``ncaltech101``,
``shd``, ``dvsgesture`` and ``braille``. Each finds its files under ``data_dir`` (see
:mod:`pipesdfa.data.layouts`; missing files give one :class:`UserError` saying what was
expected and where to get it), frames samples with a :mod:`pipesdfa.data.framing` framer,
and caches frames on disk (:class:`~pipesdfa.data.cache.FrameCache`).

Common options: ``split_by`` (``number`` / ``time`` / ``window``), ``binary`` (clip counts
to 1), ``cache_dir`` (``None`` = :func:`~pipesdfa.data.cache.default_cache_root`, ``False`` =
no disk cache), ``in_memory`` (keep frames in RAM; ``None`` = when the split is under
1 GiB), ``max_train`` / ``max_test`` (keep N samples of a split, class by class in turn:
:func:`balanced_head`; for quick runs),
``materialize`` (hand a split over as one in-memory ``FrameTensorDataset``; ``None`` = when
it is kept in memory), ``shift``/``shift_seed`` (a user's device: event shifts before framing,
tactile shifts on the raw taxels before encoding) and ``samples_per_class``/``subset_seed`` (a
seeded stratified few-shot training split), both :mod:`pipesdfa.data.shifting`.
``seed`` does not change the data; the splits of N-Caltech101 and Braille (which have no
official split) use ``split_seed`` (default 0) so every training seed sees the same split.
"""

from __future__ import annotations

from collections import OrderedDict
from functools import partial
from pathlib import Path
from typing import Any, Callable

import numpy as np

from pipesdfa.data.catalog import CATALOG
from pipesdfa.data.cache import FrameCache, default_cache_root
from pipesdfa.data.dataset import FrameDataset, ListSource, materialize
from pipesdfa.data.formats.aedat31 import read_aedat31, read_gesture_labels
from pipesdfa.data.formats.atis_bin import read_atis_bin
from pipesdfa.data.formats.braille_pkl import (LETTERS, TAXELS, read_braille_events,
                                               read_braille_raw, sigma_delta_encode)
from pipesdfa.data.formats.shd_h5 import SHD_CHANNELS, ShdFile
from pipesdfa.data.framing import ChannelFramer, GridFramer
from pipesdfa.data.layouts import (find_braille, find_dvsgesture, find_ncaltech101, find_nmnist, find_shd,
                                   file_identity, stratified_split)
from pipesdfa.data.bundle import DatasetBundle
from pipesdfa.data.shifting import per_class_source, resolve_shift, shift_source
from pipesdfa.data.taxels import braille_kind, braille_taxels, shift_taxels
from pipesdfa.data.shifts import Shift
from pipesdfa.util.errors import UserError

__all__ = ["load_nmnist", "load_ncaltech101", "load_shd", "load_dvsgesture", "load_braille", "REAL_LOADERS",
           "braille_taxels",
           "NCALTECH_EXTENT", "NCALTECH_GRID", "NCALTECH_FACTOR", "event_sources"]

#: DVS128 Gesture's class names, labels 1..11 (its ``gesture_mapping.csv``).
GESTURE_NAMES = ("hand_clapping", "right_hand_wave", "left_hand_wave", "right_arm_clockwise",
                 "right_arm_counter_clockwise", "left_arm_clockwise", "left_arm_counter_clockwise",
                 "arm_roll", "air_drums", "air_guitar", "other_gestures")

#: N-Caltech101 framing: raw (x, y) cropped to 240x180, halved, centred in 128x128.
NCALTECH_EXTENT = CATALOG["ncaltech101"].sensor_size[:2]
NCALTECH_FACTOR = 2
NCALTECH_GRID = (128, 128)
IN_MEMORY_LIMIT_BYTES = 1 << 30


def _cache(name: str, cache_dir, params: dict) -> FrameCache | None:
    if cache_dir is False or cache_dir in ("", "none"):
        return None
    root = Path(cache_dir) if cache_dir is not None else default_cache_root()
    return FrameCache(root, name, params)


def balanced_head(labels: np.ndarray, n: int) -> np.ndarray:
    """Indices of ``n`` samples taken class by class in turn, each class's in listed order:
    the first sample of every class, then the second of every class, ... (a class that runs
    out drops out), returned sorted. Deterministic; on a class-sorted file list (N-MNIST's
    ``Train/0``, ``Train/1``, ...) it keeps every class instead of the first one only."""
    labels = np.asarray(labels)
    if n >= len(labels):
        return np.arange(len(labels))
    rank = np.zeros(len(labels), dtype=np.int64)
    for c in np.unique(labels):
        where = np.flatnonzero(labels == c)
        rank[where] = np.arange(len(where))
    order = np.lexsort((labels, rank))  # by rank within the class, then by class
    return np.sort(order[:n])


def _head(src: ListSource, n: int | None) -> ListSource:
    """``src`` cut to ``n`` samples (:func:`balanced_head`), or as is."""
    if n is None or n >= len(src):
        return src
    if n < 1:
        raise UserError(f"max_train / max_test must be >= 1, got {n}")
    keep = balanced_head(src.labels, n)
    return ListSource([src.items[i] for i in keep], src.labels[keep], src._read,
                      {"of": src.identity(), "balanced_first": n})


def _make(name: str, T: int, sources: dict[str, ListSource], framer, class_names: list[str], cache_dir,
          in_memory, cache_params: dict, max_train=None, max_test=None, materialize_splits=None,
          warm: bool = False, shift: Shift | None = None, samples_per_class: int | None = None,
          subset_seed: int = 0, folds: int | None = None, fold: int = 0) -> DatasetBundle:
    """Wrap the sources in cached :class:`FrameDataset` s. A split that fits in RAM
    (``in_memory``; by default when under 1 GiB as float32) is by default framed at once
    and handed over as one tensor (``materialize_splits``), the trainer's fast path. Other
    splits are framed lazily; with ``warm`` (DVS Gesture, whose samples are cut from long
    recordings) the cache is first filled in file order so each recording is parsed once.
    ``folds``: the splits pooled and cut into folds, ``fold`` the test split
    (:func:`pipesdfa.data.splits.fold_sources`)."""
    if T <= 0:
        raise UserError(f"T must be positive, got {T}")
    if folds is not None:
        from pipesdfa.data.splits import fold_sources

        sources = fold_sources(sources, folds, fold, f"{name}'s folds")
        cache_params = {**cache_params, "folds": folds, "fold": fold}
    if shift is not None and shift.kind == "events":  # tactile shifts were applied before encoding
        sources = {s: shift_source(src, shift, CATALOG[name].sensor_size, s) for s, src in sources.items()}
    if shift is not None:
        cache_params = {**cache_params, **shift.identity()}
    train = per_class_source(sources["train"], samples_per_class, subset_seed, f"{name}'s training split", class_names)
    if samples_per_class is not None:
        cache_params = {**cache_params, "samples_per_class": samples_per_class, "subset_seed": subset_seed}
    sources = {"train": _head(train, max_train), "test": _head(sources["test"], max_test)}
    shape = tuple(framer.shape)
    out: dict[str, Any] = {}
    cache_dirs = []
    for split, src in sources.items():
        params = {**cache_params, "framer": repr(framer), "split": split, "source": src.identity()}
        mem = in_memory
        if mem is None:
            mem = len(src) * T * int(np.prod(shape)) * 4 <= IN_MEMORY_LIMIT_BYTES
        cache = _cache(name, cache_dir, params)
        cache_dirs.append(str(cache.dir) if cache else "")
        ds = FrameDataset(src, framer, split, cache, in_memory=mem)
        mat = mem if materialize_splits is None else materialize_splits
        if mat:
            out[split] = materialize(ds, desc=f"{name} {split}")
        else:
            if warm and cache is not None:  # fill the cache in file order (each recording parsed once)
                ds.warm(desc=f"caching {name} {split}")
            out[split] = ds
    meta = {**{k: v for k, v in cache_params.items() if isinstance(v, (str, int, float))},
            "framing": repr(framer), "cache": cache_dirs}
    return DatasetBundle(name=name, train=out["train"], test=out["test"], input_shape=shape,
                         num_classes=len(class_names), class_names=list(class_names), meta=meta)


# ------------------------------------------------------------------------------- N-MNIST

def _read_nmnist(path: Path) -> np.ndarray:
    return read_atis_bin(path, sensor=(34, 34))


def event_sources(name: str, data_dir, **options) -> tuple[dict[str, ListSource], list[str], dict]:
    """``({split: event source}, class_names, meta)`` of a dataset (for ``pipesdfa data info``);
    ``options`` are the loader's layout / split options (others are ignored)."""
    table = {"nmnist": _nmnist_sources, "ncaltech101": _ncaltech_sources, "shd": _shd_sources,
             "dvsgesture": _gesture_sources, "braille": _braille_sources, "digits": _digits_sources}
    if name not in table:
        raise UserError(f"dataset {name!r} has no event files; expected one of: {', '.join(table)}")
    return table[name](data_dir, **options)


def _nmnist_sources(data_dir, layout: str = "auto", **_):
    lay = find_nmnist(data_dir, layout)
    src = {s: ListSource(lay.files[s], lay.labels[s], _read_nmnist, file_identity(lay.root, lay.files[s]))
           for s in ("train", "test")}
    return src, [str(d) for d in range(10)], {"layout": lay.kind}


def load_nmnist(T: int, data_dir=None, seed: int = 0, *, layout: str = "auto", split_by: str = "number",
                spatial_factor: int = 1, binary: bool = False, cache_dir=None, in_memory=None,
                max_train: int | None = None, max_test: int | None = None, materialize: bool | None = None,
                shift: str | None = None, shift_seed: int = 0, samples_per_class: int | None = None,
                subset_seed: int = 0, folds: int | None = None, fold: int = 0):
    """N-MNIST as ``[T, 2, 34/f, 34/f]`` (``layout``: ``auto``, ``official`` or ``slayer``;
    ``folds``/``fold``: k-fold cross-validation over train and test pooled, e.g. over the 1,100
    samples of a small subset, :func:`pipesdfa.data.splits.fold_sources`)."""
    sources, classes, meta = _nmnist_sources(data_dir, layout)
    side = -(-34 // spatial_factor) if spatial_factor >= 1 else 34
    framer = GridFramer(T, (34, 34), (side, side), spatial_factor, 2, split_by, binary=binary)
    return _make("nmnist", T, sources, framer, classes, cache_dir, in_memory, meta, max_train, max_test, materialize,
                 shift=resolve_shift("nmnist", shift, shift_seed), samples_per_class=samples_per_class,
                 subset_seed=subset_seed, folds=folds, fold=fold)


def _digits_sources(data_dir=None, data_seed: int = 0, **_):
    """The embedded digits' events (``data/digits.py``), split as its loader splits them."""
    from pipesdfa.data.digits import digits_events, split_indices

    events, labels, size = digits_events(data_seed)
    tr, te = split_indices(labels)
    src = {s: ListSource([events[i] for i in idx], labels[idx], _identity_read, {"digits": data_seed, "split": s})
           for s, idx in (("train", tr), ("test", te))}
    return src, [str(d) for d in range(10)], {"sensor_size_events": list(size)}


# -------------------------------------------------------------------------- N-Caltech101

def _ncaltech_sources(data_dir, split_seed: int = 0, test_fraction: float = 0.2, background: bool = True, **_):
    lay = find_ncaltech101(data_dir, background)
    labels = np.asarray(lay.labels)
    tr, te = stratified_split(labels, test_fraction, split_seed)
    ident = file_identity(lay.root, lay.files)
    read = partial(read_atis_bin, sensor=None)
    src = {s: ListSource([lay.files[i] for i in idx], labels[idx], read,
                         {"all": ident, "split_seed": split_seed, "test_fraction": test_fraction, "n": len(idx)})
           for s, idx in (("train", tr), ("test", te))}
    return src, lay.classes, {}


def load_ncaltech101(T: int, data_dir=None, seed: int = 0, *, split_by: str = "number", split_seed: int = 0,
                     test_fraction: float = 0.2, background: bool = True, binary: bool = False, cache_dir=None,
                     in_memory=None, max_train: int | None = None, max_test: int | None = None,
                     materialize: bool | None = None, shift: str | None = None, shift_seed: int = 0, samples_per_class: int | None = None,
                subset_seed: int = 0):
    """N-Caltech101 on the fixed 2x128x128 grid (see :data:`NCALTECH_EXTENT`), seeded
    stratified ``1 - test_fraction`` / ``test_fraction`` split."""
    sources, classes, meta = _ncaltech_sources(data_dir, split_seed, test_fraction, background)
    framer = GridFramer(T, NCALTECH_EXTENT, NCALTECH_GRID, NCALTECH_FACTOR, 2, split_by, binary=binary)
    return _make("ncaltech101", T, sources, framer, classes, cache_dir, in_memory, meta, max_train, max_test,
                 materialize, shift=resolve_shift("ncaltech101", shift, shift_seed),
                 samples_per_class=samples_per_class, subset_seed=subset_seed)


# ----------------------------------------------------------------------------------- SHD

class _ShdReader:
    def __init__(self, f: ShdFile):
        self.f = f

    def __call__(self, i: int) -> np.ndarray:
        return self.f.events(i)


def _shd_sources(data_dir, **_):
    lay = find_shd(data_dir)
    src, keys = {}, None
    for s, path in lay.files.items():
        f = ShdFile(path)
        keys = keys or f.keys
        src[s] = ListSource(list(range(len(f))), f.labels, _ShdReader(f), file_identity(lay.root, [path]))
    n_classes = int(max(int(src["train"].labels.max(initial=0)), int(src["test"].labels.max(initial=0)))) + 1
    classes = list(keys) if keys and len(keys) >= n_classes else [str(i) for i in range(max(n_classes, 20))]
    return src, classes, {}


def load_shd(T: int, data_dir=None, seed: int = 0, *, duration_ms: float = 1400.0, split_by: str = "window",
             binary: bool = False, cache_dir=None, in_memory=None, max_train: int | None = None,
             max_test: int | None = None, materialize: bool | None = None, shift: str | None = None,
             shift_seed: int = 0, samples_per_class: int | None = None, subset_seed: int = 0):
    """SHD as ``[T, 700]``: ``T`` fixed bins over the first ``duration_ms`` (default 1.4 s)."""
    sources, classes, meta = _shd_sources(data_dir)
    framer = ChannelFramer(T, SHD_CHANNELS, 1, split_by, int(round(duration_ms * 1000)), binary)
    return _make("shd", T, sources, framer, classes, cache_dir, in_memory, meta, max_train, max_test, materialize,
                 shift=resolve_shift("shd", shift, shift_seed), samples_per_class=samples_per_class,
                 subset_seed=subset_seed)


# --------------------------------------------------------------------------- DVS Gesture

class _GestureReader:
    """Reads gesture ``(trial_path, start_us, end_us)``: the trial's events with
    ``start <= t < end``, shifted so the gesture starts at 0. Keeps the last parsed trial."""

    def __init__(self):
        self._last: OrderedDict[str, np.ndarray] = OrderedDict()

    def __call__(self, item: tuple[str, int, int]) -> np.ndarray:
        path, start, end = item
        ev = self._last.get(path)
        if ev is None:
            ev = read_aedat31(path)
            self._last.clear()
            self._last[path] = ev
        a, b = np.searchsorted(ev["t"], [start, end], side="left")
        out = ev[a:b].copy()
        out["t"] -= start
        return out

    def __getstate__(self):
        return {"_last": OrderedDict()}


def _gesture_sources(data_dir, **_):
    lay = find_dvsgesture(data_dir)
    reader = _GestureReader()
    src = {}
    for split, stems in lay.trials.items():
        items, labels, files = [], [], []
        for stem in stems:
            csv_path = lay.root / f"{stem}_labels.csv"
            files += [lay.root / f"{stem}.aedat", csv_path]
            for cls, start, end in read_gesture_labels(csv_path):
                if cls > len(GESTURE_NAMES):
                    raise UserError(f"{csv_path}: class {cls} outside 1..{len(GESTURE_NAMES)}")
                items.append((str(lay.root / f"{stem}.aedat"), start, end))
                labels.append(cls - 1)
        src[split] = ListSource(items, labels, reader, file_identity(lay.root, files))
    return src, list(GESTURE_NAMES), {"cut": "one sample per labels.csv row"}


def load_dvsgesture(T: int, data_dir=None, seed: int = 0, *, split_by: str = "number", spatial_factor: int = 1,
                    binary: bool = False, cache_dir=None, in_memory=None, max_train: int | None = None,
                    max_test: int | None = None, materialize: bool | None = None,
                    shift: str | None = None, shift_seed: int = 0, samples_per_class: int | None = None,
                subset_seed: int = 0):
    """DVS128 Gesture as ``[T, 2, 128/f, 128/f]``; every ``labels.csv`` row is one sample."""
    sources, classes, meta = _gesture_sources(data_dir)
    side = -(-128 // spatial_factor) if spatial_factor >= 1 else 128
    framer = GridFramer(T, (128, 128), (side, side), spatial_factor, 2, split_by, binary=binary)
    return _make("dvsgesture", T, sources, framer, classes, cache_dir, in_memory, meta, max_train, max_test,
                 materialize, warm=True, shift=resolve_shift("dvsgesture", shift, shift_seed),
                 samples_per_class=samples_per_class, subset_seed=subset_seed)


# ------------------------------------------------------------------------------- Braille

def encode_braille(taxel_data: list[np.ndarray], threshold: float) -> list[np.ndarray]:
    """Sigma-delta events of every sample, encoded in one vectorised call (shorter samples are
    padded with their last value, which emits nothing)."""
    if not taxel_data:
        return []
    n_max = max(a.shape[0] for a in taxel_data)
    stack = np.stack([np.concatenate([a, np.repeat(a[-1:], n_max - a.shape[0], axis=0)]) if a.shape[0] else
                      np.full((n_max, TAXELS), 255.0) for a in taxel_data], axis=1)  # (T, N, 12)
    ev = sigma_delta_encode(stack.reshape(n_max, -1), threshold)
    sample = ev["x"].astype(np.int64) // TAXELS
    order = np.argsort(sample, kind="stable")
    ev, sample = ev[order], sample[order]
    ev["x"] = ev["x"] % TAXELS
    cuts = np.searchsorted(sample, np.arange(len(taxel_data) + 1))
    return [ev[cuts[i]:cuts[i + 1]] for i in range(len(taxel_data))]


def _braille_all(path: Path, kind: str, threshold: float, shift: Shift | None = None, split_seed: int = 0,
                 test_fraction: float = 0.2) -> tuple[list[np.ndarray], list[str], str]:
    kind = braille_kind(path, kind)
    if kind == "events":
        if shift is not None:
            raise UserError(f"shift {shift.name!r} acts on raw taxel values, but {path} holds encoded events; "
                            f"give the raw recordings (source 'raw', doi:10.5281/zenodo.6556273)")
        evs, letters = read_braille_events(path)
    else:
        data, letters = read_braille_raw(path)
        if shift is not None:
            labels = np.array([LETTERS.index(x) if x in LETTERS else -1 for x in letters], dtype=np.int64)
            data = shift_taxels(data, labels, split_seed, test_fraction, shift)
        evs = encode_braille(data, threshold)
    return evs, letters, kind


def _braille_sources(data_dir, threshold: float = 1.0, source: str = "auto", file=None, split_seed: int = 0,
                     test_fraction: float = 0.2, shift: Shift | None = None, **_):
    lay = find_braille(data_dir, threshold, source, file)
    evs, letters, kind = _braille_all(lay.path, lay.kind, threshold, shift, split_seed, test_fraction)
    unknown = sorted(set(letters) - set(LETTERS))
    if unknown:
        raise UserError(f"{lay.path}: field 'letter' has {unknown[:3]}, expected one of Space, A..Z")
    labels = np.array([LETTERS.index(x) for x in letters], dtype=np.int64)
    tr, te = stratified_split(labels, test_fraction, split_seed)
    ident = {**file_identity(lay.path.parent, [lay.path]), "kind": kind,
             "threshold": threshold if kind == "raw" else None, "split_seed": split_seed,
             "test_fraction": test_fraction, **(shift.identity() if shift is not None else {})}
    src = {s: ListSource([evs[i] for i in idx], labels[idx], _identity_read, {**ident, "split": s})
           for s, idx in (("train", tr), ("test", te))}
    return src, list(LETTERS), {"kind": kind}


def _identity_read(ev: np.ndarray) -> np.ndarray:
    return ev


def load_braille(T: int, data_dir=None, seed: int = 0, *, threshold: float = 1.0, source: str = "auto",
                 file=None, bin_ms: float = 25.0, split_by: str = "window", binary: bool = False,
                 split_seed: int = 0, test_fraction: float = 0.2, cache_dir=None, in_memory=None,
                 max_train: int | None = None, max_test: int | None = None, materialize: bool | None = None,
                 shift: str | None = None, shift_seed: int = 0, samples_per_class: int | None = None,
                subset_seed: int = 0):
    """Braille letters as ``[T, 24]`` (12 taxels x ON/OFF): ``T`` bins of ``bin_ms`` from t = 0
    (25 ms bins; the braille-mlp workload uses T = 76, the raw recordings' 1.9 s), 27 classes, seeded stratified split."""
    sh = resolve_shift("braille", shift, shift_seed)
    sources, classes, meta = _braille_sources(data_dir, threshold, source, file, split_seed, test_fraction, sh)
    framer = ChannelFramer(T, TAXELS, 2, split_by, int(round(T * bin_ms * 1000)), binary)
    return _make("braille", T, sources, framer, classes, cache_dir, in_memory, meta, max_train, max_test, materialize,
                 shift=sh, samples_per_class=samples_per_class, subset_seed=subset_seed)


REAL_LOADERS: dict[str, Callable[..., Any]] = {
    "nmnist": load_nmnist,
    "ncaltech101": load_ncaltech101,
    "shd": load_shd,
    "dvsgesture": load_dvsgesture,
    "braille": load_braille,
}
