"""Best design vs best design at equal area for every registered workload at HBM2 and LPDDR5.

Writes ``docs/results/hardware/explore-<workload>-<dram>.json`` (each records the commit and this
command) and ``explore.md``, the table ``benchmarks/render_readme.py`` puts in README.md and
docs/hardware.md. The same search as ``pipesdfa reproduce hardware --explore N`` without the rest
of that report::

    python benchmarks/hw_explore_all.py --points 60 --polish 2 --jobs 2

Each machine's Pareto designs in the files being replaced (an earlier search) are evaluated again
with the current code and join the cross-seeding candidates (``--cold``: not), so a regeneration
never reports a best worse than one an earlier search found.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

from pipesdfa.hw.config import load_config
from pipesdfa.studies.exploration.headline import explore_workloads, headline_markdown
from pipesdfa.util.atomic import atomic_write_text, ensure_writable_dir
from pipesdfa.zoo.workloads import WORKLOADS

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workloads", nargs="+", default=list(WORKLOADS), choices=list(WORKLOADS), metavar="NAME")
    ap.add_argument("--preset", default="pipelayer-2017")
    ap.add_argument("--points", type=int, default=60, help="NSGA-II points per machine (default 60)")
    ap.add_argument("--polish", type=int, default=2, help="coordinate-descent rounds per objective (default 2)")
    ap.add_argument("--search", default="nsga2", choices=["random", "nsga2", "grid"])
    ap.add_argument("--jobs", default="2")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(ROOT / "docs" / "results" / "hardware"))
    ap.add_argument("--cold", action="store_true",
                    help="do not evaluate the Pareto designs of the files being replaced (default: a warm start, "
                         "so a regeneration never loses a design an earlier search found)")
    ap.add_argument("--cross-seed-only", action="store_true",
                    help="only evaluate each machine's Pareto designs of one DRAM at the other in the existing files "
                         "(what a full run does after each workload)")
    args = ap.parse_args(argv)
    out = ensure_writable_dir(args.out)
    command = "python " + " ".join(shlex.quote(a) for a in sys.argv)
    t0 = time.perf_counter()
    if args.cross_seed_only:
        from pipesdfa.studies.exploration.headline import cross_seed
        from pipesdfa.studies.exploration.plan import STRICT
        from pipesdfa.studies.exploration.report import git_commit

        base = load_config(args.preset).with_overrides(dict(STRICT), "explore (strict updates)")
        docs = []
        for w in args.workloads:
            print(f"[{time.perf_counter() - t0:7.0f} s] cross-seed {w}", file=sys.stderr)
            docs += cross_seed(w, base, out, jobs=args.jobs, polish=args.polish,
                               note=f"{command} (commit {git_commit()})")
        atomic_write_text(out / "explore.md", headline_markdown(docs))
        print(headline_markdown(docs), end="")
        return 0
    docs = explore_workloads(args.workloads, load_config(args.preset), out, points=args.points, search=args.search,
                             jobs=args.jobs, seed=args.seed, polish=args.polish, command=command,
                             warm_start=not args.cold,
                             progress=lambda s: print(f"[{time.perf_counter() - t0:7.0f} s] {s}", file=sys.stderr))
    table = headline_markdown(docs)
    atomic_write_text(out / "explore.md", table)
    print(table, end="")
    print(f"{len(docs)} explorations in {time.perf_counter() - t0:.0f} s; wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
