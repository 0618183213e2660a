"""A user's own device: seeded shifts of the data, each with its reason in the sensor's physics.

A network pre-trained on public data meets a user's sensor, which differs from the one the data
was recorded with. A :class:`Shift` models one such difference. It has two parts:

* the *device* (fixed for the user, drawn once from ``seed``): which pixels are hot, each taxel's
  gain and offset;
* the *per-sample* noise, drawn from ``(seed, sample index)``: background events.

Both are deterministic, so a shift gives the same data on every run and machine.

Event cameras (``digits``, ``nmnist``, ``dvsgesture``, ``ncaltech101``); events are
``(t [us], x, y, p)`` on a ``(W, H, P)`` sensor:

* ``hot-pixels`` (``fraction``, ``rate_hz``): a fraction of the pixels fire regardless of the
  scene. A leaky photoreceptor or a stuck reset transistor makes a pixel cross its threshold
  periodically (Lichtsteiner et al., JSSC 2008; "hot pixels" of Gallego et al., TPAMI 2022).
  Each hot pixel emits ``rate_hz`` events of one fixed polarity, evenly spread over the
  sample's duration.
* ``background-activity`` (``rate_hz`` per pixel): spurious events from junction leakage and
  shot noise, worse in dim light (Delbruck's background-activity rate). A Poisson process per
  pixel with random polarity.
* ``contrast-threshold`` (``factor``): a sensor whose contrast threshold is ``factor`` times
  the recording's. The events a log-intensity change produces scale as ``1/factor``, so each
  event is kept with probability ``1/factor`` (``factor > 1``). For ``factor < 1``, each event
  gets ``1/factor - 1`` extra copies, jittered within 1 ms.
* ``translation`` (``dx``, ``dy`` pixels) and ``rotation`` (``degrees`` about the centre): a
  sensor mounted off-axis. Events are moved and rounded to the nearest pixel; those leaving the
  array are dropped.
* ``polarity-swap``: ON and OFF exchanged, as on a sensor whose readout inverts the polarity
  bit. On a 1-polarity sensor it is refused.

Tactile Braille (``braille``, ``braille-analog``); raw taxel values ``[n_samples, 12]``
(0..255, sampled at 40 Hz), before any encoding:

* ``taxel-drift`` (``gain_sigma``, ``offset``): each taxel's gain drawn from N(1, gain_sigma)
  and its offset from N(0, offset), as an aged capacitive sensor drifts from its calibration.
  The result is clipped to 0..255.
* ``dead-taxel`` (``taxel``, -1 = drawn from the seed): one taxel reads its resting value (its
  first sample) throughout, as a broken trace does.
* ``time-warp`` (``speed``): the finger slides ``speed`` times as fast. The signal is resampled
  by linear interpolation over ``n / speed`` samples.

A shift is written ``NAME`` or ``NAME:key=value,key=value`` (e.g. ``background-activity:rate_hz=20``).
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from pipesdfa.data.events import EVENT_DTYPE
from pipesdfa.util.errors import UserError

__all__ = ["Shift", "ShiftDef", "SHIFTS", "parse_shift", "shift_kind", "EVENT_DATASETS", "TAXEL_DATASETS",
           "event_stats", "taxel_stats"]

EVENT_DATASETS = ("digits", "nmnist", "dvsgesture", "ncaltech101")
TAXEL_DATASETS = ("braille", "braille-analog")


@dataclass(frozen=True)
class ShiftDef:
    kind: str  # "events" or "taxels"
    defaults: dict[str, float]
    reason: str
    fn: Callable[..., np.ndarray] = field(repr=False)


def _rng(seed: int, *index: int) -> np.random.Generator:
    return np.random.default_rng([0x5EED, int(seed), *(int(i) for i in index)])


def _duration(ev: np.ndarray) -> tuple[int, int]:
    if ev.shape[0] == 0:
        return 0, 1
    return int(ev["t"][0]), max(int(ev["t"][-1]), int(ev["t"][0]) + 1)


def _finish(ev: np.ndarray) -> np.ndarray:
    return ev[np.argsort(ev["t"], kind="stable")] if ev.shape[0] > 1 else ev


def _hot_pixels(ev, size, seed, index, fraction, rate_hz):
    w, h, npol = size
    dev = _rng(seed, 0)
    n_hot = max(1, int(round(fraction * w * h)))
    pix = dev.choice(w * h, size=n_hot, replace=False)
    pol = dev.integers(0, npol, size=n_hot)
    phase = dev.random(n_hot)
    t0, t1 = _duration(ev)
    per = max(1, int(round(rate_hz * (t1 - t0) * 1e-6)))
    times = t0 + ((np.arange(per)[None, :] + phase[:, None]) / per * (t1 - t0)).astype(np.int64)
    add = np.empty(n_hot * per, dtype=EVENT_DTYPE)
    add["t"] = times.reshape(-1)
    add["x"] = np.repeat(pix % w, per)
    add["y"] = np.repeat(pix // w, per)
    add["p"] = np.repeat(pol, per)
    return _finish(np.concatenate([ev, add]))


def _background(ev, size, seed, index, rate_hz):
    w, h, npol = size
    r = _rng(seed, 1, index)
    t0, t1 = _duration(ev)
    n = r.poisson(rate_hz * w * h * (t1 - t0) * 1e-6)
    add = np.empty(n, dtype=EVENT_DTYPE)
    add["t"] = r.integers(t0, t1, size=n)
    add["x"] = r.integers(0, w, size=n)
    add["y"] = r.integers(0, h, size=n)
    add["p"] = r.integers(0, npol, size=n)
    return _finish(np.concatenate([ev, add]))


def _contrast(ev, size, seed, index, factor):
    if not factor > 0:
        raise UserError(f"shift contrast-threshold: factor = {factor}; expected > 0")
    r = _rng(seed, 2, index)
    if factor >= 1:
        return ev[r.random(ev.shape[0]) < 1.0 / factor]
    extra = 1.0 / factor - 1.0
    copies = np.floor(extra).astype(int) + (r.random(ev.shape[0]) < extra - math.floor(extra))
    dup = np.repeat(ev, copies)
    dup["t"] = dup["t"] + r.integers(0, 1000, size=dup.shape[0])
    return _finish(np.concatenate([ev, dup]))


def _move(ev, size, x, y):
    w, h, _ = size
    xi, yi = np.rint(x).astype(np.int64), np.rint(y).astype(np.int64)
    keep = (xi >= 0) & (xi < w) & (yi >= 0) & (yi < h)
    out = ev[keep].copy()
    out["x"], out["y"] = xi[keep], yi[keep]
    return out


def _translation(ev, size, seed, index, dx, dy):
    return _move(ev, size, ev["x"].astype(np.float64) + dx, ev["y"].astype(np.float64) + dy)


def _rotation(ev, size, seed, index, degrees):
    w, h, _ = size
    a = math.radians(degrees)
    cx, cy = (w - 1) / 2, (h - 1) / 2
    x, y = ev["x"].astype(np.float64) - cx, ev["y"].astype(np.float64) - cy
    return _move(ev, size, cx + math.cos(a) * x - math.sin(a) * y, cy + math.sin(a) * x + math.cos(a) * y)


def _polarity(ev, size, seed, index):
    if size[2] < 2:
        raise UserError("shift polarity-swap: the sensor has one polarity")
    out = ev.copy()
    out["p"] = 1 - out["p"]
    return out


def _taxel_drift(x, seed, index, gain_sigma, offset):
    dev = _rng(seed, 3)
    g = dev.normal(1.0, gain_sigma, size=x.shape[1])
    o = dev.normal(0.0, offset, size=x.shape[1])
    return np.clip(x * g + o, 0.0, 255.0)


def _dead_taxel(x, seed, index, taxel):
    t = int(taxel) if taxel >= 0 else int(_rng(seed, 4).integers(0, x.shape[1]))
    if not 0 <= t < x.shape[1]:
        raise UserError(f"shift dead-taxel: taxel = {taxel}; expected -1 or 0..{x.shape[1] - 1}")
    out = x.astype(np.float64).copy()
    out[:, t] = out[0, t] if out.shape[0] else 0.0
    return out


def _time_warp(x, seed, index, speed):
    if not speed > 0:
        raise UserError(f"shift time-warp: speed = {speed}; expected > 0")
    n = x.shape[0]
    m = max(2, int(round(n / speed)))
    src = np.linspace(0, n - 1, m)
    cols = [np.interp(src, np.arange(n), x[:, j]) for j in range(x.shape[1])]
    return np.stack(cols, axis=1)


SHIFTS: dict[str, ShiftDef] = {
    "hot-pixels": ShiftDef("events", {"fraction": 0.01, "rate_hz": 200.0},
                           "defective pixels fire regardless of the scene", _hot_pixels),
    "background-activity": ShiftDef("events", {"rate_hz": 5.0},
                                    "leakage and shot noise make spurious events (dim light)", _background),
    "contrast-threshold": ShiftDef("events", {"factor": 2.0},
                                   "a less (factor > 1) or more sensitive pixel threshold", _contrast),
    "translation": ShiftDef("events", {"dx": 2.0, "dy": 1.0}, "the sensor mounted off-centre", _translation),
    "rotation": ShiftDef("events", {"degrees": 15.0}, "the sensor mounted rotated", _rotation),
    "polarity-swap": ShiftDef("events", {}, "a readout that inverts the polarity bit", _polarity),
    "taxel-drift": ShiftDef("taxels", {"gain_sigma": 0.3, "offset": 20.0},
                            "per-taxel gain and offset drift of an aged sensor", _taxel_drift),
    "dead-taxel": ShiftDef("taxels", {"taxel": -1.0}, "a broken taxel trace reads its rest value", _dead_taxel),
    "time-warp": ShiftDef("taxels", {"speed": 1.5}, "the finger slides at another speed", _time_warp),
}


def _num(v: float) -> str:
    """The shortest text that reads back as ``v``."""
    short = f"{v:g}"
    return short if float(short) == v else repr(float(v))


@dataclass(frozen=True)
class Shift:
    """One named shift with its parameters and seed (see the module docstring)."""

    name: str
    params: dict[str, float]
    seed: int = 0

    @property
    def kind(self) -> str:
        return SHIFTS[self.name].kind

    @property
    def spec(self) -> str:
        """``NAME:key=value,...``, the identity used in caches and metrics."""
        items = ",".join(f"{k}={_num(v)}" for k, v in sorted(self.params.items()))
        return f"{self.name}:{items}" if items else self.name

    def identity(self) -> dict[str, Any]:
        return {"shift": self.spec, "shift_seed": self.seed}

    def events(self, ev: np.ndarray, sensor_size: tuple[int, int, int], index: int) -> np.ndarray:
        if self.kind != "events":
            raise UserError(f"shift {self.name!r} applies to tactile data, not to event cameras")
        return SHIFTS[self.name].fn(ev, tuple(sensor_size), self.seed, index, **self.params)

    def taxels(self, x: np.ndarray, index: int) -> np.ndarray:
        if self.kind != "taxels":
            raise UserError(f"shift {self.name!r} applies to event cameras, not to tactile data")
        return SHIFTS[self.name].fn(np.asarray(x, dtype=np.float64), self.seed, index, **self.params)


def shift_kind(dataset: str) -> str:
    if dataset in EVENT_DATASETS:
        return "events"
    if dataset in TAXEL_DATASETS:
        return "taxels"
    raise UserError(f"dataset {dataset!r} takes no shifts; shifts exist for {', '.join(EVENT_DATASETS + TAXEL_DATASETS)}")


def parse_shift(text: str, seed: int = 0, dataset: str | None = None) -> Shift:
    """``"NAME"`` or ``"NAME:key=value,..."`` -> :class:`Shift`; unknown names or keys are refused."""
    name, _, rest = str(text).strip().partition(":")
    if name not in SHIFTS:
        close = difflib.get_close_matches(name, list(SHIFTS), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise UserError(f"unknown shift {name!r}{hint}; expected one of: {', '.join(SHIFTS)}")
    d = SHIFTS[name]
    params = dict(d.defaults)
    for item in filter(None, (s.strip() for s in rest.split(","))):
        key, sep, value = item.partition("=")
        if not sep or key not in d.defaults:
            raise UserError(f"shift {name!r}: {item!r}; expected KEY=VALUE with KEY one of: "
                            f"{', '.join(d.defaults) or '(none)'}")
        try:
            params[key] = float(value)
        except ValueError:
            raise UserError(f"shift {name!r}: {key} = {value!r}; expected a number") from None
        if not math.isfinite(params[key]):
            raise UserError(f"shift {name!r}: {key} = {value!r}; expected a finite number")
    if "rate_hz" in params and params["rate_hz"] < 0 or "fraction" in params and not 0 < params["fraction"] <= 1:
        raise UserError(f"shift {name!r}: rates must be >= 0 and fraction in (0, 1], got {params}")
    if dataset is not None and shift_kind(dataset) != d.kind:
        raise UserError(f"shift {name!r} is a shift of {'event cameras' if d.kind == 'events' else 'tactile data'}; "
                        f"dataset {dataset!r} is {'an event camera' if shift_kind(dataset) == 'events' else 'tactile'}")
    return Shift(name, params, int(seed))


def event_stats(events: list[np.ndarray], sensor_size: tuple[int, int, int]) -> dict[str, float]:
    """Events per sample, per pixel and second, the share of ON events, and the active pixels."""
    w, h, _ = sensor_size
    n = [e.shape[0] for e in events]
    dur = [(_duration(e)[1] - _duration(e)[0]) * 1e-6 for e in events]
    on = sum(int((e["p"] == 1).sum()) for e in events)
    active = [len(np.unique(e["y"].astype(np.int64) * w + e["x"])) / (w * h) for e in events]
    return {"samples": len(events), "events_per_sample": float(np.mean(n)) if n else 0.0,
            "rate_hz_per_pixel": float(np.mean([k / (w * h * d) for k, d in zip(n, dur)])) if n else 0.0,
            "on_fraction": on / max(1, sum(n)), "active_pixel_fraction": float(np.mean(active)) if active else 0.0}


def taxel_stats(samples: list[np.ndarray]) -> dict[str, float]:
    """Samples per recording, mean and spread of the taxel values, and the taxel-to-taxel spread."""
    cat = np.concatenate(samples) if samples else np.zeros((0, 12))
    return {"samples": len(samples), "length": float(np.mean([s.shape[0] for s in samples])) if samples else 0.0,
            "mean": float(cat.mean()) if cat.size else 0.0, "std": float(cat.std()) if cat.size else 0.0,
            "taxel_mean_spread": float(cat.mean(axis=0).std()) if cat.size else 0.0}
