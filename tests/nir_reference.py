"""Our own small reference executor of NIR graphs (chains of the node types pipesdfa exports).

Semantics, per time step of ``dt`` (the graph's metadata, default 1), batch first:

* ``Linear``: ``y = W x``; ``Affine``: ``y = W x + b``; ``Conv2d``: the convolution with its
  stride, padding, dilation, groups and bias; ``Flatten``: all sample dimensions into one;
* ``LIF``: forward Euler of ``tau dv/dt = (v_leak - v) + r I``, i.e.
  ``v <- v + (r I - (v - v_leak)) / (tau / dt)``; ``IF``: ``v <- v + (r dt) I``; then
  ``z = [v > v_threshold]`` and ``v <- v_reset`` where ``z``; ``v`` starts at 0;
* ``SumPool2d``: window sums; ``Threshold``: ``[x > threshold]``; ``Input``/``Output``: identity.

Written from the NIR node definitions, independently of pipesdfa's modules.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def _t(a) -> torch.Tensor:
    return torch.from_numpy(np.asarray(a, dtype=np.float32).copy())


def chain(graph) -> list[str]:
    nxt = dict(graph.edges)
    name = next(k for k, n in graph.nodes.items() if type(n).__name__ == "Input")
    order = [name]
    while order[-1] in nxt:
        order.append(nxt[order[-1]])
    return order


def run(graph, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Every node's output over time: ``{name: [T, B, ...]}`` for input ``x [T, B, ...]``."""
    dt = float((graph.metadata or {}).get("dt", 1.0))
    order = chain(graph)
    state: dict[str, torch.Tensor] = {}
    outs: dict[str, list[torch.Tensor]] = {n: [] for n in order}
    for t in range(x.shape[0]):
        val = x[t]
        for name in order:
            node = graph.nodes[name]
            kind = type(node).__name__
            if kind == "Linear":
                val = val @ _t(node.weight).t()
            elif kind == "Affine":
                val = val @ _t(node.weight).t() + _t(node.bias)
            elif kind == "Conv2d":
                pad = node.padding if isinstance(node.padding, str) else tuple(int(v) for v in np.atleast_1d(node.padding))
                val = F.conv2d(val, _t(node.weight), _t(node.bias), tuple(np.atleast_1d(node.stride).tolist()), pad,
                               tuple(np.atleast_1d(node.dilation).tolist()), int(node.groups))
            elif kind == "Flatten":
                val = val.reshape(val.shape[0], -1)
            elif kind in ("LIF", "IF"):
                v = state.get(name, torch.zeros_like(val))
                if kind == "LIF":
                    v = v + (_t(node.r) * val - (v - _t(node.v_leak))) / (_t(node.tau) / dt)
                else:
                    v = v + val * (_t(node.r) * dt)
                z = v > _t(node.v_threshold)
                state[name] = torch.where(z, _t(node.v_reset).expand_as(v), v)
                val = z.to(torch.float32)
            elif kind == "SumPool2d":
                k = tuple(np.atleast_1d(node.kernel_size).tolist())
                s = tuple(np.atleast_1d(node.stride).tolist())
                val = F.avg_pool2d(val, k, s, divisor_override=1)
            elif kind == "Threshold":
                val = (val > _t(node.threshold)).to(torch.float32)
            elif kind not in ("Input", "Output"):
                raise NotImplementedError(kind)
            outs[name].append(val)
    return {n: torch.stack(v) for n, v in outs.items()}
