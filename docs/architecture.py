"""Draw docs/architecture.png: the package's folders as floors, and the one idea of the design.

    python docs/architecture.py            # rewrite docs/architecture.png

The floors are read from ``FLOORS`` in tests/test_structure.py (the test that enforces them), so
the picture cannot drift from the rule: a folder imports only from folders on a lower floor.
One workload description (``zoo/workloads.py``) feeds both the training engine (``training/``)
and the hardware engine (``hw/``).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "architecture.png"

#: What each folder of src/pipesdfa holds, one short line each (the picture's labels).
CONTENTS: dict[str, str] = {
    "util": "errors, atomic files, threads, names",
    "snn": "neurons, surrogates, blocks, readout;\nkernels/: torch, fused, Triton",
    "data": "official formats, events -> frames,\ndatasets, shifts, cache, fetch",
    "zoo": "workloads (one description\nper workload), models",
    "learning": "BPTT, SDFA, output-only; feedback,\nalignment, rule options",
    "hw": "hardware engine: device, mapping,\nPipeLayer / PipeSDFA, schedule, cost",
    "interop": "NIR export and import",
    "analog": "crossbar layers for\ndevice-aware training",
    "training": "training engine: config sections, loop,\nhooks, checkpoints, resume, fine-tuning",
    "studies": "accuracy, personalisation:\nplan, run, report",
    "cli": "pipesdfa COMMAND: one module per subcommand",
}


def floors() -> dict[str, int]:
    """``FLOORS`` of tests/test_structure.py."""
    spec = importlib.util.spec_from_file_location("_structure", ROOT / "tests" / "test_structure.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    return dict(mod.FLOORS)


def draw(path: Path = OUT) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    sys.path.insert(0, str(ROOT / "src"))
    from pipesdfa.util.atomic import atomic_write_with

    fl = floors()
    missing = set(fl) ^ set(CONTENTS)
    if missing:
        raise SystemExit(f"docs/architecture.py: CONTENTS and FLOORS differ in {sorted(missing)}")
    top = max(fl.values())
    width, gap, h = 10.0, 0.25, 0.78
    fig, ax = plt.subplots(figsize=(9.5, 6.6))
    centres: dict[str, tuple[float, float]] = {}
    engines = {"training": "#f4c9a0", "hw": "#a8c8ec", "zoo": "#b9e0a5"}
    for level in range(top + 1):
        names = [n for n, f in fl.items() if f == level]
        ax.text(width + 0.15, level + h / 2, f"floor {level}", ha="left", va="center", fontsize=8, color="#666")
        w = (width - gap * (len(names) - 1)) / len(names)
        for i, name in enumerate(names):
            x = i * (w + gap)
            ax.add_patch(FancyBboxPatch((x, level), w, h, boxstyle="round,pad=0.02,rounding_size=0.08",
                                        fc=engines.get(name, "#eeeeee"), ec="#555", lw=0.8))
            ax.text(x + 0.12, level + h - 0.14, f"{name}/", ha="left", va="top", fontsize=10, weight="bold")
            ax.text(x + w - 0.12, level + h / 2 - 0.05, CONTENTS[name], ha="right", va="center", fontsize=7.2)
            centres[name] = (x + w / 2, level + h / 2)
    for target, label, rad in (("hw", "prices it", 0.9), ("training", "trains it", 0.45)):
        (x0, y0), (x1, y1) = centres["zoo"], centres[target]
        x0 -= (width - gap) / 4  # the left edge of zoo/ and of the engine's box
        x1 = 0.0 if target == "training" else x1 - (width - gap) / 4
        ax.add_patch(FancyArrowPatch((x0, y0), (x1, y1), arrowstyle="-|>", mutation_scale=14, lw=2.0,
                                     color="#2e7d32", connectionstyle=f"arc3,rad=-{rad}"))
        ax.text(x0 - 0.25 - rad * (y1 - y0) / 2, (y0 + y1) / 2, label, fontsize=8, color="#2e7d32",
                ha="right", va="center")
    ax.set_title("src/pipesdfa: a folder imports only from folders on a lower floor.\n"
                 "One workload description (zoo/workloads.py) feeds the training engine (training/) "
                 "and the hardware engine (hw/).", fontsize=9)
    ax.set_xlim(-2.0, width + 1.0)
    ax.set_ylim(-0.2, top + 1)
    ax.axis("off")
    fig.tight_layout()
    atomic_write_with(path, lambda tmp: fig.savefig(tmp, format="png", dpi=90))
    plt.close(fig)


if __name__ == "__main__":
    draw()
    print(OUT.relative_to(ROOT))
