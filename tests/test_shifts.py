"""Device shifts: golden behaviour, determinism, refusals, and a property test of the parser."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipesdfa.data.events import make_events
from pipesdfa.data.shifts import SHIFTS, event_stats, parse_shift, taxel_stats
from pipesdfa.util.errors import UserError

SIZE = (10, 8, 2)


def _events(n=200, seed=0):
    r = np.random.default_rng(seed)
    return make_events(np.sort(r.integers(0, 100_000, n)), r.integers(0, 10, n), r.integers(0, 8, n),
                       r.integers(0, 2, n))


def test_event_shifts_golden():
    ev = _events()
    hot = parse_shift("hot-pixels:fraction=0.05,rate_hz=100").events(ev, SIZE, 0)
    # 4 of 80 pixels, 100 Hz over the sample's 0.1 s -> 10 events each, one polarity per pixel
    assert hot.shape[0] == 200 + 4 * 10 and np.all(np.diff(hot["t"]) >= 0)
    assert parse_shift("contrast-threshold:factor=4").events(ev, SIZE, 0).shape[0] == pytest.approx(50, abs=20)
    assert parse_shift("contrast-threshold:factor=0.5").events(ev, SIZE, 0).shape[0] == 400
    moved = parse_shift("translation:dx=3,dy=0").events(ev, SIZE, 0)
    assert np.all(moved["x"] >= 3) and moved.shape[0] == int((ev["x"] + 3 < 10).sum())
    rot = parse_shift("rotation:degrees=360").events(ev, SIZE, 0)
    assert np.array_equal(rot["x"], ev["x"]) and np.array_equal(rot["y"], ev["y"])
    swap = parse_shift("polarity-swap").events(ev, SIZE, 0)
    assert np.array_equal(swap["p"], 1 - ev["p"])
    ba = parse_shift("background-activity:rate_hz=50").events(ev, SIZE, 0)
    assert ba.shape[0] - 200 == pytest.approx(50 * 80 * 0.1, rel=0.3)  # Poisson, 80 pixels, 0.1 s


def test_shifts_are_deterministic_and_the_device_is_fixed_across_samples():
    ev = _events()
    a = parse_shift("hot-pixels", seed=3).events(ev, SIZE, 0)
    b = parse_shift("hot-pixels", seed=3).events(_events(seed=1), SIZE, 7)
    c = parse_shift("hot-pixels", seed=4).events(ev, SIZE, 0)
    hot = lambda e, ref: {(int(x), int(y)) for x, y in zip(e["x"], e["y"])} - {  # noqa: E731
        (int(x), int(y)) for x, y in zip(ref["x"], ref["y"])}
    assert hot(a, ev) <= {(int(x), int(y)) for x, y in zip(b["x"], b["y"])}  # same hot pixels on another sample
    assert np.array_equal(a, parse_shift("hot-pixels", seed=3).events(ev, SIZE, 0))
    assert not np.array_equal(a, c)
    n1 = parse_shift("background-activity").events(ev, SIZE, 1)
    n2 = parse_shift("background-activity").events(ev, SIZE, 2)
    assert not np.array_equal(n1, n2)  # noise differs from sample to sample


def test_taxel_shifts_golden():
    x = np.tile(np.arange(12, dtype=np.float64) * 10 + 50, (40, 1))
    x[:, 0] = np.linspace(50, 200, 40)
    dead = parse_shift("dead-taxel:taxel=0").taxels(x, 0)
    assert np.all(dead[:, 0] == 50) and np.array_equal(dead[:, 1:], x[:, 1:])
    warp = parse_shift("time-warp:speed=2").taxels(x, 0)
    assert warp.shape == (20, 12) and warp[0, 0] == 50 and warp[-1, 0] == 200
    drift = parse_shift("taxel-drift:gain_sigma=0,offset=0").taxels(x, 0)
    assert np.allclose(drift, x)
    assert 0 <= parse_shift("taxel-drift").taxels(x, 0).min() and parse_shift("taxel-drift").taxels(x, 0).max() <= 255
    assert taxel_stats([x])["length"] == 40


def test_bad_shifts_are_refused_by_name():
    for text, needle in (("hotpixels", "did you mean 'hot-pixels'"), ("time-warp:speed=x", "expected a number"),
                         ("translation:dz=1", "KEY one of: dx, dy"), ("hot-pixels:fraction=2", "fraction"),
                         ("time-warp:speed=0", "speed")):
        with pytest.raises(UserError, match=needle):
            sh = parse_shift(text)
            sh.taxels(np.ones((4, 12)), 0)
    with pytest.raises(UserError, match="tactile data"):
        parse_shift("time-warp", dataset="digits")
    with pytest.raises(UserError, match="event cameras"):
        parse_shift("hot-pixels").taxels(np.ones((4, 12)), 0)
    with pytest.raises(UserError, match="one polarity"):
        parse_shift("polarity-swap").events(_events(), (10, 8, 1), 0)


@settings(max_examples=60, deadline=None)
@given(name=st.sampled_from(sorted(SHIFTS)), vals=st.lists(st.floats(0.01, 50, allow_nan=False), max_size=3))
def test_spec_round_trips(name, vals):
    keys = list(SHIFTS[name].defaults)
    text = name + (":" + ",".join(f"{k}={v!r}" for k, v in zip(keys, vals)) if keys and vals else "")
    try:
        sh = parse_shift(text)
    except UserError:
        return  # out-of-range values are refused, never a traceback
    assert parse_shift(sh.spec) == sh


def test_event_stats_golden():
    ev = make_events([0, 500_000, 1_000_000], [0, 1, 1], [0, 0, 0], [1, 1, 0])
    s = event_stats([ev], (2, 1, 2))
    assert s["events_per_sample"] == 3 and s["on_fraction"] == pytest.approx(2 / 3)
    assert s["rate_hz_per_pixel"] == pytest.approx(3 / (2 * 1.0)) and s["active_pixel_fraction"] == 1.0
