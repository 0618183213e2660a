"""``braille-analog``: the tactile Braille letters as analog taxel signals (the SDFA authors' recipe).

The paper's Braille numbers (99.62 % BPTT / 99.26 % SDFA) do not come from events. The
authors' loader (``module/dataloader.py`` of ``HershelYen/Spiking-Direct-Feedback-Alignment``,
with ``conf/Braille_letter/mlpb.yml``) feeds the raw pickle's analog values straight into the
first ``Linear(4, 200)``, with no spikes at the input. This loader follows that recipe, with
two deliberate differences (both options):

1. ``x = 1 - taxel / 255`` (0 = no contact, about 1 = full pressure), per sample of the
   raw 40 Hz recordings;
2. every recording cropped to its first ``L = T / repeat`` samples (the authors crop to the
   shortest recording: 76 samples, so ``T = 152``);
3. taxels ``[1, 2, 6, 10]`` only (the four that carry most of the signal; ``taxels``);
4. standardised per taxel, ``x' = (x - mu) / (sigma + 1e-6)`` with ``mu``, ``sigma`` (the
   unbiased standard deviation) over every sample and step of the cropped signal.
   **Difference 1:** ``stats="train"`` (the default) takes ``mu`` and ``sigma`` from the
   training split only. The authors' ``stats="all"`` takes them from all 1,350 recordings,
   train and test, so the test set's statistics leak into the input scaling (small here: four
   means and four deviations of 1,350 x 76 samples, but the test set is no longer unseen);
5. each step repeated ``repeat = 2`` times (``[x0, x0, x1, x1, ...]``), giving ``T = 2 L``
   frames ``[T, 4]`` of analog values;
6. **Difference 2:** the authors shuffle with an unseeded ``np.random.shuffle`` and cut 80/20;
   here the split is seeded and stratified (``split_seed``, default 0; 1,080 / 270, 10 test
   samples per letter), the one :mod:`pipesdfa.data.datasets` uses for the event ``braille``.

27 classes (``Space``, ``A``..``Z``). The authors' network has 28 outputs
(``classes: 28``); the 28th is never a target and only ever learns to stay silent.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from pipesdfa.data.bundle import DatasetBundle, FrameTensorDataset
from pipesdfa.data.datasets import balanced_head
from pipesdfa.data.formats.braille_pkl import LETTERS, NO_CONTACT, TAXELS, read_braille_raw
from pipesdfa.data.layouts import find_braille, stratified_split
from pipesdfa.util.errors import UserError

__all__ = ["AUTHORS_TAXELS", "STATS", "analog_signals", "standardise_stats", "braille_analog_frames",
           "load_braille_analog"]

#: The taxels the authors keep (``nzid = [1, 2, 6, 10]``).
AUTHORS_TAXELS: tuple[int, ...] = (1, 2, 6, 10)
#: ``train``: standardise with training-split statistics (default, no leak); ``all``: with the
#: statistics of every recording, train and test (the authors' choice; leaks test statistics).
STATS = ("train", "all")
#: Added to the standard deviation before dividing (the authors' ``1e-6``).
STD_EPS = 1e-6


def analog_signals(taxel_data: Sequence[np.ndarray], length: int, taxels: Sequence[int]) -> np.ndarray:
    """``1 - taxel / 255`` of the first ``length`` samples of the chosen taxels: ``[N, length, K]``.

    Raises :class:`UserError` when a recording is shorter than ``length``.
    """
    short = [i for i, a in enumerate(taxel_data) if a.shape[0] < length]
    if short:
        shortest = min(taxel_data[i].shape[0] for i in short)
        raise UserError(f"braille-analog: T / repeat = {length} samples, but recording {short[0]} has only "
                        f"{taxel_data[short[0]].shape[0]} (the shortest of those too short has {shortest}); "
                        f"lower T")
    idx = list(taxels)
    return np.stack([1.0 - np.asarray(a[:length], dtype=np.float64)[:, idx] / NO_CONTACT for a in taxel_data])


def standardise_stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel ``(mean, unbiased std)`` of ``x [N, L, K]`` over samples and steps."""
    flat = x.reshape(-1, x.shape[-1])
    if flat.shape[0] < 2:
        raise UserError("braille-analog: need at least 2 samples x steps to standardise")
    return flat.mean(axis=0), flat.std(axis=0, ddof=1)


def braille_analog_frames(x: np.ndarray, mean: np.ndarray, std: np.ndarray, repeat: int) -> np.ndarray:
    """``(x - mean) / (std + 1e-6)``, each step repeated ``repeat`` times: ``[N, L, K] -> [N, L*repeat, K]``."""
    z = (x - mean) / (std + STD_EPS)
    return np.repeat(z, repeat, axis=1)


def load_braille_analog(T: int, data_dir=None, seed: int = 0, *, stats: str = "train", repeat: int = 2,
                        taxels: Sequence[int] = AUTHORS_TAXELS, file=None, split_seed: int = 0,
                        test_fraction: float = 0.2, max_train: int | None = None, max_test: int | None = None,
                        cache_dir=None, in_memory=None, materialize=None) -> DatasetBundle:
    """Braille letters as analog frames ``[T, len(taxels)]`` (module docstring has the recipe).

    ``T`` must be a multiple of ``repeat``; ``T / repeat`` raw samples of every recording are
    used (the workload's ``T = 152`` = the shortest recording's 76 samples, twice each). ``seed``
    (the training seed) does not change the data; ``split_seed`` chooses the split.
    ``cache_dir``, ``in_memory`` and ``materialize`` are accepted and ignored: the frames are
    formed in memory in well under a second.
    """
    if stats not in STATS:
        raise UserError(f"braille-analog: stats {stats!r} unknown; expected one of: {', '.join(STATS)}")
    if not isinstance(repeat, int) or repeat < 1:
        raise UserError(f"braille-analog: repeat must be a positive integer, got {repeat!r}")
    if T % repeat:
        raise UserError(f"braille-analog: T = {T} must be a multiple of repeat = {repeat}")
    taxels = tuple(int(t) for t in taxels)
    if not taxels or any(not 0 <= t < TAXELS for t in taxels) or len(set(taxels)) != len(taxels):
        raise UserError(f"braille-analog: taxels {list(taxels)} must be distinct indices in 0..{TAXELS - 1}")
    lay = find_braille(data_dir, source="raw", file=file)
    data, letters = read_braille_raw(lay.path)
    unknown = sorted(set(letters) - set(LETTERS))
    if unknown:
        raise UserError(f"{lay.path}: field 'letter' has {unknown[:3]}, expected one of Space, A..Z")
    labels = np.array([LETTERS.index(x) for x in letters], dtype=np.int64)
    x = analog_signals(data, T // repeat, taxels)
    tr, te = stratified_split(labels, test_fraction, split_seed)
    mean, std = standardise_stats(x if stats == "all" else x[tr])
    splits = {}
    for name, idx, n in (("train", tr, max_train), ("test", te, max_test)):
        if n is not None:
            if n < 1:
                raise UserError(f"max_train / max_test must be >= 1, got {n}")
            idx = idx[balanced_head(labels[idx], n)]
        frames = braille_analog_frames(x[idx], mean, std, repeat)
        splits[name] = FrameTensorDataset(torch.from_numpy(frames.astype(np.float32)), torch.from_numpy(labels[idx]))
    meta = {"source": str(lay.path.name), "stats": stats, "repeat": repeat, "crop": T // repeat,
            "taxels": list(taxels), "split_seed": split_seed, "test_fraction": test_fraction,
            "mean": [float(v) for v in mean], "std": [float(v) for v in std]}
    return DatasetBundle(name="braille-analog", train=splits["train"], test=splits["test"],
                         input_shape=(len(taxels),), num_classes=len(LETTERS), class_names=list(LETTERS), meta=meta)
