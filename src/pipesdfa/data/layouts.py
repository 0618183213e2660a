"""Finding each dataset's files under a user-given root, with errors that say what was
expected, where the official source publishes it and how to place it.

Each ``find_<dataset>(root)`` tries ``root`` and a few customary sub-folders (listed in
``CANDIDATES``) and returns a small layout object, or raises :class:`UserError` (one line).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pipesdfa.data.catalog import CATALOG
from pipesdfa.util.errors import UserError

__all__ = ["NmnistLayout", "NcaltechLayout", "ShdLayout", "GestureLayout", "BrailleLayout", "find_nmnist",
           "find_ncaltech101", "find_shd", "find_dvsgesture", "find_braille", "CANDIDATES", "SOURCES",
           "stratified_split", "file_identity", "require_root"]

#: Sub-folders of ROOT searched, in order ("" = ROOT itself).
CANDIDATES: dict[str, tuple[str, ...]] = {
    "nmnist": ("", "NMNIST", "N-MNIST", "nmnist", "nmnist/slayerPytorch_NMNISTsmall"),
    "ncaltech101": ("", "Caltech101", "N-Caltech101", "N-Caltech101/Caltech101", "ncaltech101", "ncaltech101/Caltech101"),
    "shd": ("", "shd", "SHD", "hdspikes"),
    "dvsgesture": ("", "DvsGesture", "dvsgesture", "dvs_gesture", "dvsgesture/DvsGesture"),
    "braille": ("", "braille", "reading_braille_data", "braille/spytorch_notebooks_data"),
}

#: Where the official files are published (also used by ``pipesdfa data fetch``), from the catalog.
SOURCES: dict[str, str] = {n: r.source for n, r in CATALOG.items() if not r.embedded}


def require_root(name: str, root: str | os.PathLike[str] | None) -> Path:
    if root is None:
        raise UserError(f"dataset {name!r} reads real files: give --data-dir ROOT (get them from {SOURCES[name]})")
    root = Path(root)
    if not root.is_dir():
        raise UserError(f"--data-dir {root} is not a folder (dataset {name!r}; get it from {SOURCES[name]})")
    return root


def file_identity(root: Path, files: list[Path]) -> dict:
    """Digest of the files' relative names, sizes and mtimes (part of the frame cache key)."""
    import hashlib

    h = hashlib.sha256()
    for f in files:
        st = f.stat()
        h.update(f"{f.relative_to(root)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return {"root": str(root.resolve()), "files": len(files), "digest": h.hexdigest()[:16]}


def stratified_split(labels: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Per class, shuffle its indices with ``default_rng(seed)`` (classes in label order) and
    put ``round(test_fraction * n_c)`` of them (at least 1 when ``n_c >= 2``) in the test set.
    Returns sorted ``(train_idx, test_idx)``."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        idx = idx[rng.permutation(idx.size)]
        n_test = int(round(test_fraction * idx.size))
        if idx.size >= 2:
            n_test = min(max(n_test, 1), idx.size - 1)
        else:
            n_test = 0
        test.append(idx[:n_test])
        train.append(idx[n_test:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def _candidates(name: str, root: Path) -> list[Path]:
    return [root / sub if sub else root for sub in CANDIDATES[name] if (root / sub if sub else root).is_dir()]


def _numeric_key(p: Path) -> tuple:
    m = re.search(r"(\d+)", p.stem)
    return (int(m.group(1)) if m else -1, p.name)


# ------------------------------------------------------------------------------- N-MNIST

@dataclass
class NmnistLayout:
    root: Path
    kind: str  # "official" or "slayer"
    files: dict[str, list[Path]] = field(default_factory=dict)
    labels: dict[str, list[int]] = field(default_factory=dict)


def _nmnist_official(d: Path) -> NmnistLayout | None:
    dirs = {s: next((d / n for n in (s, s.lower()) if (d / n).is_dir()), None) for s in ("Train", "Test")}
    if not all(dirs.values()):
        return None
    lay = NmnistLayout(d, "official")
    for split, sd in dirs.items():
        files, labels = [], []
        for digit in range(10):
            fs = sorted((sd / str(digit)).glob("*.bin"), key=_numeric_key) if (sd / str(digit)).is_dir() else []
            files += fs
            labels += [digit] * len(fs)
        if not files:
            raise UserError(f"N-MNIST folder {sd} has no <digit>/<n>.bin files; expected {sd}/0/00001.bin ... "
                            f"{sd}/9/... (unzip {split.lower()}.zip from {SOURCES['nmnist']})")
        lay.files[split.lower()], lay.labels[split.lower()] = files, labels
    return lay


def _read_label_list(path: Path) -> list[tuple[int, int]]:
    out = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        parts = s.split()
        try:
            sid, lab = int(parts[0]), int(parts[1])
        except (ValueError, IndexError):
            raise UserError(f"{path}: line {lineno}: expected '<sample> <class>' integers, got {s!r}") from None
        if not 0 <= lab <= 9:
            raise UserError(f"{path}: line {lineno}: class {lab} outside 0..9")
        out.append((sid, lab))
    return out


def _nmnist_slayer(d: Path) -> NmnistLayout | None:
    tr = sorted(d.glob("train*.txt"))
    te = sorted(d.glob("test*.txt"))
    if not (tr and te):
        return None
    lay = NmnistLayout(d, "slayer")
    for split, lists in (("train", tr), ("test", te)):
        entries = _read_label_list(lists[0])
        files, missing = [], []
        for sid, _ in entries:
            f = next((d / f"{sid}{ext}" for ext in (".bs2", ".bin") if (d / f"{sid}{ext}").is_file()), None)
            (files if f else missing).append(f or f"{sid}.bs2")
        if missing:
            raise UserError(f"{lists[0]} lists {len(entries)} samples but {len(missing)} files are missing in {d}, "
                            f"e.g. {missing[0]}")
        lay.files[split], lay.labels[split] = files, [lab for _, lab in entries]
    return lay


def find_nmnist(root: str | os.PathLike[str] | None, layout: str = "auto") -> NmnistLayout:
    """The official ``Train/<digit>/<n>.bin`` + ``Test/...`` layout, or SLAYER's flat subset
    (``<n>.bs2`` with ``train*.txt`` / ``test*.txt`` label lists: ``#sample #class`` lines)."""
    root = require_root("nmnist", root)
    if layout not in ("auto", "official", "slayer"):
        raise UserError(f"N-MNIST layout {layout!r} unknown; expected auto, official or slayer")
    for d in _candidates("nmnist", root):
        for kind, fn in (("official", _nmnist_official), ("slayer", _nmnist_slayer)):
            if layout in ("auto", kind):
                lay = fn(d)
                if lay is not None:
                    return lay
    raise UserError(
        f"N-MNIST not found under {root}: expected {root}/Train/<digit>/<n>.bin and {root}/Test/<digit>/<n>.bin "
        f"(the official layout: unzip train.zip and test.zip from {SOURCES['nmnist']} into {root}), "
        f"or a flat folder of <n>.bs2 files with train*.txt and test*.txt label lists (SLAYER's NMNISTsmall); "
        f"also searched the sub-folders {', '.join(s for s in CANDIDATES['nmnist'] if s)}"
    )


# -------------------------------------------------------------------------- N-Caltech101

@dataclass
class NcaltechLayout:
    root: Path
    classes: list[str]
    files: list[Path]
    labels: list[int]


def find_ncaltech101(root: str | os.PathLike[str] | None, background: bool = True) -> NcaltechLayout:
    """``ROOT/<class>/image_<n>.bin`` (101 folders incl. ``BACKGROUND_Google``); class =
    index of the folder name in sorted order."""
    root = require_root("ncaltech101", root)
    for d in _candidates("ncaltech101", root):
        classes = sorted(p.name for p in d.iterdir() if p.is_dir() and any(p.glob("image_*.bin")))
        if not background:
            classes = [c for c in classes if c != "BACKGROUND_Google"]
        if len(classes) >= 2:
            files, labels = [], []
            for k, c in enumerate(classes):
                fs = sorted((d / c).glob("image_*.bin"), key=_numeric_key)
                files += fs
                labels += [k] * len(fs)
            return NcaltechLayout(d, classes, files, labels)
    raise UserError(
        f"N-Caltech101 not found under {root}: expected {root}/<class>/image_<n>.bin for the 101 class folders "
        f"(accordion, airplanes, ..., BACKGROUND_Google; unzip Caltech101.zip from {SOURCES['ncaltech101']} so "
        f"that {root}/Caltech101/<class>/ or {root}/<class>/ exists)"
    )


# ----------------------------------------------------------------------------------- SHD

@dataclass
class ShdLayout:
    root: Path
    files: dict[str, Path]


def find_shd(root: str | os.PathLike[str] | None) -> ShdLayout:
    root = require_root("shd", root)
    for d in _candidates("shd", root):
        files = {s: d / f"shd_{s}.h5" for s in ("train", "test")}
        if all(f.is_file() for f in files.values()):
            return ShdLayout(d, files)
        packed = [p.name for s in ("train", "test") for p in d.glob(f"shd_{s}.h5.*")]
        if packed:
            raise UserError(f"SHD under {d}: found {', '.join(sorted(packed))} but not the extracted "
                            f"shd_train.h5 and shd_test.h5; unzip/gunzip them into {d}")
    raise UserError(f"SHD not found under {root}: expected {root}/shd_train.h5 and {root}/shd_test.h5 "
                    f"(from {SOURCES['shd']}; extract the archives into {root})")


# --------------------------------------------------------------------------- DVS Gesture

@dataclass
class GestureLayout:
    root: Path
    trials: dict[str, list[str]]  # split -> trial stems (userNN_<light>)


def find_dvsgesture(root: str | os.PathLike[str] | None) -> GestureLayout:
    """The extracted ``DvsGesture/`` folder: ``trials_to_train.txt``, ``trials_to_test.txt`` and,
    per listed trial, ``userNN_<light>.aedat`` + ``userNN_<light>_labels.csv``."""
    from pipesdfa.data.formats.aedat31 import read_trial_list

    root = require_root("dvsgesture", root)
    for d in _candidates("dvsgesture", root):
        lists = {s: d / f"trials_to_{s}.txt" for s in ("train", "test")}
        if not all(p.is_file() for p in lists.values()):
            continue
        trials, missing = {}, []
        for split, p in lists.items():
            stems = [n[: -len(".aedat")] for n in read_trial_list(p)]
            for s in stems:
                for f in (d / f"{s}.aedat", d / f"{s}_labels.csv"):
                    if not f.is_file():
                        missing.append(f.name)
            trials[split] = stems
        if missing:
            raise UserError(f"DVS Gesture folder {d} lacks {len(missing)} files listed by trials_to_*.txt, e.g. "
                            f"{', '.join(missing[:3])} (extract the whole DvsGesture.tar.gz from {SOURCES['dvsgesture']})")
        return GestureLayout(d, trials)
    raise UserError(
        f"DVS Gesture not found under {root}: expected the extracted DvsGesture/ folder with trials_to_train.txt, "
        f"trials_to_test.txt, userNN_<lighting>.aedat and userNN_<lighting>_labels.csv "
        f"(from {SOURCES['dvsgesture']}; extract it so that {root}/DvsGesture/trials_to_train.txt exists)"
    )


# ------------------------------------------------------------------------------- Braille

RAW_NAMES = ("tutorial5_braille_spiking_data.pkl.gz", "data_braille_letters_digits.pkl",
             "data_braille_letters_raw.pkl", "data_braille_letters_raw.pkl.gz")


def _fmt_threshold(th: float) -> str:
    return str(int(th)) if float(th).is_integer() else str(th)


@dataclass
class BrailleLayout:
    path: Path
    kind: str  # "events" (authors' encoded pickle) or "raw" (taxel_data; our encoder)


def find_braille(root: str | os.PathLike[str] | None, threshold: float = 1.0, source: str = "auto",
                 file: str | os.PathLike[str] | None = None) -> BrailleLayout:
    """The authors' ``data_braille_letters_th_<threshold>.pkl`` (``source="events"``, preferred
    by ``auto``) or a raw pickle (``source="raw"``: one of ``RAW_NAMES``); ``file`` names one
    explicitly (its kind is detected from its content)."""
    if source not in ("auto", "events", "raw"):
        raise UserError(f"Braille source {source!r} unknown; expected auto, events or raw")
    if file is not None:
        p = Path(file)
        if not p.is_file():
            raise UserError(f"Braille file {p} does not exist")
        return BrailleLayout(p, "unknown")
    root = require_root("braille", root)
    ev_name = f"data_braille_letters_th_{_fmt_threshold(threshold)}.pkl"
    for d in _candidates("braille", root):
        if source in ("auto", "events") and (d / ev_name).is_file():
            return BrailleLayout(d / ev_name, "events")
        if source in ("auto", "raw"):
            for n in RAW_NAMES:
                if (d / n).is_file():
                    return BrailleLayout(d / n, "raw")
    want = {"events": ev_name, "raw": " or ".join(RAW_NAMES),
            "auto": f"{ev_name} (encoded events) or one raw pickle: {' / '.join(RAW_NAMES)}"}[source]
    raise UserError(f"Braille letters not found under {root}: expected {root}/{want} "
                    f"(from {SOURCES['braille']}; unzip it into {root})")
