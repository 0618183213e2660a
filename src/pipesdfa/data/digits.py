"""The embedded dataset ``digits``: scikit-learn's 8x8 digits recorded as N-MNIST-style events.

N-MNIST was made by moving an event camera over static MNIST digits in three saccades
(Orchard et al., Front. Neurosci. 2015). We simulate that recording on the 1,797 real
8x8 digits of :func:`sklearn.datasets.load_digits` (shipped in the scikit-learn wheel):

1. The image (grey levels 0..16, scaled to intensity ``I`` in [0, 1]) sits in a sensor of
   ``(8 + 2 margin)^2`` pixels. The sensor moves along an isosceles triangle, one side per
   saccade, each ``saccade_us`` long and sampled at ``substeps`` points; the shifted image is
   rendered with bilinear interpolation.
2. Each pixel keeps a reference log-intensity. Whenever ``L = ln(I + eps)`` has moved by the
   contrast threshold ``theta`` from the reference, the pixel emits ``floor(|L - ref| / theta)``
   ON (rising) or OFF (falling) events and the reference moves by that many thresholds
   (the DVS pixel model of Lichtsteiner et al., JSSC 2008).
3. Event times are the sub-step time plus a uniform jitter within the sub-step, and
   background noise events arrive as a Poisson process of ``noise_hz`` per pixel.

Everything is seeded (``data_seed``), so a seed gives the same events on every machine.
The train/test split is a fixed stratified 80/20 split (``random_state=0``), independent of
the training seed. Frames come from :func:`pipesdfa.data.frames.events_to_frames`, the same
code the real datasets use.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import torch

from pipesdfa.data.events import EVENT_DTYPE
from pipesdfa.data.frames import events_to_frames
from pipesdfa.data.bundle import DatasetBundle, FrameTensorDataset
from pipesdfa.data.shifting import noise_index, per_class_indices, resolve_shift
from pipesdfa.util.errors import UserError

__all__ = ["saccade_path", "simulate_saccade_events", "digits_events", "load_digits_dataset"]

IMAGE = 8


def saccade_path(amplitude: float, substeps: int) -> np.ndarray:
    """Sensor offsets ``(dy, dx)`` in pixels at ``3 * substeps + 1`` instants.

    The triangle ``(0,0) -> (a, a/2)... `` is isosceles: vertices ``(0, 0)``, ``(a, a/2)``,
    ``(0, a)``, back to ``(0, 0)``, shifted so that its centroid is at the origin.
    """
    verts = np.array([[0.0, 0.0], [amplitude, amplitude / 2], [0.0, amplitude], [0.0, 0.0]])
    verts -= verts[:3].mean(axis=0)
    pts = [verts[0]]
    for a, b in zip(verts[:-1], verts[1:]):
        for k in range(1, substeps + 1):
            pts.append(a + (b - a) * k / substeps)
    return np.stack(pts)


def _shift_bilinear(img: np.ndarray, dy: float, dx: float) -> np.ndarray:
    """``out[..., y, x] = img[..., y - dy, x - dx]`` with bilinear interpolation, zeros outside."""
    n, h, w = img.shape
    pad = 3
    big = np.zeros((n, h + 2 * pad, w + 2 * pad), dtype=img.dtype)
    big[:, pad:pad + h, pad:pad + w] = img
    fy, fx = np.floor(dy), np.floor(dx)
    ay, ax = dy - fy, dx - fx
    iy, ix = int(fy), int(fx)

    def win(oy: int, ox: int) -> np.ndarray:
        return big[:, pad - oy:pad - oy + h, pad - ox:pad - ox + w]

    return ((1 - ay) * (1 - ax) * win(iy, ix) + (1 - ay) * ax * win(iy, ix + 1)
            + ay * (1 - ax) * win(iy + 1, ix) + ay * ax * win(iy + 1, ix + 1))


def simulate_saccade_events(
    images: np.ndarray,
    *,
    margin: int = 2,
    amplitude: float = 1.5,
    substeps: int = 20,
    saccade_us: int = 100_000,
    theta: float = 0.2,
    eps: float = 0.1,
    noise_hz: float = 1.0,
    seed: int = 0,
) -> list[np.ndarray]:
    """Events for each image of ``images [N, h, w]`` (intensities in [0, 1]); see module docs.

    Returns one sorted :data:`EVENT_DTYPE` array per image, on a sensor of
    ``(w + 2 margin) x (h + 2 margin)`` pixels, times in microseconds.
    """
    if theta <= 0:
        raise UserError(f"digits: contrast threshold theta must be > 0, got {theta}")
    rng = np.random.default_rng(seed)
    n, h, w = images.shape
    H, W = h + 2 * margin, w + 2 * margin
    canvas = np.zeros((n, H, W))
    canvas[:, margin:margin + h, margin:margin + w] = images
    path = saccade_path(amplitude, substeps)
    dt = saccade_us / substeps
    ref = np.log(_shift_bilinear(canvas, *path[0]) + eps)
    cols: list[tuple[np.ndarray, ...]] = []
    for k in range(1, path.shape[0]):
        level = np.log(_shift_bilinear(canvas, *path[k]) + eps)
        diff = level - ref
        count = np.floor(np.abs(diff) / theta).astype(np.int64)
        ref += np.sign(diff) * count * theta
        idx = np.nonzero(count)
        reps = count[idx]
        i_img, y, x = (np.repeat(a, reps) for a in idx)
        pol = np.repeat((diff[idx] > 0).astype(np.int8), reps)
        t = ((k - 1) + rng.random(i_img.shape[0])) * dt
        cols.append((i_img, t, x, y, pol))
    duration = (path.shape[0] - 1) * dt
    n_noise = rng.poisson(noise_hz * duration * 1e-6 * H * W, size=n)
    if n_noise.sum():
        i_img = np.repeat(np.arange(n), n_noise)
        m = i_img.shape[0]
        cols.append((i_img, rng.random(m) * duration, rng.integers(0, W, m), rng.integers(0, H, m),
                     rng.integers(0, 2, m).astype(np.int8)))
    i_img, t, x, y, pol = (np.concatenate(c) for c in zip(*cols))
    order = np.lexsort((t, i_img))
    i_img, t, x, y, pol = i_img[order], t[order], x[order], y[order], pol[order]
    bounds = np.searchsorted(i_img, np.arange(n + 1))
    out = []
    for j in range(n):
        a, b = bounds[j], bounds[j + 1]
        ev = np.empty(b - a, dtype=EVENT_DTYPE)
        ev["t"], ev["x"], ev["y"], ev["p"] = t[a:b].astype(np.int64), x[a:b], y[a:b], pol[a:b]
        out.append(ev)
    return out


@functools.lru_cache(maxsize=4)
def digits_events(seed: int = 0, **params: Any) -> tuple[tuple[np.ndarray, ...], np.ndarray, tuple[int, int, int]]:
    """``(events per sample, labels, sensor_size (W, H, P))`` for all 1,797 digits."""
    from sklearn.datasets import load_digits

    d = load_digits()
    images = d.images.astype(np.float64) / 16.0
    ev = simulate_saccade_events(images, seed=seed, **params)
    margin = params.get("margin", 2)
    size = (IMAGE + 2 * margin, IMAGE + 2 * margin, 2)
    return tuple(ev), d.target.astype(np.int64), size


def split_indices(labels: np.ndarray, test_fraction: float = 0.2) -> tuple[np.ndarray, np.ndarray]:
    """The fixed stratified split (``random_state=0``)."""
    from sklearn.model_selection import train_test_split

    idx = np.arange(labels.shape[0])
    tr, te = train_test_split(idx, test_size=test_fraction, stratify=labels, random_state=0)
    return np.sort(tr), np.sort(te)


@functools.lru_cache(maxsize=8)
def _frames(T: int, split_by: str, data_seed: int, shift: str | None = None,
            shift_seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, tuple[int, int, int]]:
    """Frames of all 1,797 samples (in memory, keyed by every parameter that changes them); a
    shift acts on the events before framing, sample ``i`` of a split drawing its noise from
    :func:`~pipesdfa.data.shifting.noise_index`."""
    events, labels, size = digits_events(data_seed)
    sh = resolve_shift("digits", shift, shift_seed)
    if sh is not None:
        events = list(events)
        for split, idx in zip(("train", "test"), split_indices(labels)):
            for pos, i in enumerate(idx):
                events[i] = sh.events(events[i], size, noise_index(split, pos))
    frames = np.stack([events_to_frames(e, size, T, split_by) for e in events])
    return torch.from_numpy(frames), torch.from_numpy(labels), size


def load_digits_dataset(T: int, data_dir: str | None = None, seed: int = 0, split_by: str = "number",
                        data_seed: int = 0, max_train: int | None = None, max_test: int | None = None,
                        shift: str | None = None, shift_seed: int = 0, samples_per_class: int | None = None,
                        subset_seed: int = 0, **options: Any) -> DatasetBundle:
    """The embedded dataset: frames ``[T, 2, 12, 12]``, 1,437 train / 360 test samples.

    ``data_dir`` is ignored (nothing to read); ``seed`` (the training seed) does not change
    the data: ``data_seed`` does. ``shift``/``shift_seed`` (a device shift of the events) and
    ``samples_per_class``/``subset_seed`` (a seeded stratified few-shot training split):
    :mod:`pipesdfa.data.shifting`. ``max_train``/``max_test`` then keep the first N samples of
    a split (the same option every real loader takes).
    """
    if options:
        raise UserError(f"dataset 'digits': unknown option(s) {', '.join(sorted(options))}")
    for name, n in (("max_train", max_train), ("max_test", max_test)):
        if n is not None and n < 1:
            raise UserError(f"{name} must be >= 1, got {n}")
    sh = resolve_shift("digits", shift, shift_seed)
    frames, labels, (w, h, p) = _frames(T, split_by, data_seed, sh.spec if sh else None, shift_seed if sh else 0)
    tr, te = split_indices(labels.numpy())
    if samples_per_class is not None:
        tr = tr[per_class_indices(labels.numpy()[tr], samples_per_class, subset_seed, "digits' training split")]
    tr_t, te_t = torch.from_numpy(tr[:max_train]), torch.from_numpy(te[:max_test])
    meta = {"sensor_size": [w, h, p], "split_by": split_by, "data_seed": data_seed,
            "source": "sklearn.datasets.load_digits + pipesdfa saccade simulation"}
    if sh is not None:
        meta.update(sh.identity())
    if samples_per_class is not None:
        meta.update({"samples_per_class": samples_per_class, "subset_seed": subset_seed})
    return DatasetBundle(
        name="digits",
        train=FrameTensorDataset(frames[tr_t], labels[tr_t]),
        test=FrameTensorDataset(frames[te_t], labels[te_t]),
        input_shape=(p, h, w),
        num_classes=10,
        class_names=[str(i) for i in range(10)],
        meta=meta,
    )
