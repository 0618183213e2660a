"""Round trips and error reporting of the official-format readers (no real data needed)."""

from __future__ import annotations

import gzip
import pickle
import re
import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipesdfa.data.events import EVENT_DTYPE, make_events
from pipesdfa.data.formats.aedat31 import parse_aedat31, read_aedat31, read_gesture_labels, read_trial_list
from pipesdfa.data.formats.atis_bin import OVERFLOW_US, decode_atis_bytes, encode_atis_bytes, read_atis_bin
from pipesdfa.data.formats.braille_pkl import (load_pickle, read_braille_events, read_braille_raw,
                                               sigma_delta_encode)
from pipesdfa.data.formats.shd_h5 import ShdFile
from _writers import (aedat31_bytes, random_events, write_aedat31, write_atis_bin,
                                   write_braille_events, write_braille_raw, write_gesture_labels, write_shd_h5)
from pipesdfa.util.errors import UserError


# ------------------------------------------------------------------------------ ATIS .bin

def test_atis_bytes_by_hand():
    # x=3, y=7, ON, t = 0x012345 = 74565 us
    raw = bytes([3, 7, 0x80 | 0x01, 0x23, 0x45, 1, 2, 0x00, 0x00, 0x10])
    ev = decode_atis_bytes(raw)
    assert ev.dtype == EVENT_DTYPE
    assert ev["t"].tolist() == [16, 74565]
    assert ev["x"].tolist() == [1, 3] and ev["y"].tolist() == [2, 7] and ev["p"].tolist() == [0, 1]


def test_atis_overflow_record_by_hand():
    # event at t=5, then an overflow marker (y=240), then an event stored as t=3 -> 2**23 + 3
    raw = bytes([1, 1, 0, 0, 5, 0, 240, 0, 0, 0, 2, 2, 0x80, 0, 3])
    ev = decode_atis_bytes(raw)
    assert ev["t"].tolist() == [5, OVERFLOW_US + 3]
    assert ev["y"].tolist() == [1, 2]


@settings(max_examples=40, deadline=None)
@given(n=st.integers(0, 200), t_max=st.sampled_from([1000, 300_000, 3 * OVERFLOW_US]), seed=st.integers(0, 999))
def test_atis_round_trip(n, t_max, seed):
    ev = random_events(n, (240, 180, 2), t_max, seed)
    back = decode_atis_bytes(encode_atis_bytes(ev))
    assert np.array_equal(back, ev)


def test_atis_file_overflow_and_empty(tmp_path):
    ev = make_events(t=[10, OVERFLOW_US - 1, OVERFLOW_US + 7, 2 * OVERFLOW_US + 1], x=[0, 1, 2, 3], y=[4, 5, 6, 7],
                     p=[1, 0, 1, 0])
    path = write_atis_bin(tmp_path / "a.bin", ev)
    assert path.stat().st_size == 5 * (4 + 2)  # two overflow records
    assert np.array_equal(read_atis_bin(path), ev)
    empty = write_atis_bin(tmp_path / "e.bin", ev[:0])
    assert read_atis_bin(empty).shape == (0,)


def test_atis_truncated_names_file_and_offset(tmp_path):
    path = tmp_path / "t.bin"
    path.write_bytes(encode_atis_bytes(random_events(3, (34, 34, 2), 1000)) + b"\x01\x02")
    with pytest.raises(UserError, match=r"t\.bin.*byte offset 15"):
        read_atis_bin(path)


def test_atis_outside_sensor_names_offset(tmp_path):
    ev = make_events(t=[1, 2, 3], x=[0, 40, 1], y=[0, 0, 0], p=[1, 1, 1])
    path = write_atis_bin(tmp_path / "c.bin", ev)
    with pytest.raises(UserError, match=r"c\.bin: corrupt event at byte offset 5: x=40"):
        read_atis_bin(path, sensor=(34, 34))


# ------------------------------------------------------------------------------ SHD HDF5

def test_shd_round_trip_vlen_and_float16(tmp_path):
    samples = [(np.array([0.001, 0.07, 0.5, 1.2]), np.array([0, 699, 3, 3])),
               (np.array([], dtype=float), np.array([], dtype=int)),
               (np.array([0.9]), np.array([12]))]
    path = write_shd_h5(tmp_path / "shd_train.h5", samples, [3, 0, 19], keys=[f"k{i}" for i in range(20)])
    f = ShdFile(path)
    assert len(f) == 3 and f.labels.tolist() == [3, 0, 19] and f.keys[19] == "k19"
    ev = f.events(0)
    # float16 rounding of the stored seconds, cast to float64 before scaling (no inf)
    expect = np.rint(np.array([0.001, 0.07, 0.5, 1.2], dtype=np.float16).astype(np.float64) * 1e6)
    assert ev["t"].tolist() == expect.astype(np.int64).tolist()
    assert ev["t"].max() > 1_000_000
    assert ev["x"].tolist() == [0, 699, 3, 3]
    assert f.events(1).shape == (0,)
    # pickles without the open handle (DataLoader workers reopen it)
    g = pickle.loads(pickle.dumps(f))
    assert np.array_equal(g.events(2), f.events(2))


def test_shd_missing_field(tmp_path):
    import h5py

    path = tmp_path / "bad.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("labels", data=np.zeros(2))
    with pytest.raises(UserError, match=r"bad\.h5: missing field 'spikes/times'"):
        ShdFile(path)


def test_shd_header_claiming_more_samples_than_bytes_is_refused_before_reading(tmp_path):
    """A damaged header (found by the fuzzer) claimed ~10^9 samples in a few KB: reading them one by one
    never ended. Unallocated datasets of that length make the same file."""
    import h5py

    path = tmp_path / "shd_train.h5"
    n = 10**9
    with h5py.File(path, "w") as f:
        f.create_dataset("spikes/times", shape=(n,), dtype=h5py.vlen_dtype(np.float16))
        f.create_dataset("spikes/units", shape=(n,), dtype=h5py.vlen_dtype(np.uint16))
        f.create_dataset("labels", shape=(n,), dtype=np.uint8)
    assert path.stat().st_size < 100_000
    with pytest.raises(UserError, match=r"shd_train\.h5: field 'spikes/times' claims 1000000000 samples"):
        ShdFile(path)


def test_shd_not_hdf5(tmp_path):
    path = tmp_path / "shd_test.h5"
    path.write_bytes(b"not hdf5")
    with pytest.raises(UserError, match=r"shd_test\.h5"):
        ShdFile(path)


# --------------------------------------------------------------------------- AEDAT 3.1

def test_aedat_round_trip_with_overflow_and_skipped_packets():
    ev = random_events(5000, (128, 128, 2), 3_000_000, seed=1)
    ev["t"][-1000:] += 1 << 31  # the last packets carry a non-zero eventTSOverflow
    raw = aedat31_bytes(ev, packet_events=700, extra_packet=True, invalid_events=5)
    back = parse_aedat31(raw)
    assert np.array_equal(back, ev)


def test_aedat_polarity_word_by_hand():
    ev = make_events(t=[42], x=[127], y=[3], p=[1])
    raw = aedat31_bytes(ev, extra_packet=False)
    word = np.frombuffer(raw[-8:], "<u4")
    assert word[0] == (127 << 17) | (3 << 2) | (1 << 1) | 1 and word[1] == 42


def test_aedat_errors(tmp_path):
    with pytest.raises(UserError, match="not an AEDAT 3.1 file"):
        parse_aedat31(b"#!AER-DAT2.0\r\n")
    raw = aedat31_bytes(random_events(10, (128, 128, 2), 100), extra_packet=False)
    path = tmp_path / "user01_led.aedat"
    path.write_bytes(raw[:-3])
    with pytest.raises(UserError, match=r"user01_led\.aedat: truncated packet at byte offset \d+"):
        read_aedat31(path)
    path.write_bytes(raw + b"\x01\x00")
    with pytest.raises(UserError, match=r"truncated packet header at byte offset"):
        read_aedat31(path)
    assert read_aedat31(write_aedat31(tmp_path / "e.aedat", random_events(0, (1, 1, 2), 1))).shape == (0,)


def test_gesture_labels_and_trials(tmp_path):
    p = write_gesture_labels(tmp_path / "user22_led_labels.csv", [(1, 10, 20), (9, 15, 40), (9, 41, 50)])
    assert read_gesture_labels(p) == [(1, 10, 20), (9, 15, 40), (9, 41, 50)]
    (tmp_path / "bad_labels.csv").write_text("cls,start,end\n1,2,3\n")
    with pytest.raises(UserError, match="line 1: expected the header"):
        read_gesture_labels(tmp_path / "bad_labels.csv")
    (tmp_path / "bad2_labels.csv").write_text("class,startTime_usec,endTime_usec\n1,x,3\n")
    with pytest.raises(UserError, match="line 2"):
        read_gesture_labels(tmp_path / "bad2_labels.csv")
    (tmp_path / "trials_to_train.txt").write_text("user01_led.aedat\n\nuser02_lab.aedat \n")
    assert read_trial_list(tmp_path / "trials_to_train.txt") == ["user01_led.aedat", "user02_lab.aedat"]


# ------------------------------------------------------------------------------ Braille

def test_sigma_delta_ramp_by_hand():
    # one taxel: s = |255 - taxel| goes 0 -> 10 -> 4 over two 25 ms steps; threshold 3.
    taxel = np.full((3, 12), 255.0)
    taxel[:, 0] = 255 - np.array([0.0, 10.0, 4.0])
    ev = sigma_delta_encode(taxel, threshold=3.0)
    # up: levels 3, 6, 9 at 7.5, 15, 22.5 ms; level ends at 9.
    # down from 10 to 4: levels 6 (at 25 + 4/6*25 ms) then 3 is not reached (4 > 3).
    assert ev["p"].tolist() == [1, 1, 1, 0]
    assert ev["t"].tolist() == [7500, 15000, 22500, 25000 + round(4 / 6 * 25000)]
    assert set(ev["x"].tolist()) == {0}


def test_sigma_delta_counts_match_level_changes():
    rng = np.random.default_rng(0)
    taxel = 255 - np.cumsum(rng.normal(0, 4, (80, 12)), axis=0).clip(-200, 200)
    theta = 2.0
    ev = sigma_delta_encode(taxel, theta)
    s = np.abs(255 - taxel)
    # the final level is s[0] + theta * (ON - OFF), within theta of the last sample
    for k in range(12):
        sel = ev["x"] == k
        net = int((ev["p"][sel] == 1).sum()) - int((ev["p"][sel] == 0).sum())
        assert abs(s[0, k] + theta * net - s[-1, k]) < theta
    assert np.all(np.diff(ev["t"]) >= 0)


def test_braille_raw_round_trip(tmp_path):
    data = [np.full((76, 12), 255.0), np.linspace(255, 100, 77 * 12).reshape(77, 12)]
    for gz in (True, False):
        p = write_braille_raw(tmp_path / f"raw{gz}.pkl", data, ["Space", "B"], gz=gz)
        got, letters = read_braille_raw(p)
        assert letters == ["Space", "B"] and np.array_equal(got[1], data[1])


def test_braille_events_round_trip(tmp_path):
    taxels = [([0.01, 0.5], [0.2])] + [([], [])] * 11
    p = write_braille_events(tmp_path / "data_braille_letters_th_1.pkl", [("A", taxels), ("Z", [([], [])] * 12)])
    evs, letters = read_braille_events(p)
    assert letters == ["A", "Z"]
    assert evs[0]["t"].tolist() == [10_000, 200_000, 500_000] and evs[0]["p"].tolist() == [1, 0, 1]
    assert evs[1].shape == (0,)


def test_pickle_refuses_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("hi",))

    p = tmp_path / "evil.pkl.gz"
    p.write_bytes(gzip.compress(pickle.dumps([Evil()])))
    with pytest.raises(UserError, match=r"evil\.pkl\.gz: pickle asks for builtins\.print"):
        load_pickle(p)


@pytest.mark.parametrize("module,name", [("numpy", "load"), ("numpy.lib.npyio", "load"), ("os", "system"),
                                         ("pandas.io.pickle", "read_pickle"), ("copyreg", "__newobj__x")])
def test_pickle_refuses_non_data_globals(tmp_path, module, name):
    """Only array/scalar rebuilders are admitted from numpy (``numpy.load`` would unpickle a
    second file with pickling allowed), and no pandas reader."""
    p = tmp_path / "g.pkl"
    p.write_bytes(b"\x80\x02c" + f"{module}\n{name}\n".encode() + b"q\x00.")
    with pytest.raises(UserError, match=rf"g\.pkl: pickle asks for {re.escape(module)}\.{re.escape(name)}"):
        load_pickle(p)


def _peak_bytes(fn) -> int:
    tracemalloc.start()
    try:
        fn()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak


class _HugeArray:
    """Pickles as an ndarray whose state claims ``shape`` but carries one element."""

    def __init__(self, shape, dtype, rebuild_shape=(0,)):
        self.shape, self.dtype, self.rebuild_shape = shape, dtype, rebuild_shape

    def __reduce__(self):
        _reconstruct = np.zeros(0).__reduce__()[0]  # numpy's own rebuilder, in either core module
        data = [None] if self.dtype == object else b"\0" * np.dtype(self.dtype).itemsize
        return (_reconstruct, (np.ndarray, self.rebuild_shape, b"b"), (1, self.shape, np.dtype(self.dtype), False, data))


@pytest.mark.parametrize("payload", [
    # BYTEARRAY8 / BINBYTES8 / FRAME claiming 1 GiB in a 30-byte file (the C unpickler allocates
    # the count before reading; Python's bytearray(n) also zeroes it)
    b"\x80\x05\x96" + (1 << 30).to_bytes(8, "little") + b"abc.",
    b"\x80\x04\x8e" + (1 << 30).to_bytes(8, "little") + b"abc.",
    b"\x80\x04\x95" + (1 << 30).to_bytes(8, "little") + b"N.",
    # an object array whose state claims 2**27 elements, and a rebuild shape of 2**30 bytes
    pickle.dumps(_HugeArray((1 << 27,), object), protocol=4),
    pickle.dumps(_HugeArray((1,), np.float64, rebuild_shape=(1 << 30,)), protocol=4),
], ids=["bytearray8", "binbytes8", "frame", "object-array-state", "reconstruct-shape"])
def test_pickle_damaged_length_allocates_nothing(tmp_path, payload):
    """A damaged length or shape field is an error, not an allocation of what it claims (a fuzzed
    file once asked for 7.7e12 bytes and had the test process killed)."""
    p = tmp_path / "raw.pkl"
    p.write_bytes(payload)

    def read():
        with pytest.raises(UserError, match=r"raw\.pkl"):
            read_braille_raw(p)

    assert _peak_bytes(read) < 64 << 20


def test_pickle_protocols_round_trip(tmp_path):
    """Every pickle protocol of arrays, numpy scalars and containers reads back (protocol 0-2 name
    ``__builtin__`` and ``_codecs``; protocol 5 rebuilds arrays with ``_frombuffer``)."""
    recs = [{"letter": "A", "taxel_data": np.arange(24.0).reshape(2, 12), "rep": np.int64(3),
             "extra": bytearray(b"xy")},
            {"letter": np.str_("B"), "taxel_data": np.ones((12, 3)).T, "rep": 1, "extra": None}]
    for proto in range(pickle.HIGHEST_PROTOCOL + 1):
        p = tmp_path / f"raw{proto}.pkl"
        p.write_bytes(pickle.dumps(recs, protocol=proto))
        data, letters = read_braille_raw(p)
        assert letters == ["A", "B"] and data[0].tolist() == recs[0]["taxel_data"].tolist()
        assert load_pickle(p)[0]["extra"] == bytearray(b"xy")


def test_braille_wrong_shape(tmp_path):
    p = tmp_path / "raw.pkl"
    p.write_bytes(pickle.dumps([{"letter": "A", "taxel_data": np.zeros((5, 11))}]))
    with pytest.raises(UserError, match=r"sample 0: field 'taxel_data' has shape \(5, 11\)"):
        read_braille_raw(p)


# ------------------------------------------------------------- property tests (fuzzing)

_AEDAT = aedat31_bytes(random_events(300, (128, 128, 2), 10_000, 3), packet_events=64, extra_packet=True)
_ATIS = encode_atis_bytes(random_events(50, (34, 34, 2), 2 * OVERFLOW_US, 4))


@settings(max_examples=80, deadline=None)
@given(cut=st.integers(0, len(_AEDAT)))
def test_aedat_any_truncation_is_clean(cut):
    """Cutting a file anywhere either still parses (at a packet boundary: a prefix of the
    events) or raises one UserError -- never another exception."""
    full = parse_aedat31(_AEDAT)
    try:
        ev = parse_aedat31(_AEDAT[:cut])
    except UserError:
        return
    assert np.array_equal(ev, full[: ev.shape[0]])


@settings(max_examples=60, deadline=None)
@given(cut=st.integers(0, len(_ATIS)), junk=st.binary(max_size=7))
def test_atis_any_truncation_is_clean(cut, junk):
    raw = _ATIS[:cut] + junk
    try:
        ev = decode_atis_bytes(raw)
    except UserError as exc:
        assert "byte offset" in str(exc)
        return
    assert ev.dtype == EVENT_DTYPE and len(raw) % 5 == 0


@settings(max_examples=30, deadline=None)
@given(n=st.integers(0, 400), packet=st.integers(1, 200), seed=st.integers(0, 99))
def test_aedat_round_trip_any_packetisation(n, packet, seed):
    ev = random_events(n, (128, 128, 2), 5_000_000, seed)
    assert np.array_equal(parse_aedat31(aedat31_bytes(ev, packet_events=packet)), ev)


def test_atis_overflow_increment_selectable():
    raw = bytes([1, 1, 0, 0, 5, 0, 240, 0, 0, 0, 2, 2, 0x80, 0, 3])
    assert decode_atis_bytes(raw, overflow_us=1 << 13)["t"].tolist() == [5, 8192 + 3]
