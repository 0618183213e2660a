from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from pipesdfa.data.events import make_events
from pipesdfa.data.frames import events_to_frames


def test_split_by_number_by_hand():
    ev = make_events(t=[0, 1, 2, 3, 10], x=[0, 1, 1, 0, 1], y=[0, 0, 0, 0, 0], p=[1, 0, 1, 1, 0])
    f = events_to_frames(ev, (2, 1, 2), T=2, split_by="number")
    # i*T//N: events 0,1,2 -> slice 0; events 3,4 -> slice 1
    assert f.shape == (2, 2, 1, 2)
    assert f[0, 1, 0, 0] == 1 and f[0, 0, 0, 1] == 1 and f[0, 1, 0, 1] == 1
    assert f[1, 1, 0, 0] == 1 and f[1, 0, 0, 1] == 1


def test_split_by_time_by_hand():
    ev = make_events(t=[0, 1, 2, 3, 10], x=[0, 0, 0, 0, 0], p=[1, 1, 1, 1, 1])
    f = events_to_frames(ev, (1, 1, 2), T=2, split_by="time")
    # span 11 us: slice 0 = [0, 5.5), slice 1 = [5.5, 11)
    assert f[:, 1, 0, 0].tolist() == [4, 1]


def test_empty_keeps_shape():
    ev = make_events(t=np.zeros(0, np.int64), x=np.zeros(0))
    assert events_to_frames(ev, (5, 3, 2), T=4).shape == (4, 2, 3, 5)


@settings(max_examples=50, deadline=None)
@given(n=st.integers(1, 300), T=st.integers(1, 12), mode=st.sampled_from(["number", "time"]),
       f=st.integers(1, 3), seed=st.integers(0, 2**16))
def test_frame_sum_equals_event_count(n, T, mode, f, seed):
    rng = np.random.default_rng(seed)
    ev = make_events(t=np.sort(rng.integers(0, 10**6, n)), x=rng.integers(0, 7, n), y=rng.integers(0, 5, n),
                     p=rng.integers(0, 2, n))
    fr = events_to_frames(ev, (7, 5, 2), T=T, split_by=mode, spatial_factor=f)
    assert fr.shape == (T, 2, -(-5 // f), -(-7 // f))
    assert fr.sum() == n
    if mode == "number":
        per = fr.sum(axis=(1, 2, 3))
        assert per.max() - per.min() <= 1


def test_split_by_window_by_hand():
    # window 10 us, T=2: bins [0,5) and [5,10); t=10 and t=12 fall outside and are dropped
    ev = make_events(t=[0, 4, 5, 9, 10, 12], x=[0] * 6, p=[1] * 6)
    f = events_to_frames(ev, (1, 1, 2), T=2, split_by="window", window_us=10)
    assert f[:, 1, 0, 0].tolist() == [2, 2]


def test_split_by_window_needs_window():
    import pytest

    from pipesdfa.util.errors import UserError

    ev = make_events(t=[0], x=[0])
    with pytest.raises(UserError, match="window_us"):
        events_to_frames(ev, (1, 1, 1), T=2, split_by="window")
