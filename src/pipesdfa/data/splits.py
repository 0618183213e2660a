"""The validation split: a stratified, seeded part of the training split held out for choices.

Every choice a run or a study makes (the epoch to report, a variant, a learning rate) is made
on the validation split; the test split is only reported. Class ``c`` with ``n_c`` training
samples gives ``round(fraction * n_c)`` of them to validation (Python's round; a class of one
sample keeps it for training), chosen by a permutation seeded with ``seed`` per class:

    perm_c = randperm(n_c, generator = seed * 1_000_003 + c)
    val    = sorted(union_c idx_c[perm_c[:round(fraction * n_c)]])
    train  = the other indices, in their original order

so the split depends only on the labels, the fraction and the seed, and two rules trained with
the same seed see the same split (paired comparisons). ``fraction = 0`` keeps every sample for
training and gives no validation split.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from typing import Any, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset, Subset

from pipesdfa.data.bundle import DatasetBundle, FrameTensorDataset
from pipesdfa.data.dataset import ListSource
from pipesdfa.util.errors import UserError

__all__ = ["stratified_split", "kfold_split", "fold_sources", "split_dataset", "with_validation"]


def _class_permutations(y: torch.Tensor, seed: int) -> list[list[int]]:
    """Per class ``c`` (ascending), its sample indices in the order of
    ``randperm(n_c, generator = seed * 1_000_003 + c)``: the one shuffle both splits deal from."""
    out = []
    for c in sorted(set(y.tolist())):
        idx = torch.nonzero(y == c).reshape(-1)
        perm = torch.randperm(idx.numel(), generator=torch.Generator().manual_seed(seed * 1_000_003 + c))
        out.append(idx[perm].tolist())
    return out


def stratified_split(labels: Sequence[int] | torch.Tensor, fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """``(train_indices, val_indices)`` of a sample list with ``labels`` (module docstring)."""
    if not 0 <= fraction < 1:
        raise UserError(f"validation fraction must be in [0, 1), got {fraction}")
    y = torch.as_tensor(labels, dtype=torch.long).reshape(-1)
    val: list[int] = []
    if fraction > 0:
        for shuffled in _class_permutations(y, seed):
            k = round(fraction * len(shuffled)) if len(shuffled) > 1 else 0
            val += shuffled[:k]
    val.sort()
    held = set(val)
    return [i for i in range(y.numel()) if i not in held], val


def kfold_split(labels: Sequence[int] | torch.Tensor, folds: int, fold: int, seed: int = 0) -> tuple[list[int], list[int]]:
    """``(rest, held_out)``: fold ``fold`` of a stratified ``folds``-fold partition of a sample
    list with ``labels``. Class ``c``'s indices, permuted as the validation split permutes them
    (``randperm(n_c, generator = seed * 1_000_003 + c)``), are dealt round-robin, continuing
    where the previous class stopped,

        fold(perm_c[j]) = (s_c + j) mod folds,   s_c = sum_{c' < c} n_c'

    so every fold gets ``floor`` or ``ceil`` of ``n / folds`` samples and of ``n_c / folds`` per
    class, and the ``folds`` held-out parts partition the list."""
    if not isinstance(folds, int) or folds < 2:
        raise UserError(f"folds must be an integer >= 2, got {folds!r}")
    if not isinstance(fold, int) or not 0 <= fold < folds:
        raise UserError(f"fold must be an integer in [0, {folds}), got {fold!r}")
    y = torch.as_tensor(labels, dtype=torch.long).reshape(-1)
    held: list[int] = []
    start = 0
    for shuffled in _class_permutations(y, seed):
        held += [i for j, i in enumerate(shuffled) if (start + j) % folds == fold]
        start += len(shuffled)
    held.sort()
    out = set(held)
    return [i for i in range(y.numel()) if i not in out], held


def fold_sources(sources: dict[str, Any], folds: int, fold: int, where: str) -> dict[str, Any]:
    """Train and test pooled, then fold ``fold`` of a stratified ``folds``-fold partition
    (:func:`kfold_split`, seed 0) is the test split and the rest the
    training split: k-fold cross-validation over every labelled sample of a small dataset."""
    tr, te = sources["train"], sources["test"]
    items, labels = tr.items + te.items, np.concatenate([tr.labels, te.labels])
    try:
        rest, held = kfold_split(labels, folds, fold)
    except UserError as e:
        raise UserError(f"{where}: {e}") from None
    ident = {"pooled": [tr.identity(), te.identity()], "folds": folds, "fold": fold}
    return {part: ListSource([items[i] for i in idx], labels[idx], tr._read, {**ident, "part": part})
            for part, idx in (("train", rest), ("test", held))}


def _labels(ds: Dataset) -> torch.Tensor:
    labels = getattr(ds, "labels", None)
    if labels is None:  # a dataset without a label list: read every sample once
        labels = [int(ds[i][1]) for i in range(len(ds))]  # type: ignore[arg-type]
    return torch.as_tensor(labels, dtype=torch.long)


def split_dataset(ds: Dataset, indices: list[int]) -> Dataset:
    """The samples ``indices`` of ``ds`` (in memory when ``ds`` is, so batches stay index-fast)."""
    if isinstance(ds, FrameTensorDataset):
        idx = torch.as_tensor(indices, dtype=torch.long)
        return FrameTensorDataset(ds.frames[idx], ds.labels[idx])
    sub = Subset(ds, indices)
    sub.labels = _labels(ds)[torch.as_tensor(indices, dtype=torch.long)]  # type: ignore[attr-defined]
    return sub


def with_validation(data: DatasetBundle, fraction: float, seed: int) -> DatasetBundle:
    """``data`` with its training split cut into ``train`` and ``val`` (``fraction = 0``:
    unchanged, ``val = None``); ``meta["validation"]`` records the split (fraction, seed, sizes,
    per-class validation counts and a SHA-1 of the validation indices)."""
    labels = _labels(data.train)
    train_idx, val_idx = stratified_split(labels, fraction, seed)
    counts = torch.bincount(labels[torch.as_tensor(val_idx, dtype=torch.long)], minlength=data.num_classes) \
        if val_idx else torch.zeros(data.num_classes, dtype=torch.long)
    info: dict[str, Any] = {"fraction": fraction, "seed": seed, "stratified": True, "train": len(train_idx),
                            "val": len(val_idx), "val_per_class": counts.tolist(),
                            "val_indices_sha1": hashlib.sha1(",".join(map(str, val_idx)).encode()).hexdigest()}
    meta = dict(data.meta, validation=info)
    if not val_idx:
        return replace(data, val=None, meta=meta)
    return replace(data, train=split_dataset(data.train, train_idx), val=split_dataset(data.train, val_idx),
                   meta=meta)
