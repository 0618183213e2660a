"""Writers of tiny files in each official format: test fixtures (and the data-speed benchmark's
synthetic files), not part of the package.

Each writer produces bytes a reader of the official format accepts unchanged; together with
:mod:`pipesdfa.data.formats` they give round trips. Every file goes through
:mod:`pipesdfa.util.atomic`.
"""

from __future__ import annotations

import gzip
import os
import pickle
import struct
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from pipesdfa.util.atomic import atomic_path, atomic_write_bytes, atomic_write_text
from pipesdfa.data.events import EVENT_DTYPE
from pipesdfa.data.formats.aedat31 import HEADER_END, HEADER_MAGIC, LABEL_HEADER, PACKET_HEADER
from pipesdfa.data.datasets import GESTURE_NAMES
from pipesdfa.data.formats.atis_bin import encode_atis_bytes

__all__ = ["write_atis_bin", "write_nmnist_tree", "write_ncaltech_tree", "write_shd_h5", "aedat31_bytes",
           "write_aedat31", "write_gesture_labels", "write_dvsgesture_tree", "write_braille_raw",
           "write_braille_events", "random_events"]

PathLike = str | os.PathLike[str]


def random_events(n: int, sensor: tuple[int, int, int], t_max_us: int, seed: int = 0) -> np.ndarray:
    """``n`` uniformly random sorted events on a ``(W, H, P)`` sensor within ``[0, t_max_us)``."""
    rng = np.random.default_rng(seed)
    ev = np.empty(n, dtype=EVENT_DTYPE)
    ev["t"] = np.sort(rng.integers(0, t_max_us, n))
    ev["x"] = rng.integers(0, sensor[0], n)
    ev["y"] = rng.integers(0, sensor[1], n)
    ev["p"] = rng.integers(0, sensor[2], n)
    return ev


# ----------------------------------------------------------------------- 40-bit .bin (ATIS)

def write_atis_bin(path: PathLike, ev: np.ndarray) -> Path:
    """One N-MNIST / N-Caltech101 sample (overflow records inserted past 2**23 us)."""
    atomic_write_bytes(path, encode_atis_bytes(ev))
    return Path(path)


def write_nmnist_tree(root: PathLike, samples: dict[str, Sequence[tuple[int, np.ndarray]]]) -> list[Path]:
    """``samples = {"Train": [(digit, events), ...], "Test": [...]}`` as
    ``root/<Split>/<digit>/<idx:05d>.bin`` (idx counts from 1 per split)."""
    out = []
    for split, items in samples.items():
        for idx, (digit, ev) in enumerate(items, start=1):
            out.append(write_atis_bin(Path(root) / split / str(digit) / f"{idx:05d}.bin", ev))
    return out


def write_ncaltech_tree(root: PathLike, samples: Sequence[tuple[str, np.ndarray]]) -> list[Path]:
    """``[(class_folder, events), ...]`` as ``root/<class>/image_<n:04d>.bin`` (n from 1 per class)."""
    counts: dict[str, int] = {}
    out = []
    for cls, ev in samples:
        counts[cls] = counts.get(cls, 0) + 1
        out.append(write_atis_bin(Path(root) / cls / f"image_{counts[cls]:04d}.bin", ev))
    return out


# ------------------------------------------------------------------------------ SHD HDF5

def write_shd_h5(path: PathLike, samples: Sequence[tuple[np.ndarray, np.ndarray]], labels: Sequence[int],
                 keys: Sequence[str] | None = None, speakers: Sequence[int] | None = None) -> Path:
    """An SHD file: ``samples = [(times_s, units), ...]`` stored as variable-length float16 / uint16."""
    import h5py

    n = len(samples)
    keys = list(keys) if keys is not None else [f"class-{i}" for i in range(20)]

    def writer(tmp: Path) -> None:
        with h5py.File(tmp, "w") as f:
            times = f.create_dataset("spikes/times", (n,), dtype=h5py.vlen_dtype(np.float16))
            units = f.create_dataset("spikes/units", (n,), dtype=h5py.vlen_dtype(np.uint16))
            for i, (t, u) in enumerate(samples):
                times[i] = np.asarray(t, dtype=np.float16)
                units[i] = np.asarray(u, dtype=np.uint16)
            f.create_dataset("labels", data=np.asarray(labels, dtype=np.uint16))
            f.create_dataset("extra/keys", data=np.array([k.encode() for k in keys]))
            f.create_dataset("extra/speaker", data=np.asarray(speakers if speakers is not None else [0] * n,
                                                                dtype=np.uint16))
            for name in ("gender", "age", "body_height"):
                f.create_dataset(f"extra/meta_info/{name}", data=np.zeros(1, dtype=np.uint16))

    with atomic_path(path) as tmp:
        writer(tmp)
    return Path(path)


# --------------------------------------------------------------------------- AEDAT 3.1

def _packet(ev_type: int, size: int, overflow: int, payload: bytes, number: int) -> bytes:
    header = np.zeros(1, dtype=PACKET_HEADER)
    header[0] = (ev_type, 1, size, 4, overflow, number, number, number)
    return header.tobytes() + payload


def aedat31_bytes(ev: np.ndarray, packet_events: int = 4096, extra_packet: bool = True,
                  invalid_events: int = 0) -> bytes:
    """An AEDAT 3.1 file holding ``ev`` as polarity packets (``eventTSOverflow = t >> 31``).

    ``extra_packet`` adds a non-polarity packet (type 0, special events) that readers must
    skip; ``invalid_events`` appends that many events with the valid bit cleared.
    """
    ev = np.asarray(ev, dtype=EVENT_DTYPE)
    head = HEADER_MAGIC + b"\r\n#Format: RAW\r\n#Source 1: DVS128\r\n" + HEADER_END
    parts = [head]
    if extra_packet:
        parts.append(_packet(0, 8, 0, struct.pack("<II", 0x0, 0), 1))
    t = ev["t"].astype(np.int64)
    overflow = t >> 31
    # A packet never straddles an overflow change.
    bounds = sorted(set(range(0, len(ev), packet_events)) | set(np.flatnonzero(np.diff(overflow)) + 1)) + [len(ev)]
    for a, b in zip(bounds[:-1], bounds[1:]):
        if b <= a:
            continue
        words = np.empty((b - a, 2), dtype="<u4")
        words[:, 0] = ((ev["x"][a:b].astype(np.uint32) << 17) | (ev["y"][a:b].astype(np.uint32) << 2)
                       | (ev["p"][a:b].astype(np.uint32) << 1) | 1)
        words[:, 1] = (t[a:b] & 0x7FFFFFFF).astype(np.uint32)
        parts.append(_packet(1, 8, int(overflow[a]), words.tobytes(), b - a))
    if invalid_events:
        words = np.zeros((invalid_events, 2), dtype="<u4")
        words[:, 0] = (5 << 17) | (5 << 2)  # valid bit 0 = invalid
        words[:, 1] = int(t[-1] & 0x7FFFFFFF) if len(t) else 0
        parts.append(_packet(1, 8, int(overflow[-1]) if len(t) else 0, words.tobytes(), invalid_events))
    return b"".join(parts)


def write_aedat31(path: PathLike, ev: np.ndarray, **kwargs) -> Path:
    atomic_write_bytes(path, aedat31_bytes(ev, **kwargs))
    return Path(path)


def write_gesture_labels(path: PathLike, rows: Iterable[tuple[int, int, int]]) -> Path:
    """``userNN_<light>_labels.csv`` with rows ``(class_1based, start_us, end_us)``."""
    text = ",".join(LABEL_HEADER) + "\r\n" + "".join(f"{c},{s},{e}\r\n" for c, s, e in rows)
    atomic_write_text(path, text)
    return Path(path)


def write_dvsgesture_tree(root: PathLike, trials: dict[str, tuple[np.ndarray, Sequence[tuple[int, int, int]]]],
                          train: Sequence[str], test: Sequence[str]) -> Path:
    """An extracted ``DvsGesture/`` folder: ``trials = {"user01_fluorescent": (events, label_rows)}``
    plus ``trials_to_train.txt``, ``trials_to_test.txt`` and ``gesture_mapping.csv``."""
    root = Path(root)
    for name, (ev, rows) in trials.items():
        write_aedat31(root / f"{name}.aedat", ev)
        write_gesture_labels(root / f"{name}_labels.csv", rows)
    atomic_write_text(root / "trials_to_train.txt", "".join(f"{n}.aedat\n" for n in train))
    atomic_write_text(root / "trials_to_test.txt", "".join(f"{n}.aedat\n" for n in test))
    atomic_write_text(root / "gesture_mapping.csv",
                      "action,label\n" + "".join(f"{n},{i}\n" for i, n in enumerate(GESTURE_NAMES, start=1)))
    return root


# ------------------------------------------------------------------------------ Braille

def write_braille_raw(path: PathLike, taxel_data: Sequence[np.ndarray], letters: Sequence[str],
                      gz: bool = True) -> Path:
    """The raw pickle: a list of ``{letter, repetition, experiment_name, taxel_data}``."""
    reps: dict[str, int] = {}
    recs = []
    for a, letter in zip(taxel_data, letters):
        recs.append({"experiment_name": "braille_letters", "letter": letter,
                     "repetition": reps.setdefault(letter, 0), "taxel_data": np.asarray(a, dtype=np.float64)})
        reps[letter] += 1
    blob = pickle.dumps(recs, protocol=4)
    atomic_write_bytes(path, gzip.compress(blob, mtime=0) if gz else blob)
    return Path(path)


def write_braille_events(path: PathLike, records: Sequence[tuple[str, Sequence[tuple[Sequence[float], Sequence[float]]]]]) -> Path:
    """An event pickle: ``[(letter, [(on_times_s, off_times_s)] * 12), ...]`` as a list of dicts."""
    recs = [{"letter": letter, "events": [[list(map(float, on)), list(map(float, off))] for on, off in taxels]}
            for letter, taxels in records]
    atomic_write_bytes(path, pickle.dumps(recs, protocol=4))
    return Path(path)
