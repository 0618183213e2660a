"""Multi-process data-parallel training on ``torch.distributed`` (gloo on CPU, NCCL on CUDA).

Every rank builds the same run from the same config and seed (so the model's initial
weights and SDFA's feedback matrices are identical; they are also broadcast from rank 0 to
make sure) and walks the same global batch order. Rank ``r`` of ``N`` takes the samples
``r, r+N, r+2N, ...`` of each global batch of ``cfg.optim.batch`` samples. After the rule has
left each rank's gradients of its local mean loss, they are combined into the gradient of
the **global** mean loss::

    g = sum_r n_r g_r / sum_r n_r          (n_r = samples of the global batch on rank r)

(one ``all_reduce``), exactly what one process computes on the whole global batch, up to
the summation order -- except for batch-norm, whose batch statistics stay per rank as in
PyTorch's ``DistributedDataParallel``; BN running statistics are then taken from rank 0
after every step (DDP's ``broadcast_buffers``). Only rank 0 writes checkpoints, metrics
and plots.

Launch: ``pipesdfa train ... --nproc N`` starts N local workers itself
(:func:`launch`); for several machines use ``torchrun`` (``WORLD_SIZE``, ``RANK``,
``MASTER_ADDR``, ``MASTER_PORT`` in the environment; :func:`init_from_env` picks them up).
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from typing import Any, Callable

import torch
import torch.distributed as dist
from torch import nn

from pipesdfa.util.errors import UserError

__all__ = ["DistContext", "context", "init_from_env", "launch", "free_port"]


@dataclass(frozen=True)
class DistContext:
    """This process's place in the job (``world == 1``: a plain single-process run)."""

    rank: int = 0
    world: int = 1

    @property
    def active(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def shard(self, xb: torch.Tensor, yb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """This rank's samples ``rank, rank+world, ...`` of a global batch ``[B, ...]``."""
        if not self.active:
            return xb, yb
        return xb[self.rank::self.world], yb[self.rank::self.world]

    def broadcast_state(self, *modules: nn.Module) -> None:
        """Parameters and buffers of ``modules`` from rank 0 to all."""
        if not self.active:
            return
        for m in modules:
            for t in list(m.parameters()) + list(m.buffers()):
                dist.broadcast(t.data, src=0)

    def reduce_grads(self, model: nn.Module, n_local: int) -> None:
        """``grad <- sum_r n_r grad_r / sum_r n_r`` over ranks, in one flat ``all_reduce``."""
        if not self.active:
            return
        params = [p for p in model.parameters() if p.requires_grad]
        flat = torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in params])
        flat.mul_(float(n_local))
        count = torch.tensor([float(n_local)], dtype=flat.dtype, device=flat.device)
        dist.all_reduce(flat)
        dist.all_reduce(count)
        flat.div_(count.clamp_min(1.0))
        offset = 0
        for p in params:
            n = p.numel()
            p.grad = flat[offset:offset + n].view_as(p).clone()
            offset += n

    def sync_buffers(self, model: nn.Module) -> None:
        """Buffers (BN running statistics) from rank 0, as DDP does before each forward."""
        if not self.active:
            return
        for b in model.buffers():
            dist.broadcast(b.data, src=0)

    def sum(self, values: list[float]) -> list[float]:
        """Element-wise sum of ``values`` over ranks (epoch statistics)."""
        if not self.active:
            return values
        t = torch.tensor(values, dtype=torch.float64)
        dist.all_reduce(t)
        return t.tolist()


def context() -> DistContext:
    """The current process's :class:`DistContext` (single process unless a group is up)."""
    if dist.is_available() and dist.is_initialized():
        return DistContext(dist.get_rank(), dist.get_world_size())
    return DistContext()


def init_from_env(device: str = "cpu") -> DistContext:
    """Join the process group described by torchrun's environment (no-op for one process)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistContext()
    for key in ("RANK", "MASTER_ADDR", "MASTER_PORT"):
        if key not in os.environ:
            raise UserError(f"distributed run: environment variable {key} is not set (WORLD_SIZE={world})")
    if not dist.is_initialized():
        backend = "nccl" if device.startswith("cuda") else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group(backend=backend)
    return context()


def free_port() -> int:
    """A TCP port that is free on this machine right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _worker(rank: int, world: int, port: int, device: str, threads: int | None,
            fn: Callable[..., Any], args: tuple) -> None:
    os.environ.update({"RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": str(world),
                       "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)})
    if threads:
        torch.set_num_threads(threads)
    init_from_env(device)
    try:
        fn(*args)
    finally:
        dist.destroy_process_group()


def launch(nproc: int, fn: Callable[..., Any], *args: Any, device: str = "cpu") -> None:
    """Run ``fn(*args)`` in ``nproc`` local worker processes joined in one process group.

    ``fn`` must be importable (a module-level function). CPU workers share the cores
    (``torch`` threads per worker = cores // nproc).
    """
    if nproc < 1:
        raise UserError(f"--nproc must be >= 1, got {nproc}")
    if device.startswith("cuda") and nproc > torch.cuda.device_count():
        raise UserError(f"--nproc {nproc} needs {nproc} CUDA devices, found {torch.cuda.device_count()}")
    import torch.multiprocessing as mp

    threads = None if device.startswith("cuda") else max(1, (os.cpu_count() or 1) // nproc)
    mp.start_processes(_worker, args=(nproc, free_port(), device, threads, fn, args), nprocs=nproc,
                       join=True, start_method="spawn")
