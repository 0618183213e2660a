"""Export a trained network as a NIR graph (the Neuromorphic Intermediate Representation).

``to_nir(net, T, dt=1.0)`` turns a network of :class:`~pipesdfa.snn.blocks.SpikingBlock`s into a
chain of NIR nodes (``nir.write(path, graph)`` saves it; ``pipesdfa export`` does both):

========================  =====================================================================
our block part             NIR node(s)
========================  =====================================================================
dense op ``W``             ``Linear(W)`` (``Affine(W, b)`` with a bias); a ``Flatten`` before the
                           first dense block after a conv block
conv op + BN (eval)        ``Conv2d`` with BN folded in: ``W' = W gamma/sigma``,
                           ``b = beta - mu gamma/sigma`` (running statistics, ``sigma = sqrt(var + eps)``)
LIF                        ``LIF(tau = tau_steps dt, r, v_leak = V_reset, v_threshold, v_reset)``,
                           ``r = 1`` (``decay_input=True``) or ``tau_steps`` (``decay_input=False``)
IF                         ``IF(r = 1/dt, v_threshold, v_reset)``
max-pool k (0/1 spikes)    ``SumPool2d(k, k)`` then ``Threshold(1/2)``: the max of 0/1 values is 1
                           exactly when their sum is at least 1
vote readout               ``Linear`` of ``1/vote`` entries (rates: the mean over time of its output)
========================  =====================================================================

The NIR neurons follow ``tau dv/dt = (v_leak - v) + r I`` (LIF) and ``dv/dt = r I`` (IF); one
forward-Euler step of ``dt`` is exactly our step (``H = V + (X - (V - V_reset)) / tau_steps``).
Limits, stated: NIR fires when ``v > v_threshold``, we fire when ``H >= V_th``: the exported
threshold is the largest float32 below ``V_th``, so that ``v > v_threshold`` and ``v >= V_th``
agree for every float32 ``v`` (:func:`pipesdfa.interop.nir_import.from_nir` maps it back); NIR
resets to ``v_reset``, so a soft reset (subtract the threshold) has no node and is refused; our
neurons start at ``V_reset`` and NIR tools at 0, the same when ``v_reset = 0`` (the zoo's
default). Metadata: ``T``, ``dt``, the readout and the number of classes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from pipesdfa.snn.blocks import SpikingBlock
from pipesdfa.util.errors import UserError
from pipesdfa.learning.local.pooling import pool_window
from pipesdfa.snn.readout import MeanRate, VoteReadout

__all__ = ["to_nir", "export_threshold", "fold_batchnorm"]


def export_threshold(v_th: float) -> np.ndarray:
    """The largest float32 below ``v_th``: ``v > it`` iff ``v >= v_th`` for float32 ``v``."""
    return np.nextafter(np.float32(v_th), np.float32(-np.inf), dtype=np.float32)


def fold_batchnorm(conv: nn.Conv2d, bn: nn.BatchNorm2d | None) -> tuple[np.ndarray, np.ndarray]:
    """``(W', b)`` of ``bn(conv(x))`` with eval-mode statistics, as float32 arrays."""
    w = conv.weight.detach().double()
    b = conv.bias.detach().double() if conv.bias is not None else torch.zeros(w.shape[0], dtype=torch.float64)
    if bn is not None:
        if bn.running_var is None:
            raise UserError("NIR export: batch-norm without running statistics cannot be folded")
        scale = (bn.weight.detach().double() if bn.affine else 1.0) / torch.sqrt(bn.running_var.double() + bn.eps)
        shift = bn.bias.detach().double() if bn.affine else 0.0
        w = w * scale[:, None, None, None]
        b = (b - bn.running_mean.double()) * scale + shift
    return w.float().numpy(), b.float().numpy()


def _neuron_node(nir, neuron: nn.Module, shape: tuple[int, ...], dt: float, index: int):
    p = getattr(neuron, "params", None)
    if p is None:
        raise UserError(f"NIR export: block {index}'s neuron ({type(neuron).__name__}) is not a pipesdfa neuron")
    if p.v_reset is None:
        raise UserError(f"NIR export: block {index} resets by subtraction (v_reset=None); NIR's LIF and IF "
                        "reset to v_reset, so a soft reset has no NIR node")
    full = lambda v: np.full(shape, v, dtype=np.float32)  # noqa: E731
    thr, reset = np.full(shape, export_threshold(p.v_threshold), dtype=np.float32), full(p.v_reset)
    if p.kind == "if":
        return nir.IF(r=full(1.0 / dt), v_threshold=thr, v_reset=reset)
    r = 1.0 if p.decay_input else p.tau
    return nir.LIF(tau=full(p.tau * dt), r=full(r), v_leak=full(p.v_rest), v_threshold=thr, v_reset=reset)


def to_nir(net: nn.Module, T: int, dt: float = 1.0, input_shape: tuple[int, ...] | None = None,
           metadata: dict[str, Any] | None = None):
    """``net`` (``blocks``, ``readout`` and ``input_shape``/``spec``) as a ``nir.NIRGraph`` (see
    the module docstring). Batch-norm is folded with its running statistics (eval mode)."""
    import nir

    blocks = list(net.blocks)
    if input_shape is None:
        spec = getattr(net, "spec", None)
        input_shape = tuple(getattr(net, "input_shape", None) or (spec.input_shape if spec is not None else ()))
    if not input_shape:
        raise UserError("NIR export: give input_shape (one time step of one sample)")
    nodes: dict[str, Any] = {"input": nir.Input(input_type=np.array(input_shape))}
    order = ["input"]
    shape = tuple(int(d) for d in input_shape)

    def add(name: str, node) -> None:
        nodes[name] = node
        order.append(name)

    with torch.no_grad():
        for i, blk in enumerate(blocks):
            if not isinstance(blk, SpikingBlock):
                raise UserError(f"NIR export: block {i} ({type(blk).__name__}) is not a SpikingBlock")
            op = blk.weight_op
            if blk.kind == "dense":
                if len(shape) > 1:
                    add(f"flatten{i}", nir.Flatten(input_type={"input": np.array(shape)}, start_dim=0, end_dim=-1))
                    shape = (int(np.prod(shape)),)
                w = op.weight.detach().float().numpy()
                add(f"fc{i}", nir.Linear(weight=w) if op.bias is None else
                    nir.Affine(weight=w, bias=op.bias.detach().float().numpy()))
                shape = (w.shape[0],)
            else:
                if blk.bn is not None and blk.bn.training:
                    raise UserError("NIR export: put the network in eval mode (batch-norm is folded with its "
                                    "running statistics)")
                w, b = fold_batchnorm(op, blk.bn)
                pad = op.padding if isinstance(op.padding, str) else tuple(int(v) for v in op.padding)
                conv = nir.Conv2d(input_shape=tuple(shape[1:]), weight=w, stride=tuple(op.stride), padding=pad,
                                  dilation=tuple(op.dilation), groups=op.groups, bias=b)
                add(f"conv{i}", conv)
                shape = tuple(int(v) for v in conv.output_type["output"])
            add(f"{getattr(blk.neuron, 'params').kind if hasattr(blk.neuron, 'params') else 'neuron'}{i}",
                _neuron_node(nir, blk.neuron, shape, dt, i))
            if blk.pool is not None:
                k = pool_window(blk.pool)
                if k is None:
                    raise UserError(f"NIR export: block {i}'s pooling has no exact NIR form (non-overlapping "
                                    "square max-pool only)")
                add(f"pool{i}", nir.SumPool2d(kernel_size=np.array([k, k]), stride=np.array([k, k]),
                                              padding=np.array([0, 0])))
                shape = (shape[0], shape[1] // k, shape[2] // k)
                add(f"pool{i}_threshold", nir.Threshold(threshold=np.full(shape, 0.5, dtype=np.float32)))
    readout = net.readout
    readout = getattr(net, "vote", readout) if not isinstance(readout, nn.Module) else readout
    num_classes = int(getattr(net, "num_classes", shape[0]))
    vote = readout.vote if isinstance(readout, VoteReadout) else 1
    if isinstance(readout, VoteReadout) and vote > 1:
        w = np.kron(np.eye(num_classes, dtype=np.float32), np.full((1, vote), 1.0 / vote, dtype=np.float32))
        add("readout", nir.Linear(weight=w))
        how = "mean over time of node 'readout' (the vote average of the output spikes)"
    elif isinstance(readout, (VoteReadout, MeanRate)) or not isinstance(readout, nn.Module):
        how = f"mean over time of the output spikes of node {order[-1]!r}"
    else:
        raise UserError(f"NIR export: readout {type(readout).__name__} has no NIR form (mean rate or vote only)")
    nodes["output"] = nir.Output(output_type=np.array((num_classes,) if vote > 1 else shape))
    order.append("output")
    meta = {"producer": "pipesdfa", "T": int(T), "dt": float(dt), "num_classes": num_classes, "vote": int(vote),
            "readout": how, "threshold": "v > v_threshold (the float32 below our V_th: the same spikes as H >= V_th)",
            **(metadata or {})}
    return nir.NIRGraph(nodes=nodes, edges=list(zip(order[:-1], order[1:])), metadata=meta)
