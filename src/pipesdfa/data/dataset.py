"""Torch datasets of frames from event sources, with the disk cache and an in-memory copy.

An *event source* is any object with ``labels`` (int array), ``__len__``, ``events(i)`` and
``identity()`` (a JSON-able description of the files it reads, part of the cache key).
:class:`FrameDataset` frames sample ``i`` on demand, stores it in the :class:`FrameCache`
(when given) and, when ``in_memory``, keeps it in RAM for later epochs. Items are
``(frames float32 tensor [T, *input_shape], label int)``. Datasets pickle cleanly, so they
work with DataLoader worker processes (each worker reads and caches on its own; cache
writes are atomic, so workers never see each other's half-written files).
"""

from __future__ import annotations

import sys
import warnings
from typing import Any, Callable, Protocol, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from pipesdfa.data.cache import FrameCache
from pipesdfa.util.errors import UserError

__all__ = ["EventSource", "ListSource", "FrameDataset", "make_loader", "materialize"]


class EventSource(Protocol):
    labels: np.ndarray

    def __len__(self) -> int: ...

    def events(self, i: int) -> np.ndarray: ...

    def identity(self) -> Any: ...


class ListSource:
    """A source over a list of sample descriptors and a ``read(descriptor) -> events`` function."""

    def __init__(self, items: Sequence[Any], labels: Sequence[int], read: Callable[[Any], np.ndarray],
                 identity: Any):
        if len(items) != len(labels):
            raise ValueError("items and labels differ in length")
        self.items = list(items)
        self.labels = np.asarray(labels, dtype=np.int64)
        self._read = read
        self._identity = identity

    def __len__(self) -> int:
        return len(self.items)

    def events(self, i: int) -> np.ndarray:
        return self._read(self.items[i])

    def identity(self) -> Any:
        return self._identity


class FrameDataset(Dataset):
    def __init__(self, source: EventSource, framer: Callable[[np.ndarray], np.ndarray], split: str,
                 cache: FrameCache | None = None, in_memory: bool = True):
        self.source = source
        self.framer = framer
        self.split = split
        self.cache = cache
        self.in_memory = in_memory
        self._mem: dict[int, torch.Tensor] = {}
        self.labels = np.asarray(source.labels, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.source)

    def frames(self, i: int) -> np.ndarray:
        """Frames of sample ``i`` as float32 NumPy (cache first, then the reader)."""
        if self.cache is not None:
            got = self.cache.get(self.split, i)
            if got is not None:
                return got
        fr = np.asarray(self.framer(self.source.events(i)), dtype=np.float32)
        if self.cache is not None:
            try:
                self.cache.put(self.split, i, fr)
            except UserError as exc:  # read-only cache folder: keep going without it
                warnings.warn(f"frame cache disabled: {exc}", stacklevel=2)
                self.cache = None
        return fr

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        x = self._mem.get(i)
        if x is None:
            x = torch.from_numpy(self.frames(i))
            if self.in_memory:
                self._mem[i] = x
        return x, int(self.labels[i])

    def warm(self, progress: bool | None = None, desc: str | None = None) -> "FrameDataset":
        """Frame every sample once in order (fills the cache; readers reading whole
        recordings, like AEDAT trials, then parse each file once)."""
        from tqdm import tqdm

        show = progress if progress is not None else sys.stderr.isatty()
        for i in tqdm(range(len(self)), desc=desc or f"framing {self.split}", disable=not show or len(self) < 200,
                      leave=False):
            if i not in self._mem:
                x = torch.from_numpy(self.frames(i))
                if self.in_memory:
                    self._mem[i] = x
        return self

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_mem"] = {}  # workers rebuild from the cache instead of copying RAM
        return state


def make_loader(ds: Dataset, batch_size: int, shuffle: bool, seed: int = 0, workers: int = 0,
                drop_last: bool = False) -> DataLoader:
    """A DataLoader with a seeded shuffle and optional worker processes."""
    g = torch.Generator()
    g.manual_seed(seed)
    return DataLoader(ds, batch_size=batch_size, shuffle=shuffle, generator=g, num_workers=workers,
                      drop_last=drop_last, persistent_workers=workers > 0)


def materialize(ds: FrameDataset, desc: str | None = None):
    """Frame every sample (through the cache) and return one in-memory
    :class:`~pipesdfa.data.bundle.FrameTensorDataset` (uint8 counts when they fit, else
    float32), which the trainer batches by indexing instead of a DataLoader."""
    from pipesdfa.data.bundle import FrameTensorDataset

    keep = ds.in_memory
    ds.in_memory = False
    from tqdm import tqdm

    show = sys.stderr.isatty() and len(ds) >= 200
    frames = [ds.frames(i) for i in tqdm(range(len(ds)), desc=desc or f"framing {ds.split}", disable=not show,
                                         leave=False)]
    ds.in_memory = keep
    if frames:
        stack = np.stack(frames)
    else:
        stack = np.zeros((0,), np.float32)
    exact_u8 = stack.size == 0 or (stack.min() >= 0 and stack.max() <= 255 and np.all(stack == np.round(stack)))
    t = torch.from_numpy(stack.astype(np.uint8) if exact_u8 else stack.astype(np.float32))
    out = FrameTensorDataset(t, torch.as_tensor(ds.labels, dtype=torch.long))
    out.source = ds.source  # type: ignore[attr-defined]  (for inspection)
    out.cache = ds.cache  # type: ignore[attr-defined]
    return out
