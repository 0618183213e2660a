"""At which input density does an event-driven (sparse) product beat the dense one?

    python benchmarks/sparse_crossover.py [--device cpu|cuda] [--threads 1] --out benchmarks/results/sparse_crossover_cpu.json

For the dense layers of ``nmnist-mlp5`` at ``T*B = 1280`` rows (``2312 -> 1000`` and
``1000 -> 1000``), on Bernoulli 0/1 inputs of a grid of densities, three products are timed
side by side (one round = every product and density once, ``--repeats`` rounds, median):

* ``forward``: ``F.linear(X, W)`` (float32) against ``to_csr(X) @ W^T``;
* ``dw_float``: ``G^T X`` (float32) against ``(to_csr(X)^T G)^T``;
* ``dw_bf16``: ``G^T X`` with bfloat16 operands (SDFA's ``store="half"``; the operands
  converted beforehand) against the same float32 sparse product;
* ``forward_bf16``: the forward of ``precision="bf16"``
  (:func:`pipesdfa.snn.kernels.precision.bf16_linear`: ``X`` and ``W`` converted to bfloat16 on
  every call, as in training) against the same float32 sparse product as ``forward``.

Only the index-gathered (CSR) form is measured: a bit-packed product (popcount-style, spikes 8 to
a byte) has no PyTorch kernel, and this project ships no compiled code.

The sparse side includes the conversion of ``X`` to CSR (it is paid on every call). The
crossover of a product and shape is the density at which ``sparse / dense`` crosses 1,
interpolated linearly between grid points (``null`` if the sparse product never wins on the
grid, ``1.0`` if it always does); ``measured`` is the lowest over the shapes (the conservative
choice). :data:`pipesdfa.snn.kernels.sparse.CROSSOVER` holds these numbers (CPU) and a test checks
that it follows this file. CPU timing: process CPU time (robust to other jobs on a shared
machine); CUDA: wall time between synchronisations.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from pipesdfa.util.atomic import atomic_write_json  # noqa: E402
from pipesdfa.snn.kernels import sparse  # noqa: E402
from pipesdfa.snn.kernels.precision import bf16_linear  # noqa: E402
from bench.machine import machine_info  # noqa: E402

DENSITIES = (0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.125, 0.15, 0.2, 0.3, 0.5)
SHAPES = ((1280, 2312, 1000), (1280, 1000, 1000))  # rows, n_in, n_out
PRODUCTS = sparse.PRODUCTS


def crossover(points: list[dict]) -> float | None:
    """Density where ``sparse_ms / dense_ms`` first rises through 1 (linear interpolation);
    ``None`` when sparse never wins, ``1.0`` when it always does."""
    ratios = [(p["density"], p["sparse_ms"] / p["dense_ms"]) for p in points]
    if ratios[0][1] >= 1.0:
        return None
    for (d0, r0), (d1, r1) in zip(ratios, ratios[1:]):
        if r1 >= 1.0:
            return round(d0 + (1.0 - r0) * (d1 - d0) / (r1 - r0), 4)
    return 1.0


def measure(device: torch.device, repeats: int, seed: int, products: tuple[str, ...] = PRODUCTS) -> dict:
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    clock = time.perf_counter if device.type == "cuda" else time.process_time
    gen = torch.Generator().manual_seed(seed)
    curves: dict[str, dict[str, list[dict]]] = {p: {} for p in products}
    for rows, n_in, n_out in SHAPES:
        name = f"{rows}x{n_in}->{n_out}"
        w = torch.randn(n_out, n_in, generator=gen).to(device) / n_in ** 0.5
        g = torch.randn(rows, n_out, generator=gen).to(device)
        gt16 = g.t().bfloat16()
        cases = []
        for d in DENSITIES:
            x = (torch.rand(rows, n_in, generator=gen) < d).float().to(device)
            x16 = x.bfloat16()
            cases.append((d, {
                "forward": (lambda x=x: F.linear(x, w), lambda x=x: torch.mm(sparse.to_csr(x), w.t())),
                "dw_float": (lambda x=x: g.t() @ x, lambda x=x: sparse.csr_weight_grad(sparse.to_csr(x), g)),
                "dw_bf16": (lambda x16=x16: gt16 @ x16, lambda x=x: sparse.csr_weight_grad(sparse.to_csr(x), g)),
                "forward_bf16": (lambda x=x: bf16_linear(x, w), lambda x=x: torch.mm(sparse.to_csr(x), w.t())),
            }))
            cases[-1] = (d, {k: v for k, v in cases[-1][1].items() if k in products})
        times: dict[tuple[str, float, str], list[float]] = {}
        for r in range(repeats + 1):  # round 0 warms up
            for d, fns in cases:
                for prod, (dense_fn, sparse_fn) in fns.items():
                    for side, fn in (("dense", dense_fn), ("sparse", sparse_fn)):
                        sync()
                        t0 = clock()
                        fn()
                        sync()
                        if r:
                            times.setdefault((prod, d, side), []).append(1e3 * (clock() - t0))
        for prod in products:
            curves[prod][name] = [{"density": d,
                                   "dense_ms": round(statistics.median(times[(prod, d, "dense")]), 3),
                                   "sparse_ms": round(statistics.median(times[(prod, d, "sparse")]), 3)}
                                  for d, _ in cases]
            print(f"{name:18s} {prod:9s} crossover {crossover(curves[prod][name])}", flush=True)
    result: dict = {"curves": curves, "crossover": {}}
    for prod in products:
        per = {name: crossover(pts) for name, pts in curves[prod].items()}
        vals = [v for v in per.values()]
        measured = None if any(v is None for v in vals) else min(vals)  # type: ignore[type-var]
        result["crossover"][prod] = {"per_shape": per, "measured": measured,
                                     "in_code": sparse.CROSSOVER.get((device.type, prod))}
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--products", nargs="+", choices=PRODUCTS, default=list(PRODUCTS),
                    help="measure only these products (default all)")
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    t0 = time.time()
    res = measure(device, args.repeats, args.seed, tuple(args.products))
    machine = machine_info(device)
    out = {"command": "python benchmarks/sparse_crossover.py " + " ".join(argv if argv is not None else sys.argv[1:]),
           "device": device.type, "machine": machine, "densities": list(DENSITIES),
           "shapes": [list(s) for s in SHAPES], "repeats": args.repeats,
           "timing": "process CPU time" if device.type == "cpu" else "wall time between cuda synchronisations",
           **res, "wall_seconds": round(time.time() - t0, 1)}
    atomic_write_json(args.out, out)
    for prod, c in res["crossover"].items():
        print(f"{prod:9s} measured crossover {c['measured']}  (in code: {c['in_code']})")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
