"""AEDAT 3.1 (DVS128 Gesture recordings) and the gesture label CSVs.

File layout (inivation AEDAT 3.1 spec; DATASETS.md 1.4):

1. ASCII header lines starting with ``#`` and ending in ``\\r\\n``; the first is
   ``#!AER-DAT3.1``, the last ``#!END-HEADER``.
2. Packets, each a 28-byte little-endian header ``u16 eventType, u16 eventSource,
   u32 eventSize, u32 eventTSOffset, u32 eventTSOverflow, u32 eventCapacity,
   u32 eventNumber, u32 eventValid`` followed by ``eventCapacity * eventSize`` bytes.
3. Polarity packets (``eventType == 1``, ``eventSize == 8``) hold ``u32 data, u32 ts``
   per event: ``x = data >> 17 & 0x1FFF``, ``y = data >> 2 & 0x1FFF``,
   ``p = data >> 1 & 1``, bit 0 = valid; the full timestamp is ``ts | tsOverflow << 31`` us.

Other packet types are skipped. Events in a packet are decoded with one ``np.frombuffer``
(the loop runs over packets, never over events). Coordinates are kept raw (no flip).
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np

from pipesdfa.data.events import empty_events, make_events
from pipesdfa.util.errors import UserError

__all__ = ["read_aedat31", "parse_aedat31", "read_gesture_labels", "read_trial_list",
           "HEADER_MAGIC", "PACKET_HEADER", "POLARITY_EVENT"]

HEADER_MAGIC = b"#!AER-DAT3.1"
HEADER_END = b"#!END-HEADER\r\n"
PACKET_HEADER = np.dtype([("type", "<u2"), ("source", "<u2"), ("size", "<u4"), ("ts_offset", "<u4"),
                          ("ts_overflow", "<u4"), ("capacity", "<u4"), ("number", "<u4"), ("valid", "<u4")])
POLARITY_EVENT = 1
LABEL_HEADER = ["class", "startTime_usec", "endTime_usec"]


def _body_offset(raw: bytes, source: str) -> int:
    if not raw.startswith(HEADER_MAGIC):
        raise UserError(f"{source}: not an AEDAT 3.1 file: expected the first line {HEADER_MAGIC.decode()!r} "
                        f"at byte offset 0")
    end = raw.find(HEADER_END)
    if end < 0:
        raise UserError(f"{source}: AEDAT 3.1 header has no '#!END-HEADER' line")
    return end + len(HEADER_END)


def parse_aedat31(raw: bytes, source: str = "<bytes>") -> np.ndarray:
    """Decode the polarity events of an AEDAT 3.1 byte string (sorted by time)."""
    pos = _body_offset(raw, source)
    n = len(raw)
    hsize = PACKET_HEADER.itemsize
    chunks: list[np.ndarray] = []
    overflows: list[int] = []
    while pos < n:
        if pos + hsize > n:
            raise UserError(f"{source}: truncated packet header at byte offset {pos} "
                            f"({n - pos} of {hsize} bytes)")
        h = np.frombuffer(raw, dtype=PACKET_HEADER, count=1, offset=pos)[0]
        size, cap, number = int(h["size"]), int(h["capacity"]), int(h["number"])
        body = pos + hsize
        if number > cap:
            raise UserError(f"{source}: packet at byte offset {pos}: eventNumber {number} > eventCapacity {cap}")
        end = body + cap * size
        if end > n:
            raise UserError(f"{source}: truncated packet at byte offset {pos}: needs {cap * size} bytes of "
                            f"events, file has {n - body}")
        if int(h["type"]) == POLARITY_EVENT:
            if size != 8:
                raise UserError(f"{source}: polarity packet at byte offset {pos}: eventSize {size}, expected 8")
            chunks.append(np.frombuffer(raw, dtype="<u4", count=2 * number, offset=body))
            overflows.append(int(h["ts_overflow"]))
        pos = end
    if not chunks:
        return empty_events()
    lens = np.array([c.shape[0] // 2 for c in chunks])
    words = np.concatenate(chunks).reshape(-1, 2)
    data = words[:, 0].astype(np.int64)
    ts = words[:, 1].astype(np.int64) | (np.repeat(np.array(overflows, dtype=np.int64), lens) << 31)
    valid = (data & 1) == 1
    data, ts = data[valid], ts[valid]
    return make_events(t=ts, x=(data >> 17) & 0x1FFF, y=(data >> 2) & 0x1FFF, p=(data >> 1) & 1)


def read_aedat31(path: str | os.PathLike[str]) -> np.ndarray:
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror or exc}") from None
    return parse_aedat31(raw, str(path))


def read_gesture_labels(path: str | os.PathLike[str]) -> list[tuple[int, int, int]]:
    """Rows ``(class_1based, start_us, end_us)`` of a ``userNN_<light>_labels.csv``."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror or exc}") from None
    rows = [r for r in csv.reader(text.splitlines()) if any(c.strip() for c in r)]
    if not rows or [c.strip() for c in rows[0]] != LABEL_HEADER:
        raise UserError(f"{path}: line 1: expected the header {','.join(LABEL_HEADER)}")
    out = []
    for lineno, row in enumerate(rows[1:], start=2):
        try:
            cls, start, end = (int(float(c)) for c in row)
        except ValueError:
            raise UserError(f"{path}: line {lineno}: expected three integers "
                            f"class,startTime_usec,endTime_usec, got {','.join(row)!r}") from None
        if cls < 1 or end < start:
            raise UserError(f"{path}: line {lineno}: class must be >= 1 and endTime_usec >= startTime_usec")
        out.append((cls, start, end))
    return out


def read_trial_list(path: str | os.PathLike[str]) -> list[str]:
    """Trial file names (``userNN_<light>.aedat``) listed one per line."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror or exc}") from None
    names = [ln.strip() for ln in lines if ln.strip()]
    for lineno, name in enumerate(names, start=1):
        if not name.endswith(".aedat"):
            raise UserError(f"{path}: entry {lineno} {name!r}: expected a trial file name ending in .aedat")
    return names
