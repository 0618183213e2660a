"""Cost to accuracy: each machine's best design priced to a target test accuracy, not per epoch.

Reads the learning curves of ``docs/results/accuracy/accuracy.json`` (BPTT on PipeLayer, SDFA on
PipeSDFA) and the best designs of ``docs/results/hardware/explore-<workload>-<dram>.json``
(``benchmarks/hw_explore_all.py``); writes ``docs/results/hardware/cost_to_accuracy.json`` and
``cost_to_accuracy.md``::

    python benchmarks/hw_cost_to_accuracy.py
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from pipesdfa.studies.exploration.cost import cost_to_accuracy
from pipesdfa.studies.exploration.headline import DRAMS
from pipesdfa.studies.exploration.report import git_commit
from pipesdfa.util.atomic import atomic_write_json, atomic_write_text
from pipesdfa.zoo.workloads import WORKLOADS

ROOT = Path(__file__).resolve().parents[1]


def _f(v, fmt: str) -> str:
    return "-" if v is None else format(v, fmt)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--accuracy", default=str(ROOT / "docs" / "results" / "accuracy" / "accuracy.json"))
    ap.add_argument("--hardware", default=str(ROOT / "docs" / "results" / "hardware"))
    ap.add_argument("--target-fraction", type=float, default=0.95)
    args = ap.parse_args(argv)
    acc = json.loads(Path(args.accuracy).read_text())
    rows = []
    for w in WORKLOADS:
        for dram in DRAMS:
            f = Path(args.hardware) / f"explore-{w}-{dram}.json"
            if f.exists() and (r := cost_to_accuracy(acc, json.loads(f.read_text()), args.target_fraction)):
                rows.append(r)
    doc = {"rows": rows, "accuracy_source": {"file": "docs/results/accuracy/accuracy.json",
                                             "commit": acc.get("commit"), "command": acc.get("command")},
           "commit": git_commit(), "command": "python " + " ".join(shlex.quote(a) for a in sys.argv)}
    out = Path(args.hardware)
    atomic_write_json(out / "cost_to_accuracy.json", doc)
    lines = ["| workload | DRAM | target acc. | epochs BPTT / SDFA | PipeLayer time | PipeSDFA time | time ratio | "
             "PipeLayer energy | PipeSDFA energy | energy ratio |", "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        pl, ps = r["machines"]["pipelayer"], r["machines"]["pipesdfa"]
        lines.append(f"| {r['workload']} | {r['dram']} | {100 * r['target_accuracy']:.1f} % | {_f(pl['epochs'], 'g')} / "
                     f"{_f(ps['epochs'], 'g')} | {_f(pl['time_s'], '.3g')} s | {_f(ps['time_s'], '.3g')} s | "
                     f"{_f(r['time_ratio'], '.2f')}x | {_f(pl['energy_j'], '.3g')} J | {_f(ps['energy_j'], '.3g')} J | "
                     f"{_f(r['energy_ratio'], '.2f')}x |")
    table = "\n".join(lines) + "\n"
    atomic_write_text(out / "cost_to_accuracy.md", table)
    print(table, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
