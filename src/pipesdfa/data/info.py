"""Per-split statistics of a dataset on disk, and what a device shift does to them (``pipesdfa data info
[--shift S]``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from pipesdfa.data.catalog import CATALOG
from pipesdfa.data.datasets import event_sources

__all__ = ["dataset_info", "shift_info", "SENSOR_SIZES"]

#: Sensor size (W, H, P) of the events each reader returns (from the catalog).
SENSOR_SIZES: dict[str, tuple[int, int, int]] = {n: r.sensor_size for n, r in CATALOG.items()}


def dataset_info(name: str, data_dir, progress: bool = False, **options) -> dict[str, Any]:
    """``{"dataset", "root", "sensor_size", "source", "splits": {split: {"samples", "events",
    "t_max_us", "classes": {class_name: count}}}}`` reading every sample's events once."""
    from tqdm import tqdm

    sources, class_names, meta = event_sources(name, data_dir, **options)
    sensor = meta.pop("sensor_size_events", SENSOR_SIZES[name])
    splits = {}
    for split, src in sources.items():
        n_ev, t_max = 0, 0
        for i in tqdm(range(len(src)), desc=f"{name} {split}", disable=not progress, leave=False):
            ev = src.events(i)
            n_ev += int(ev.shape[0])
            if ev.shape[0]:
                t_max = max(t_max, int(ev["t"].max()))
        counts = np.bincount(src.labels, minlength=len(class_names)) if len(src) else np.zeros(len(class_names), int)
        splits[split] = {"samples": len(src), "events": n_ev, "t_max_us": t_max,
                         "classes": {class_names[k]: int(c) for k, c in enumerate(counts) if c}}
    return {"dataset": name, "root": str(data_dir) if data_dir is not None else None, "sensor_size": list(sensor), **meta,
            "source": CATALOG[name].source, "splits": splits}



def shift_info(name: str, data_dir, shift: str, shift_seed: int = 0, progress: bool = False,
               **options) -> dict[str, Any]:
    """What ``shift`` does to a dataset: per split, the statistics of the unshifted and the
    shifted data (:func:`~pipesdfa.data.shifts.event_stats` of the events; for tactile data
    also :func:`~pipesdfa.data.shifts.taxel_stats` of the raw taxel values, and the events are
    those of the sigma-delta encoder), computed the way the loaders apply the shift."""
    from tqdm import tqdm

    from pipesdfa.data.shifting import resolve_shift, shift_source
    from pipesdfa.data.shifts import SHIFTS, event_stats, taxel_stats

    sh = resolve_shift(name, shift, shift_seed)
    assert sh is not None
    splits: dict[str, Any] = {}
    if sh.kind == "taxels":
        from pipesdfa.data.datasets import braille_taxels, encode_braille

        thr = float(options.get("threshold", 1.0))
        opts = {k: v for k, v in options.items() if k in ("split_seed", "threshold")}
        raw, moved = braille_taxels(data_dir, **opts), braille_taxels(data_dir, shift=sh, **opts)
        sensor = SENSOR_SIZES[name]
        for split in raw:
            splits[split] = {
                "unshifted": {**taxel_stats(raw[split]), **event_stats(encode_braille(raw[split], thr), sensor)},
                "shifted": {**taxel_stats(moved[split]), **event_stats(encode_braille(moved[split], thr), sensor)}}
    else:
        sources, _, meta = event_sources(name, data_dir, **options)
        sensor = tuple(meta.get("sensor_size_events", SENSOR_SIZES[name]))
        for split, src in sources.items():
            moved_src = shift_source(src, sh, sensor, split)
            before, after = [], []
            for i in tqdm(range(len(src)), desc=f"{name} {split}", disable=not progress, leave=False):
                before.append(src.events(i))
                after.append(moved_src.events(i))
            splits[split] = {"unshifted": event_stats(before, sensor), "shifted": event_stats(after, sensor)}
    return {"dataset": name, "shift": sh.spec, "shift_seed": sh.seed, "kind": sh.kind,
            "reason": SHIFTS[sh.name].reason, "sensor_size": list(sensor), "splits": splits}
