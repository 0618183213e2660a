"""The interface every learning rule implements, and what a rule is bound to.

A rule is bound to **blocks** and a **readout**, not to a model class:

* ``blocks``: an ordered sequence of ``nn.Module``s, each mapping spikes ``[T, B, ...]`` to
  spikes ``[T, B, ...]``; the last one is the output block;
* ``num_classes``: the number of classes ``C``;
* ``readout``: maps the output block's spikes to class scores ``[B, C]`` (default
  :class:`~pipesdfa.snn.readout.MeanRate`, the mean over time; the zoo's vote readout is another).

``Rule.for_model(net)`` binds a network that exposes ``net.blocks``, ``net.num_classes`` and
``net.readout`` (the zoo's :class:`~pipesdfa.zoo.models.SpikingNet` does; so can any user network).
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Sequence

import torch
from torch import nn

from pipesdfa.util.errors import UserError
from pipesdfa.snn.readout import MeanRate

__all__ = ["LossFn", "Rule", "Readout", "STEP_SCALE", "step_scale"]

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Readout = Callable[[torch.Tensor], torch.Tensor]


class Rule(nn.Module):
    """A learning rule bound to blocks and a readout.

    ``compute_grads(x, y, loss_fn)`` runs one forward pass on ``x [T, B, ...]`` and leaves
    each trained parameter's gradient in ``.grad`` (accumulated: the caller zeroes them);
    it returns ``(loss, rates)`` with ``rates [B, C]`` detached. The optimiser step is the
    caller's. A rule is an ``nn.Module`` so that its fixed state (SDFA's feedback matrices) is
    saved with ``state_dict()``; the blocks and the readout are not part of it.
    """

    name = "rule"

    def __init__(self, blocks: Sequence[nn.Module], num_classes: int, *, readout: Readout | None = None) -> None:
        super().__init__()
        blocks = tuple(blocks)
        if not blocks:
            raise UserError(f"{self.name}: needs at least one block")
        bad = [i for i, b in enumerate(blocks) if not callable(b)]
        if bad:
            raise UserError(f"{self.name}: block {bad[0]} ({type(blocks[bad[0]]).__name__}) is not callable")
        if int(num_classes) < 1:
            raise UserError(f"{self.name}: num_classes must be >= 1, got {num_classes}")
        # Held outside the module tree: the rule's state_dict must not duplicate the network's.
        self.__dict__["blocks"] = blocks
        self.__dict__["readout"] = readout if readout is not None else MeanRate()
        self.num_classes = int(num_classes)

    @classmethod
    def for_model(cls, net: nn.Module, **options: Any) -> "Rule":
        """The rule bound to ``net.blocks``, ``net.num_classes`` and ``net.readout``."""
        missing = [a for a in ("blocks", "num_classes", "readout") if not hasattr(net, a)]
        if missing:
            raise UserError(f"{cls.name}.for_model: {type(net).__name__} has no {', '.join(missing)}; bind its "
                            f"blocks directly: {cls.__name__}(blocks, num_classes, readout=...)")
        return cls(list(net.blocks), net.num_classes, readout=net.readout, **options)

    @property
    def hidden_blocks(self) -> tuple[nn.Module, ...]:
        return self.blocks[:-1]

    @property
    def output_block(self) -> nn.Module:
        return self.blocks[-1]

    def rates(self, s_out: torch.Tensor) -> torch.Tensor:
        """``[B, C]`` scores of the output spikes (checked against ``num_classes``)."""
        fr = self.readout(s_out)
        if fr.dim() != 2 or fr.shape[1] != self.num_classes:
            raise UserError(f"{self.name}: the readout gave shape {tuple(fr.shape)}, expected [B, {self.num_classes}] "
                            "(give a readout, e.g. pipesdfa.VoteReadout, or make the output block that wide)")
        return fr

    def compute_grads(self, x: torch.Tensor, y: torch.Tensor, loss_fn: LossFn) -> tuple[float, torch.Tensor]:
        raise NotImplementedError

    def options(self) -> dict:
        return {}

    # --- what the training loop asks every rule (pipesdfa.training.hooks); defaults: nothing extra
    @property
    def shards_batch(self) -> bool:
        """Whether the rule's update of a batch is the sum of its shards' updates (data parallel)."""
        return True

    def epoch_metrics(self, x: torch.Tensor, y: torch.Tensor, loss_fn: LossFn) -> dict[str, Any]:
        """Entries the loop adds to each epoch's record, measured on one test batch ``x, y``."""
        return {}

    def final_metrics(self, last: dict[str, Any]) -> dict[str, Any]:
        """Entries of ``metrics.json``'s ``final`` block, from the last epoch's record ``last``."""
        return {}

    @classmethod
    def step_bytes(cls, layers: Sequence[Any], TB: float, options: Any = None) -> float | None:
        """Bytes one training step holds for ``layers`` (resolved layers with ``n_in``,
        ``n_neurons``, ``n_out``) at ``TB`` = time steps x batch, beyond BPTT's graph; ``None``:
        the autograd graph of BPTT (:func:`pipesdfa.training.guards.estimate_memory`)."""
        return None

    @classmethod
    def state_bytes(cls, num_classes: int, layers: Sequence[Any], options: Any = None) -> float:
        """Bytes of the rule's own fixed state (SDFA's feedback matrices)."""
        return 0.0

    def param_groups(self, params: Iterable[nn.Parameter], lr: float) -> list[dict]:
        """The optimiser's parameter groups for the network's ``params``: each block's at
        ``lr * step_scale(block)`` (:func:`step_scale`; 1 unless an init scaled the block), the
        rest at ``lr``; one group per distinct rate, ``"lr_scale"`` recording the factor (a rule
        may scale some blocks further, :meth:`pipesdfa.learning.SDFA.param_groups`)."""
        return self._groups(params, lr, {})

    def _groups(self, params: Iterable[nn.Parameter], lr: float, extra: dict[int, float]) -> list[dict]:
        """Groups of ``params`` by the factor ``step_scale(block) * extra.get(block index, 1)``
        (1 for a parameter of no block, e.g. a readout's): the output block's group first, the
        others in order of first appearance."""
        scale: dict[int, float] = {}
        for i, b in enumerate(self.blocks):
            s = step_scale(b) * extra.get(i, 1.0)
            for p in b.parameters():
                scale[id(p)] = s
        params = list(params)
        out = [p for p in self.blocks[-1].parameters()]
        first = scale.get(id(out[0]), 1.0) if out else 1.0
        groups: dict[float, list[nn.Parameter]] = {first: []}
        for p in params:
            groups.setdefault(scale.get(id(p), 1.0), []).append(p)
        return [{"params": ps, "lr": lr * s, "lr_scale": s} for s, ps in groups.items() if ps or len(groups) == 1]


#: The attribute of a block that scales its optimiser step (set by an init that scales its weight).
STEP_SCALE = "step_scale"


def step_scale(block: nn.Module) -> float:
    """The factor ``s`` by which ``block``'s learning rate is multiplied: ``block.step_scale``
    when present (a float > 0), else 1.

    Why: an init that multiplies a block's weight by a gain ``g`` (the data-driven init,
    :mod:`pipesdfa.training.init`) changes how far a step moves the block *relative to its
    weights*. Adam's step is about ``lr`` per weight whatever the gradient's scale, so at
    ``g = 8`` a block needs ``8x`` the steps to move its weights by the same fraction. Scaling
    its rate by ``s = g`` keeps the training dynamics those of the unscaled weights
    (``W = g U``, ``dW = g dU``). Feedback alignment is what this matters for most: the
    layers above a hidden layer must turn their weights towards the fixed feedback matrices,
    which takes a learned part comparable to the initial random weights (docs/accuracy.md)."""
    s = getattr(block, STEP_SCALE, 1.0)
    if not isinstance(s, (int, float)) or not s > 0 or s != s:
        raise UserError(f"block {type(block).__name__}: step_scale must be a number > 0, got {s!r}")
    return float(s)
