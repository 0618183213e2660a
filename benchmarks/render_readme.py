"""Render the results tables of README.md and the docs pages from the committed result files.

    python benchmarks/render_readme.py            # rewrite README.md and the PAGES in place
    python benchmarks/render_readme.py --check    # exit 1 if any is out of date

Each table sits between ``<!-- NAME:start -->`` and ``<!-- NAME:end -->`` (the same
markers ``benchmarks/bench/report.py`` fills in the docs). The full tables live in the docs pages
(docs/accuracy.md, hardware.md, performance.md, personalisation.md); README.md holds one
``NAME-summary`` table per claim, a selection of the full table's columns or rows (numbers
as the full table renders them). Sources:

* ``digits``: ``benchmarks/results/digits_accuracy.json`` (default paths), ``..._float.json``
  and ``..._reference.json`` (``benchmarks/digits_accuracy.py [--sdfa-store S] [--reference]``);
* ``accuracy``: ``docs/results/accuracy/accuracy.json`` (``pipesdfa reproduce accuracy``);
* ``hardware``: ``docs/results/hardware/hardware.json`` and ``docs/results/validation/validation.json``
  (``pipesdfa reproduce hardware`` / ``validation``);
* ``hardware-explore``: ``docs/results/hardware/explore-<workload>-<dram>.json``, best design vs
  best design at equal area (``pipesdfa reproduce hardware --explore N``);
* ``train-step``: ``benchmarks/results/train_step_*.json`` (``benchmarks/train_step.py``);
* ``peers``: ``benchmarks/results/peers_t10_1thread.json`` and ``peers_t100_1thread.json``
  (``benchmarks/peers.py``);
* ``device-summary``: ``benchmarks/results/device_accuracy.json`` (``benchmarks/device_accuracy.py``,
  whose full table it writes into docs/device.md itself);
* ``personalisation``: ``docs/results/personalisation/personalisation.json`` (``pipesdfa reproduce
  personalisation``), the rows of the largest K; ``personalisation-sdfa``: the same from
  ``docs/results/personalisation/sdfa-pretrained/`` (``--pretrain sdfa``).

A table whose source file is missing is left as it is.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "src"))


def _pct(x: float) -> str:
    return f"{100 * x:.2f}"


def _load(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.exists() else None


#: Extra digits runs shown next to the default one: (file, column label).
DIGITS_EXTRA = (("digits_accuracy_float.json", "`store=float`"),
                ("digits_accuracy_reference.json", "reference (`torch` neurons, autograd SDFA)"))


def digits_table() -> str | None:
    fast = _load(RESULTS / "digits_accuracy.json")
    if fast is None:
        return None
    extra = [(label, d) for name, label in DIGITS_EXTRA if (d := _load(RESULTS / name)) is not None]
    c = fast["config"]
    lines = [f"`{fast['workload']}` (T={c['T']}, hidden={c['hidden']}, {c['epochs']} epochs, lr={c['lr']}, "
             f"loss={c['loss']}, init_gain={c.get('init_gain', 1.0)}), final test accuracy over seeds "
             f"{fast['rows'][0]['seeds']}, default fast paths (`fused` neurons, graph-free SDFA, "
             f"`store={c.get('sdfa_store', 'float')}`)" + (" and, per column, " + "; ".join(l for l, _ in extra)
                                                        if extra else "") + ":", "",
             "| method | temporal | mean acc % | std | per seed % | "
             + " | ".join(f"{l}: mean % | per seed %" for l, _ in extra) + " |",
             "|---|---|---|---|---|" + "---|---|" * len(extra)]
    keyed = [{(r["method"], r["temporal"]): r for r in d["rows"]} for _, d in extra]
    for r in fast["rows"]:
        per = ", ".join(_pct(a) for a in r["test_acc"])
        cols = []
        for rows in keyed:
            rr = rows.get((r["method"], r["temporal"]))
            cols.append(f"{_pct(rr['mean'])} | {', '.join(_pct(a) for a in rr['test_acc'])}" if rr else "- | -")
        lines.append(f"| {r['method']} | {r['temporal'] or '-'} | {_pct(r['mean'])} | {_pct(r['std'])} | {per} | "
                     + " | ".join(cols) + " |")
    cmds = [fast["command"].strip()] + [d["command"].strip() for _, d in extra]
    lines += ["", "Produced by " + ", ".join(f"`{c}`" for c in cmds)
              + f" at commit {str(fast['machine'].get('commit') or '?')[:7]}"
              + f" (torch {fast['machine']['torch']}, {fast['machine']['threads']} thread)."]
    return "\n".join(lines)


def accuracy_table() -> str | None:
    doc = _load(ROOT / "docs" / "results" / "accuracy" / "accuracy.json")
    if doc is None:
        return None
    from pipesdfa.studies.accuracy.report import compact_markdown, validated_markdown

    return ("**Chosen on validation, reported on test** (every rule; 95 % bootstrap intervals over seeds and test "
            "samples, McNemar's exact paired test against BPTT):\n\n" + validated_markdown(_split_gains(doc))
            + "\n**Every run, final and best epoch** (the best epoch is chosen on test, as the paper does):\n\n"
            + compact_markdown(doc))


def _rx(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}x"


def hardware_table() -> str | None:
    d = _load(ROOT / "docs" / "results" / "hardware" / "hardware.json")
    if d is None:
        return None
    lines = ["| workload | time ratio (range) | energy ratio (range) | time ratio, PipeLayer time-step pipelined "
             "| time ratio, iso-area | energy ratio, iso-area | chips PL / SDFA | PipeLayer bound by | PipeSDFA bound by |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in d["rows"]:
        tl, th = r["time_ratio_range"]
        el, eh = r["energy_ratio_range"]
        lines.append(f"| {r['workload']} | {_rx(r['time_ratio'])} ({tl:.2f}-{th:.2f}) | {_rx(r['energy_ratio'])} "
                     f"({el:.2f}-{eh:.2f}) | {_rx(r['time_ratio_timestep_pipelined'])} | {_rx(r['time_ratio_iso_area'])} "
                     f"| {_rx(r['energy_ratio_iso_area'])} | {r['pipelayer']['chips']} / {r['pipesdfa']['chips']} "
                     f"| {r['pipelayer']['bottleneck']} | {r['pipesdfa']['bottleneck']} |")
    c = d["checks"]
    lines += ["", f"Ratios are PipeLayer / PipeSDFA for one training epoch, preset `{d['preset']}`, default spike "
                  f"rates; in brackets the range over the sweep of uncertain constants ({len(d['sweep_factors'])} "
                  f"factors, docs/hardware.md). Time ratio {c['time_ratio_range'][0]:.2f}x-{c['time_ratio_range'][1]:.2f}x "
                  f"and energy ratio {c['energy_ratio_range'][0]:.2f}x-{c['energy_ratio_range'][1]:.2f}x, against the "
                  f"paper's {c['paper_time_range'][0]}x-{c['paper_time_range'][1]}x and "
                  f"{c['paper_energy_range'][0]}x-{c['paper_energy_range'][1]}x. Produced by "
                  "`pipesdfa reproduce hardware --out docs/results/hardware`."]
    v = _load(ROOT / "docs" / "results" / "validation" / "validation.json")
    if v is not None:
        ok = [r for r in v["rows"] if r["within_tolerance"]]
        lines += ["", f"Validation through the engine (`pipesdfa reproduce validation --out docs/results/validation`): "
                      f"{len(ok)} of {len(v['rows'])} published figures within {100 * v['tolerance']:.0f} % "
                      f"({', '.join(sorted({r['source'].split(' (')[0] for r in ok}))}); not matched: "
                      + ("; ".join(f"{r['name']} ({100 * r['rel_err']:.0f} % off)" for r in v["rows"]
                                   if not r["within_tolerance"]) or "none") + "."]
    return "\n".join(lines)


def _explore_docs() -> list[dict]:
    """The headline's explore files (docs/results/hardware/explore-<workload>-<dram>.json), in
    workload then DRAM order, those present."""
    from pipesdfa.studies.exploration.headline import DRAMS
    from pipesdfa.zoo.workloads import WORKLOADS

    folder = ROOT / "docs" / "results" / "hardware"
    return [d for w in WORKLOADS for m in DRAMS if (d := _load(folder / f"explore-{w}-{m}.json")) is not None]


def hardware_explore_table() -> str | None:
    """Best vs best at equal area per workload and DRAM, from the explore-*.json files."""
    from pipesdfa.studies.exploration.headline import headline_markdown

    docs = _explore_docs()
    if not docs:
        return None
    d0 = docs[0]
    pts = sorted({n for d in docs for n in (a["evaluated"] for a in d["archs"].values())})  # evaluated per machine
    return headline_markdown(docs) + (
        f"\nPipeLayer / PipeSDFA (> 1: PipeSDFA better), each machine's best design found by a {d0['search']} search "
        f"of {'-'.join(map(str, sorted({min(d['points'] for d in docs), max(d['points'] for d in docs)})))} designs, "
        f"coordinate descent from the best ({d0.get('polish_rounds', 0)} rounds) and the "
        f"other memory's best ({pts[0]}-{pts[-1]} designs per machine evaluated; every resource split the mapping "
        "fixes or caps, "
        f"docs/hardware.md) under the silicon of the larger hand-picked design, {d0['semantics']} updates on both, "
        f"preset `{d0['preset']}`; hypervolume: the Pareto fronts' (time, energy) hypervolume ratio; hand-picked: the "
        "default designs. Produced by " + "; ".join(
            f"`{c}` (commit {k})" for c, k in dict.fromkeys((d["provenance"]["command"], d["provenance"]["commit"])
                                                            for d in docs))
        + " (each file records its own; `cross_seed` notes a later cross-seeding pass).")


#: Train-step result files shown in the README, with a note on the code they measured.
TRAIN_STEP_FILES = (("train_step_cpu.json", ""),
                    ("train_step_cpu_t100.json", ""),
                    ("train_step_h200.json", ", earlier code"))


def train_step_table() -> str | None:
    lines = []
    cpu_cmds: list[str] = []
    for fname, note in TRAIN_STEP_FILES:
        d = _load(RESULTS / fname)
        if d is None:
            continue
        if fname.startswith("train_step_cpu"):
            cpu_cmds.append(d["command"])
        dev = (d["machine"].get("device_name") or d["machine"].get("processor") or "cpu") + note
        if not lines:
            lines = ["| device | workload | T | B | input (density; block spike rates) | BPTT ms | SDFA inst. ms (x BPTT) | "
                     "SDFA inst. x BPTT, paired | SDFA inst. x its floor | SDFA local ms (x BPTT) | "
                     "reference SDFA ms (SDFA inst. speed-up) | BPTT MiB | SDFA inst. MiB (x BPTT) | "
                     "SDFA inst. MiB, store=float (x BPTT) | products-only floor of SDFA inst. / BPTT |",
                     "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        floors = {(f["workload"], f["T"], f["batch"]): f for f in d.get("gemm_floor") or []}
        cases: dict[tuple, dict] = {}
        for r in d["rows"]:
            key = (r["workload"], r["T"], r["batch"])
            tag = (r["method"], r["temporal"], r["impl"], r.get("store"))
            cases.setdefault(key, {})[tag] = r
        for (wl, T, B), rows in cases.items():
            bp = rows.get(("bptt", None, "fast", None))
            si = rows.get(("sdfa", "instantaneous", "fast", "half"))
            sf = rows.get(("sdfa", "instantaneous", "fast", "float"))
            sl = rows.get(("sdfa", "local", "fast", "half"))
            ref = rows.get(("sdfa", "local", "spikingjelly", None)) or rows.get(("sdfa", "local", "reference", None))
            if not (bp and si and sl and sf):
                continue

            def rel(r, k, base=bp):
                if r.get(k) is None:
                    return "-"
                return f"{r[k]:.1f} ({r[k] / base[k]:.2f})" if base.get(k) else f"{r[k]:.1f}"

            refcol = "-"
            if ref:
                kind = "SpikingJelly" if ref["impl"] == "spikingjelly" else "plain torch"
                refcol = f"{ref['ms_per_step']:.1f} {kind} ({ref['ms_per_step'] / si['ms_per_step']:.1f}x)"
            bmib = "-" if bp.get("peak_mib") is None else f"{bp['peak_mib']:.1f}"
            inp = _input_text(si)
            paired = "-" if si.get("x_bptt_paired") is None else f"{si['x_bptt_paired']:.2f}"
            xf = "-" if si.get("x_floor") is None else f"{si['x_floor']:.2f}"
            lines.append(f"| {dev} | {wl} | {T} | {B} | {inp} | {bp['ms_per_step']:.1f} | {rel(si, 'ms_per_step')} | "
                         f"{paired} | {xf} | {rel(sl, 'ms_per_step')} | {refcol} | {bmib} | {rel(si, 'peak_mib')} | "
                         f"{rel(sf, 'peak_mib')} | {_floor_text(floors.get((wl, T, B)))} |")
    if not lines:
        return None
    lines += ["", "Medians of round-robin steps (CPU: each variant in its own process) measured side by side in one run per device "
                  f"({'; '.join(f'`{c}`' for c in cpu_cmds) or 'no CPU run'}; `bash benchmarks/gpu_check.sh` on the GPU; "
                  "`--malloc keep`: the allocator setting `pipesdfa train` uses, docs/performance.md). SDFA "
                  "columns: the default `store=half`, except the memory column marked float. Input: real frames of "
                  "each case's dataset (N-MNIST subset, Braille, the ten real DVS Gesture clips; the embedded "
                  "digits where files are absent) on weights after a short BPTT warm-up, so every block fires "
                  "(the synthetic stress case, silent hidden layers, is in docs/performance.md). Floor: the "
                  "step's matrix products alone on every block's real input, timed side by side in the same run "
                  "(`gemm_floor`: forward + bfloat16 weight gradient over forward + float32 weight and input "
                  "gradients, each event-driven where the input is sparser than the measured crossover; MLPs "
                  "only); \"x its floor\" = SDFA's step over its own products (CPU time over CPU time). Paired: "
                  "median per-round ratio (CPU: CPU time is robust to other load on a shared machine, wall time "
                  "is not). CPU times include the "
                  "kernel's time for page faults, per row in docs/performance.md. Reference: the authors' SDFA formulation "
                  "(`local`, autograd inside each block) re-implemented by us on SpikingJelly neurons when "
                  "SpikingJelly was importable, else on our plain `torch` neurons. CPU conv workloads at reduced "
                  "size (docs/performance.md has every variant and the conditions). The GPU rows were measured on an "
                  "earlier commit (before the chunked conv path and the `store=half` default; its SDFA half/float "
                  "columns are that code's `half`/`float` rows) and have not been rerun since."]
    return "\n".join(lines)


def _input_text(r: dict) -> str:
    if r.get("input") is None:
        return "synthetic"
    rates = ", ".join(f"{v:.2f}" for v in r.get("spike_rates") or [])
    name = r.get("input_source", "").split(",")[0].split(" (")[0]
    return f"{r['input']}: {name} ({r.get('input_density', 0):.3f}; {rates})"


def _floor_text(fl: dict | None) -> str:
    return "-" if fl is None else f"{fl['sdfa_half']:.2f}"


def device_table() -> str | None:
    d = _load(RESULTS / "device_accuracy.json")
    if d is None:
        return None
    from device_accuracy import table as dev_table

    lines = [dev_table(d["rows"]), ""]
    s = d.get("summary", {})
    if "target_met" in s:
        gaps = ", ".join(f"{k}: {v:+.2f}" for k, v in s["gap_points_vs_sdfa_ideal"].items())
        lines.append(f"Target ({s['target']}): {'met' if s['target_met'] else 'not met'} "
                     f"(ideal minus RRAM, points: {gaps}).")
    cmds = f"`{d['command']}`" + (f" and `{d['braille_command']}`" if "braille_command" in d else "")
    lines.append(f"Produced by {cmds}; equations, presets and the feedback-matrix statistics: docs/device.md.")
    return "\n".join(lines)


def _hw() -> dict | None:
    return _load(ROOT / "docs" / "results" / "hardware" / "hardware.json")


def hw_results_table() -> str | None:
    return None if (d := _hw()) is None else (ROOT / "docs" / "results" / "hardware" / "hardware.md").read_text()


def hw_sweep_table() -> str | None:
    """Every sweep point's time and energy ratio on every workload, beside the default."""
    d = _hw()
    if d is None or not d["rows"][0]["sweep"]:
        return None
    names = [r["workload"] for r in d["rows"]]
    out = []
    for key, label in (("time_ratio", "Time ratio"), ("energy_ratio", "Energy ratio")):
        out += [f"{label} PipeLayer / PipeSDFA, one constant changed at a time:", "",
                "| factor | value | " + " | ".join(names) + " |", "|---|---|" + "---|" * len(names),
                "| (default) | | " + " | ".join(f"{r[key]:.2f}" for r in d["rows"]) + " |"]
        for i, pt in enumerate(d["rows"][0]["sweep"]):
            out.append(f"| {pt['factor']} | {pt['value']} | "
                       + " | ".join(f"{r['sweep'][i][key]:.2f}" for r in d["rows"]) + " |")
        out.append("")
    return "\n".join(out)


def hw_factors_table() -> str | None:
    d = _hw()
    if d is None:
        return None
    lines = ["| factor | values swept | source |", "|---|---|---|"]
    for f in d["sweep_factors"]:
        lines.append(f"| {f['name']} | {', '.join(f['points'])} | {f['source']} |")
    return "\n".join(lines)


def hw_validation_table() -> str | None:
    p = ROOT / "docs" / "results" / "validation" / "validation.md"
    return p.read_text() if p.exists() else None


def hw_constants_table() -> str | None:
    p = ROOT / "docs" / "results" / "hardware" / "constants.md"
    return p.read_text() if p.exists() else None


def _personalisation_verdicts(acc: dict) -> str:
    """Per workload and ideal SDFA arm: on how many of the shifts that count it meets the target."""
    out = []
    for w, v in acc["workloads"].items():
        counted = [x for x in v["shifts"] if x["counts"]]
        if not counted:
            out.append(f"{w}: no shift costs {100 * acc['drop_points']:.0f} points")
            continue
        arms = []
        for arm, a in v["by_arm"].items():
            shares = ", ".join(f"{x['shift'].split(':')[0]} {100 * x['sdfa_share_of_bptt'][arm]:.0f} %"
                               for x in counted if x["sdfa_share_of_bptt"].get(arm) is not None)
            arms.append(f"{arm} meets it on {a['shifts_met']} of {a['shifts_counted']} ({shares})")
        out.append(f"{w}: " + "; ".join(arms))
    return ". ".join(out)


def personalisation_table(folder: str = "") -> str | None:
    doc = _load(ROOT / "docs" / "results" / "personalisation" / folder / "personalisation.json")
    if doc is None or not doc.get("summary"):
        return None
    from pipesdfa.studies.personalisation.report import markdown

    b = doc["budget"]
    k = max(b["ks"])
    acc = doc["acceptance"]
    pre = {s["workload"]: s["pretrain"].get("method", "bptt").upper() for s in b["studies"]}
    skipped = "".join(f" Skipped: {s['workload']} ({s['reason']})." for s in doc.get("skipped", []))
    setup = [s["feedback_setup"] for s in doc["summary"] if s.get("feedback_setup") and s["k"] == k]
    setup_txt = ""
    if setup:
        hi = max(setup, key=lambda c: c["energy_j"])
        setup_txt = (f" Aligned B adds a one-off programming of its feedback arrays on PipeSDFA, at most "
                     f"{1e9 * hi['energy_j']:.0f} nJ and {1e9 * hi['time_s']:.0f} ns ({hi['cells']} cells; "
                     "`pipesdfa.studies.personalisation.setup_cost`), not in the columns.")
    return (markdown(doc["summary"], ks=[k]).rstrip() + "\n\n"
            f"K = {k} labelled samples per class of the shifted training split, {b['epochs'][str(k)]} epochs, "
            f"learning rate {b['adapt'].get('lr', 'of the pre-trained run')}; pre-trained with "
            + (next(iter(pre.values())) if len(set(pre.values())) == 1 else ", ".join(f"{m} ({w})" for w, m in
                                                                                    pre.items()))
            + ". Accuracies in % on the shifted test split "
            f"(mean over seeds {b['seeds']}, ± their standard deviation) and, after adaptation, on the unshifted one. "
            "*Before*: the pre-trained network, in brackets as programmed onto RRAM; *recovered* = after - before "
            "(the ideal network's before, so RRAM's programming loss counts against it); *share of BPTT's* = "
            "recovered / recovered by ideal BPTT. Time and energy: the simulator (preset "
            f"`{doc['hardware_config']['preset']}`) on the adaptation's own samples, spike rates and, on RRAM, "
            "measured pulses and device." + setup_txt + " Target (a shift that costs the network >= "
            f"{100 * acc['drop_points']:.0f} points; ideal SDFA at K = {k} >= {100 * acc['share_target']:.0f} % of "
            "BPTT's recovery): " + _personalisation_verdicts(acc) + "." + skipped
            + f" Every K: docs/results/personalisation/{folder + '/' if folder else ''}personalisation.md. "
            f"Produced by `{doc['command']}`.")


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _columns(table: str, keep: Callable[[str], bool]) -> str:
    """The Markdown table at the start of ``table`` with only the columns whose header ``keep``
    accepts (their cells as they are); the text after the table is dropped."""
    rows = []
    for line in table.splitlines():
        if not line.startswith("|"):
            if rows:
                break
            continue
        rows.append(_cells(line))
    idx = [i for i, h in enumerate(rows[0]) if keep(h)]
    return "\n".join("| " + " | ".join(r[i] for i in idx) + " |" for r in rows)


def _provenance_stale(name: str) -> str | None:
    """Why docs/results/``name`` is stale (docs/results/provenance.json), or ``None``."""
    manifest = _load(ROOT / "docs" / "results" / "provenance.json") or {}
    return (manifest.get("results", {}).get(name) or {}).get("stale")


def _split_gains(doc: dict, paper_rules_only: bool = False) -> dict:
    """``doc`` with a workload run at several init gains split into one named workload per gain
    (the validated table groups by workload); ``paper_rules_only``: BPTT's and the authors' SDFA's
    rows only (README's summary)."""
    rows = [dict(r) for r in doc["rows"] if not paper_rules_only or r["method"] == "bptt"
            or (r["method"] == "sdfa" and r.get("variant") in (None, "authors"))]
    gains: dict[str, set] = {}
    for r in rows:
        gains.setdefault(r["workload"], set()).add(r.get("init_gain"))
    for r in rows:
        if len(gains[r["workload"]]) > 1:
            r["workload"] = f"{r['workload']} (init gain {r['init_gain']:g})"
    return dict(doc, rows=rows)


def accuracy_summary() -> str | None:
    """README's accuracy tables, both chosen on validation and reported on test: the paper-budget
    table (BPTT and the authors' SDFA; a line instead while the provenance manifest marks it stale)
    and the digits learning-rate grid."""
    from pipesdfa.studies.accuracy.report import validated_markdown

    doc = _load(ROOT / "docs" / "results" / "accuracy" / "digits-validated" / "accuracy.json")
    if doc is None:
        return None
    cols = ("workload", "rule", "lr chosen", "seeds", "test % at chosen epoch [95 % CI]",
            "test % at last epoch [95 % CI]", "- BPTT, chosen epoch [95 % CI]", "McNemar p (only rule / only BPTT)")
    how = ("Each run holds out a stratified validation split; the learning rate (of the same grid for both rules) "
           "and the epoch are chosen on it, test is reported once; 95 % bootstrap intervals over seeds and test "
           "samples, McNemar's exact paired test.")
    text = ""
    stale = _provenance_stale("accuracy/accuracy.json")
    paper = _load(ROOT / "docs" / "results" / "accuracy" / "accuracy.json")
    if paper is not None and not stale:
        text += ("At the paper's budget on the data in `../shared/data` (Braille; the first 1,000 / 100 N-MNIST "
                 "samples, so those rows sit well below the paper's full-set numbers) and on the embedded digits:\n\n"
                 + _columns(validated_markdown(_split_gains(paper, paper_rules_only=True)), lambda h: h in cols)
                 + f"\n\n{how} Produced by `{paper['command']}` at commit {paper['commit']}; every rule, the best "
                   "and final epochs and the paper's numbers: [docs/accuracy.md](docs/accuracy.md).\n\n"
                   "The same digits workload with a learning-rate grid of two values for both rules:\n\n")
    text += (_columns(validated_markdown(doc), lambda h: h in cols)
             + f"\n\n{how} Produced by `{doc['command']}` at commit {doc['commit']}.")
    if stale:
        text += (" The paper-budget table (braille-analog, braille, the N-MNIST subset) was measured by code that "
                 "has changed since; it stays in [docs/accuracy.md](docs/accuracy.md), marked stale, until "
                 "`pipesdfa reproduce accuracy --data-dir ../shared/data` reruns it.")
    return text


def hardware_summary() -> str | None:
    """README's hardware table: each machine's best design at equal area (HBM2 / LPDDR5), with the
    hand-picked designs' ratio beside it (the full table and the sweep: docs/hardware.md)."""
    from pipesdfa.studies.exploration.headline import DRAMS, headline_rows

    docs = _explore_docs()
    if not docs:
        return None
    rows: dict[str, dict[str, dict]] = {}
    for r in headline_rows(docs):
        rows.setdefault(r["workload"], {})[r["dram"]] = r

    def pair(by: dict[str, dict], key: str) -> str:
        return " / ".join("-" if m not in by else f"{by[m][key]:.2f}x" for m in DRAMS)

    mems = " / ".join(m.upper() for m in DRAMS)
    lines = [f"| workload | time, best vs best ({mems}) | energy, best vs best ({mems}) | "
             f"hand-picked designs, time / energy ({DRAMS[0].upper()}) |", "| --- | --- | --- | --- |"]
    for w, by in rows.items():
        hp = by.get(DRAMS[0])
        lines.append(f"| {w} | {pair(by, 'time_best_vs_best')} | {pair(by, 'energy_best_vs_best')} | "
                     + ("-" if hp is None else f"{hp['default_time']:.2f}x / {hp['default_energy']:.2f}x") + " |")
    mlp = [r["time_best_vs_best"] for by in rows.values() for r in by.values() if _is_mlp(r["workload"])]
    return ("\n".join(lines) + "\n\nPipeLayer / PipeSDFA for one training epoch (> 1: PipeSDFA better), each "
            "machine's best design under the same area budget (the silicon of the larger hand-picked design), found "
            "by a search of every resource split the mapping fixes or caps, `strict` batch updates on both; LPDDR5: "
            "an edge memory of 25.6 GB/s. Why: PipeLayer's transposed copies do `E` = 16 times the forward's "
            "reads (bit-serial errors) and, to keep pace, take the silicon PipeSDFA spends on forward copies and "
            f"gradient arrays; on the MLPs (one output position per layer: nothing to replicate) the time ratio is "
            f"{min(mlp):.2f}x-{max(mlp):.2f}x, 1.0x where both machines are bound by the same weight-gradient unit. "
            "Produced by `benchmarks/hw_explore_all.py` (the search, the budget, the "
            "Pareto fronts, the reason and an independent check search: "
            "[docs/hardware.md](docs/hardware.md)).")


def _is_mlp(workload: str) -> bool:
    from pipesdfa.zoo.workloads import WORKLOADS

    return WORKLOADS[workload].model == "mlp"


def hardware_result() -> str | None:
    """docs/hardware.md's result paragraph: the ranges of best vs best, from the explore files."""
    from pipesdfa.studies.exploration.headline import headline_rows

    docs = _explore_docs()
    if not docs:
        return None
    rows = headline_rows(docs)

    def rng(sel, key: str) -> str:
        v = [r[key] for r in rows if sel(r)]
        return f"{min(v):.1f}x-{max(v):.1f}x" if v else "-"

    conv = lambda m: lambda r: not _is_mlp(r["workload"]) and (m is None or r["dram"] == m)  # noqa: E731
    flat = sorted({r["workload"] for r in rows if _is_mlp(r["workload"])
                   and all(x["time_best_vs_best"] <= 1.05 for x in rows if x["workload"] == r["workload"])})
    gain = sorted({r["workload"] for r in rows if _is_mlp(r["workload"])} - set(flat))
    mlp = lambda r: _is_mlp(r["workload"])  # noqa: E731
    text = (f"**The result.** Best against best, on the same silicon and with the update semantics the trainer runs "
            f"(`strict`), PipeSDFA trains the convolutional networks {rng(conv('hbm2'), 'time_best_vs_best')} faster "
            f"than PipeLayer with HBM2 and {rng(conv('lpddr5'), 'time_best_vs_best')} with LPDDR5, with "
            f"{rng(conv(None), 'energy_best_vs_best')} less energy. On the MLPs it is as fast (at most 1.05x) on "
            f"{', '.join(flat) or 'none'}")
    if gain:
        text += (f" and faster on {', '.join(gain)} "
                 f"({rng(lambda r: r['workload'] in gain, 'time_best_vs_best')})")
    text += f", with {rng(mlp, 'energy_best_vs_best')} less energy (generated from the files above)."
    return text


def hardware_check() -> str | None:
    """docs/hardware.md's check paragraph: the independent random search against the reported bests."""
    d = _load(RESULTS / "hw_explore_check.json")
    if d is None:
        return None
    beats = [(r["workload"], r["dram"], a, k, v) for r in d["rows"] for a, x in r["archs"].items()
             for k, v in x["check_beats_report_by"].items() if v is not None]
    over = [b for b in beats if b[4] > d["tolerance"]]
    won = [b for b in beats if b[4] > 0]
    text = (f"**Checked** by an independent random search (`benchmarks/hw_explore_check.py`: {d['points_per_machine']} "
            f"designs per machine and file, seed {d['seed']}, the same variables, budget, memory and semantics) "
            f"against every reported best: of {len(beats)} bests (time and energy, both machines, {len(d['rows'])} "
            f"files) it beats {len(won)}")
    text += (f", by at most {100 * max(b[4] for b in won):.1f} %" if won else "")
    text += (f"; {len(over)} by more than the {100 * d['tolerance']:.0f} % the check allows: "
             + ", ".join(f"{w} {m} {a} {k} ({100 * v:+.1f} %)" for w, m, a, k, v in over) if over
             else f"; none by more than the {100 * d['tolerance']:.0f} % the check allows")
    return text + f". Commit {d['commit']}; command `{d['command']}`; {d['wall_s'] / 60:.0f} min."


def device_ablation_table() -> str | None:
    """docs/device.md's ablation: SDFA on RRAM with one device effect removed at a time."""
    d = _load(RESULTS / "device_ablation.json")
    if d is None or not d.get("summary"):
        return None
    what = {"ideal": "float weights (no RRAM)", "rram": "RRAM, every effect (the default device and circuit)"}
    lines = ["| arm | what changes | seeds | test % at the chosen epoch [95 % CI] | minus RRAM (points) [95 % CI] "
             "| final train % |", "|---|---|---:|---:|---:|---:|"]
    for r in d["summary"]:
        m = r.get("minus_rram")
        diff = "-" if not m else f"{m['points']:+.2f} [{m['ci95'][0]:+.2f}, {m['ci95'][1]:+.2f}]"
        change = what.get(r["arm"]) or "RRAM with `" + " ".join(r["set"]) + "`"
        train = statistics.mean(r["final_train_acc"])
        lines.append(f"| {r['arm']} | {change} | {len(r['seeds'])} | {r['test_acc']:.2f} [{r['ci95'][0]:.2f}, "
                     f"{r['ci95'][1]:.2f}] | {diff} | {train:.1f} |")
    lines.append("")
    lines.append(f"Workload {d['workload']}, SDFA, {d['epochs']} epochs, the trainer's validation split choosing the "
                 f"epoch; intervals: bootstrap over seeds and test samples, paired with the RRAM arm for the "
                 f"differences. Commit {d['commit']}; command `{d['command']}`.")
    return "\n".join(lines)


def train_step_summary() -> str | None:
    full = train_step_table()
    if full is None:
        return None
    keep = ("device", "workload", "T", "B", "BPTT ms", "SDFA inst. ms (x BPTT)", "BPTT MiB", "SDFA inst. MiB (x BPTT)")
    lines = _columns(full, lambda h: h in keep).splitlines()
    # README shows what the current code measured: the GPU rows of an earlier commit stay in docs/performance.md
    lines = [ln for ln in lines if "earlier code" not in ln]
    return ("\n".join(lines)
            + "\n\nOne training step (forward, gradients, optimiser step), medians; SDFA `instantaneous` on its "
              "fast path. Produced by `benchmarks/train_step.py` (the commands, every column, the conditions and "
              "the GPU rows: [docs/performance.md](docs/performance.md#benchmark-ms-per-training-step-and-peak-memory)).")


#: device_accuracy configurations shown in README (the sweep is in docs/device.md)
DEVICE_SUMMARY_ROWS = ("BPTT ideal", "SDFA ideal", "SDFA RRAM 64 levels")


def device_summary() -> str | None:
    full = device_table()
    if full is None:
        return None
    lines = full.splitlines()
    rows = [ln for ln in lines[2:] if ln.startswith("|") and _cells(ln)[1] in DEVICE_SUMMARY_ROWS]
    return "\n".join(lines[:2] + rows + [""] + [ln for ln in lines if ln.startswith("Target")]
                     + ["Produced by `benchmarks/device_accuracy.py` (the command, every configuration and the "
                        "device model: [docs/device.md](docs/device.md))."])


def personalisation_summary() -> str | None:
    """Per pre-training rule, workload and SDFA arm: share of BPTT's recovery per shift, and the verdict."""
    lines = ["| pre-trained with | workload | adaptation (K = 20) | share of BPTT's recovery, per shift | "
             "shifts that meet the target |", "|---|---|---|---|---|"]
    cmds, target = [], ""
    for folder in ("", "sdfa-pretrained"):
        doc = _load(ROOT / "docs" / "results" / "personalisation" / folder / "personalisation.json")
        if doc is None or not doc.get("summary"):
            continue
        cmds.append(doc["command"])
        pre = {s["workload"]: s["pretrain"].get("method", "bptt").upper() for s in doc["budget"]["studies"]}
        acc = doc["acceptance"]
        k = max(doc["budget"]["ks"])
        lines[0] = lines[0].replace("K = 20", f"K = {k}")
        target = (f"a shift that costs the pre-trained network >= {100 * acc['drop_points']:.0f} points, on which SDFA "
                  f"recovers >= {100 * acc['share_target']:.0f} % of what BPTT recovers (seeds {doc['budget']['seeds']})")
        for w, v in acc["workloads"].items():
            counted = [x for x in v["shifts"] if x["counts"]]
            for arm, a in v["by_arm"].items():
                shares = ", ".join(f"{x['shift'].split(':')[0]} {100 * x['sdfa_share_of_bptt'][arm]:.0f} %"
                                   for x in counted if x["sdfa_share_of_bptt"].get(arm) is not None)
                lines.append(f"| {pre.get(w, 'BPTT')} | {w} | {arm} | {shares or '-'} | "
                             f"{a['shifts_met']} of {a['shifts_counted']} |")
    if not cmds:
        return None
    return ("\n".join(lines) + f"\n\nTarget: {target}. Produced by "
            + " and ".join(f"`{c}`" for c in cmds)
            + " (every arm, accuracy and simulated energy: [docs/personalisation.md](docs/personalisation.md)).")


#: Peer-benchmark result files shown (``benchmarks/peers.py``), in this order (the 2-thread run,
#: measured on an overloaded machine, is described in docs/performance.md's prose only).
PEER_FILES = ("peers_t10_1thread.json", "peers_t100_1thread.json")


def peers_table() -> str | None:
    from bench.tables import peers_table as table

    docs = [d for d in (_load(RESULTS / f) for f in PEER_FILES) if d is not None]
    if not docs:
        return None
    peers = ", ".join(f"{k} {v}" for k, v in docs[0]["peers"].items() if v) or "no peer library importable"
    return (table(docs) + "\n\nOne training step (forward + loss + backward or SDFA rule + the same fused Adam) of "
            f"nmnist-mlp5 (2312-1000x4-10, LIF tau 2, B={docs[0]['batch']}) on real N-MNIST frames, the same "
            f"weights for every implementation ({peers}), {docs[0]['machine']['processor']}; medians of "
            "alternating rounds in one process; x = median per-round ratio of CPU times. Commands: "
            + "; ".join(f"`{d['command']}`" for d in docs) + " (docs/performance.md).")


#: Rows of the README's peer summary (every row: docs/performance.md).
PEER_SUMMARY_ROWS = ("pipesdfa/bptt/bf16", "pipesdfa/sdfa-instantaneous/bf16", "snntorch/bptt/fp32", "norse/bptt/fp32")


def peers_summary() -> str | None:
    docs = [d for d in (_load(RESULTS / f) for f in PEER_FILES) if d is not None]
    if not docs:
        return None
    head = " | ".join(f"T={d['T']}: CPU ms (x snnTorch, x Norse)" for d in docs)
    lines = [f"| nmnist-mlp5 step, 1 thread | {head} |", "|---" * (len(docs) + 1) + "|"]
    for impl in PEER_SUMMARY_ROWS:
        cells = []
        for d in docs:
            r = next((r for r in d["rows"] if r["impl"] == impl), None)
            cells.append("-" if r is None else f"{r['cpu_ms_per_step']:.0f} ({r.get('x_snntorch', 0):.2f}, "
                                                 f"{r.get('x_norse', 0):.2f})")
        lines.append(f"| {impl} | " + " | ".join(cells) + " |")
    return ("\n".join(lines) + "\n\nSame network, weights, real N-MNIST batch and step (with the same Adam) on "
            "each library, alternating rounds on a shared 2-core CPU (AVX512-BF16, no AMX); ratios of CPU times in "
            "the same rounds. Produced by `benchmarks/peers.py` (every implementation, the products floor and "
            "the conditions: [docs/performance.md](docs/performance.md#against-snntorch-and-norse-benchmarkspeerspy)).")


#: The files render() keeps up to date: README.md's summaries and the docs pages' full tables.
def nmnist_size_table() -> str | None:
    """The N-MNIST training-size sweep (benchmarks/nmnist_size_sweep.py): pooled k-fold test
    accuracy per rule and the paired gap, with intervals."""
    d = _load(RESULTS / "nmnist_size_sweep.json")
    if d is None or not d.get("gaps"):
        return None
    cells = {(c["workload"], c["size"], c["rule"]): c for c in d["cells"]}
    lines = ["| workload | training samples | folds tested | test samples | BPTT % [95 % CI] | SDFA % [95 % CI] "
             "| BPTT - SDFA (points) [95 % CI] | McNemar p (only BPTT / only SDFA) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for g in sorted(d["gaps"], key=lambda g: (g["workload"], g["size"])):
        b, s = cells[(g["workload"], g["size"], "bptt")], cells[(g["workload"], g["size"], "sdfa")]
        ci = lambda c: f"{c['pooled_acc']:.1f} [{c['ci95'][0]:.1f}, {c['ci95'][1]:.1f}]"  # noqa: E731
        lines.append(f"| {g['workload']} | {g['size']} | {len(g['folds'])} | {g['n_test']} | {ci(b)} | {ci(s)} | "
                     f"{g['gap_points']:+.1f} [{g['ci95'][0]:+.1f}, {g['ci95'][1]:+.1f}] | "
                     f"{g['mcnemar_p']:.3g} ({g['n_bptt_only']} / {g['n_sdfa_only']}) |")
    p = d["protocol"]
    lines.append("")
    lines.append(f"{p['folds']}-fold split of the subset's 1,100 samples (train and test pooled, stratified); run j tests "
                 f"on fold j with seed j; {p['epochs']} epochs of {p['recipe']} recipe for both rules, "
                 f"{int(100 * p['val_fraction'])} % of the training samples held out for validation, the epoch chosen on it; "
                 f"intervals: bootstrap over the pooled test samples. Commit {d['commit']}; command `{d['command']}`.")
    return "\n".join(lines)


#: The composed-defaults candidates, in the order the selection table shows them.
COMPOSED_SELECT = ("composed_select_ce_1e-3.json", "composed_select_mse_1e-3.json", "composed_select_mse_3e-3.json",
                   "composed_select_mse_1e-2.json")
#: Sweeps on other shapes that may reject a candidate (a rule collapsing at its loss and lr).
COMPOSED_CHECKS = ("composed_reject_lr3e-3_w1000.json", "composed_defaults_w1000.json")
#: What was tried against the remaining composed gap (one change at a time from the defaults).
COMPOSED_PROBES = ("composed_probe_base.json", "composed_probe_epochs30.json", "composed_probe_T16.json",
                   "composed_probe_independent.json", "composed_probe_aligned.json", "composed_probe_wd1e-4.json")


def composed_table(name: str) -> Callable[[], str | None]:
    """A table of ``benchmarks/composed_defaults.py`` from ``benchmarks/results/NAME``."""
    def table() -> str | None:
        from composed_defaults import markdown

        d = _load(RESULTS / name)
        return None if d is None or not d.get("gaps") else markdown(d)
    return table


def composed_select() -> str | None:
    from composed_defaults import select, select_markdown

    docs = [d for d in (_load(RESULTS / f) for f in COMPOSED_SELECT) if d is not None]
    checks = [d for d in (_load(RESULTS / f) for f in COMPOSED_CHECKS) if d is not None]
    return select_markdown(*select(docs, checks)) if docs else None


def composed_probes() -> str | None:
    from composed_defaults import compare_markdown

    docs = [d for d in (_load(RESULTS / f) for f in COMPOSED_PROBES) if d is not None]
    return compare_markdown(docs) if docs else None


def composed_summary() -> str | None:
    """README's one line per composed sweep: rows where the 2-point target applies, how many meet
    it, and the range of BPTT - SDFA there (means over each sweep's seeds)."""
    lines = ["| networks | seeds | rows where BPTT > 60 % | SDFA within 2 points | BPTT - SDFA there (points) |",
             "|---|---:|---:|---:|---|"]
    for f, what in COMPOSED_FILES.values():
        d = _load(RESULTS / f)
        if d is None or not d.get("gaps"):
            continue
        app = [g for g in d["gaps"] if g["target_applies"]]
        rng = f"{min(g['gap'] for g in app):+.1f} to {max(g['gap'] for g in app):+.1f}" if app else "-"
        seeds = len({r["seed"] for r in d["runs"]})
        lines.append(f"| {what} | {seeds} | {len(app)} of {len(d['gaps'])} | {sum(g['meets_target'] for g in app)} | {rng} |")
    return "\n".join(lines) if len(lines) > 2 else None


#: Docs block -> (result file in benchmarks/results, what it sweeps: README's summary line).
COMPOSED_FILES = {
    "composed-defaults": ("composed_defaults.json", "digits MLPs 2-6 x 64/256 and a conv net"),
    "composed-defaults-torch-init": ("composed_defaults_torch_init.json", "digits MLPs, PyTorch's init"),
    "composed-defaults-nmnist": ("composed_defaults_nmnist.json", "N-MNIST subset MLPs"),
    "composed-nmnist-seeds10": ("composed_nmnist_seeds10.json", "N-MNIST subset MLPs, more seeds"),
    "composed-defaults-w1000": ("composed_defaults_w1000.json", "digits MLPs 2/4 x 1000"),
    "composed-defaults-braille": ("composed_defaults_braille.json", "event Braille MLPs, T = 8"),
    "composed-probe-braille-t76": ("composed_probe_braille_T76.json",
                                   "event Braille MLPs, T = 76 (`--T 76`, beyond the defaults)"),
    "composed-braille-t76-if": ("composed_braille_T76_if.json",
                                "event Braille MLPs, T = 76, IF neurons (`--T 76 --neuron if`)"),
}


PAGES = ("README.md", "docs/hardware.md", "docs/accuracy.md", "docs/performance.md", "docs/personalisation.md",
         "docs/device.md")


#: Docs tables whose results the current code did not produce: each is shown under a "Stale" line
#: (the reason: docs/results/provenance.json where the result is declared there, else below).
STALE_TABLES: dict[str, Callable[[], str | None]] = {
    "accuracy": lambda: _provenance_stale("accuracy/accuracy.json"),
    "personalisation": lambda: _provenance_stale("personalisation/personalisation.json"),
    "personalisation-sdfa": lambda: _provenance_stale("personalisation/sdfa-pretrained/personalisation.json"),
    "digits": lambda: _uncommitted(("digits_accuracy.json", "digits_accuracy_float.json",
                                    "digits_accuracy_reference.json"), "python benchmarks/digits_accuracy.py"),
    "device": lambda: _uncommitted(("device_accuracy.json",),
                                   "python benchmarks/device_accuracy.py --jobs 2 --doc docs/device.md"),
    **{name: (lambda f=f: _uncommitted((f,))) for name, (f, _) in COMPOSED_FILES.items()},
    "composed-select": lambda: _uncommitted(COMPOSED_SELECT + COMPOSED_CHECKS),
    "composed-summary": lambda: _uncommitted(tuple(f for f, _ in COMPOSED_FILES.values())),
    "composed-probes": lambda: _uncommitted(COMPOSED_PROBES),
    "train-step": lambda: "the train_step JSON files record no commit; measured before the package restructure, "
                          "the bfloat16 option and the kernel refactors of this release (the peer benchmark below "
                          "is the current code's)",
}


def _uncommitted(files: tuple[str, ...], rerun: str = "the command each one records") -> str | None:
    """Why benchmarks/results/``files`` are stale: one records no commit (made before the
    benchmarks recorded theirs) or a modified tree's (``+dirty``); else ``None``."""
    commits = {f: str((d.get("machine") or {}).get("commit") or "") for f in files if (d := _load(RESULTS / f))}
    bad = [f for f, c in commits.items() if not c or c.endswith("+dirty")]
    if not bad:
        return None
    return (f"benchmarks/results/{', '.join(bad)} record{'s' if len(bad) == 1 else ''} no clean commit (made before "
            f"the current trainer, or from a modified tree); rerun `{rerun}`")


def _with_stale(name: str, fn: Callable[[], str | None]) -> Callable[[], str | None]:
    def render_table() -> str | None:
        body = fn()
        why = STALE_TABLES[name]() if name in STALE_TABLES else None
        return body if body is None or not why else f"**Stale:** {why}.\n\n{body}"
    return render_table


TABLES: dict[str, Callable[[], str | None]] = {
    "hw-results": hw_results_table,
    "hw-sweep": hw_sweep_table,
    "hw-factors": hw_factors_table,
    "hw-validation": hw_validation_table,
    "hw-constants": hw_constants_table,
    "digits": digits_table,
    "accuracy": accuracy_table,
    "hardware": hardware_table,
    "hardware-explore": hardware_explore_table,
    "hardware-result": hardware_result,
    "hardware-check": hardware_check,
    "train-step": train_step_table,
    "peers": peers_table,
    "nmnist-size": nmnist_size_table,
    "device-ablation": device_ablation_table,
    "peers-summary": peers_summary,
    "accuracy-summary": accuracy_summary,
    "hardware-summary": hardware_summary,
    "train-step-summary": train_step_summary,
    "device-summary": device_summary,
    "personalisation-summary": personalisation_summary,
    "personalisation": personalisation_table,
    "personalisation-sdfa": lambda: personalisation_table("sdfa-pretrained"),
    **{name: composed_table(f) for name, (f, _) in COMPOSED_FILES.items()},
    "composed-select": composed_select,
    "composed-probes": composed_probes,
    "composed-summary": composed_summary,
}
TABLES = {name: _with_stale(name, fn) for name, fn in TABLES.items()}


def render(text: str) -> str:
    for name, fn in TABLES.items():
        start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
        a, b = text.find(start), text.find(end)
        if a < 0 or b < a:
            continue
        body = fn()
        if body is not None:
            text = text[: a + len(start)] + "\n" + body.rstrip() + "\n" + text[b:]
    return text


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args(argv)
    stale = []
    for doc in (ROOT / p for p in PAGES):
        old = doc.read_text()
        new = render(old)
        if new != old:
            stale.append(doc.name)
            if not args.check:
                doc.write_text(new)
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
