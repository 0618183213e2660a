"""Events -> frames: count events per pixel and polarity in ``T`` slices of a sample.

``events_to_frames(ev, sensor_size=(W, H, P), T, split_by)`` returns ``float32`` counts of
shape ``[T, P, H, W]``; the sum of the frames equals the number of events that fall on the
sensor, and an empty sample gives zeros of the same shape (same axis order).

Slicing (events must be sorted by ``t``):

* ``split_by="number"`` (the SDFA authors' default): slice ``k`` holds events
  ``i`` with ``floor(i * T / N) == k`` -- ``N / T`` events each, the remainder spread evenly.
* ``split_by="time"``: slice ``k`` covers ``[t0 + k D / T, t0 + (k+1) D / T)`` with
  ``D = t_last - t0 + 1`` us, so the last event lands in the last slice.
* ``split_by="window"`` (fixed bins from ``t = 0``, as the SHD and Braille authors bin):
  slice ``k`` covers ``[k W / T, (k+1) W / T)`` us for the given ``window_us = W``; events
  at ``t >= W`` (or ``t < 0``) are dropped. Bin width ``W / T``: e.g. Braille 25 ms x 51.

``spatial_factor`` (an integer >= 1) downsamples by integer division of ``x`` and ``y``;
the sensor size used is then ``ceil(W / f), ceil(H / f)``. Events outside the sensor (after
downsampling) are dropped; callers that must pad or crop do so explicitly before.
"""

from __future__ import annotations

import numpy as np

from pipesdfa.util.errors import UserError

__all__ = ["events_to_frames", "downsampled_size", "SPLIT_MODES"]

SPLIT_MODES = ("number", "time", "window")


def downsampled_size(sensor_size: tuple[int, int, int], spatial_factor: int) -> tuple[int, int, int]:
    w, h, p = sensor_size
    f = int(spatial_factor)
    return (-(-w // f), -(-h // f), p)


def slice_index(t: np.ndarray, T: int, split_by: str, window_us: int | None = None) -> np.ndarray:
    """The slice (0..T-1) of each event of a sorted timestamp array (-1: outside the window)."""
    n = t.shape[0]
    if split_by == "window":
        if window_us is None or window_us <= 0:
            raise UserError(f"split_by 'window' needs a positive window_us, got {window_us}")
        k = (t.astype(np.int64) * T) // int(window_us)
        return np.where((t >= 0) & (k < T), k, -1)
    if split_by == "number":
        return (np.arange(n, dtype=np.int64) * T) // max(n, 1)
    if split_by == "time":
        t0 = t[0]
        span = int(t[-1] - t0) + 1
        return np.minimum(((t - t0).astype(np.int64) * T) // span, T - 1)
    raise UserError(f"split_by {split_by!r} unknown; expected one of: {', '.join(SPLIT_MODES)}")


def events_to_frames(
    ev: np.ndarray,
    sensor_size: tuple[int, int, int],
    T: int,
    split_by: str = "number",
    spatial_factor: int = 1,
    window_us: int | None = None,
) -> np.ndarray:
    """Bin sorted events into ``[T, P, H, W]`` float32 counts (see module docstring)."""
    if T <= 0:
        raise UserError(f"T must be positive, got {T}")
    if spatial_factor < 1:
        raise UserError(f"spatial_factor must be >= 1, got {spatial_factor}")
    if split_by not in SPLIT_MODES:
        raise UserError(f"split_by {split_by!r} unknown; expected one of: {', '.join(SPLIT_MODES)}")
    w, h, p = downsampled_size(sensor_size, spatial_factor)
    frames = np.zeros((T, p, h, w), dtype=np.float32)
    if ev.shape[0] == 0:
        return frames
    x = ev["x"].astype(np.int64) // spatial_factor
    y = ev["y"].astype(np.int64) // spatial_factor
    pol = ev["p"].astype(np.int64)
    if p == 1:
        pol = np.zeros_like(pol)
    k = slice_index(ev["t"], T, split_by, window_us)
    keep = (k >= 0) & (x >= 0) & (x < w) & (y >= 0) & (y < h) & (pol >= 0) & (pol < p)
    flat = ((k * p + pol) * h + y) * w + x
    counts = np.bincount(flat[keep], minlength=T * p * h * w)
    frames[:] = counts.reshape(T, p, h, w)
    return frames
