"""Fuzzing the readers of untrusted files: the event formats (ATIS .bin, AEDAT 3.1, SHD HDF5,
Braille pickles), the checkpoint loader and the config loader. Mutated, truncated and random
inputs: never a traceback, always a UserError naming the file, nothing half-written in a cache."""

from __future__ import annotations

import gzip
import multiprocessing
import pickle
import tempfile
import traceback
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import event
from hypothesis import strategies as st

from _fuzz import fuzz, mutated
from pipesdfa.data.formats.aedat31 import parse_aedat31
from pipesdfa.data.formats.atis_bin import decode_atis_bytes, encode_atis_bytes, read_atis_bin
from pipesdfa.data.formats.braille_pkl import read_braille_events, read_braille_raw
from pipesdfa.data.formats.shd_h5 import ShdFile
from _writers import aedat31_bytes, random_events, write_braille_events, write_braille_raw, write_shd_h5
from pipesdfa.util.errors import UserError


def expect_clean(fn, name: str):
    """``fn()`` returns, or raises a UserError whose message names ``name``."""
    try:
        return fn()
    except UserError as exc:
        assert name in str(exc), str(exc)
        return None


def _tmpfile(data: bytes, name: str) -> Path:
    d = Path(tempfile.mkdtemp(prefix="fuzz-"))
    p = d / name
    p.write_bytes(data)
    return p


# ---------------------------------------------------------------------------------- ATIS

ATIS = encode_atis_bytes(random_events(40, (34, 34, 2), 3 * (1 << 23), seed=1))


@fuzz(mutated(ATIS))
def check_atis_bin(data):
    p = _tmpfile(data, "sample.bin")
    ev = expect_clean(lambda: read_atis_bin(p, sensor=(34, 34)), str(p))
    if ev is not None:
        assert (ev["x"] < 34).all() and (ev["y"] < 34).all() and np.all(np.diff(ev["t"]) >= 0)
    expect_clean(lambda: decode_atis_bytes(data, "src.bin"), "src.bin")


# ---------------------------------------------------------------------------------- AEDAT

AEDAT = aedat31_bytes(random_events(300, (128, 128, 2), 2_000_000, seed=2), packet_events=64, extra_packet=True,
                      invalid_events=3)


@fuzz(mutated(AEDAT))
def check_aedat31(data):
    ev = expect_clean(lambda: parse_aedat31(data, "user01_led.aedat"), "user01_led.aedat")
    if ev is not None:
        assert ev.dtype.names == ("t", "x", "y", "p")


# ------------------------------------------------------------------------------------ SHD

def _shd_bytes() -> bytes:
    d = Path(tempfile.mkdtemp(prefix="fuzz-shd-"))
    samples = [(np.array([0.01, 0.2, 0.9]), np.array([1, 699, 5])), (np.array([0.5]), np.array([3]))]
    return write_shd_h5(d / "shd_train.h5", samples, [1, 19], keys=[f"k{i}" for i in range(20)]).read_bytes()


SHD = _shd_bytes()


def _in_child(fn, timeout_s: float = 20.0, extra_bytes: int | None = None) -> tuple[str, str]:
    """``fn()`` in a forked child: ``("ok", "")``, ``("user", message)`` for a UserError,
    ``("error", traceback)`` for any other exception, ``("crash", why)`` when the child died
    (a signal) or hung past ``timeout_s``. ``extra_bytes``: the child may grow its address space
    by that much only (a larger allocation raises MemoryError there instead of swapping the machine)."""
    ctx = multiprocessing.get_context("fork")
    recv, send = ctx.Pipe(duplex=False)

    def child():
        if extra_bytes is not None:
            import resource

            with open("/proc/self/statm") as f:
                size = int(f.read().split()[0]) * resource.getpagesize()
            resource.setrlimit(resource.RLIMIT_AS, (size + extra_bytes, size + extra_bytes))
        try:
            fn()
            send.send(("ok", ""))
        except UserError as exc:
            send.send(("user", str(exc)))
        except BaseException:  # noqa: BLE001 -- reported to the parent, which fails the test
            send.send(("error", traceback.format_exc()))

    proc = ctx.Process(target=child)
    proc.start()
    out = recv.recv() if recv.poll(timeout_s) else None
    proc.join(1.0)
    if proc.is_alive():
        proc.kill()
        proc.join()
    if out is None:
        out = ("crash", f"hung past {timeout_s} s" if proc.exitcode in (None, -9) else f"exit code {proc.exitcode}")
    return out


@fuzz(mutated(SHD))
def check_shd_h5(data):
    """In a child process: libhdf5 itself is not robust to damaged files (a fuzzed vlen heap made
    it loop forever in ``H5HG__cache_heap_deserialize``, another segfaulted), which no Python
    reader can prevent; what this checks is that whatever reaches Python is a UserError."""
    p = _tmpfile(data, "shd_train.h5")

    def read():
        f = ShdFile(p)
        return [f.events(i) for i in range(len(f))]

    kind, msg = _in_child(read)
    assert kind != "error", msg
    if kind == "user":
        assert str(p) in msg, msg
    event(f"shd outcome: {kind}")


# -------------------------------------------------------------------------------- Braille

def _braille_bytes() -> tuple[bytes, bytes]:
    d = Path(tempfile.mkdtemp(prefix="fuzz-br-"))
    raw = write_braille_raw(d / "raw.pkl.gz", [np.full((6, 12), 255.0) - i for i in range(3)], ["A", "B", "Space"])
    ev = write_braille_events(d / "ev.pkl", [("A", [([0.1, 0.2], [0.3])] * 12), ("Z", [([], [0.5])] * 12)])
    return gzip.decompress(raw.read_bytes()), ev.read_bytes()


BRAILLE_RAW, BRAILLE_EV = _braille_bytes()


@fuzz(st.one_of(mutated(BRAILLE_RAW), mutated(BRAILLE_EV), mutated(gzip.compress(BRAILLE_RAW))))
def check_braille_pickles(data):
    p = _tmpfile(data, "braille.pkl")
    expect_clean(lambda: read_braille_raw(p), str(p))
    expect_clean(lambda: read_braille_events(p), str(p))


class _Evil:
    def __reduce__(self):
        return (print, ("pwned",))


@fuzz(st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
                   lambda c: st.lists(c, max_size=4) | st.dictionaries(st.sampled_from(
                       ["letter", "events", "taxel_data", "x"]), c, max_size=4), max_leaves=20))
def check_braille_pickles_of_any_structure(obj):
    p = _tmpfile(pickle.dumps(obj), "braille.pkl")
    expect_clean(lambda: read_braille_raw(p), str(p))
    expect_clean(lambda: read_braille_events(p), str(p))


def test_braille_pickle_with_code_is_refused(tmp_path):
    p = tmp_path / "evil.pkl"
    p.write_bytes(pickle.dumps([_Evil()]))
    with pytest.raises(UserError, match="builtins.print"):
        read_braille_raw(p)


# ---------------------------------------------------------------------------- checkpoints

def _checkpoint_bytes() -> bytes:
    from pipesdfa.training.loop import config_from_workload, train

    d = Path(tempfile.mkdtemp(prefix="fuzz-ck-"))
    train(config_from_workload("digits-mlp", T=2, hidden=(8,), max_train=32, max_test=16, epochs=1, out=str(d)),
          progress=False, log=None)
    return (d / "checkpoint.pt").read_bytes()


CHECKPOINT = _checkpoint_bytes()


def _open_checkpoint(p: Path):
    from pipesdfa.training.checkpoint import load_checkpoint, model_from_checkpoint
    from pipesdfa.training.resume import open_run

    state = load_checkpoint(p)
    open_run(p)
    model_from_checkpoint(state)


@fuzz(mutated(CHECKPOINT))
def check_checkpoint_bytes(data):
    """In a child with 2 GiB to spare: CPython's C unpickler, under ``torch.load``, grows its memo to
    a damaged ``LONG_BINPUT`` index before it checks anything (2.9e9 entries, a 23 GB memset, in
    one fuzzed file); the limit turns that into the MemoryError that ``load_checkpoint`` reports."""
    p = _tmpfile(data, "checkpoint.pt")
    kind, msg = _in_child(lambda: _open_checkpoint(p), extra_bytes=2 << 30)
    assert kind != "error", msg
    if kind == "user":
        assert str(p) in msg, msg
    event(f"checkpoint outcome: {kind}")


_STATE = torch.load(__import__("io").BytesIO(CHECKPOINT), weights_only=False)
_VALUES = st.none() | st.booleans() | st.integers(-3, 10**6) | st.floats() | st.text(max_size=8) | \
    st.lists(st.integers(-2, 300), max_size=4) | st.dictionaries(st.text(max_size=6), st.integers(), max_size=3)


@st.composite
def bent_states(draw):
    """A real checkpoint with some fields (top level, config, model spec) replaced or removed."""
    state = {k: (dict(v) if isinstance(v, dict) else v) for k, v in _STATE.items()}
    for _ in range(draw(st.integers(1, 4))):
        where = draw(st.sampled_from(["top", "config", "model_spec"]))
        target = state if where == "top" else state.get(where)
        if not isinstance(target, dict) or not target:
            continue
        key = draw(st.sampled_from(sorted(target)))
        if draw(st.booleans()):
            target[key] = draw(_VALUES)
        else:
            del target[key]
    return state


@fuzz(bent_states())
def check_checkpoint_fields(state):
    d = Path(tempfile.mkdtemp(prefix="fuzz-ck-"))
    p = d / "checkpoint.pt"
    torch.save(state, p)
    expect_clean(lambda: _open_checkpoint(p), str(p))


# --------------------------------------------------------------------------------- configs

CONFIG = b"""workload: digits-mlp
method: sdfa
T: 4
hidden: [16, 16]
lr: 2.0e-3
epochs: 2
temporal: local
threads: auto
lr_restarts: []
data_options: {}
"""


def _check_config(p: Path):
    from pipesdfa.cli.main import build_parser
    from pipesdfa.cli.train import config_from_args

    config_from_args(build_parser().parse_args(["train", "--config", str(p)]))


@fuzz(st.one_of(mutated(CONFIG), st.text(max_size=200).map(str.encode)))
def check_config_file(data):
    p = _tmpfile(data, "train.yaml")
    expect_clean(lambda: _check_config(p), str(p))


# ---------------------------------------------------------------- a reader behind the cache

def _nmnist_tree(root: Path, bad: bytes) -> None:
    from _writers import write_atis_bin

    (root / "train.txt").write_text("#sample #class\n" + "".join(f"{i} {i % 10}\n" for i in range(4)))
    (root / "test.txt").write_text("#sample #class\n4 0\n")
    for i in range(5):
        write_atis_bin(root / f"{i}.bs2", random_events(30, (34, 34, 2), 100_000, seed=i))
    (root / "2.bs2").write_bytes(bad)


@fuzz(mutated(ATIS))
def check_nmnist_through_the_cache(data):
    from pipesdfa.data.datasets import load_nmnist

    root = Path(tempfile.mkdtemp(prefix="fuzz-nm-"))
    cache = Path(tempfile.mkdtemp(prefix="fuzz-cache-"))
    _nmnist_tree(root, data)
    expect_clean(lambda: load_nmnist(T=2, data_dir=root, cache_dir=cache), str(root / "2.bs2"))
    assert not list(cache.rglob("*.tmp")) and not list(cache.rglob(".*"))
    for f in cache.rglob("*.npy"):
        np.load(f, allow_pickle=False)  # every entry is whole
