"""Render the README's results tables from the JSON files in ``benchmarks/results/``.

    python benchmarks/render_readme.py            # rewrite README.md in place
    python benchmarks/render_readme.py --check    # exit 1 if README.md is out of date

Each table lives between ``<!-- BEGIN name -->`` and ``<!-- END name -->`` markers; a table
whose JSON file is missing is left as it is.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def _pct(x: float) -> str:
    return f"{100 * x:.2f}"


def digits_table(d: dict) -> str:
    lines = [f"`{d['workload']}` (T={d['config']['T']}, hidden={d['config']['hidden']}, "
             f"{d['config']['epochs']} epochs, lr={d['config']['lr']}, init_gain={d['config'].get('init_gain', 1.0)}), "
             f"test accuracy over seeds {d['rows'][0]['seeds']}:", "",
             "| method | temporal | mean acc % | std | per seed % | s / run |", "|---|---|---|---|---|---|"]
    for r in d["rows"]:
        per = ", ".join(_pct(a) for a in r["test_acc"])
        lines.append(f"| {r['method']} | {r['temporal'] or '-'} | {_pct(r['mean'])} | {_pct(r['std'])} | {per} | "
                     f"{r['seconds_mean']:.1f} |")
    lines += ["", f"Produced by `{d['command'].strip()}` on {d['machine']['platform']}, torch {d['machine']['torch']}."]
    return "\n".join(lines)


#: marker name -> (result file, renderer)
TABLES: dict[str, tuple[str, Callable[[dict], str]]] = {
    "digits": ("digits_accuracy.json", digits_table),
}


def render(text: str) -> str:
    for name, (fname, fn) in TABLES.items():
        path = RESULTS / fname
        if not path.exists():
            continue
        body = fn(json.loads(path.read_text()))
        pat = re.compile(rf"(<!-- BEGIN {name} -->\n).*?(\n<!-- END {name} -->)", re.S)
        text = pat.sub(lambda m: m.group(1) + body + m.group(2), text)
    return text


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args(argv)
    readme = ROOT / "README.md"
    old = readme.read_text()
    new = render(old)
    if args.check:
        return 0 if new == old else 1
    readme.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
