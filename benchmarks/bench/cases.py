"""The train-step benchmark's cases and variants, and how one variant's model, rule, optimiser
and input are built: the same for the timing servers, the memory children and the floors."""

from __future__ import annotations

import copy
import sys
import time
from dataclasses import dataclass
from typing import Any

import torch

from pipesdfa.learning import make_rule
from pipesdfa.snn.kernels import resolve_backend, spikingjelly_ref
from pipesdfa.snn.neurons import NeuronParams
from pipesdfa.training.loop import make_loss, make_optimizer, scale_init
from pipesdfa.zoo.models import build_model
from pipesdfa.zoo.workloads import DATASET_SHAPES, get_workload

#: (workload, T, batch) as in the issue.
CASES: list[tuple[str, int, int]] = [
    ("nmnist-mlp2", 10, 128),
    ("nmnist-mlp5", 10, 128),
    ("nmnist-mlp5", 100, 128),
    ("braille-mlp", 76, 64),
    ("dvs-convnet", 30, 8),
    ("dvs-vgg11", 30, 8),
]

#: CPU sizes of the CNN cases (a full dvs-vgg11 step at T=30, B=8 is minutes on 2 cores).
CPU_REDUCED: dict[str, dict[str, Any]] = {
    "dvs-convnet": {"T": 8, "batch": 2, "hw": 128},
    "dvs-vgg11": {"T": 4, "batch": 1, "hw": 64},
}


@dataclass(frozen=True)
class Variant:
    method: str
    temporal: str | None
    impl: str  # "fast", "reference" or "spikingjelly"
    store: str | None = None  # sdfa fast path: "float" (exact) or "half"

    @property
    def label(self) -> str:
        t = f"-{self.temporal}" if self.temporal else ""
        st = f"-{self.store}" if self.store else ""
        return f"{self.method}{t}/{self.impl}{st}"


VARIANTS: list[Variant] = [
    Variant("bptt", None, "fast"),
    Variant("sdfa", "instantaneous", "fast", "float"),
    Variant("sdfa", "instantaneous", "fast", "half"),
    Variant("sdfa", "local", "fast", "float"),
    Variant("sdfa", "local", "fast", "half"),
    Variant("output", None, "fast"),
    Variant("bptt", None, "reference"),
    Variant("sdfa", "local", "reference"),
    Variant("bptt", None, "spikingjelly"),
    Variant("sdfa", "local", "spikingjelly"),
]
#: the fields of a Variant, for a child process's command line.
_VARIANT_FIELDS = ("method", "temporal", "impl", "store")

# ------------------------------------------------------------------------------- setup

@dataclass
class Job:
    variant: Variant
    model: torch.nn.Module
    rule: Any
    opt: torch.optim.Optimizer


def make_job(v: Variant, workload: str, input_shape: tuple[int, ...], device: torch.device, seed: int,
             weights: dict[str, torch.Tensor] | None = None) -> Job:
    """Model, rule and optimiser of one variant; ``weights``: a state dict to start from (the
    warmed-up weights of ``--input real``), else the workload's initialisation."""
    w = get_workload(workload)
    spec = w.model_spec(input_shape)
    neuron = NeuronParams(kind=w.neuron, tau=w.tau)
    torch.manual_seed(seed)
    model = build_model(spec, neuron, backend=_requested_backend(v))
    scale_init(model, w.init_gain)
    if weights is not None:
        model.load_state_dict(weights)
    if v.impl == "spikingjelly":
        spikingjelly_ref.use_spikingjelly(model)
    model.to(device).train()
    opts: dict[str, Any] = {}
    if v.method == "sdfa":
        opts = {"temporal": v.temporal, "fast": v.impl == "fast"}
        if v.store:
            opts["store"] = v.store
    rule = make_rule(v.method, model, **opts).to(device)
    opt = make_optimizer("adam", model.parameters(), w.lr)  # the trainer's optimiser
    return Job(v, model, rule, opt)


def step(job: Job, x: torch.Tensor, y: torch.Tensor, loss_fn) -> None:
    job.opt.zero_grad(set_to_none=True)
    job.rule.compute_grads(x, y, loss_fn)
    job.opt.step()


def make_inputs(workload: str, T: int, batch: int, device: torch.device, seed: int, input_rate: float,
                hw: int | None = None) -> tuple[tuple[int, ...], torch.Tensor, torch.Tensor]:
    """``(input_shape, x [T, B, ...], labels [B])``: synthetic Bernoulli spikes, random labels."""
    w = get_workload(workload)
    shape, classes = DATASET_SHAPES[w.dataset]
    if hw is not None and len(shape) == 3:
        shape = (shape[0], hw, hw)
    gen = torch.Generator().manual_seed(seed)
    x = (torch.rand((T, batch, *shape), generator=gen) < input_rate).float().to(device)
    y = torch.randint(0, classes, (batch,), generator=gen).to(device)
    return tuple(shape), x, y


@dataclass
class CaseInput:
    """What every variant of a case steps on: ``x [T, B, ...]``, labels, the starting weights
    (``None``: the workload's initialisation) and how they were made."""

    shape: tuple[int, ...]
    x: torch.Tensor
    y: torch.Tensor
    weights: dict[str, torch.Tensor] | None
    info: dict[str, Any]
    path: str | None = None  # the same, saved for the child processes


def block_rates(model: torch.nn.Module, x: torch.Tensor) -> list[float]:
    """Mean spike rate of every block's output on ``x`` as a training step sees it (train mode:
    batch-norm on batch statistics), on a copy (the model's running statistics stay as they are)."""
    with torch.no_grad():
        outs = copy.deepcopy(model).train().forward_all(x)
    return [round(float(o.float().mean()), 5) for o in outs]


def real_input(workload: str, T: int, batch: int, device: torch.device, args, hw: int | None) -> CaseInput:
    """Real frames (``real_input.py``) and warmed-up weights (module docstring): ``--train-steps``
    steps of fast BPTT on real training batches, continued up to 3x as long until every block
    fires on the timed batch."""
    from real_input import real_frames

    w = get_workload(workload)
    shape, classes = DATASET_SHAPES[w.dataset]
    if hw is not None and len(shape) == 3:
        shape = (shape[0], hw, hw)
    rf = real_frames(w.dataset, T, tuple(shape), classes, args.data)
    gen = torch.Generator().manual_seed(args.seed)
    n = rf.frames.shape[0]
    order = torch.randperm(n, generator=gen)
    k = [0]

    def next_batch() -> tuple[torch.Tensor, torch.Tensor]:
        idx = order[torch.arange(k[0], k[0] + batch) % n]
        k[0] += batch
        return rf.frames[idx].transpose(0, 1).contiguous().to(device), rf.labels[idx].to(device)

    x, y = next_batch()  # the timed batch
    job = make_job(Variant("bptt", None, "fast"), workload, tuple(shape), device, args.seed)
    loss_fn = make_loss(w.loss)
    before = rates = block_rates(job.model, x)
    steps = 0
    t0 = time.perf_counter()
    while steps < 3 * args.train_steps:
        for _ in range(args.train_steps):
            step(job, *next_batch(), loss_fn)
            steps += 1
        rates = block_rates(job.model, x)
        if all(r > 0 for r in rates):
            break
    silent = [i for i, r in enumerate(rates) if r <= 0]
    if silent:  # reported in the row (all_blocks_fire) rather than hidden
        print(f"WARNING {workload} T={T}: blocks {silent} still silent after {steps} warm-up steps (rates {rates}); "
              "raise --train-steps", file=sys.stderr, flush=True)
    weights = {k_: v.detach().clone() for k_, v in job.model.state_dict().items()}
    density = round(float((x != 0).float().mean()), 5)
    print(f"{workload:12s} T={T:<3d} B={batch:<3d} real input: {rf.source}; density {density}; {steps} warm-up "
          f"steps ({time.perf_counter() - t0:.0f} s), block rates {before} -> {rates}", flush=True)
    return CaseInput(tuple(shape), x, y, weights,
                     {"input": "real", "input_source": rf.source, "input_density": density,
                      "warmup_steps": steps, "rates_at_init": before, "all_blocks_fire": not silent})


def case_input(workload: str, T: int, batch: int, device: torch.device, args, hw: int | None) -> CaseInput:
    if args.input == "real":
        return real_input(workload, T, batch, device, args, hw)
    shape, x, y = make_inputs(workload, T, batch, device, args.seed, args.input_rate, hw)
    return CaseInput(shape, x, y, None, {"input": "synthetic", "input_source": f"Bernoulli({args.input_rate}) "
                     "spikes, random labels, initial weights", "input_density": round(float(x.mean()), 5)})


def select_variants(args) -> list[Variant]:
    return [v for v in VARIANTS
            if v.impl == "fast" or (v.impl == "reference" and args.reference)
            or (v.impl == "spikingjelly" and args.spikingjelly)]
def _requested_backend(v: Variant) -> str:
    """The neuron backend :func:`make_job` builds a variant's model with (SpikingJelly rows then
    swap the neurons)."""
    return "auto" if v.impl == "fast" else "torch"


def variant_backend(v: Variant, device: torch.device) -> str:
    """The neuron backend a variant's blocks run on ``device``."""
    if v.impl == "spikingjelly":
        return spikingjelly_ref.BACKEND_NAME
    return resolve_backend(_requested_backend(v), device)
