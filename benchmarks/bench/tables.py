"""Markdown tables of the train-step (``train_step.py``) and peer (``peers.py``) result files."""

from __future__ import annotations

def _key(r: dict) -> tuple:
    return (r["workload"], r["T"], r["batch"])


def _ref_rows(rows: list[dict]) -> tuple[dict[tuple, dict], set[str]]:
    """Per case, the "x ref" row: the SpikingJelly SDFA-local row if there is one, else ours
    in the plain formulation (``sdfa``/``local``/``reference``); and the impls used."""
    ref: dict[tuple, dict] = {}
    for impl in ("reference", "spikingjelly"):  # SpikingJelly last: it wins where present
        for r in rows:
            if r["method"] == "sdfa" and r["temporal"] == "local" and r["impl"] == impl:
                ref[_key(r)] = r
    return ref, {r["impl"] for r in ref.values()}


def table(result: dict) -> str:
    """Markdown: one line per case and variant, with ratios to the case's fast BPTT row and
    to its reference SDFA row (the authors' formulation: on SpikingJelly neurons when
    measured, else our plain-torch re-implementation); the header says which."""
    rows = result["rows"]
    dev = result["machine"].get("device_name") or result["machine"].get("processor") or "?"
    ref, used = _ref_rows(rows)
    if used == {"spikingjelly"}:
        ref_text = "ratio to the SpikingJelly SDFA-local row (impl=spikingjelly)"
    elif used == {"reference"}:
        ref_text = "ratio to our plain-torch SDFA-local row (impl=reference; SpikingJelly not measured)"
    elif used:
        ref_text = ("ratio to the SpikingJelly SDFA-local row (impl=spikingjelly) where measured, else to our "
                    "plain-torch one (impl=reference)")
    else:
        ref_text = "empty (no reference rows)"
    inp = result["settings"].get("input", "synthetic")
    what = ("real input (frames of each case's dataset on warmed-up weights)" if inp == "real" else
            "**synthetic input (stress case: Bernoulli spikes on the initial weights, silent hidden layers)**")
    out = [f"Device: {dev}; torch threads: {result['machine'].get('threads')}; {what}; "
           f"command: `{result['command']}`", "",
           f"x BPTT: ratio to the case's fast BPTT row; x ref: {ref_text}.", "",
           "x BPTT (paired): median over the timing rounds of the step's time over fast BPTT's in the "
           "same round.", "",
           "x floor: the step over its own products alone (`gemm_floor` below; fast BPTT and SDFA "
           "instantaneous rows).", "",
           "| workload | T | B | method | temporal | impl | store | backend | ms/step | x BPTT | x BPTT (paired) "
           "| x floor | x ref | CPU-time ms | x BPTT | sys ms (page faults) | peak MiB | x BPTT | x ref |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    base = {_key(r): r for r in rows if r["method"] == "bptt" and r["impl"] == "fast"}

    def ratio(r: dict, b: dict | None, field: str) -> str:
        if not b or r.get(field) is None or not b.get(field):
            return ""
        return f"{r[field] / b[field]:.2f}"

    for r in rows:
        b, f = base.get(_key(r)), ref.get(_key(r))
        out.append(f"| {r['workload']} | {r['T']} | {r['batch']} | {r['method']} | {r['temporal'] or ''} | "
                   f"{r['impl']} | {r.get('store') or ''} | {r['backend']} | {r['ms_per_step']:.1f} | "
                   f"{ratio(r, b, 'ms_per_step')} | {_fmt(r.get('x_bptt_paired'))} | {_fmt(r.get('x_floor'))} | "
                   f"{ratio(r, f, 'ms_per_step')} | "
                   f"{r.get('cpu_ms_per_step') or ''} | {ratio(r, b, 'cpu_ms_per_step')} | {_sys(r)} | {r['peak_mib']} | "
                   f"{ratio(r, b, 'peak_mib')} | {ratio(r, f, 'peak_mib')} |")
    cases = {_key(r): r for r in rows if r.get("spike_rates") is not None}
    if cases:
        out += ["", "| workload | T | B | input | input density | spike rate of every block's output (timed batch) |",
                "|---|---|---|---|---|---|"]
        for k, r in cases.items():
            out.append(f"| {k[0]} | {k[1]} | {k[2]} | {r.get('input_source', 'synthetic')} | "
                       f"{r.get('input_density') if r.get('input_density') is not None else ''} | " + ", ".join(f"{v:.3f}" for v in r["spike_rates"]) + " |")
    floors = result.get("gemm_floor") or []
    if floors:
        out += ["", "Matrix products alone (`gemm_floor`, on every block's real input of the timed batch: float32 "
                "forward, weight gradient in float32 and bfloat16, float32 input gradient; all blocks, T*B rows; "
                "forward and weight gradients event-driven where the input is sparser than the measured crossover, "
                "`sparse` says on which blocks), and the SDFA/BPTT ratio they bound:", "",
                "| workload | T | B | forward ms (dense) | dW f32 ms | dW bf16 ms | dX f32 ms | sparse fwd / dW f32 / "
                "dW bf16 | floor SDFA/BPTT, bf16 dW | floor, f32 dW |", "|---|---|---|---|---|---|---|---|---|---|"]
        for fl in floors:
            m = fl["ms"]
            sp = fl.get("sparse_products") or {}
            marks = " / ".join("".join("s" if on else "d" for on in sp.get(p, [])) or "-"
                               for p in ("forward", "dw_float", "dw_bf16"))
            dense = f" ({m['forward_dense']:.1f})" if "forward_dense" in m else ""
            out.append(f"| {fl['workload']} | {fl['T']} | {fl['batch']} | {m['forward']:.1f}{dense} | "
                       f"{m['dw_float']:.1f} | {m['dw_bf16']:.1f} | {m['dx_float']:.1f} | {marks} | "
                       f"{fl['sdfa_half']:.2f} | {fl['sdfa_float']:.2f} |")
    return "\n".join(out)


def _sys(r: dict) -> str:
    if r.get("sys_ms_per_step") is None:
        return ""
    return f"{r['sys_ms_per_step']:.1f} ({r.get('minflt_per_step') or 0:.0f})"


def _fmt(v: float | None) -> str:
    return "" if v is None else f"{v:.2f}"


def peers_table(results: list[dict]) -> str:
    """``peers.py``: one line per implementation and result file (T, threads), then the load."""
    out = ["| T | threads | implementation | ms/step (wall) | CPU ms/step | x snnTorch fp32 | x Norse fp32 | "
           "spike rates per layer |", "|---|---|---|---|---|---|---|---|"]
    for res in results:
        for r in res["rows"]:
            xs = [f"{r[k]:.2f}" if r.get(k) is not None else "" for k in ("x_snntorch", "x_norse")]
            out.append(f"| {res['T']} | {res['threads']} | {r['impl']} | {r['ms_per_step']:.0f} | "
                       f"{r['cpu_ms_per_step']:.0f} | {xs[0]} | {xs[1]} | "
                       + ", ".join(f"{v:.3f}" for v in r["spike_rates"]) + " |")
    loads = "; ".join(f"T={r['T']}, {r['threads']} thread(s): load {r['load_average']['before'][0]:.1f} -> "
                      f"{r['load_average']['after'][0]:.1f}" for r in results)
    return "\n".join(out) + f"\n\nLoad average (1 min) before -> after the timing: {loads}."
