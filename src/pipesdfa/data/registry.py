"""Dataset registry: one loader per dataset name returning a :class:`DatasetBundle`.

Every loader has the signature ``loader(T, data_dir, seed, **options) -> DatasetBundle``;
``load_dataset(name, T=..., data_dir=..., seed=...)`` looks it up. Samples are
``(frames float32 [T, *input_shape], label int)``; batches are ``[B, T, ...]`` and the
trainer moves time to the front (``[T, B, ...]``). The facts about each dataset (shapes,
classes, epoch sizes, sources) are in :mod:`pipesdfa.data.catalog`; the loaders import
nothing from this module.
"""

from __future__ import annotations

from typing import Any, Callable

from pipesdfa.data.bundle import DatasetBundle, FrameTensorDataset
from pipesdfa.data.datasets import REAL_LOADERS
from pipesdfa.data.digits import load_digits_dataset
from pipesdfa.errors import UserError

__all__ = ["DatasetBundle", "FrameTensorDataset", "LOADERS", "load_dataset", "dataset_names"]

Loader = Callable[..., DatasetBundle]
LOADERS: dict[str, Loader] = {"digits": load_digits_dataset, **REAL_LOADERS}


def dataset_names() -> list[str]:
    return sorted(LOADERS)


def load_dataset(name: str, *, T: int, data_dir: str | None = None, seed: int = 0, **options: Any) -> DatasetBundle:
    """Load dataset ``name`` framed into ``T`` time steps (``options``: the loader's)."""
    if T <= 0:
        raise UserError(f"T must be positive, got {T}")
    try:
        loader = LOADERS[name]
    except KeyError:
        from pipesdfa.names import unknown_name

        raise unknown_name("dataset", name, sorted(LOADERS)) from None
    return loader(T=T, data_dir=data_dir, seed=seed, **options)
