"""The in-memory event representation shared by every reader.

Events are a NumPy structured array with fields ``t`` (int64, microseconds), ``x``, ``y``
(int16 pixel or channel coordinates; ``y = 0`` for 1-D sensors such as SHD's 700 channels
or Braille's 12 taxels) and ``p`` (int8 polarity: 1 = ON, 0 = OFF), sorted by ``t``.

A sensor size is ``(W, H, P)``: width, height and number of polarities (tonic's convention).
"""

from __future__ import annotations

import numpy as np

__all__ = ["EVENT_DTYPE", "make_events", "empty_events", "check_sorted"]

EVENT_DTYPE = np.dtype([("t", np.int64), ("x", np.int16), ("y", np.int16), ("p", np.int8)])


def make_events(t, x, y=None, p=None, sort: bool = True) -> np.ndarray:
    """Build an event array from columns (``y`` and ``p`` default to 0 and 1).

    ``t`` must already be in microseconds (convert seconds with ``np.float64`` first:
    float16 times overflow when multiplied by 1e6).
    """
    t = np.asarray(t)
    n = t.shape[0]
    ev = np.empty(n, dtype=EVENT_DTYPE)
    ev["t"] = t
    ev["x"] = x
    ev["y"] = 0 if y is None else y
    ev["p"] = 1 if p is None else p
    if sort and n > 1 and np.any(np.diff(ev["t"]) < 0):
        ev = ev[np.argsort(ev["t"], kind="stable")]
    return ev


def empty_events() -> np.ndarray:
    return np.empty(0, dtype=EVENT_DTYPE)


def check_sorted(ev: np.ndarray) -> bool:
    return bool(ev.shape[0] < 2 or np.all(np.diff(ev["t"]) >= 0))
