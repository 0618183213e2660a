"""Tactile Braille letters (Mueller-Cleve et al. 2022, doi:10.3389/fnins.2022.951164).

Two pickle forms exist (DATASETS.md 1.3):

* **raw** (Zenodo 10.5281/zenodo.6556273; SpyTorch's ``tutorial5_braille_spiking_data.pkl.gz``;
  ``data_braille_letters_digits.pkl``): a list of dicts ``{letter, repetition,
  taxel_data: float (T, 12)}`` sampled at 40 Hz, 255 = no contact. Gzipped or not.
* **events** (Zenodo 10.5281/zenodo.7050094, ``data_braille_letters_th_<theta>.pkl``): records
  ``{letter, events: [12 taxels] x [ON_times_s, OFF_times_s]}`` (a list of dicts or a pandas
  DataFrame, which then needs pandas).

Raw samples become ON/OFF events with our own sigma-delta encoder
(:func:`sigma_delta_encode`). Events: ``x`` = taxel 0..11, ``y = 0``, ``p`` = 1 ON / 0 OFF,
``t`` in microseconds.

Pickles can run code when loaded; :func:`load_pickle` only admits NumPy, pandas and plain
containers (a file asking for any other class is rejected, naming the class).
"""

from __future__ import annotations

import gzip
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from pipesdfa.data.events import make_events
from pipesdfa.util.errors import UserError

__all__ = ["load_pickle", "read_braille_raw", "read_braille_events", "sigma_delta_encode",
           "TAXELS", "SAMPLE_RATE_HZ", "LETTERS", "NO_CONTACT"]

TAXELS = 12
SAMPLE_RATE_HZ = 40.0
NO_CONTACT = 255.0
#: The 27 classes in the dataset's own order.
LETTERS = ("Space",) + tuple(chr(c) for c in range(ord("A"), ord("Z") + 1))

_ALLOWED_MODULES = ("numpy", "pandas", "copyreg", "collections", "datetime")
_ALLOWED_BUILTINS = {"list", "dict", "tuple", "set", "frozenset", "int", "float", "str", "bytes",
                     "bytearray", "complex", "bool", "slice", "range", "object"}


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, f, source: str):
        super().__init__(f)
        self.source = source

    def find_class(self, module: str, name: str) -> Any:
        root = module.split(".")[0]
        if (module == "builtins" and name in _ALLOWED_BUILTINS) or root in _ALLOWED_MODULES:
            try:
                return super().find_class(module, name)
            except ModuleNotFoundError:
                if root == "pandas":
                    raise UserError(f"{self.source}: this pickle holds a pandas object; install pandas "
                                    f"(pip install pandas) to read it") from None
                raise
        raise UserError(f"{self.source}: pickle asks for {module}.{name}, which is not a data type; refusing to load")


def load_pickle(path: str | os.PathLike[str]) -> Any:
    """Unpickle a (possibly gzipped) data file with the restricted unpickler."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            magic = fh.read(2)
        opener = gzip.open if magic == b"\x1f\x8b" else open
        with opener(path, "rb") as fh:
            return _RestrictedUnpickler(fh, str(path)).load()
    except UserError:
        raise
    except Exception as exc:  # noqa: BLE001 -- a damaged pickle can fail in any opcode (AttributeError,
        # IndexError, zlib.error, MemoryError, ...); the restricted unpickler already refused code
        raise UserError(f"cannot read {path} as a pickle: {type(exc).__name__}: {exc}") from None


def _records(path: str | os.PathLike[str], field: str) -> list[tuple[int, Any, str]]:
    """``(index, record[field], letter)`` per sample of a pickled list of dicts (or DataFrame)."""
    obj = load_pickle(path)
    if hasattr(obj, "to_dict") and hasattr(obj, "columns"):  # pandas DataFrame
        obj = obj.to_dict("records")
    if not isinstance(obj, (list, tuple)) or not all(isinstance(r, dict) for r in obj):
        raise UserError(f"{path}: expected a list of dicts (one per sample), got {type(obj).__name__}")
    out = []
    for i, r in enumerate(obj):
        if field not in r or "letter" not in r:
            raise UserError(f"{path}: sample {i}: missing field {field!r} or 'letter'")
        out.append((i, r[field], str(r["letter"])))
    return out


def read_braille_raw(path: str | os.PathLike[str]) -> tuple[list[np.ndarray], list[str]]:
    """``(taxel_data arrays (T_i, 12) float64, letters)`` of a raw Braille pickle."""
    data, letters = [], []
    for i, value, letter in _records(path, "taxel_data"):
        try:
            a = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError, OverflowError):
            raise UserError(f"{path}: sample {i}: field 'taxel_data' is not a (T, {TAXELS}) array of numbers") from None
        if a.ndim != 2 or a.shape[1] != TAXELS:
            raise UserError(f"{path}: sample {i}: field 'taxel_data' has shape {a.shape}, expected (T, {TAXELS})")
        if not np.all(np.isfinite(a)):
            raise UserError(f"{path}: sample {i}: field 'taxel_data' holds values that are not finite numbers")
        data.append(a)
        letters.append(letter)
    return data, letters


def read_braille_events(path: str | os.PathLike[str]) -> tuple[list[np.ndarray], list[str]]:
    """``(events, letters)`` of an authors' event pickle (times in seconds -> us)."""
    out, letters = [], []
    for i, taxels, letter in _records(path, "events"):
        try:
            ev = _sample_events(taxels)
        except (TypeError, ValueError, OverflowError):
            raise UserError(f"{path}: sample {i}: field 'events' must be {TAXELS} taxels of [ON_times, OFF_times] "
                            f"lists of seconds") from None
        if ev is None:
            raise UserError(f"{path}: sample {i}: event times must be finite and >= 0 seconds")
        out.append(ev)
        letters.append(letter)
    return out, letters


def _sample_events(taxels: Any) -> np.ndarray | None:
    """Events of one sample's ``[12 taxels] x [ON_times_s, OFF_times_s]`` (``None``: bad times);
    ``TypeError``/``ValueError`` when the structure is not that."""
    if len(taxels) != TAXELS:
        raise ValueError("taxels")
    ts, xs, ps = [], [], []
    for k, pair in enumerate(taxels):
        if len(pair) != 2:
            raise ValueError("pair")
        for pol, times in ((1, pair[0]), (0, pair[1])):
            tt = np.asarray(times, dtype=np.float64).ravel()
            ts.append(tt)
            xs.append(np.full(tt.shape, k))
            ps.append(np.full(tt.shape, pol))
    t = np.concatenate(ts)
    if t.size and (not np.all(np.isfinite(t)) or t.min() < 0 or t.max() > 1e9):
        return None
    return make_events(t=np.rint(t * 1e6).astype(np.int64), x=np.concatenate(xs), y=0, p=np.concatenate(ps))


def sigma_delta_encode(taxel_data: np.ndarray, threshold: float, dt_us: float = 1e6 / SAMPLE_RATE_HZ) -> np.ndarray:
    """ON/OFF events of a sampled signal by level crossing with hysteresis.

    The signal is ``s = |255 - taxel|`` (contact depth, 0 = no contact). The encoder keeps a
    level ``L`` per taxel, starting at ``s[0]``. Between samples ``j`` and ``j+1`` the signal
    is taken as linear; each time it reaches ``L + theta`` an ON event fires and ``L += theta``,
    each time it reaches ``L - theta`` an OFF event fires and ``L -= theta``. The event time
    is the interpolated crossing time ``t_j + (level - s_j) / (s_{j+1} - s_j) * dt`` (us).

    The loop runs over the ~77 samples, vectorised over taxels and over crossings.
    """
    if threshold <= 0:
        raise UserError(f"Braille encoder threshold must be > 0, got {threshold}")
    a = np.asarray(taxel_data, dtype=np.float64)
    s = np.abs(NO_CONTACT - a)  # (T, K)
    n_steps, k_tax = s.shape
    level = s[0].copy() if n_steps else np.zeros(k_tax)
    ts, xs, ps = [], [], []
    taxel_ids = np.arange(k_tax)
    eps = 1e-9 * threshold
    for j in range(n_steps - 1):
        s0, s1 = s[j], s[j + 1]
        n_on = np.where(s1 >= level + threshold - eps, np.floor((s1 - level) / threshold + 1e-9), 0).astype(np.int64)
        n_off = np.where(s1 <= level - threshold + eps, np.floor((level - s1) / threshold + 1e-9), 0).astype(np.int64)
        for n, sign, pol in ((n_on, 1.0, 1), (n_off, -1.0, 0)):
            total = int(n.sum())
            if not total:
                continue
            tax = np.repeat(taxel_ids, n)
            # crossing index 1..n within each taxel
            m = np.arange(total) - np.repeat(np.cumsum(n) - n, n) + 1
            lv = level[tax] + sign * m * threshold
            frac = (lv - s0[tax]) / (s1[tax] - s0[tax])
            ts.append((j + np.clip(frac, 0.0, 1.0)) * dt_us)
            xs.append(tax)
            ps.append(np.full(total, pol))
        level = level + n_on * threshold - n_off * threshold
    if not ts:
        return make_events(t=np.zeros(0, np.int64), x=np.zeros(0), y=0, p=np.zeros(0))
    return make_events(t=np.rint(np.concatenate(ts)).astype(np.int64), x=np.concatenate(xs), y=0,
                       p=np.concatenate(ps))
