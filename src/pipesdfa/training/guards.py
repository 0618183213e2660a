"""Checks a run passes before it starts (memory, batch) and while it runs (finite numbers).

Memory (:func:`estimate_memory`), in bytes, from the config and the model's resolved layers,
before any data is loaded (``n`` = samples kept in memory, ``P`` = weights, per block ``l``:
``a_l`` inputs, ``m_l`` neurons, ``o_l`` outputs per sample and step, all float32 = 4 bytes):

* data: embedded digits: ``2 * n * T * prod(input_shape) * 4`` (frames and their stack); real
  datasets keep a split in memory only below 1 GiB (:mod:`pipesdfa.data.datasets`), so at most
  ``2 * 1 GiB`` per split;
* model: ``P * 4 * k`` with ``k = 4`` (weights, gradients, Adam's two moments; 3 for SGD), plus
  SDFA's feedback matrix ``C * max_l o_l * 4``;
* one training step, ``B = min(batch, n_train)``: BPTT keeps every block's input, membrane,
  surrogate input and output, ``sum_l T B 4 (a_l + 3 m_l + o_l)``; SDFA's fast path keeps input
  bits and float16 derivatives, ``sum_l T B (a_l / 8 + 2 m_l)`` (``4 m_l`` with
  ``store=float``), plus one block's BPTT-sized transient;
* evaluation, ``B_e = max(batch, 64)``: ``T B_e 4 (max a_l + 2 max m_l)``;
* the interpreter, torch and the libraries: :data:`BASELINE_BYTES`.

The benchmarks measure the step's part (``benchmarks/train_step.py``: nmnist-mlp2, T=10,
B=128, BPTT 30.6 MiB measured; this estimate gives 37 MiB). A run whose estimate exceeds the
memory available (``MemAvailable``, and the cgroup's limit minus its usage) is refused.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

import torch

from pipesdfa.util.errors import UserError

__all__ = ["MemoryEstimate", "estimate_memory", "available_memory", "check_memory", "check_batch",
           "TrainingDiverged", "check_finite_params", "BASELINE_BYTES", "split_sizes", "step_samples", "describe_estimate"]

BASELINE_BYTES = 400 << 20
_IN_MEMORY_SPLIT = 1 << 30


@dataclass(frozen=True)
class MemoryEstimate:
    data: float
    model: float
    step: float
    eval: float

    @property
    def total(self) -> float:
        return self.data + self.model + self.step + self.eval + BASELINE_BYTES

    def to_dict(self) -> dict[str, float]:
        return {"data": self.data, "model": self.model, "step": self.step, "eval": self.eval,
                "baseline": float(BASELINE_BYTES), "total": self.total}


def _gib(b: float) -> str:
    return f"{b / 2**30:.1f} GiB"


def split_sizes(cfg) -> tuple[int, int]:
    """Training and test samples the run will hold (from the catalog, cut by max_train/test)."""
    from pipesdfa.data.catalog import CATALOG

    n_train = CATALOG[cfg.data.dataset].epoch_samples
    n_test = max(1, n_train // 4)  # the 80/20 splits; N-MNIST's and SHD's test sets are smaller still
    if cfg.data.max_train is not None:
        n_train = min(n_train, cfg.data.max_train)
    if cfg.data.max_test is not None:
        n_test = min(n_test, cfg.data.max_test)
    return n_train, n_test


def step_samples(cfg) -> int:
    """``B = min(batch, n_train)``: the samples of one training step."""
    return min(cfg.optim.batch, split_sizes(cfg)[0])


def estimate_memory(cfg, layers, input_shape, rule_state: float, rule_step: float | None) -> MemoryEstimate:
    """Bytes a run needs (see the module docstring); ``layers``: resolved layers of its model;
    ``rule_state``: the rule's own state (``Rule.state_bytes``); ``rule_step``: what one step of
    the rule holds at ``T x`` :func:`step_samples` (``Rule.step_bytes``; ``None``: BPTT's graph)."""
    from pipesdfa.data.catalog import CATALOG

    n_train, n_test = split_sizes(cfg)
    per = cfg.data.T * math.prod(input_shape) * 4
    if CATALOG[cfg.data.dataset].embedded:
        data = 2.0 * (n_train + n_test) * per
    else:
        data = sum(2.0 * min(n * per, _IN_MEMORY_SPLIT) for n in (n_train, n_test))
    P = sum(l.weights for l in layers)
    k = 4 if cfg.optim.optimizer == "adam" else 3
    model = 4.0 * P * k + rule_state
    TB = float(cfg.data.T) * step_samples(cfg)
    step = rule_step
    if step is None:  # the autograd graph of the whole network
        step = sum(TB * 4 * (l.n_in + 3 * l.n_neurons + l.n_out) for l in layers)
    Be = float(cfg.data.T) * min(max(cfg.optim.batch, 64), n_test)
    ev = Be * 4 * (max(l.n_in for l in layers) + 2 * max(l.n_neurons for l in layers))
    return MemoryEstimate(data, model, step, ev)


def available_memory() -> float | None:
    """Bytes this process can still allocate: ``MemAvailable`` and, inside a cgroup v2 with a
    limit, ``memory.max - memory.current`` (the smaller); ``None`` when unknown."""
    avail = None
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemAvailable:"):
                avail = float(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        limit = open("/sys/fs/cgroup/memory.max").read().strip()
        if limit != "max":
            used = float(open("/sys/fs/cgroup/memory.current").read())
            left = float(limit) - used
            avail = left if avail is None else min(avail, left)
    except (OSError, ValueError):
        pass
    env = os.environ.get("PIPESDFA_MEMORY_AVAILABLE")  # tests and shared machines: a lower ceiling
    if env:
        try:
            cap = float(env)
            avail = cap if avail is None else min(avail, cap)
        except ValueError:
            raise UserError(f"PIPESDFA_MEMORY_AVAILABLE must be a number of bytes, got {env!r}") from None
    return avail


def check_memory(est: MemoryEstimate, cfg) -> None:
    """:class:`UserError` (one line: needed vs available) when the run will not fit."""
    avail = available_memory()
    if avail is not None and est.total > avail:
        parts = ", ".join(f"{k} {_gib(v)}" for k, v in est.to_dict().items() if k not in ("total", "baseline") and v > 0)
        raise UserError(f"this run needs about {_gib(est.total)} of memory ({parts}; T={cfg.data.T}, batch={cfg.optim.batch}) "
                        f"but {_gib(avail)} is available; lower --T, --batch, --max-train or the model's widths")


def check_batch(cfg, n_train: int, name: str) -> None:
    if cfg.optim.batch > n_train:
        raise UserError(f"--batch {cfg.optim.batch} is larger than the training split ({n_train} samples of {name}): "
                        f"an epoch would be one batch; use --batch {n_train} or less")


class TrainingDiverged(UserError):
    """The loss or the weights stopped being finite numbers; the last good checkpoint is kept."""


def check_finite_params(model: torch.nn.Module) -> str | None:
    """The name of the first parameter holding a NaN or infinity, or ``None``."""
    for name, p in model.named_parameters():
        if not bool(torch.isfinite(p).all()):
            return name
    return None


def describe_estimate(est: MemoryEstimate) -> dict[str, Any]:
    return {k: round(v / 2**20, 1) for k, v in est.to_dict().items()}
