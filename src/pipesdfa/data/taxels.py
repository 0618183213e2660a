"""Raw Braille recordings as taxel arrays, and tactile shifts applied to them before encoding.

A tactile shift (:mod:`pipesdfa.data.shifts`: taxel drift, a dead taxel, a time warp) acts on
the raw taxel values, so it needs the raw recordings (an events pickle has none). Sample ``i``
of a split draws its noise from :func:`~pipesdfa.data.shifting.noise_index`, with the split
of :func:`~pipesdfa.data.layouts.stratified_split` (the one :func:`pipesdfa.data.datasets.load_braille`
uses).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipesdfa.data.formats.braille_pkl import LETTERS, load_pickle, read_braille_raw
from pipesdfa.data.layouts import find_braille, stratified_split
from pipesdfa.data.shifting import noise_index
from pipesdfa.data.shifts import Shift
from pipesdfa.util.errors import UserError

__all__ = ["braille_kind", "shift_taxels", "braille_taxels"]


def braille_kind(path: Path, kind: str) -> str:
    """``"raw"`` or ``"events"``: the layout's kind, or read from the file when it is ``"unknown"``."""
    if kind == "unknown":
        recs = load_pickle(path)
        first = recs[0] if isinstance(recs, list) and recs else {}
        kind = "events" if isinstance(first, dict) and "events" in first else "raw"
    return kind


def shift_taxels(data: list[np.ndarray], labels: np.ndarray, split_seed: int, test_fraction: float,
                 shift: Shift) -> list[np.ndarray]:
    """Every raw recording through a tactile shift, sample ``i`` of a split drawing its noise
    from :func:`~pipesdfa.data.shifting.noise_index` (the split of :func:`stratified_split`)."""
    out = list(data)
    for split, idx in zip(("train", "test"), stratified_split(labels, test_fraction, split_seed)):
        for pos, i in enumerate(idx):
            out[i] = shift.taxels(data[i], noise_index(split, pos))
    return out


def braille_taxels(data_dir, source: str = "auto", file=None, threshold: float = 1.0, split_seed: int = 0,
                   test_fraction: float = 0.2, shift: Shift | None = None) -> dict[str, list[np.ndarray]]:
    """``{split: raw taxel arrays}`` of the raw Braille recordings (shifted when ``shift`` is given),
    split as :func:`load_braille` splits them; an event pickle has no raw values (UserError)."""
    lay = find_braille(data_dir, threshold, source, file)
    if braille_kind(lay.path, lay.kind) != "raw":
        raise UserError(f"{lay.path} holds encoded events, not the raw taxel values a tactile shift needs; "
                        f"give the raw recordings (source 'raw', doi:10.5281/zenodo.6556273)")
    data, letters = read_braille_raw(lay.path)
    labels = np.array([LETTERS.index(x) if x in LETTERS else -1 for x in letters], dtype=np.int64)
    if shift is not None:
        data = shift_taxels(data, labels, split_seed, test_fraction, shift)
    tr, te = stratified_split(labels, test_fraction, split_seed)
    return {"train": [data[i] for i in tr], "test": [data[i] for i in te]}
