"""Loading speed: events/s parsed per official format, and frames/s served (from the disk
cache, from RAM, and framed from events), measured side by side in one run.

    .venv/bin/python benchmarks/data_speed.py [--shared ../shared/data] [--out benchmarks/results/data_speed.json]

Synthetic files (written in each official format by ``tests/_writers.py``) are always
measured; the real files in ``../shared/data`` are measured too when present. Each timing
is the best of ``--repeat`` runs (wall clock, one process).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the format writers (test fixtures)

from pipesdfa.util.atomic import atomic_write_json  # noqa: E402
from pipesdfa.data.datasets import encode_braille, load_nmnist  # noqa: E402
from pipesdfa.data.formats.aedat31 import read_aedat31  # noqa: E402
from pipesdfa.data.formats.atis_bin import read_atis_bin  # noqa: E402
from pipesdfa.data.formats.braille_pkl import read_braille_events, read_braille_raw  # noqa: E402
from pipesdfa.data.formats.shd_h5 import ShdFile  # noqa: E402
from _writers import (random_events, write_aedat31, write_atis_bin, write_braille_events,  # noqa: E402
                                   write_nmnist_tree, write_shd_h5)
from bench.machine import machine_info  # noqa: E402


def best(fn, repeat: int) -> tuple[float, object]:
    t_best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        t_best = min(t_best, time.perf_counter() - t0)
    return t_best, out


def rate(name: str, fn, repeat: int, unit: str = "events") -> dict:
    secs, n = best(fn, repeat)
    print(f"{name:45s} {n:>10d} {unit} in {secs * 1e3:8.1f} ms = {n / secs:12.0f} {unit}/s", flush=True)
    return {"what": name, unit: int(n), "seconds": secs, f"{unit}_per_s": n / secs}


def parse_many(files, reader) -> int:
    return sum(int(reader(f).shape[0]) for f in files)


def markdown(out: dict) -> str:
    lines = ["| what | count | time (ms) | rate |", "|---|---:|---:|---:|"]
    for r in out["rows"]:
        unit = "events" if "events" in r else "samples"
        lines.append(f"| {r['what']} | {r[unit]:,} {unit} | {r['seconds'] * 1e3:.1f} | "
                     f"{r[unit + '_per_s']:,.0f} {unit}/s |")
    ratios = out["ratios"]
    lines.append("")
    lines.append(f"Served from the disk cache: {ratios['cache_vs_events']:.1f}x the rate of framing from events; "
                 f"from RAM: {ratios['ram_vs_events']:,.0f}x. Command: `{out['command']}` "
                 f"(real files in ../shared/data: {'yes' if out['real_data'] else 'no'}; best of 3 runs).")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", default=os.environ.get("PIPESDFA_SHARED_DATA", str(REPO.parent / "shared" / "data")),
                    help="the real data (default $PIPESDFA_SHARED_DATA, else ../shared/data)")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "data_speed.json"))
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--update-doc", default=None, help="write the table into this Markdown file (docs/datasets.md)")
    args = ap.parse_args()
    shared = Path(args.shared)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        # ATIS .bin: 300 N-MNIST-sized samples (4,100 events each)
        files = [write_atis_bin(tmp / "atis" / f"{i}.bin", random_events(4100, (34, 34, 2), 300_000, i))
                 for i in range(300)]
        rows.append(rate("ATIS .bin, synthetic (300 files x 4,100 ev)", lambda: parse_many(files, read_atis_bin),
                         args.repeat))
        # AEDAT 3.1: one 2M-event trial in 4,096-event packets
        aed = write_aedat31(tmp / "user01_led.aedat", random_events(2_000_000, (128, 128, 2), 60_000_000, 1))
        rows.append(rate("AEDAT 3.1, synthetic (1 trial, 2M ev)", lambda: parse_many([aed], read_aedat31),
                         args.repeat))
        # SHD HDF5: 300 samples x 8,000 spikes
        rng = np.random.default_rng(0)
        shd = write_shd_h5(tmp / "shd_train.h5", [(np.sort(rng.uniform(0, 1.4, 8000)), rng.integers(0, 700, 8000))
                                                  for _ in range(300)], rng.integers(0, 20, 300))
        f = ShdFile(shd)
        rows.append(rate("SHD HDF5, synthetic (300 samples x 8,000 ev)",
                         lambda: sum(int(f.events(i).shape[0]) for i in range(len(f))), args.repeat))
        # Braille event pickle: 1,350 samples x 12 taxels x ~25 events
        recs = [("A", [(np.sort(rng.uniform(0, 1.9, 13)).tolist(), np.sort(rng.uniform(0, 1.9, 12)).tolist())] * 12)
                for _ in range(1350)]
        bp = write_braille_events(tmp / "data_braille_letters_th_1.pkl", recs)
        rows.append(rate("Braille event pickle, synthetic (1,350 samples)",
                         lambda: sum(int(e.shape[0]) for e in read_braille_events(bp)[0]), args.repeat))

        real = {}
        if shared.is_dir():
            nm = shared / "nmnist/slayerPytorch_NMNISTsmall"
            nfiles = sorted(nm.glob("*.bs2"))
            rows.append(rate(f"ATIS .bin, real N-MNIST subset ({len(nfiles)} files)",
                             lambda: parse_many(nfiles, read_atis_bin), args.repeat))
            gfiles = sorted((shared / "dvs_gesture/slayerPytorch_binarySpikeTestFiles").glob("*.bs2"))
            rows.append(rate(f"ATIS .bin, real DVS Gesture clips ({len(gfiles)} files)",
                             lambda: parse_many(gfiles, read_atis_bin), args.repeat))
            gev = np.concatenate([read_atis_bin(g) for g in gfiles])
            gev["t"] = np.arange(gev.shape[0])  # one long monotone stream
            ga = write_aedat31(tmp / "real.aedat", gev)
            rows.append(rate(f"AEDAT 3.1, real gesture events re-wrapped ({gev.shape[0]} ev)",
                             lambda: parse_many([ga], read_aedat31), args.repeat))
            braw = shared / "braille/spytorch_notebooks_data/tutorial5_braille_spiking_data.pkl.gz"
            data, _ = read_braille_raw(braw)
            rows.append(rate("Braille raw -> sigma-delta (theta=1), real 1,350",
                             lambda: sum(int(e.shape[0]) for e in encode_braille(data, 1.0)), args.repeat))
            real["nmnist_root"] = str(shared)

        # Frames served: N-MNIST T=10 (real subset when present, else a synthetic tree)
        if real:
            root = Path(real["nmnist_root"])
        else:
            root = tmp / "nm"
            write_nmnist_tree(root, {"Train": [(i % 10, random_events(4100, (34, 34, 2), 300_000, i))
                                               for i in range(1000)],
                                     "Test": [(i % 10, random_events(4100, (34, 34, 2), 300_000, i)) for i in range(100)]})
        cache = tmp / "cache"
        cold = load_nmnist(T=10, data_dir=root, cache_dir=False, in_memory=False, materialize=False)
        n = len(cold.train)
        rows.append(rate("frames from events (read + bin), N-MNIST T=10", lambda: sum(1 for i in range(n) if cold.train[i]),
                         args.repeat, unit="samples"))
        warm = load_nmnist(T=10, data_dir=root, cache_dir=cache, in_memory=False, materialize=False)
        t_fill, _ = best(lambda: warm.train.warm(progress=False), 1)
        rows.append(rate("frames from the disk cache, N-MNIST T=10", lambda: sum(1 for i in range(n) if warm.train[i]),
                         args.repeat, unit="samples"))
        rows[-1]["cache_fill_seconds"] = t_fill
        t_load, mem = best(lambda: load_nmnist(T=10, data_dir=root, cache_dir=cache).train, 1)  # one tensor
        rows.append(rate("frames from RAM (one tensor), N-MNIST T=10", lambda: sum(1 for i in range(n) if mem[i]),
                         args.repeat, unit="samples"))
        rows[-1]["load_from_cache_seconds"] = t_load
    by = {r["what"]: r for r in rows}
    ev_rate = by["frames from events (read + bin), N-MNIST T=10"]["samples_per_s"]
    out = {
        "benchmark": "data_speed",
        "command": "python benchmarks/data_speed.py",
        "machine": machine_info(),
        "real_data": bool(real),
        "rows": rows,
        "ratios": {"cache_vs_events": by["frames from the disk cache, N-MNIST T=10"]["samples_per_s"] / ev_rate,
                   "ram_vs_events": by["frames from RAM (one tensor), N-MNIST T=10"]["samples_per_s"] / ev_rate},
    }
    atomic_write_json(args.out, out)
    print(f"wrote {args.out}")
    if args.update_doc:
        from bench.report import replace_block

        replace_block(args.update_doc, "data-speed", markdown(out))
        print(f"updated {args.update_doc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
