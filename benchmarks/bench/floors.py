"""The products floor of a train step: the bare matrix products of a dense model timed side by
side on the blocks' real inputs, and a step's ratio to them."""

from __future__ import annotations

import copy
import statistics
import time
from typing import Any

import torch
import torch.nn.functional as F

from pipesdfa.snn.kernels import sparse

from bench.cases import CaseInput, Variant, make_job
from bench.probes import _sync

def _dw(product: str, x: torch.Tensor, g: torch.Tensor, gt16: torch.Tensor, x16: torch.Tensor,
        d: float) -> torch.Tensor:
    """The weight-gradient product the fast paths run at input density ``d``: over the active
    inputs below the crossover (:mod:`pipesdfa.snn.kernels.sparse`), else dense (bfloat16 operands
    for ``dw_bf16``)."""
    if sparse.use_sparse(product, d, x.device, x.shape[1], g.shape[1]):
        return sparse.csr_weight_grad(sparse.to_csr(x), g)
    return gt16 @ x16 if product == "dw_bf16" else g.t() @ x


def gemm_floor(workload: str, ci: CaseInput, T: int, batch: int, device: torch.device,
               args) -> dict[str, Any] | None:
    """The bare matrix products of one step of a dense model, timed side by side on the blocks'
    real inputs (the spikes every block receives on the timed batch, with the case's weights):
    forward ``X W^T + b`` (float32, ``forward``: as :func:`pipesdfa.snn.kernels.sparse.linear`
    dispatches it, event-driven below the crossover; ``forward_dense``: always dense), weight
    gradient ``G^T X`` (``dw_float`` float32, ``dw_bf16`` bfloat16 operands; each dispatched the
    same way) and input gradient ``G W`` (float32, not for the first block), over all blocks on
    ``T*B`` rows; ``G`` random.

    ``sdfa_half``/``sdfa_float`` = (forward + weight gradient) / (forward + weight gradient
    float32 + input gradient): the step-time ratio SDFA (instantaneous) could reach against
    BPTT if nothing but these products cost time (feedback projections, ``10 x n`` per block,
    left out). ``None`` for models with conv blocks.
    """
    job = make_job(Variant("bptt", None, "fast"), workload, ci.shape, device, args.seed, ci.weights)
    if any(b.kind != "dense" for b in job.model.blocks):
        return None
    gen = torch.Generator().manual_seed(args.seed)
    rows = T * batch
    with torch.no_grad():
        ins = [ci.x] + copy.deepcopy(job.model).forward_all(ci.x)[:-1]
    mats = []
    for i, (blk, xi) in enumerate(zip(job.model.blocks, ins)):
        w, b = blk.weight_op.weight.detach(), blk.weight_op.bias
        xi = xi.reshape(rows, -1).float().contiguous()
        g = (torch.randn((rows, w.shape[0]), generator=gen) * 1e-3).to(device)
        mats.append((i, w, None if b is None else b.detach(), xi, g, xi.bfloat16(), g.t().bfloat16(),
                     sparse.density(xi)))
    kinds = {
        "forward": lambda: [sparse.linear(xi, w, b, d) for _, w, b, xi, _, _, _, d in mats],
        "forward_dense": lambda: [F.linear(xi, w, b) for _, w, b, xi, *_ in mats],
        "dw_float": lambda: [_dw("dw_float", xi, g, gt16, x16, d) for _, _, _, xi, g, x16, gt16, d in mats],
        "dw_bf16": lambda: [_dw("dw_bf16", xi, g, gt16, x16, d) for _, _, _, xi, g, x16, gt16, d in mats],
        "dx_float": lambda: [g @ w for i, w, _, _, g, *_ in mats if i > 0],
    }
    times: dict[str, list[float]] = {k: [] for k in kinds}
    cpu: dict[str, list[float]] = {k: [] for k in kinds}
    with torch.no_grad():
        for r in range(args.warmup + args.repeats):
            for k, f in kinds.items():
                _sync(device)
                t0, c0 = time.perf_counter(), time.process_time()
                f()
                _sync(device)
                if r >= args.warmup:
                    times[k].append(1e3 * (time.perf_counter() - t0))
                    cpu[k].append(1e3 * (time.process_time() - c0))
    ms = {k: round(statistics.median(v), 3) for k, v in times.items()}
    cpu_ms = {k: round(statistics.median(v), 3) for k, v in cpu.items()}
    bptt = ms["forward"] + ms["dw_float"] + ms["dx_float"]
    out = {"workload": workload, "T": T, "batch": batch, "ms": ms, "cpu_ms": cpu_ms,
           "input_density": [round(m[-1], 5) for m in mats],
           "sparse_products": {p: [sparse.use_sparse(p, m[-1], device, m[3].shape[1], m[1].shape[0]) for m in mats]
                               for p in sparse.PRODUCTS},
           "sdfa_half": round((ms["forward"] + ms["dw_bf16"]) / bptt, 4),
           "sdfa_float": round((ms["forward"] + ms["dw_float"]) / bptt, 4)}
    print(f"{workload:12s} T={T:<3d} B={batch:<3d} products only: {ms}  SDFA/BPTT floor "
          f"{out['sdfa_half']:.3f} (bf16 dW) / {out['sdfa_float']:.3f} (float32 dW)", flush=True)
    return out


def x_floor(v: Variant, fl: dict[str, Any] | None, samples: dict[str, list[float]],
            device: torch.device) -> float | None:
    """The variant's median step over its products floor (:func:`floor_ms`): CPU time over the
    floor's CPU time on a CPU (robust to other load on a shared machine), wall times on CUDA."""
    key = "cpu_ms" if device.type == "cpu" and samples.get("cpu_ms") else "ms"
    f = floor_ms(v, fl, key)
    return None if f is None else round(statistics.median(samples[key]) / f, 4)


def floor_ms(v: Variant, fl: dict[str, Any] | None, key: str = "ms") -> float | None:
    """A fast variant's products floor from :func:`gemm_floor`: BPTT forward + float32 dW + dX;
    SDFA instantaneous forward + dW in its store's precision; else ``None``."""
    if fl is None or v.impl != "fast":
        return None
    m = fl.get(key) or fl["ms"]
    if v.method == "bptt":
        return m["forward"] + m["dw_float"] + m["dx_float"]
    if v.method == "sdfa" and v.temporal == "instantaneous":
        return m["forward"] + (m["dw_bf16"] if v.store == "half" else m["dw_float"])
    return None
