"""What a loader returns: :class:`DatasetBundle` (splits, shape, classes) and the in-memory
:class:`FrameTensorDataset`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch.utils.data import Dataset

__all__ = ["DatasetBundle", "FrameTensorDataset"]


class FrameTensorDataset(Dataset):
    """Frames held in memory: ``frames [N, T, ...]`` (float32 or uint8 counts) and ``labels [N]``."""

    def __init__(self, frames: torch.Tensor, labels: torch.Tensor) -> None:
        if frames.shape[0] != labels.shape[0]:
            raise ValueError(f"{frames.shape[0]} frame tensors but {labels.shape[0]} labels")
        self.frames = frames
        self.labels = labels.long()

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.frames[i].float(), int(self.labels[i])


@dataclass
class DatasetBundle:
    """A dataset ready for training: splits, per-time-step input shape, classes (``val``: the
    validation split cut from the training one, :func:`pipesdfa.data.splits.with_validation`)."""

    name: str
    train: Dataset
    test: Dataset
    input_shape: tuple[int, ...]
    num_classes: int
    class_names: list[str]
    meta: dict[str, Any] = field(default_factory=dict)
    val: Dataset | None = None
