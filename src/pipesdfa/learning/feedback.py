"""Fixed random feedback matrices for SDFA (docs/paper.md section 2).

Shared (the authors' choice): one matrix ``B`` of shape ``[C, n_max]``; hidden layer ``l``
uses its first ``n_l`` columns. Independent: one ``[C, n_l]`` matrix per hidden layer.
The projected error of layer ``l`` is ``r_l = e B_l / sqrt(n_max)`` for the global error
``e = dLoss/dfr`` of shape ``[B, C]``.

Entries come from a *sampler* ``sampler(shape, generator) -> Tensor`` of zero mean and unit
variance, given by name or as the callable itself. Built in (:data:`SAMPLERS`):

* ``gaussian``: N(0, 1) (the authors' choice);
* ``uniform``: U(-sqrt 3, sqrt 3);
* ``sign``: +1 or -1 with equal probability.

Other packages add theirs with :func:`register_sampler` (``pipesdfa.analog.feedback`` adds
``rram``: entries read from a simulated RRAM crossbar's device variation); this module imports
no device model.

``aligned`` (:func:`aligned_matrices`, :meth:`FeedbackMatrices.assign`) is not random: one
matrix per hidden layer, the product of the forward weights above it at the moment the run
starts, ``B_l = W_L W_{L-1} ... W_{l+1}`` (``[C, n_l]``), scaled to unit root-mean-square
entries. In a linear network ``e B_l`` is exactly the back-propagated error ``dLoss/dh_l``;
in a spiking one it leaves out the downstream surrogate derivatives and the time structure.
It is fixed afterwards like any feedback matrix, so a rule using it still sends no error
across layers and forms no ``W^T`` product while it trains; it is what a network trained
elsewhere (by BPTT) needs, whose forward weights have never aligned with a random ``B``.
A network with convolutions (:func:`aligned_block_matrices`) gets the same thing from the
*linearised* chain above layer ``l``: each block's convolution or matrix, batch-norm as its
per-channel scale ``gamma / sqrt(var + eps)``, max-pooling read as average pooling (every
input of a window equally likely to be the maximum), no neuron, and the vote readout's mean:
``B_l`` (``[C, n_l]``) is that linear map's matrix, found one class at a time (``C``
vector-Jacobian products, once, before training), scaled the same way.

``FeedbackMatrices(..., distribution="aligned")`` (``independent`` mode) holds the matrices
of a rule that computes them itself: a placeholder sample until the rule assigns the aligned
ones at its first step (:attr:`FeedbackMatrices.align_pending`; ``SDFA(..., distribution=
"aligned")`` does so from its blocks' weights then); a state dict restores them instead.

The widths ``n_l`` may be given, or are taken from the hidden blocks' outputs the first time
errors are projected (the matrices are then sampled, from the same seed, exactly as if the
widths had been given). The matrices are module buffers, so they are saved in checkpoints and
restored on resume (a state dict also builds matrices not yet sampled).
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from pipesdfa.util.errors import UserError

__all__ = ["SAMPLERS", "FeedbackMatrices", "FEEDBACK_MODES", "register_sampler", "Sampler", "aligned_matrices",
           "aligned_block_matrices", "ALIGNED"]

Sampler = Callable[[tuple[int, ...], torch.Generator], torch.Tensor]


def _gaussian(shape: tuple[int, ...], g: torch.Generator) -> torch.Tensor:
    return torch.randn(shape, generator=g)


def _uniform(shape: tuple[int, ...], g: torch.Generator) -> torch.Tensor:
    return (torch.rand(shape, generator=g) * 2 - 1) * math.sqrt(3.0)


def _sign(shape: tuple[int, ...], g: torch.Generator) -> torch.Tensor:
    return torch.randint(0, 2, shape, generator=g).float() * 2 - 1


SAMPLERS: dict[str, Sampler] = {"gaussian": _gaussian, "uniform": _uniform, "sign": _sign}
FEEDBACK_MODES = ("shared", "independent")
#: The non-random feedback: the forward weights' product (:func:`aligned_matrices`).
ALIGNED = "aligned"


def aligned_matrices(weights: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """``[B_0, ..., B_{L-2}]`` for the weights ``W_0 .. W_{L-1}`` (``[n_out, n_in]`` each) of a
    network of fully connected layers: ``B_l = W_{L-1} W_{L-2} ... W_{l+1}`` (``[C, n_l]``)
    divided by the root mean square of its entries (see the module docstring)."""
    ws = [w.detach().float() for w in weights]
    for i, w in enumerate(ws):
        if w.dim() != 2:
            raise UserError(f"sdfa distribution 'aligned' needs fully connected layers; layer {i} has a weight of "
                            f"shape {tuple(w.shape)}")
    for i in range(1, len(ws)):
        if ws[i].shape[1] != ws[i - 1].shape[0]:
            raise UserError(f"sdfa distribution 'aligned': layer {i} takes {ws[i].shape[1]} inputs but layer {i - 1} "
                            f"gives {ws[i - 1].shape[0]} outputs (a readout or pooling between them?)")
    out: list[torch.Tensor] = []
    m = ws[-1]
    for l in range(len(ws) - 2, -1, -1):  # m = W_{L-1} ... W_{l+1}
        out.append(_unit_rms(m))
        m = m @ ws[l]
    return out[::-1]


def _unit_rms(m: torch.Tensor) -> torch.Tensor:
    rms = float(m.pow(2).mean().sqrt())
    return m / rms if rms > 0 else m.clone()


def _linear_part(block: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """One block without its neuron, linearised (module docstring): ``[N, ...] -> [N, ...]``."""
    if block.kind == "dense":
        return x.flatten(1) @ block.weight.T
    op = block.weight_op
    y = F.conv2d(x, op.weight, None, op.stride, op.padding, op.dilation, op.groups)
    bn = block.bn
    if bn is not None:
        ones = torch.ones(y.shape[1], device=y.device)
        var = bn.running_var if bn.running_var is not None else ones
        gamma = bn.weight if bn.weight is not None else ones
        y = y * (gamma / torch.sqrt(var + bn.eps))[None, :, None, None]
    pool = block.pool
    if pool is not None:
        y = F.avg_pool2d(y, pool.kernel_size, pool.stride, pool.padding)
    return y


def aligned_block_matrices(blocks: Sequence[nn.Module], shapes: Sequence[Sequence[int]], num_classes: int,
                           vote: int = 1, readout: Callable[[torch.Tensor], torch.Tensor] | None = None
                           ) -> list[torch.Tensor]:
    """``[B_0, ..., B_{L-2}]`` (``[C, n_l]`` each) for spiking blocks (``kind``, ``weight_op``,
    ``bn``, ``pool``: :class:`pipesdfa.snn.blocks.SpikingBlock`) whose hidden block ``l`` gives
    spikes of per-sample shape ``shapes[l]`` after pooling (``(C, H, W)`` or ``(n,)``), read out
    as ``num_classes`` groups of ``vote`` output neurons: the linearised chain's matrix above each
    hidden block (module docstring), scaled to unit root-mean-square entries. For fully connected
    blocks with one vote each it is :func:`aligned_matrices` of their weights, computed by it.

    ``readout`` (instead of ``vote``): the rule's own readout, ``[T, B, n_out] -> [B, C]``, read
    as the affine map it is at one time step, ``R = readout(I) - readout(0)`` (``[n_out, C]``;
    a mean-rate readout gives the identity, a vote readout the group means)."""
    blocks = list(blocks)
    from pipesdfa.snn.blocks import SpikingBlock

    for i, b in enumerate(blocks):
        if not isinstance(b, SpikingBlock):
            raise UserError(f"sdfa distribution 'aligned' reads the weights of pipesdfa.SpikingBlock blocks (an "
                            f"nn.Linear or nn.Conv2d, optional batch-norm and max-pool); block {i} is a "
                            f"{type(b).__name__}")
    if len(shapes) != len(blocks) - 1:
        raise UserError(f"sdfa distribution 'aligned': {len(shapes)} hidden shapes for {len(blocks) - 1} hidden blocks")
    R = None if readout is None else _readout_matrix(readout, blocks[-1], num_classes)
    identity = R is None and vote == 1 or R is not None and R.shape[0] == num_classes and torch.equal(
        R, torch.eye(num_classes, device=R.device))
    if identity and all(b.kind == "dense" for b in blocks):
        return aligned_matrices([b.weight for b in blocks])
    out: list[torch.Tensor] = []
    for l, shape in enumerate(shapes):
        x = torch.zeros(1, *shape, device=blocks[l].weight.device, requires_grad=True)
        y = x
        for b in blocks[l + 1:]:
            y = _linear_part(b, y)
        if R is not None:
            logits = (y.flatten(1) @ R)[0]
        else:
            if y.shape[1] != num_classes * vote:
                raise UserError(f"sdfa distribution 'aligned': the last block gives {y.shape[1]} outputs, expected "
                                f"{num_classes} classes x {vote} votes")
            logits = y.reshape(1, num_classes, vote).mean(2)[0]
        rows = [torch.autograd.grad(logits[c], x, retain_graph=c + 1 < num_classes)[0].flatten()
                for c in range(num_classes)]
        out.append(_unit_rms(torch.stack(rows).detach().float()))
    return out


def _readout_matrix(readout: Callable[[torch.Tensor], torch.Tensor], last: nn.Module, num_classes: int) -> torch.Tensor:
    """``R`` (``[n_out, C]``) of an affine ``readout`` at one time step: its response to every
    one-hot output minus its response to silence."""
    n_out = int(last.weight.shape[0])
    eye = torch.eye(n_out, device=last.weight.device)
    with torch.no_grad():
        R = readout(eye[None]) - readout(torch.zeros_like(eye[:1])[None])
    if tuple(R.shape) != (n_out, num_classes):
        raise UserError(f"sdfa distribution 'aligned': the readout maps the last block's {n_out} outputs to shape "
                        f"{tuple(R.shape[1:])}, expected {num_classes} classes")
    return R.float()


def register_sampler(name: str, sampler: Sampler) -> Sampler:
    """Make ``sampler`` available as ``distribution=name`` (re-registering the same one is a no-op)."""
    if SAMPLERS.get(name, sampler) is not sampler:
        raise ValueError(f"feedback sampler {name!r} already registered")
    SAMPLERS[name] = sampler
    return sampler


class FeedbackMatrices(nn.Module):
    """The fixed feedback matrices of one network (never trained)."""

    def __init__(self, num_classes: int, widths: Sequence[int] | None = None, mode: str = "shared",
                 distribution: str | Sampler = "gaussian", seed: int = 0) -> None:
        super().__init__()
        if mode not in FEEDBACK_MODES:
            raise UserError(f"sdfa feedback {mode!r} unknown; expected one of: {', '.join(FEEDBACK_MODES)}")
        #: ``distribution="aligned"``: the matrices are a placeholder sample until :meth:`assign`
        #: (or a state dict) sets them; the rule that owns them assigns them at its first step.
        self.align_pending = distribution == ALIGNED
        if self.align_pending:
            if mode != "independent":
                raise UserError(f"sdfa distribution 'aligned' gives one matrix per hidden layer: use feedback "
                                f"'independent' (the default with 'aligned'), not {mode!r}")
            distribution = "gaussian"
        if callable(distribution):
            self.sampler: Sampler = distribution
            self.distribution = getattr(distribution, "__name__", type(distribution).__name__)
        else:
            if distribution not in SAMPLERS:
                raise UserError(f"sdfa distribution {distribution!r} unknown; expected one of: "
                                f"{', '.join(SAMPLERS)} (or a sampler callable; 'rram' is registered by "
                                "importing pipesdfa.analog)")
            self.sampler = SAMPLERS[distribution]
            self.distribution = ALIGNED if self.align_pending else distribution
        self.num_classes = int(num_classes)
        self.mode = mode
        self.seed = seed
        self.widths: list[int] | None = None
        self.n_max = 1
        if widths is not None:
            self.build(widths)

    @property
    def built(self) -> bool:
        return self.widths is not None

    def build(self, widths: Sequence[int]) -> None:
        """Sample the matrices for hidden layers of ``widths`` neurons (outputs after pooling)."""
        self.widths = [int(w) for w in widths]
        self.n_max = max(self.widths) if self.widths else 1
        g = torch.Generator().manual_seed(self.seed)
        if self.mode == "shared":
            self.register_buffer("B_shared", self.sampler((self.num_classes, self.n_max), g).float())
        else:
            for i, w in enumerate(self.widths):
                self.register_buffer(f"B_{i}", self.sampler((self.num_classes, w), g).float())

    def assign(self, matrices: Sequence[torch.Tensor], distribution: str = ALIGNED) -> None:
        """Replace the matrices by given ones (``[C, n_l]`` per hidden layer; ``independent`` mode)."""
        if self.mode != "independent":
            raise UserError(f"sdfa distribution {distribution!r} gives one matrix per layer: use feedback "
                            f"'independent', not {self.mode!r}")
        if self.widths is not None and [int(m.shape[1]) for m in matrices] != self.widths:
            raise UserError(f"sdfa feedback: matrices for {[int(m.shape[1]) for m in matrices]} neurons, the hidden "
                            f"blocks give {self.widths}")
        self.widths = [int(m.shape[1]) for m in matrices]
        self.n_max = max(self.widths) if self.widths else 1
        for i, m in enumerate(matrices):
            self.register_buffer(f"B_{i}", m.detach().float().clone())
        self.distribution = distribution
        self.align_pending = False

    def matrix(self, layer: int) -> torch.Tensor:
        """``B_l`` of shape ``[C, n_l]``."""
        if self.widths is None:
            raise RuntimeError("feedback matrices not built yet: give widths, or project an error first")
        if self.mode == "shared":
            return self.B_shared[:, : self.widths[layer]]  # type: ignore[index]
        return getattr(self, f"B_{layer}")

    def project(self, e: torch.Tensor, layer: int) -> torch.Tensor:
        """``r_l = e B_l / sqrt(n_max)``: ``[B, C] -> [B, n_l]``."""
        return e @ self.matrix(layer) / math.sqrt(self.n_max)

    def project_all(self, e: torch.Tensor) -> list[torch.Tensor]:
        """``[r_0, r_1, ...]`` of every hidden layer from one product (shared: ``e B`` over the
        widest layer's columns, each layer taking its first ``n_l``; independent: ``e [B_0 | B_1 |
        ...]``, split): one launch instead of one per layer; each ``r_l`` equals :meth:`project`'s
        up to the product's rounding."""
        if self.widths is None:
            raise RuntimeError("feedback matrices not built yet: give widths, or project an error first")
        if not self.widths:
            return []
        scale = 1.0 / math.sqrt(self.n_max)
        if self.mode == "shared":
            r = torch.mm(e, self.B_shared[:, : max(self.widths)]).mul_(scale)  # type: ignore[index]
            return [r[:, :w] for w in self.widths]
        r = torch.mm(e, torch.cat([self.matrix(i) for i in range(len(self.widths))], 1)).mul_(scale)
        return list(torch.split(r, self.widths, 1))

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                              error_msgs) -> None:
        self.align_pending = False  # the state holds the matrices themselves
        if self.widths is None:  # not sampled yet: take the shapes from the state
            if self.mode == "shared" and prefix + "B_shared" in state_dict:
                b = state_dict[prefix + "B_shared"]
                self.register_buffer("B_shared", torch.empty_like(b, dtype=torch.float32))
                self.widths, self.n_max = [], int(b.shape[1])
                self._pending_widths = True
            elif self.mode == "independent":
                shapes = []
                while f"{prefix}B_{len(shapes)}" in state_dict:
                    shapes.append(state_dict[f"{prefix}B_{len(shapes)}"].shape)
                for i, s in enumerate(shapes):
                    self.register_buffer(f"B_{i}", torch.empty(s))
                self.widths = [int(s[1]) for s in shapes]
                self.n_max = max(self.widths) if self.widths else 1
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                                      error_msgs)

    def ensure(self, widths: Sequence[int]) -> None:
        """Build for ``widths`` if not built; else check them (a loaded shared matrix learns them here)."""
        widths = [int(w) for w in widths]
        if self.widths is None:
            self.build(widths)
        elif getattr(self, "_pending_widths", False):
            if max(widths, default=1) != self.n_max:
                raise UserError(f"sdfa feedback matrix has {self.n_max} columns, the hidden blocks' widest output "
                                f"{max(widths, default=1)}")
            self.widths = widths
            self._pending_widths = False
        elif widths != self.widths:
            raise UserError(f"sdfa feedback matrices were made for hidden outputs of {self.widths} neurons, "
                            f"the blocks give {widths}")
