"""Spiking Heidelberg Digits HDF5 files (``shd_train.h5``, ``shd_test.h5``).

Layout (Cramer et al., TNNLS 2020; zenkelab.org/datasets):

* ``spikes/times``: one variable-length array per sample, **float16 seconds**;
* ``spikes/units``: one variable-length array per sample, uint16 channel 0..699;
* ``labels``: class 0..19; ``extra/keys``: the 20 class names; ``extra/speaker``.

Times are cast to float64 *before* scaling to microseconds: ``float16(t) * 1e6`` overflows
to ``inf`` above 0.0655 s (tonic issue #321). Events come out as ``x = channel``, ``y = 0``,
``p = 0`` (a single polarity), ``t = round(times * 1e6)`` us.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from pipesdfa.data.events import make_events
from pipesdfa.util.errors import UserError

__all__ = ["ShdFile", "SHD_CHANNELS", "REQUIRED_FIELDS"]

SHD_CHANNELS = 700
REQUIRED_FIELDS = ("spikes/times", "spikes/units", "labels")
#: What h5py raises on a damaged file (a truncated or overwritten B-tree, heap or dataset).
_H5_ERRORS = (OSError, KeyError, ValueError, TypeError, RuntimeError, IndexError, AttributeError, OverflowError)


class ShdFile:
    """Lazy reader of one SHD HDF5 file; the handle opens on first use in each process
    (so DataLoader workers each get their own)."""

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        self._h5 = None
        self._pid = None
        import h5py

        try:
            with h5py.File(self.path, "r") as f:
                for field in REQUIRED_FIELDS:
                    if field not in f:
                        raise UserError(f"{self.path}: missing field {field!r}; an SHD file has "
                                        f"{', '.join(REQUIRED_FIELDS)} (and extra/keys)")
                size = self.path.stat().st_size
                for field in REQUIRED_FIELDS:  # before any read: a damaged header can claim billions
                    n = int(np.prod(f[field].shape or (1,)))
                    if n > size:  # every sample takes at least one byte (SHD's vlen entries take 16)
                        raise UserError(f"{self.path}: field {field!r} claims {n} samples, more than the "
                                        f"file's {size} bytes can hold; the file is damaged")
                self.labels = np.asarray(f["labels"][()], dtype=np.int64)
                if self.labels.ndim != 1 or (self.labels.size and self.labels.min() < 0):
                    raise UserError(f"{self.path}: field 'labels' must be a list of class numbers >= 0, got shape "
                                    f"{self.labels.shape}")
                n_t, n_u = f["spikes/times"].shape[0], f["spikes/units"].shape[0]
                if not (n_t == n_u == self.labels.shape[0]):
                    raise UserError(f"{self.path}: field lengths differ: spikes/times {n_t}, "
                                    f"spikes/units {n_u}, labels {self.labels.shape[0]}")
                keys = f["extra/keys"][()] if "extra/keys" in f else None
                self.keys = ([k.decode() if isinstance(k, bytes) else str(k) for k in keys]
                             if keys is not None else None)
        except UserError:
            raise
        except _H5_ERRORS as exc:
            raise UserError(f"cannot read {self.path} as an SHD HDF5 file: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def _file(self):
        import h5py

        if self._h5 is None or self._pid != os.getpid():
            self._h5 = h5py.File(self.path, "r")
            self._pid = os.getpid()
        return self._h5

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_h5"] = None
        return state

    def events(self, i: int) -> np.ndarray:
        """Events of sample ``i`` (sorted by time)."""
        try:
            f = self._file()
            times = np.asarray(f["spikes/times"][i]).astype(np.float64).ravel()
            units = np.asarray(f["spikes/units"][i]).astype(np.int64).ravel()
        except _H5_ERRORS as exc:
            raise UserError(f"{self.path}: sample {i}: cannot read spikes/times and spikes/units "
                            f"({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None
        if times.shape != units.shape:
            raise UserError(f"{self.path}: sample {i}: spikes/times has {times.shape[0]} entries "
                            f"but spikes/units has {units.shape[0]}")
        if units.size and (units.min() < 0 or units.max() >= SHD_CHANNELS):
            raise UserError(f"{self.path}: sample {i}: spikes/units outside 0..{SHD_CHANNELS - 1}")
        if not np.all(np.isfinite(times)) or (times.size and times.min() < 0):
            raise UserError(f"{self.path}: sample {i}: spikes/times has negative or non-finite values")
        return make_events(t=np.rint(times * 1e6).astype(np.int64), x=units, y=0, p=0)
