"""Build a trainable network from a NIR graph (the inverse of :mod:`.nir_export`).

``from_nir(graph)`` (a ``nir.NIRGraph`` or a path to a ``.nir`` file) reads a chain
``Input -> [Flatten] -> Linear|Affine|Conv2d -> LIF|IF -> [SumPool2d -> Threshold] -> ... ->
[Linear readout] -> Output`` into :class:`~pipesdfa.snn.blocks.SpikingBlock`s with our neurons, so
that a network made in another tool can be trained with SDFA (``SDFA.for_model(net)``).

Parameter mapping (one forward-Euler step of ``dt``, the ``dt`` of the metadata or the
argument): LIF ``tau_steps = tau / dt`` (at least 1), ``v_leak`` must equal ``v_reset`` (our
leak target); ``r = 1`` gives ``decay_input=True``, ``r = tau_steps`` ``decay_input=False``, any
other ``r`` is folded into the weights; IF: ``r dt`` is folded into the weights when it is not 1.
Thresholds: ``V_th`` = the smallest float32 above NIR's ``v_threshold`` (``v > thr`` iff
``v >= V_th``). A ``SumPool2d`` followed by ``Threshold`` of 1/2 is the max-pool of 0/1 spikes;
a final ``Linear`` after the last neuron is the readout (the vote average becomes a
:class:`~pipesdfa.snn.readout.VoteReadout`, anything else a trainable linear readout on the mean
rates). Per-neuron (non-uniform) parameters, branches and other node types are refused by name.
NIR has no surrogate gradient: ``surrogate`` (default ``atan``) is ours.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch
from torch import nn

from pipesdfa.snn.blocks import SpikingBlock
from pipesdfa.snn.dynamics import NeuronParams
from pipesdfa.util.errors import UserError
from pipesdfa.snn.network import BlockNetwork
from pipesdfa.snn.neurons import SpikingNeuron
from pipesdfa.snn.readout import MeanRate, VoteReadout

__all__ = ["from_nir", "NIRNetwork", "import_threshold"]


def import_threshold(thr: float) -> float:
    """The smallest float32 above ``thr``: our ``H >= it`` is NIR's ``v > thr`` for float32 ``v``."""
    return float(np.nextafter(np.float32(thr), np.float32(np.inf), dtype=np.float32))


class NIRNetwork(BlockNetwork):
    """Blocks and a readout read from a NIR graph; ``forward(x [T, B, ...]) -> rates [B, C]``."""

    def __init__(self, blocks: list[nn.Module], readout: nn.Module, num_classes: int, input_shape: tuple[int, ...],
                 T: int | None, dt: float, metadata: dict[str, Any]) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self.head = readout
        self.num_classes = num_classes
        self.input_shape = input_shape
        self.T = T
        self.dt = dt
        self.metadata = metadata

    def readout(self, s_out: torch.Tensor) -> torch.Tensor:
        return self.head(s_out)

    @property
    def vote(self) -> nn.Module:  # what the NIR exporter reads as the readout
        return self.head



def _scalar(node, field: str, name: str) -> float:
    v = np.asarray(getattr(node, field), dtype=np.float64)
    if v.size == 0 or not np.all(v == v.flat[0]):
        raise UserError(f"NIR import: node {name!r} has per-neuron {field} values; only uniform parameters map "
                        "onto our neurons")
    return float(v.flat[0])


def _chain(graph) -> list[str]:
    nxt: dict[str, list[str]] = {}
    for a, b in graph.edges:
        nxt.setdefault(a, []).append(b)
    inputs = [k for k, n in graph.nodes.items() if type(n).__name__ == "Input"]
    if len(inputs) != 1:
        raise UserError(f"NIR import: expected one Input node, found {len(inputs)}")
    order = [inputs[0]]
    while order[-1] in nxt:
        succ = nxt[order[-1]]
        if len(succ) != 1:
            raise UserError(f"NIR import: node {order[-1]!r} has {len(succ)} successors; only chains are supported")
        order.append(succ[0])
        if len(order) > len(graph.nodes):
            raise UserError("NIR import: the graph has a cycle (recurrent graphs are not supported)")
    return order


def _neuron(node, name: str, dt: float, surrogate: str) -> tuple[NeuronParams, float]:
    """``(params, weight scale)`` of a LIF or IF node."""
    kind = type(node).__name__
    thr = import_threshold(_scalar(node, "v_threshold", name))
    v_reset = _scalar(node, "v_reset", name)
    if kind == "IF":
        return NeuronParams("if", 2.0, thr, v_reset, surrogate=surrogate), _scalar(node, "r", name) * dt
    tau = _scalar(node, "tau", name) / dt
    r = _scalar(node, "r", name)
    if _scalar(node, "v_leak", name) != v_reset:
        raise UserError(f"NIR import: node {name!r} has v_leak != v_reset; our LIF leaks towards v_reset")
    if tau < 1:
        raise UserError(f"NIR import: node {name!r} has tau/dt = {tau} < 1 (time steps)")
    if r == 1.0:
        return NeuronParams("lif", tau, thr, v_reset, surrogate=surrogate), 1.0
    if r == tau:
        return NeuronParams("lif", tau, thr, v_reset, decay_input=False, surrogate=surrogate), 1.0
    return NeuronParams("lif", tau, thr, v_reset, surrogate=surrogate), r


def _op(node, name: str) -> nn.Module:
    kind = type(node).__name__
    w = torch.from_numpy(np.asarray(node.weight, dtype=np.float32).copy())
    bias = getattr(node, "bias", None)
    b = None if bias is None else torch.from_numpy(np.asarray(bias, dtype=np.float32).copy())
    if b is not None and not bool(b.any()):
        b = None  # an all-zero bias: a bias-free op (the fast path's kind)
    if kind in ("Linear", "Affine"):
        op: nn.Module = nn.Linear(w.shape[1], w.shape[0], bias=b is not None)
    else:
        pad = node.padding
        pad = pad if isinstance(pad, str) else tuple(int(v) for v in np.atleast_1d(pad)) * (2 if np.size(pad) == 1 else 1)
        op = nn.Conv2d(w.shape[1] * int(node.groups), w.shape[0], tuple(w.shape[2:]),
                       stride=tuple(int(v) for v in np.atleast_1d(node.stride)) * (2 if np.size(node.stride) == 1 else 1),
                       padding=pad, dilation=tuple(int(v) for v in np.atleast_1d(node.dilation)) * (2 if np.size(node.dilation) == 1 else 1),
                       groups=int(node.groups), bias=b is not None)
    with torch.no_grad():
        op.weight.copy_(w)
        if b is not None:
            op.bias.copy_(b)
    return op


def from_nir(graph, *, dt: float | None = None, surrogate: str = "atan", backend: str = "auto") -> NIRNetwork:
    """A trainable :class:`NIRNetwork` from ``graph`` (a ``nir.NIRGraph`` or a ``.nir`` path)."""
    import nir

    if isinstance(graph, (str, os.PathLike)):
        try:
            graph = nir.read(graph)
        except (OSError, KeyError, ValueError) as exc:
            raise UserError(f"{graph}: not a readable NIR file ({type(exc).__name__}: {exc})") from None
    meta = dict(graph.metadata or {})
    dt = float(meta.get("dt", 1.0) if dt is None else dt)
    order = _chain(graph)
    nodes = [(name, graph.nodes[name]) for name in order]
    input_shape = tuple(int(v) for v in np.asarray(nodes[0][1].input_type["input"]))
    blocks: list[nn.Module] = []
    readout: nn.Module | None = None
    i = 1
    while i < len(nodes):
        name, node = nodes[i]
        kind = type(node).__name__
        if kind in ("Flatten", "Output"):
            i += 1
            continue
        if kind not in ("Linear", "Affine", "Conv2d"):
            raise UserError(f"NIR import: node {name!r} ({kind}) is not supported here; expected Linear, Affine or "
                            "Conv2d before each neuron")
        op = _op(node, name)
        if i + 1 >= len(nodes) or type(nodes[i + 1][1]).__name__ not in ("LIF", "IF"):
            if not isinstance(op, nn.Linear) or any(type(n).__name__ != "Output" for _, n in nodes[i + 1:]):
                raise UserError(f"NIR import: node {name!r} is not followed by a LIF or IF neuron")
            readout = _readout(op, meta)
            break
        params, scale = _neuron(nodes[i + 1][1], nodes[i + 1][0], dt, surrogate)
        if scale != 1.0:
            with torch.no_grad():
                op.weight.mul_(scale)
                if op.bias is not None:
                    op.bias.mul_(scale)
        pool = None
        i += 2
        if i < len(nodes) and type(nodes[i][1]).__name__ in ("SumPool2d", "AvgPool2d"):
            pool, i = _pool(nodes, i), i + 2
        blocks.append(SpikingBlock(op, SpikingNeuron(params, backend=backend), pool=pool))
    if not blocks:
        raise UserError("NIR import: the graph has no neuron layer")
    if readout is None:
        readout = MeanRate()
    num_classes = int(meta.get("num_classes", 0)) or _width(blocks[-1], readout)
    T = meta.get("T")
    return NIRNetwork(blocks, readout, num_classes, input_shape, int(T) if T is not None else None, dt, meta)


def _pool(nodes, i: int) -> int:
    name, node = nodes[i]
    k = np.atleast_1d(node.kernel_size)
    s = np.atleast_1d(node.stride)
    p = np.atleast_1d(node.padding)
    thr = nodes[i + 1][1] if i + 1 < len(nodes) else None
    if (type(node).__name__ != "SumPool2d" or len(set(k.tolist())) != 1 or not np.array_equal(k, s) or p.any()
            or type(thr).__name__ != "Threshold" or not 0 <= _scalar(thr, "threshold", nodes[i + 1][0]) < 1):
        raise UserError(f"NIR import: pooling node {name!r} is supported only as SumPool2d(k, stride k, no padding) "
                        "followed by Threshold in [0, 1) (the max-pool of 0/1 spikes)")
    return int(k[0])


def _readout(op: nn.Linear, meta: dict) -> nn.Module:
    w = op.weight.detach()
    vote = int(meta.get("vote", 1))
    C = w.shape[0]
    if op.bias is None and vote > 1 and w.shape[1] == C * vote:
        want = torch.kron(torch.eye(C), torch.full((1, vote), 1.0 / vote))
        if torch.equal(w, want):
            return VoteReadout(C, vote)
    return nn.Sequential(MeanRate(), op)  # the mean over time commutes with a linear map


def _width(block: SpikingBlock, readout: nn.Module) -> int:
    if isinstance(readout, VoteReadout):
        return readout.num_classes
    if isinstance(readout, nn.Sequential):
        return int(readout[1].out_features)
    return int(block.weight_op.out_features) if isinstance(block.weight_op, nn.Linear) else 0
