"""Per-split statistics of a dataset on disk (``pipesdfa data info``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from pipesdfa.data.catalog import CATALOG
from pipesdfa.data.datasets import event_sources

__all__ = ["dataset_info", "SENSOR_SIZES"]

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

