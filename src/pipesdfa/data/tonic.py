"""tonic adapters, without a tonic dependency.

Any object that is indexable (``len(ds)``, ``ds[i] -> (events, label)``) with events as a NumPy
structured array with tonic's fields ``t``, ``x``, ``y`` (optional for 1-D sensors) and ``p``
(optional), and a sensor size ``(W, H, P)`` (given, or the dataset's ``sensor_size``
attribute, as tonic datasets have), can feed our framing and frame cache:

    frames = from_tonic(tonic.datasets.NMNIST(save_to="data", train=True), T=10)
    x, label = frames[0]                        # x: float32 [T, P, H, W]  (or [T, W*P] for H = 1)

Event times are taken as microseconds (tonic's convention for its datasets) and converted to
our int64 ``t``; polarities to 0/1 (any value > 0 is ON). Sensors with ``H == 1`` (audio,
tactile) are framed per channel (:class:`~pipesdfa.data.framing.ChannelFramer`), others on the
``W x H`` grid (:class:`~pipesdfa.data.framing.GridFramer`). Labels are read from the dataset's
``targets`` when it has them, else from one pass over the samples.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pipesdfa.data.cache import FrameCache, default_cache_root
from pipesdfa.data.dataset import FrameDataset
from pipesdfa.data.events import EVENT_DTYPE
from pipesdfa.data.framing import ChannelFramer, GridFramer
from pipesdfa.util.errors import UserError

__all__ = ["TonicSource", "tonic_events", "from_tonic"]


def tonic_events(events: Any, where: str = "events") -> np.ndarray:
    """tonic-style events (structured array with ``t``, ``x``[, ``y``][, ``p``]) as our
    :data:`~pipesdfa.data.events.EVENT_DTYPE`, sorted by time."""
    ev = np.asarray(events)
    names = ev.dtype.names or ()
    missing = [f for f in ("t", "x") if f not in names]
    if missing:
        raise UserError(f"{where}: expected a structured array with tonic's fields t, x[, y][, p]; "
                        f"missing {', '.join(missing)} (fields: {', '.join(names) or 'none'})")
    out = np.empty(ev.shape[0], dtype=EVENT_DTYPE)
    out["t"] = np.asarray(ev["t"], dtype=np.float64).round().astype(np.int64) if ev["t"].dtype.kind == "f" else ev["t"]
    out["x"] = ev["x"]
    out["y"] = ev["y"] if "y" in names else 0
    out["p"] = (np.asarray(ev["p"]) > 0) if "p" in names else 1
    if out.shape[0] > 1 and np.any(np.diff(out["t"]) < 0):
        out = out[np.argsort(out["t"], kind="stable")]
    return out


class TonicSource:
    """An event source (:class:`~pipesdfa.data.dataset.EventSource`) over a tonic-style dataset."""

    def __init__(self, dataset: Any, identity: Any = None) -> None:
        self.dataset = dataset
        targets = getattr(dataset, "targets", None)
        if targets is None or len(targets) != len(dataset):
            targets = [dataset[i][1] for i in range(len(dataset))]
        self.labels = np.asarray([int(np.asarray(t).reshape(-1)[0]) for t in targets], dtype=np.int64)
        self._identity = identity if identity is not None else {"tonic": type(dataset).__name__, "n": len(dataset)}

    def __len__(self) -> int:
        return len(self.dataset)

    def events(self, i: int) -> np.ndarray:
        return tonic_events(self.dataset[i][0], where=f"{type(self.dataset).__name__}[{i}]")

    def identity(self) -> Any:
        return self._identity

    def __getstate__(self):  # workers re-open nothing: the dataset pickles with us
        return self.__dict__


def from_tonic(dataset: Any, T: int, sensor_size: tuple[int, int, int] | None = None, *, split_by: str = "number",
               window_us: int | None = None, binary: bool = False, cache_dir=False, name: str = "tonic",
               split: str = "train", in_memory: bool = True, identity: Any = None) -> FrameDataset:
    """A :class:`~pipesdfa.data.dataset.FrameDataset` of ``T`` frames per sample from a
    tonic-style dataset (see the module docstring). ``cache_dir``: ``False`` (no disk cache,
    the default), ``None`` (the default cache root) or a folder; ``identity`` (JSON-able) names
    the data in the cache key (default: the dataset's class name and length)."""
    if not isinstance(T, int) or T <= 0:
        raise UserError(f"from_tonic: T must be a positive integer, got {T!r}")
    size = sensor_size if sensor_size is not None else getattr(dataset, "sensor_size", None)
    if size is None or len(tuple(size)) != 3:
        raise UserError("from_tonic: give sensor_size=(W, H, P) (the dataset has no sensor_size attribute)")
    w, h, p = (int(v) for v in size)
    if h == 1:
        framer: Any = ChannelFramer(T, w, p, split_by, window_us, binary)
    else:
        framer = GridFramer(T, (w, h), (w, h), 1, p, split_by, window_us, binary)
    source = TonicSource(dataset, identity)
    cache = None
    if cache_dir is not False:
        from pathlib import Path

        root = Path(cache_dir) if cache_dir is not None else default_cache_root()
        cache = FrameCache(root, name, {"framer": repr(framer), "split": split, "source": source.identity()})
    return FrameDataset(source, framer, split, cache, in_memory=in_memory)
