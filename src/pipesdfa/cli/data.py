"""``pipesdfa data info NAME --data-dir ROOT [--json]`` and ``pipesdfa data fetch NAME --to ROOT``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pipesdfa.util.errors import UserError
from pipesdfa.util.names import choice

REAL = ("nmnist", "ncaltech101", "shd", "dvsgesture", "braille")


def register(subparsers) -> None:
    p = subparsers.add_parser("data", help="inspect or download the real datasets",
                              description="Inspect the real datasets on disk, or download them (opt-in).")
    sub = p.add_subparsers(dest="data_command", metavar="ACTION", parser_class=type(p))
    sub.required = True

    info = sub.add_parser("info", help="per-split sample, event and class counts of a dataset",
                          description="Read every sample once and print per-split statistics.")
    info.add_argument("name", type=choice("dataset", REAL + ("digits",)), metavar="NAME",
                      help=f"dataset: {', '.join(REAL + ('digits',))}")
    info.add_argument("--data-dir", default=None, help="folder holding the dataset's official files "
                      "(required for all but the embedded digits)")
    info.add_argument("--json", action="store_true", help="print JSON instead of a table")
    info.add_argument("--no-progress", action="store_true", help="no progress bar (there is none unless stderr is a terminal)")
    info.add_argument("--layout", default=None, help="N-MNIST: auto, official or slayer")
    info.add_argument("--threshold", type=float, default=None, help="Braille: sigma-delta threshold (raw units)")
    info.add_argument("--split-seed", type=int, default=None, help="N-Caltech101 / Braille: seed of the split")
    info.add_argument("--shift", metavar="NAME[:KEY=V,...]", default=None,
                      help="show what a device shift does to the event (Braille: taxel and event) statistics, per "
                           "split, unshifted against shifted (data/shifts.py names the shifts)")
    info.add_argument("--shift-seed", type=int, default=0, help="seed of the shifted device (default 0)")
    info.set_defaults(func=run_info)

    fetch = sub.add_parser("fetch", help="download a dataset from its official source (checksum, resume, extract)",
                           description="Download the official archives into ROOT, verify their MD5, resume "
                                       "partial downloads and extract them. Never runs implicitly.")
    fetch.add_argument("name", type=choice("dataset", REAL), metavar="NAME", help=f"dataset: {', '.join(REAL)}")
    fetch.add_argument("--to", required=True, help="target folder (ROOT for --data-dir later)")
    fetch.add_argument("--manifest", default=None,
                       help="JSON file listing the archives to fetch instead of the official ones (a mirror): "
                            '{"resources": [{"file", "url", "md5", "extract", "inner"}]}')
    fetch.add_argument("--remove-archives", action="store_true", help="delete each archive after extraction")
    fetch.add_argument("--quiet", "--no-progress", dest="quiet", action="store_true", help="no progress bars")
    fetch.set_defaults(func=run_fetch)


def _options(args) -> dict:
    opts = {}
    if args.layout is not None:
        opts["layout"] = args.layout
    if args.threshold is not None:
        opts["threshold"] = args.threshold
    if args.split_seed is not None:
        opts["split_seed"] = args.split_seed
    return opts


def run_info(args) -> int:
    from pipesdfa.data.info import dataset_info

    if args.data_dir is None and args.name != "digits":
        raise UserError(f"dataset {args.name!r} reads real files: give --data-dir ROOT")
    if args.shift is not None:
        return _shift_info(args)
    info = dataset_info(args.name, Path(args.data_dir) if args.data_dir else None, progress=not (args.json or args.no_progress) and sys.stderr.isatty(),
                        **_options(args))
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"{info['dataset']}: {info['root']}  sensor (W, H, P) = {tuple(info['sensor_size'])}")
    for split, s in info["splits"].items():
        print(f"  {split:5s}  {s['samples']:7d} samples  {s['events']:12d} events  t_max {s['t_max_us']} us  "
              f"{len(s['classes'])} classes")
        print("         " + ", ".join(f"{k}: {v}" for k, v in s["classes"].items()))
    return 0


def _shift_info(args) -> int:
    from pipesdfa.data.info import shift_info

    info = shift_info(args.name, Path(args.data_dir) if args.data_dir else None, args.shift, args.shift_seed,
                      progress=not (args.json or args.no_progress) and sys.stderr.isatty(), **_options(args))
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"{info['dataset']}: shift {info['shift']} (seed {info['shift_seed']}): {info['reason']}")
    for split, s in info["splits"].items():
        print(f"  {split}")
        print(f"    {'statistic':24s} {'unshifted':>12s} {'shifted':>12s} {'change':>9s}")
        for key, before in s["unshifted"].items():
            after = s["shifted"][key]
            change = f"{100 * (after - before) / before:+.1f}%" if before else "-"
            print(f"    {key:24s} {before:12.4g} {after:12.4g} {change:>9s}")
    return 0


def run_fetch(args) -> int:
    from pipesdfa.util.atomic import ensure_writable_dir
    from pipesdfa.data import fetch as f
    from pipesdfa.data.layouts import CANDIDATES

    root = ensure_writable_dir(args.to)
    if args.manifest:
        resources = f.resources_from_manifest(Path(args.manifest))
    else:
        resources = f.OFFICIAL[args.name]
        if not resources:
            raise UserError(f.MANUAL[args.name])
    made = f.fetch(resources, root, progress=not args.quiet and sys.stderr.isatty(),
                   keep_archives=not args.remove_archives)
    for p in made:
        print(f"extracted {p}")
    from pipesdfa.data.datasets import event_sources

    try:
        sources, _, _ = event_sources(args.name, root)
        print(f"{args.name}: found under {root}: " + ", ".join(f"{k} {len(v)} samples" for k, v in sources.items()))
    except UserError as exc:
        print(f"{args.name}: the files are in {root}, but the layout check says: {exc}"
              f" (searched {', '.join(s or '.' for s in CANDIDATES[args.name])})")
        return 1
    return 0
