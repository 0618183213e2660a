"""``pipesdfa eval``: evaluate a checkpoint on its dataset's test split."""

from __future__ import annotations

import argparse
import json


def register(sub) -> None:
    p = sub.add_parser("eval", help="evaluate a checkpoint on the test split",
                       description="Load a checkpoint written by `pipesdfa train` and report test loss, accuracy, "
                                   "spike activity and NeuroBench-style operation counts (\"ops\") as JSON.")
    p.add_argument("--checkpoint", required=True, help="checkpoint file or run folder")
    p.add_argument("--data-dir", help="override the dataset root saved in the checkpoint")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pipesdfa.training.loop import TrainConfig, build_run, evaluate, load_checkpoint, make_loss, restore

    state = load_checkpoint(args.checkpoint)
    cfg = TrainConfig.from_dict(state["config"])
    if args.data_dir:
        cfg.data.dir = args.data_dir
    run_ = build_run(cfg)
    restore(run_, state)
    ev = evaluate(run_.model, run_.data.test, make_loss(cfg.optim.loss), max(cfg.optim.batch, 64), run_.device, rule=run_.rule)
    print(json.dumps({"checkpoint": state["path"], "epoch": state["epoch"], "test_loss": ev["loss"],
                      "test_acc": ev["acc"], "activity": ev["activity"], "ops": ev["ops"]}, indent=2))
    return 0
