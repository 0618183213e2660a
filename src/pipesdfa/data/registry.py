"""Dataset registry: one loader per dataset name returning a :class:`DatasetBundle`.

Every loader has the signature ``loader(T, data_dir, seed, **options) -> DatasetBundle``;
``load_dataset(name, T=..., data_dir=..., seed=...)`` looks it up. Samples are
``(frames float32 [T, *input_shape], label int)``; batches are ``[B, T, ...]`` and the
trainer moves time to the front (``[T, B, ...]``). The facts about each dataset (shapes,
classes, epoch sizes, sources) are in :mod:`pipesdfa.data.catalog`; the loaders import
nothing from this module.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable

from pipesdfa.data.braille_analog import load_braille_analog
from pipesdfa.data.bundle import DatasetBundle, FrameTensorDataset
from pipesdfa.data.datasets import REAL_LOADERS
from pipesdfa.data.digits import load_digits_dataset
from pipesdfa.util.errors import UserError

__all__ = ["DatasetBundle", "FrameTensorDataset", "LOADERS", "load_dataset", "dataset_names", "loader_options"]

Loader = Callable[..., DatasetBundle]
LOADERS: dict[str, Loader] = {"digits": load_digits_dataset, **REAL_LOADERS, "braille-analog": load_braille_analog}


def dataset_names() -> list[str]:
    return sorted(LOADERS)


def load_dataset(name: str, *, T: int, data_dir: str | None = None, seed: int = 0, **options: Any) -> DatasetBundle:
    """Load dataset ``name`` framed into ``T`` time steps (``options``: the loader's)."""
    if T <= 0:
        raise UserError(f"T must be positive, got {T}")
    try:
        loader = LOADERS[name]
    except KeyError:
        from pipesdfa.util.names import unknown_name

        raise unknown_name("dataset", name, sorted(LOADERS)) from None
    check_options(name, loader, options)
    return loader(T=T, data_dir=data_dir, seed=seed, **options)


def loader_options(loader: Loader) -> list[str]:
    """The keyword options of ``loader`` (besides ``T``, ``data_dir`` and ``seed``)."""
    params = inspect.signature(loader).parameters.values()
    return [p.name for p in params if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
            and p.name not in ("T", "data_dir", "seed")]


def check_options(name: str, loader: Loader, options: dict[str, Any]) -> None:
    """A :class:`UserError` naming an option ``loader`` does not take (with a "did you mean")."""
    known = loader_options(loader)
    takes_any = any(p.kind is p.VAR_KEYWORD for p in inspect.signature(loader).parameters.values())
    for key in options:
        if key not in known and not takes_any:
            from pipesdfa.util.names import did_you_mean

            raise UserError(f"dataset {name!r} has no option {key!r}{did_you_mean(key, known)}; its options: "
                            f"{', '.join(known)}")
