"""Dataset registry: one function per dataset name returning a :class:`DatasetBundle`.

Every loader has the signature ``loader(T, data_dir, seed, **options) -> DatasetBundle``;
``load_dataset(name, T=..., data_dir=..., seed=...)`` looks it up. Samples are
``(frames float32 [T, *input_shape], label int)``; batches are ``[B, T, ...]`` and the
trainer moves time to the front (``[T, B, ...]``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from torch.utils.data import Dataset

from pipesdfa.errors import UserError

__all__ = ["DatasetBundle", "FrameTensorDataset", "LOADERS", "register", "load_dataset", "dataset_names"]


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
    """A dataset ready for training: splits, per-time-step input shape, classes."""

    name: str
    train: Dataset
    test: Dataset
    input_shape: tuple[int, ...]
    num_classes: int
    class_names: list[str]
    meta: dict[str, Any] = field(default_factory=dict)


Loader = Callable[..., DatasetBundle]
LOADERS: dict[str, Loader] = {}


def register(name: str) -> Callable[[Loader], Loader]:
    """Decorator: ``@register("nmnist")`` adds a loader to :data:`LOADERS`."""

    def deco(fn: Loader) -> Loader:
        LOADERS[name] = fn
        return fn

    return deco


def _ensure_builtin() -> None:
    # Importing the modules registers their loaders.
    import pipesdfa.data.digits  # noqa: F401

    try:  # real-data loaders (optional module; present once the datasets land)
        import pipesdfa.data.datasets  # noqa: F401
    except ModuleNotFoundError as exc:
        if exc.name != "pipesdfa.data.datasets":
            raise


def dataset_names() -> list[str]:
    _ensure_builtin()
    return sorted(LOADERS)


def load_dataset(name: str, *, T: int, data_dir: str | None = None, seed: int = 0, **options: Any) -> DatasetBundle:
    """Load dataset ``name`` framed into ``T`` time steps."""
    _ensure_builtin()
    if T <= 0:
        raise UserError(f"T must be positive, got {T}")
    try:
        loader = LOADERS[name]
    except KeyError:
        raise UserError(f"unknown dataset {name!r}; expected one of: {', '.join(sorted(LOADERS))}") from None
    return loader(T=T, data_dir=data_dir, seed=seed, **options)
