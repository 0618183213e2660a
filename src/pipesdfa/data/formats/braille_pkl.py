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

Pickles can run code when loaded; :func:`load_pickle` only admits NumPy's array rebuilders,
pandas' data types and plain containers (a file asking for anything else is rejected, naming
it), and reads the file whole first, bounding every allocation by the file's size.
"""

from __future__ import annotations

import gzip
import io
import os
import pickle
import struct
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

#: Every global a data pickle of these files may name: NumPy's array and scalar rebuilders (both
#: the ``numpy.core`` and the NumPy 2 ``numpy._core`` spelling), plain containers and dates.
_NUMPY_CORE = ("numpy.core", "numpy._core")
_ALLOWED_GLOBALS = frozenset(
    {("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"), ("copyreg", "_reconstructor"),
     ("collections", "OrderedDict"), ("collections", "defaultdict"),
     ("datetime", "datetime"), ("datetime", "date"), ("datetime", "time"), ("datetime", "timedelta"),
     ("datetime", "timezone")}
    | {(f"{core}.{mod}", name) for core in _NUMPY_CORE
       for mod, name in (("multiarray", "_reconstruct"), ("multiarray", "scalar"), ("numeric", "_frombuffer"))}
    | {("builtins", name) for name in ("list", "dict", "tuple", "set", "frozenset", "int", "float", "str",
                                       "bytes", "bytearray", "complex", "bool", "slice", "range", "object")})
_PY2_MODULES = {"__builtin__": "builtins", "copy_reg": "copyreg"}
#: Bytes a data pickle may hold once decompressed (the largest published Braille pickle is ~10 MB).
MAX_PICKLE_BYTES = 1 << 31


def _pandas_data_global(module: str, name: str) -> bool:
    """pandas' own data types and their rebuilders (``_new_Index``, ``_unpickle_block``, ...) in
    ``pandas.core``/``pandas._libs``; never its readers (``read_pickle``, ``HDFStore``, ...)."""
    return (module.split(".")[:2] in (["pandas", "core"], ["pandas", "_libs"])
            and (name[:1].isupper() or name.startswith(("_new_", "_unpickle", "new_block"))))


class _RestrictedUnpickler(pickle._Unpickler):  # noqa: SLF001 -- see its docstring
    """An unpickler that admits only :data:`_ALLOWED_GLOBALS` and pandas' data types, and
    bounds every array it rebuilds by the pickle's own size.

    It is the pure-Python unpickler on purpose: the C one allocates a counted opcode's length
    (``BINBYTES8``, ``BYTEARRAY8``, ``FRAME``) before reading it, so one damaged length field asks
    for terabytes; the Python one reads from the in-memory file and fails on the short read."""

    def __init__(self, f, source: str, max_bytes: int = MAX_PICKLE_BYTES):
        super().__init__(f)
        self.source = source
        self.max_bytes = max_bytes

    def find_class(self, module: str, name: str) -> Any:
        module = _PY2_MODULES.get(module, module)  # protocol 0-2 pickles name Python 2's modules
        if module.split(".")[0] == "pandas" and _pandas_data_global(module, name):
            try:
                return super().find_class(module, name)
            except ModuleNotFoundError:
                raise UserError(f"{self.source}: this pickle holds a pandas object; install pandas "
                                f"(pip install pandas) to read it") from None
        if (module, name) not in _ALLOWED_GLOBALS:
            raise UserError(f"{self.source}: pickle asks for {module}.{name}, which is not a data type; refusing to load")
        obj = super().find_class(module, name)
        if name == "_reconstruct":
            return self._bounded(obj)
        return obj

    def _check_array(self, shape: Any, dtype: Any) -> None:
        """Refuse an array whose ``shape`` x ``dtype`` is larger than the pickle could fill (a
        damaged shape would otherwise allocate, and for object arrays zero, terabytes)."""
        dims = tuple(shape) if isinstance(shape, (tuple, list)) else (shape,)
        if not all(isinstance(d, (int, np.integer)) and d >= 0 for d in dims):
            raise UserError(f"{self.source}: an array in the pickle has shape {shape!r}, expected non-negative ints")
        n = int(np.prod(dims, dtype=object)) * max(1, np.dtype(dtype).itemsize)
        if n > self.max_bytes:
            raise UserError(f"{self.source}: an array in the pickle claims {n} bytes, more than the file holds")

    def _bounded(self, reconstruct: Any) -> Any:
        """``numpy``'s ``_reconstruct(cls, shape, dtype)`` behind :meth:`_check_array`."""

        def rebuild(cls: Any, shape: Any, dtype: Any) -> Any:
            self._check_array(shape, dtype)
            return reconstruct(cls, shape, dtype)

        return rebuild

    def load_build(self) -> None:
        """``BUILD``: an ndarray's ``__setstate__((version, shape, dtype, fortran, data))`` only
        after :meth:`_check_array` on its shape."""
        if len(self.stack) >= 2 and isinstance(self.stack[-2], np.ndarray):
            state = self.stack[-1]
            if not (isinstance(state, tuple) and len(state) in (4, 5)):
                raise UserError(f"{self.source}: an array in the pickle has a damaged state")
            self._check_array(state[-4], state[-3])
        super().load_build()

    def load_bytearray8(self) -> None:
        """``BYTEARRAY8``: read the bytes first (the base class zeroes the counted length)."""
        (n,) = struct.unpack("<Q", self.read(8))
        data = self.read(n)
        if len(data) < n:
            raise pickle.UnpicklingError("pickle data was truncated")
        self.append(bytearray(data))

    dispatch = dict(pickle._Unpickler.dispatch)  # noqa: SLF001
    dispatch[pickle.BUILD[0]] = load_build
    dispatch[pickle.BYTEARRAY8[0]] = load_bytearray8


def _read_bounded(path: Path, max_bytes: int) -> bytes:
    """The file's bytes, gunzipped when it starts with the gzip magic; at most ``max_bytes``."""
    too_big = UserError(f"{path}: more than {max_bytes} bytes of pickle; not a Braille data file")
    with open(path, "rb") as fh:
        if os.fstat(fh.fileno()).st_size > max_bytes:
            raise too_big
        raw = fh.read()
    if raw[:2] != b"\x1f\x8b":
        return raw
    chunks, total = [], 0
    with gzip.GzipFile(fileobj=io.BytesIO(raw)) as gz:
        while chunk := gz.read(1 << 20):
            total += len(chunk)
            if total > max_bytes:
                raise too_big
            chunks.append(chunk)
    return b"".join(chunks)


def load_pickle(path: str | os.PathLike[str], max_bytes: int = MAX_PICKLE_BYTES) -> Any:
    """Unpickle a (possibly gzipped) data file with the restricted unpickler.

    The file is read whole (at most ``max_bytes`` after decompression) and unpickled from
    memory, so a damaged length field cannot make a read ask for more than the file holds."""
    path = Path(path)
    try:
        data = _read_bounded(path, max_bytes)
        return _RestrictedUnpickler(io.BytesIO(data), str(path), max_bytes=max(len(data), 1 << 16)).load()
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
