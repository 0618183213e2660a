"""The 40-bit ATIS ``.bin`` format of N-MNIST and N-Caltech101 (also SLAYER's ``.bs2``).

A file is a headerless list of 5-byte events (Orchard et al. 2015, Front. Neurosci. 9:437):

====  =======================================================
byte  content
====  =======================================================
0     x (pixels)
1     y (pixels)
2     bit 7 = polarity (1 = ON); bits 6..0 = t[22:16]
3     t[15:8]
4     t[7:0]
====  =======================================================

so ``t = (b2 & 0x7F) << 16 | b3 << 8 | b4`` in microseconds (23 bits, wraps at 2**23 us,
about 8.4 s). A record with ``y == 240`` is a timestamp-overflow marker: it is dropped and
every later timestamp is offset by :data:`OVERFLOW_US` per marker seen. We add 2**23 (the
counter's wrap) so time keeps increasing; tonic and the Python port of Orchard's reader add
2**13 (DATASETS.md 1.1; ``overflow_us=2**13`` reproduces them). No real N-MNIST file we
inspected contains a marker, so both give the same events on them.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from pipesdfa.data.events import EVENT_DTYPE, make_events
from pipesdfa.util.errors import UserError

__all__ = ["read_atis_bin", "decode_atis_bytes", "encode_atis_bytes", "OVERFLOW_US", "OVERFLOW_Y", "RECORD_BYTES"]

RECORD_BYTES = 5
OVERFLOW_Y = 240
#: Offset added to every timestamp after an overflow record (the 23-bit counter's wrap).
OVERFLOW_US = 1 << 23


def decode_atis_bytes(raw: bytes | np.ndarray, source: str = "<bytes>", overflow_us: int = OVERFLOW_US) -> np.ndarray:
    """Decode 40-bit records to sorted events; ``source`` names the file in errors.

    ``overflow_us`` is the offset per ``y == 240`` marker (2**23; pass 2**13 to match tonic
    and Orchard's reference reader, which add 8,192 us)."""
    buf = np.frombuffer(raw, dtype=np.uint8) if not isinstance(raw, np.ndarray) else raw
    n_bytes = buf.shape[0]
    if n_bytes % RECORD_BYTES:
        whole = n_bytes - n_bytes % RECORD_BYTES
        raise UserError(
            f"{source}: truncated ATIS .bin file: {n_bytes} bytes is not a multiple of {RECORD_BYTES}; "
            f"the record at byte offset {whole} is incomplete"
        )
    rec = buf.reshape(-1, RECORD_BYTES).astype(np.int64)
    x, y, b2 = rec[:, 0], rec[:, 1], rec[:, 2]
    t = ((b2 & 0x7F) << 16) | (rec[:, 3] << 8) | rec[:, 4]
    marker = y == OVERFLOW_Y
    if marker.any():
        t = t + np.cumsum(marker) * int(overflow_us)
        keep = ~marker
        x, y, b2, t = x[keep], y[keep], b2[keep], t[keep]
    return make_events(t=t, x=x, y=y, p=(b2 >> 7) & 1, sort=True)


def read_atis_bin(path: str | os.PathLike[str], sensor: tuple[int, int] | None = None,
                  overflow_us: int = OVERFLOW_US) -> np.ndarray:
    """Read one ``.bin`` / ``.bs2`` sample; with ``sensor=(W, H)`` reject events outside it.

    An empty file is a valid sample with no events. A truncated file (size not a multiple
    of 5) or an event outside the sensor raises :class:`UserError` with the byte offset.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror or exc}") from None
    ev = decode_atis_bytes(raw, str(path), overflow_us)
    if sensor is not None and ev.shape[0]:
        w, h = sensor
        bad = (ev["x"] >= w) | (ev["y"] >= h)
        if bad.any():
            # Locate the offending record in the file (markers removed, so recompute on raw).
            rec = np.frombuffer(raw, dtype=np.uint8).reshape(-1, RECORD_BYTES)
            rx, ry = rec[:, 0].astype(int), rec[:, 1].astype(int)
            raw_bad = np.flatnonzero((ry != OVERFLOW_Y) & ((rx >= w) | (ry >= h)))
            i = int(raw_bad[0])
            raise UserError(
                f"{path}: corrupt event at byte offset {i * RECORD_BYTES}: x={rx[i]}, y={ry[i]} "
                f"outside the {w}x{h} sensor"
            )
    return ev


def encode_atis_bytes(ev: np.ndarray, overflow_records: bool = True) -> bytes:
    """Encode sorted events as 40-bit records (the inverse of :func:`decode_atis_bytes`).

    Timestamps at or past 2**23 us need ``overflow_records``: one ``y == 240`` marker is
    written each time the counter wraps, and the stored timestamp is ``t mod 2**23``.
    """
    ev = np.asarray(ev, dtype=EVENT_DTYPE)
    t = ev["t"].astype(np.int64)
    if t.size and t.min() < 0:
        raise ValueError("timestamps must be >= 0")
    wraps = t // OVERFLOW_US
    if t.size and wraps.max() > 0 and not overflow_records:
        raise ValueError("timestamps >= 2**23 us need overflow records")
    n_markers = int(wraps[-1]) if t.size else 0
    if t.size and np.any(np.diff(wraps) < 0):
        raise ValueError("events must be sorted by t")
    # Marker k (1-based) goes right before the first event with wraps >= k.
    marker_pos = np.searchsorted(wraps, np.arange(1, n_markers + 1), side="left")
    total = t.size + n_markers
    out = np.zeros((total, RECORD_BYTES), dtype=np.uint8)
    ev_rows = np.arange(t.size) + np.searchsorted(marker_pos, np.arange(t.size), side="right")
    mk_rows = marker_pos + np.arange(n_markers)
    tt = t % OVERFLOW_US
    out[ev_rows, 0] = ev["x"]
    out[ev_rows, 1] = ev["y"]
    out[ev_rows, 2] = ((ev["p"].astype(np.int64) & 1) << 7) | ((tt >> 16) & 0x7F)
    out[ev_rows, 3] = (tt >> 8) & 0xFF
    out[ev_rows, 4] = tt & 0xFF
    out[mk_rows, 1] = OVERFLOW_Y
    return out.tobytes()
