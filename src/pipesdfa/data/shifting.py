"""Shifts and few-shot subsets as dataset options: what the loaders do with ``shift``,
``shift_seed``, ``samples_per_class`` and ``subset_seed``.

* ``shift`` (``"NAME"`` or ``"NAME:key=value,..."``, :mod:`pipesdfa.data.shifts`) with
  ``shift_seed``: event-camera shifts act on each sample's events before they are framed;
  tactile shifts act on the raw taxel values before the sigma-delta encoder. The per-sample
  noise of sample ``i`` of split ``s`` is drawn from ``(shift_seed, i + SPLIT_OFFSET[s])``,
  ``i`` its position in the whole split (before ``max_train``/``samples_per_class`` cut it),
  so a sample gets the same noise whatever subset it is part of. The shift's identity
  (``{"shift": spec, "shift_seed": seed}``) is part of the frame cache key.
* ``samples_per_class`` ``K`` with ``subset_seed``: the training split is cut to ``K``
  samples of every class, drawn without replacement by :func:`per_class_indices` (a
  seeded stratified draw; the test split is never cut by it). A class with fewer than ``K``
  training samples is an error.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from pipesdfa.data.shifts import Shift, parse_shift
from pipesdfa.util.errors import UserError

__all__ = ["SPLIT_OFFSET", "noise_index", "resolve_shift", "ShiftedRead", "shift_source", "per_class_indices",
           "per_class_source"]

#: Added to a sample's position in its split to seed its per-sample noise (train and test differ).
SPLIT_OFFSET = {"train": 0, "test": 1 << 32}


def noise_index(split: str, i: int) -> int:
    """The index a shift draws sample ``i`` of ``split``'s noise from."""
    return SPLIT_OFFSET[split] + int(i)


def resolve_shift(dataset: str, shift: str | Shift | None, shift_seed: int = 0) -> Shift | None:
    """``shift`` parsed for ``dataset`` (``None``: no shift); a wrong name or kind is a UserError."""
    if shift is None or shift == "":
        return None
    if isinstance(shift, Shift):
        return shift
    if isinstance(shift_seed, bool) or not isinstance(shift_seed, int) or shift_seed < 0:
        raise UserError(f"shift_seed must be an integer >= 0, got {shift_seed!r}")
    return parse_shift(shift, shift_seed, dataset)


class ShiftedRead:
    """``read((index, item))`` = ``shift.events(read(item), sensor_size, index)`` (picklable)."""

    def __init__(self, read: Callable[[Any], np.ndarray], shift: Shift, sensor_size: Sequence[int]):
        self.read = read
        self.shift = shift
        self.sensor_size = tuple(int(v) for v in sensor_size)

    def __call__(self, item: tuple[int, Any]) -> np.ndarray:
        index, inner = item
        return self.shift.events(self.read(inner), self.sensor_size, index)  # type: ignore[arg-type]


def shift_source(src, shift: Shift | None, sensor_size: Sequence[int], split: str):
    """A :class:`~pipesdfa.data.dataset.ListSource` whose events are ``src``'s shifted (``src``
    itself when ``shift`` is None); its identity names the shift."""
    if shift is None:
        return src
    from pipesdfa.data.dataset import ListSource

    items = [(noise_index(split, i), it) for i, it in enumerate(src.items)]
    return ListSource(items, src.labels, ShiftedRead(src._read, shift, sensor_size),
                      {"of": src.identity(), **shift.identity()})


def per_class_indices(labels: np.ndarray, k: int, seed: int, where: str = "the training split",
                      class_names: Sequence[str] | None = None) -> np.ndarray:
    """Sorted indices of ``k`` samples of every class of ``labels``, drawn per class (classes in
    label order) with ``default_rng([seed, class])``: the draw of one class does not depend on
    the others, and the ``k`` samples of a seed are the first ``k`` of its draw for a larger ``k``."""
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise UserError(f"samples_per_class must be a positive integer, got {k!r}")
    labels = np.asarray(labels, dtype=np.int64)
    out = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        if idx.size < k:
            name = class_names[c] if class_names is not None and c < len(class_names) else str(c)
            raise UserError(f"--samples-per-class {k} is larger than {where}: class {name!r} has {idx.size} "
                            f"sample{'s' if idx.size != 1 else ''}")
        perm = np.random.default_rng([int(seed), int(c)]).permutation(idx.size)
        out.append(idx[np.sort(perm[:k])])
    return np.sort(np.concatenate(out)) if out else np.zeros(0, np.int64)


def per_class_source(src, k: int | None, seed: int, where: str, class_names: Sequence[str] | None = None):
    """``src`` cut to ``k`` samples per class (:func:`per_class_indices`), or as is (``k`` None)."""
    if k is None:
        return src
    from pipesdfa.data.dataset import ListSource

    keep = per_class_indices(src.labels, k, seed, where, class_names)
    return ListSource([src.items[i] for i in keep], src.labels[keep], src._read,
                      {"of": src.identity(), "per_class": k, "subset_seed": seed})
