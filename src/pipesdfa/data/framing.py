"""Per-dataset framers: picklable callables turning one sample's events into the trainer's
input ``[T, *input_shape]`` (float32), built on :func:`pipesdfa.data.frames.events_to_frames`.

* :class:`GridFramer` (cameras) crops to an input extent, downsamples by an integer factor,
  centres the result on a fixed output grid (zero padding) and returns ``[T, P, H, W]``.
  N-MNIST: 34x34 -> 34x34. DVS Gesture: 128x128 -> (128/f)^2. N-Caltech101: raw coordinates
  cropped to 240x180 (the recordings' extent), halved to 120x90 and centred in 128x128
  (4 columns / 19 rows of padding on each side), the grid of ``workloads.DATASET_SHAPES``.
* :class:`ChannelFramer` (1-D sensors) returns ``[T, channels]``: SHD 700 channels;
  Braille 12 taxels x (ON, OFF) = 24, ordered ``[ON_0, OFF_0, ON_1, OFF_1, ...]`` as the
  authors' binned input.

``binary=True`` clips counts to 1 (a spike / no spike per bin).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipesdfa.data.frames import events_to_frames
from pipesdfa.util.errors import UserError

__all__ = ["GridFramer", "ChannelFramer"]


@dataclass(frozen=True)
class GridFramer:
    T: int
    extent: tuple[int, int]  # (W, H) kept from the raw coordinates (events outside dropped)
    grid: tuple[int, int]  # (W, H) of the output after downsampling, >= extent / factor
    factor: int = 1
    polarities: int = 2
    split_by: str = "number"
    window_us: int | None = None
    binary: bool = False

    def __post_init__(self) -> None:
        if self.factor < 1:
            raise UserError(f"spatial_factor must be >= 1, got {self.factor}")
        w, h = self.inner
        if w > self.grid[0] or h > self.grid[1]:
            raise UserError(f"extent {self.extent} / {self.factor} does not fit the {self.grid} grid")

    @property
    def inner(self) -> tuple[int, int]:
        return (-(-self.extent[0] // self.factor), -(-self.extent[1] // self.factor))

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.polarities, self.grid[1], self.grid[0])

    def __call__(self, ev: np.ndarray) -> np.ndarray:
        w, h = self.extent
        keep = (ev["x"] >= 0) & (ev["x"] < w) & (ev["y"] >= 0) & (ev["y"] < h)
        ev = ev[keep].copy() if not keep.all() else ev.copy()
        iw, ih = self.inner
        ev["x"] = ev["x"] // self.factor + (self.grid[0] - iw) // 2
        ev["y"] = ev["y"] // self.factor + (self.grid[1] - ih) // 2
        fr = events_to_frames(ev, (self.grid[0], self.grid[1], self.polarities), self.T, self.split_by,
                              window_us=self.window_us)
        return np.minimum(fr, 1.0) if self.binary else fr


@dataclass(frozen=True)
class ChannelFramer:
    T: int
    channels: int
    polarities: int = 1
    split_by: str = "window"
    window_us: int | None = None
    binary: bool = False

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.channels * self.polarities,)

    def __call__(self, ev: np.ndarray) -> np.ndarray:
        fr = events_to_frames(ev, (self.channels, 1, self.polarities), self.T, self.split_by,
                              window_us=self.window_us)  # [T, P, 1, C]
        fr = fr[:, :, 0, :]
        if self.polarities == 2:
            fr = fr[:, ::-1, :]  # (ON, OFF) order: p = 1 first
        out = np.ascontiguousarray(fr.transpose(0, 2, 1)).reshape(self.T, -1)
        return np.minimum(out, 1.0) if self.binary else out
