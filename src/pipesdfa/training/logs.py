"""What a run writes while it runs: ``config.yaml``, ``metrics.json``, ``metrics.csv``, TensorBoard.

* ``config.yaml``: the resolved configuration (:mod:`pipesdfa.training.configfile`), written before the
  first epoch;
* ``metrics.json``: rewritten atomically after every epoch (a running job can be watched; a
  reader never sees half a file), with ``"status"``: ``running``, ``finished`` or ``diverged``;
* ``metrics.csv``: one row per epoch, the fields of ``metrics.json``'s ``epochs`` entries,
  list fields spread over numbered columns (``spike_rate_0``, ``alignment_0``, ...), rewritten
  atomically from the history after every epoch (so it always agrees with the checkpoint);
* ``tensorboard/``: with ``tensorboard=True``, every scalar of every epoch under its field name
  (``train/loss``, ``test/acc``, ``spike_rate/0``, ...), via ``torch.utils.tensorboard``.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from pipesdfa.util.atomic import atomic_write_json, atomic_write_text, atomic_write_with
from pipesdfa.training.configfile import CONFIG_FILE, dump_config
from pipesdfa.util.errors import UserError

__all__ = ["RunLog", "METRICS", "METRICS_CSV", "flatten", "require_tensorboard", "plot_learning_curve"]

METRICS = "metrics.json"
METRICS_CSV = "metrics.csv"


def flatten(rec: dict[str, Any]) -> dict[str, Any]:
    """One epoch entry as flat columns: ``{"spike_rates": [a, b]}`` -> ``spike_rate_0, spike_rate_1``
    (the per-sample ``test_correct`` record stays out: it is ``metrics.json``'s ``final``)."""
    out: dict[str, Any] = {}
    for k, v in rec.items():
        if k == "test_correct":
            continue
        if isinstance(v, list):
            stem = k[:-1] if k.endswith("s") else k
            for i, x in enumerate(v):
                out[f"{stem}_{i}"] = x
        elif not isinstance(v, dict):
            out[k] = v
    return out


def require_tensorboard():
    """``torch.utils.tensorboard.SummaryWriter``, or a :class:`UserError` saying how to get it."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise UserError("--tensorboard needs the tensorboard package: pip install 'pipesdfa[tensorboard]' "
                        "(or pip install tensorboard)") from None
    return SummaryWriter


class RunLog:
    """The run folder's log files (see the module docstring); ``active=False`` on ranks > 0."""

    def __init__(self, out: Path, tensorboard: bool = False, active: bool = True):
        self.out = Path(out)
        self.active = active
        self._tb = None
        if active and tensorboard:
            self._tb = require_tensorboard()(log_dir=str(self.out / "tensorboard"))

    def config(self, resolved: dict[str, Any]) -> None:
        if self.active:
            atomic_write_text(self.out / CONFIG_FILE, dump_config(resolved))

    def epoch(self, history: list[dict[str, Any]], metrics: dict[str, Any]) -> None:
        """After an epoch: metrics.json, metrics.csv and the epoch's scalars."""
        if not self.active:
            return
        atomic_write_json(self.out / METRICS, metrics)
        rows = [flatten(h) for h in history]
        cols: list[str] = []
        for r in rows:
            cols += [c for c in r if c not in cols]
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
        atomic_write_text(self.out / METRICS_CSV, buf.getvalue())
        if self._tb is not None and history:
            last = history[-1]
            step = int(last["epoch"])
            for k, v in flatten(last).items():
                if k != "epoch" and isinstance(v, (int, float)) and not isinstance(v, bool):
                    self._tb.add_scalar(_tb_name(k), v, step)
            self._tb.flush()

    def final(self, metrics: dict[str, Any]) -> None:
        if self.active:
            atomic_write_json(self.out / METRICS, metrics)

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
            self._tb = None


def _tb_name(key: str) -> str:
    for split in ("train", "test"):
        if key.startswith(split + "_"):
            return f"{split}/{key[len(split) + 1:]}"
    head, _, tail = key.rpartition("_")
    return f"{head}/{tail}" if tail.isdigit() else key


def plot_learning_curve(history: list[dict], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ep = [h["epoch"] for h in history]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.4))
    a1.plot(ep, [h["train_loss"] for h in history], "o-", label="train")
    a1.plot(ep, [h["test_loss"] for h in history], "s-", label="test")
    a1.set_xlabel("epoch")
    a1.set_ylabel("loss")
    a1.legend()
    a2.plot(ep, [100 * h["train_acc"] for h in history], "o-", label="train")
    a2.plot(ep, [100 * h["test_acc"] for h in history], "s-", label="test")
    a2.set_xlabel("epoch")
    a2.set_ylabel("accuracy (%)")
    a2.legend()
    fig.suptitle(title)
    fig.tight_layout()
    atomic_write_with(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110))
    plt.close(fig)
