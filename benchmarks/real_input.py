"""Real input frames for ``train_step.py --input real`` (and where they come from).

Per dataset of a benchmark case, ``[N, T, ...]`` float32 frames and labels:

* ``nmnist``: the N-MNIST subset in the data folder (1,000 training samples, event counts per
  bin, the trainer's framing: ``pipesdfa.data.load_dataset``);
* ``braille``: the raw Braille set in the data folder (sigma-delta events, the trainer's
  framing);
* ``dvsgesture``: the ten real DVS128 Gesture clips in the data folder
  (``dvs_gesture/slayerPytorch_binarySpikeTestFiles/*.bs2``, 40-bit event files; clip ``k``
  labelled ``k - 1``), framed at 128x128 by event count (``spatial_factor = 128 // hw`` for the
  CPU's reduced sizes);
* when a dataset's files are absent: the embedded ``digits`` set (saccade events of the
  scikit-learn digits, :mod:`pipesdfa.data.digits`) brought to the case's input shape (2-D
  frames by nearest-neighbour resizing, which keeps their density; 1-D inputs by taking evenly
  spaced features), labels modulo the case's classes. The returned ``source`` says which.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from pipesdfa.data.registry import load_dataset
from pipesdfa.util.errors import UserError

__all__ = ["RealFrames", "real_frames", "GESTURE_CLIPS", "resize_frames"]

#: The real DVS Gesture clips, relative to the data folder.
GESTURE_CLIPS = Path("dvs_gesture") / "slayerPytorch_binarySpikeTestFiles"


@dataclass
class RealFrames:
    frames: torch.Tensor  # [N, T, ...] float32
    labels: torch.Tensor  # [N] int64
    source: str


def resize_frames(frames: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """``[N, T, ...] -> [N, T, *shape]``: (C, H, W) frames by nearest-neighbour resizing of H, W
    (channels repeated or cut), 1-D by ``shape[0]`` evenly spaced features of the flattened frame."""
    N, T = frames.shape[:2]
    if len(shape) == 1:
        flat = frames.reshape(N, T, -1)
        idx = torch.linspace(0, flat.shape[-1] - 1, shape[0]).round().long()
        return flat[..., idx].contiguous()
    if frames.dim() != 5:
        raise UserError(f"cannot bring frames of shape {tuple(frames.shape[2:])} to {shape}")
    c, h, w = shape
    x = frames.reshape(N * T, *frames.shape[2:])
    ch = torch.arange(c) % x.shape[1]
    x = torch.nn.functional.interpolate(x[:, ch], size=(h, w), mode="nearest")
    return x.reshape(N, T, c, h, w).contiguous()


def _gesture(data_dir: Path, T: int, side: int) -> RealFrames | None:
    from pipesdfa.data.formats.atis_bin import read_atis_bin
    from pipesdfa.data.framing import GridFramer

    root = data_dir / GESTURE_CLIPS
    clips = sorted(root.glob("*.bs2"), key=lambda p: int(p.stem)) if root.is_dir() else []
    if not clips:
        return None
    factor = max(1, 128 // side)
    framer = GridFramer(T, (128, 128), (side, side), factor, 2, "number")
    frames = np.stack([framer(read_atis_bin(p, sensor=(128, 128))) for p in clips])
    labels = torch.tensor([int(p.stem) - 1 for p in clips])
    return RealFrames(torch.from_numpy(frames).float(), labels,
                      f"DVS128 Gesture, {len(clips)} real clips ({GESTURE_CLIPS}), framed by event count at "
                      f"{side}x{side}")


def _dataset(name: str, T: int, data_dir: Path) -> RealFrames | None:
    try:
        b = load_dataset(name, T=T, data_dir=str(data_dir), seed=0)
    except (UserError, OSError):  # files absent (or unreadable): the caller falls back to digits
        return None
    ds = b.train
    return RealFrames(ds.frames.float(), ds.labels.long(), f"{name} training split from the data folder "
                      f"({len(ds)} samples, the trainer's framing)")


def real_frames(dataset: str, T: int, shape: tuple[int, ...], classes: int, data_dir: str | Path) -> RealFrames:
    """Frames of ``dataset`` at ``T`` steps in ``shape`` (see the module docstring)."""
    data_dir = Path(data_dir)
    found: RealFrames | None = None
    if dataset == "dvsgesture":
        found = _gesture(data_dir, T, shape[-1])
    elif dataset in ("nmnist", "braille"):
        found = _dataset(dataset, T, data_dir)
    if found is not None and tuple(found.frames.shape[2:]) == tuple(shape):
        return found
    d = load_dataset("digits", T=T, seed=0).train
    frames = resize_frames(d.frames.float(), tuple(shape))
    why = "absent" if found is None else f"of shape {tuple(found.frames.shape[2:])}"
    return RealFrames(frames, d.labels.long() % classes,
                      f"embedded digits resized to {tuple(shape)} ({dataset} files {why} in the data folder)")
