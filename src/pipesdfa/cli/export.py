"""``pipesdfa export``: write a trained network as a NIR graph."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("export", help="write a trained network as a NIR graph (.nir)",
                       description="Write the network of a checkpoint written by `pipesdfa train` as a NIR graph "
                                   "(Neuromorphic Intermediate Representation, HDF5): dense and conv layers (batch-norm "
                                   "folded), LIF/IF neurons, pooling, the readout, T and dt in the metadata. "
                                   "See docs/api.md for the parameter mapping and its limits.")
    p.add_argument("--checkpoint", required=True, metavar="RUN", help="checkpoint file or run folder")
    p.add_argument("--out", required=True, metavar="FILE.nir", help="where to write the graph")
    p.add_argument("--dt", type=float, default=1.0, help="seconds (or any unit) per time step (default 1)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import nir

    from pipesdfa.util.atomic import atomic_write_with, ensure_writable_dir
    from pipesdfa.training.checkpoint import load_checkpoint, model_from_checkpoint
    from pipesdfa.util.errors import UserError
    from pipesdfa.interop.nir_export import to_nir

    if not args.dt > 0:
        raise UserError(f"--dt must be > 0, got {args.dt}")
    state = load_checkpoint(args.checkpoint)
    net = model_from_checkpoint(state)
    graph = to_nir(net.eval(), T=int(state["config"]["data"]["T"]), dt=args.dt,
                   metadata={"checkpoint": str(state["path"]), "epoch": int(state["epoch"])})
    out = Path(args.out)
    ensure_writable_dir(out.parent if str(out.parent) else ".")
    atomic_write_with(out, lambda tmp: nir.write(tmp, graph))
    print(f"wrote {out} ({len(graph.nodes)} nodes, T={state['config']['data']['T']}, dt={args.dt})")
    return 0
