"""Trainer: metrics format, determinism, checkpoint/resume bit-identity, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from pipesdfa.util.errors import UserError
from pipesdfa.training.loop import TrainConfig, config_from_workload, load_checkpoint, train
from pipesdfa.training.config import flat_view


def small(tmp_path, name="run", **kw) -> TrainConfig:
    base = dict(method="sdfa", epochs=2, T=4, batch=64, max_train=256, max_test=128, hidden=(64, 64),
                out=str(tmp_path / name))
    base.update(kw)
    return config_from_workload("digits-mlp", **base)


def test_metrics_json_has_the_documented_shape(tmp_path):
    m = train(small(tmp_path), progress=False, log=None)
    on_disk = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert on_disk["final"] == json.loads(json.dumps(m["final"]))
    assert set(on_disk) >= {"config", "epochs", "final"}
    assert [e["epoch"] for e in on_disk["epochs"]] == [1, 2]
    for e in on_disk["epochs"]:
        assert set(e) >= {"epoch", "train_loss", "train_acc", "test_loss", "test_acc", "seconds"}
    assert 0.0 <= on_disk["final"]["test_acc"] <= 1.0
    assert len(on_disk["final"]["alignment"]) == 2
    act = on_disk["activity"]
    assert 0 < act["input_rate"] <= 1 and len(act["layers"]) == 3
    assert (tmp_path / "run" / "learning_curve.png").stat().st_size > 1000
    assert not [p for p in (tmp_path / "run").iterdir() if p.name.endswith(".tmp")]
    best = max(on_disk["epochs"], key=lambda e: e["test_acc"])
    assert on_disk["final"]["best_test_acc"] == best["test_acc"] and on_disk["final"]["best_epoch"] == best["epoch"]
    assert on_disk["rule"]["variant"] == "authors" and flat_view(on_disk["config"])["sdfa_variant"] == "authors"


def test_best_epoch_by_hand():
    from pipesdfa.training.loop import best_epoch

    hist = [{"epoch": 1, "test_acc": 0.5}, {"epoch": 2, "test_acc": 0.7}, {"epoch": 3, "test_acc": 0.7},
            {"epoch": 4, "test_acc": 0.6}]
    assert best_epoch(hist) == {"best_test_acc": 0.7, "best_epoch": 2}  # the first epoch that reached it
    assert best_epoch([]) == {"best_test_acc": None, "best_epoch": None}


def test_drop_last_trains_whole_batches_only(tmp_path):
    # 100 training samples in batches of 64: the last batch (36) is left out with drop_last
    full = train(small(tmp_path, "full", epochs=1, max_train=100), progress=False, log=None)
    cut = train(small(tmp_path, "cut", epochs=1, max_train=100, drop_last=True), progress=False, log=None)
    assert flat_view(full["config"])["drop_last"] is False and flat_view(cut["config"])["drop_last"] is True
    steps = [float(load_checkpoint(tmp_path / n)["optimizer"]["state"][0]["step"]) for n in ("full", "cut")]
    assert steps == [2.0, 1.0]  # Adam's step count: ceil(100 / 64) batches, then floor
    assert cut["dataset"]["train"] == full["dataset"]["train"] == 90  # 10 of the 100 held out for validation


def test_same_seed_repeats_exactly(tmp_path):
    a = train(small(tmp_path, "a", epochs=1), progress=False, log=None)
    b = train(small(tmp_path, "b", epochs=1), progress=False, log=None)
    assert a["epochs"][0]["train_loss"] == b["epochs"][0]["train_loss"]
    assert a["final"]["test_acc"] == b["final"]["test_acc"]


@pytest.mark.parametrize("method", ["bptt", "sdfa"])
def test_resume_is_bit_identical(tmp_path, method):
    straight = train(small(tmp_path, "straight", method=method, epochs=3), progress=False, log=None)
    # the same run interrupted after epoch 1, then resumed from its checkpoint
    partial = small(tmp_path, "partial", method=method, epochs=3)
    run_one_epoch_then_stop(partial)
    resumed = train(resume=tmp_path / "partial", progress=False, log=None)
    assert len(resumed["epochs"]) == 3
    keys = ("train_loss", "train_acc", "test_loss", "test_acc")
    for e1, e2 in zip(straight["epochs"], resumed["epochs"]):
        assert [e1[k] for k in keys] == [e2[k] for k in keys]
    s1 = load_checkpoint(tmp_path / "straight")["model"]
    s2 = load_checkpoint(tmp_path / "partial")["model"]
    assert all(torch.equal(s1[k], s2[k]) for k in s1)


def test_resumed_composed_mlp_keeps_its_aligned_feedback(tmp_path):
    """A composed MLP's aligned ``B`` comes from the weights its run started with: a resumed run
    restores it from the checkpoint (not from the weights it resumes with), records it as
    aligned and repeats the uninterrupted run exactly."""
    def cfg(name):
        return TrainConfig.from_flat(dataset="digits", model="mlp", method="sdfa", hidden=(32, 16), epochs=3, T=4,
                                     batch=64, max_train=256, max_test=64, out=str(tmp_path / name))

    straight = train(cfg("straight"), progress=False, log=None)
    run_one_epoch_then_stop(cfg("partial"))
    resumed = train(resume=tmp_path / "partial", progress=False, log=None)
    assert straight["rule"]["distribution"] == resumed["rule"]["distribution"] == "aligned"
    keys = ("train_loss", "train_acc", "test_loss", "test_acc")
    assert [[e[k] for k in keys] for e in straight["epochs"]] == [[e[k] for k in keys] for e in resumed["epochs"]]
    r1, r2 = (load_checkpoint(tmp_path / n)["rule"] for n in ("straight", "partial"))
    assert {k for k in r1 if k.startswith("feedback.B_")} == {"feedback.B_0", "feedback.B_1"}
    assert all(torch.equal(r1[k], r2[k]) for k in r1)


def run_one_epoch_then_stop(cfg: TrainConfig) -> None:
    """Simulate an interruption after epoch 1 of a 3-epoch run."""
    import pipesdfa.training.loop as tr

    calls = {"n": 0}
    real = tr.save_checkpoint

    def save_then_interrupt(*a, **k):
        real(*a, **k)
        calls["n"] += 1
        raise KeyboardInterrupt

    tr.save_checkpoint = save_then_interrupt
    try:
        with pytest.raises(KeyboardInterrupt):
            train(cfg, progress=False, log=None)
    finally:
        tr.save_checkpoint = real
    assert calls["n"] == 1 and load_checkpoint(cfg.runtime.out)["epoch"] == 1


def test_bad_config_values_rejected(tmp_path):
    for field, value in [("T", 0), ("epochs", -1), ("batch", 0)]:
        with pytest.raises(UserError, match=field):
            small(tmp_path, **{field: value}).validate()
    with pytest.raises(UserError, match="SDFA option"):
        small(tmp_path, method="bptt", temporal="local").validate()


def test_missing_and_corrupt_checkpoints(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint at all")
    with pytest.raises(UserError, match="corrupt"):
        load_checkpoint(bad)
    torch.save({"version": 1, "config": {}}, tmp_path / "partial.pt")
    with pytest.raises(UserError, match="'epoch' missing"):
        load_checkpoint(tmp_path / "partial.pt")


class _Payload:
    """A pickle that calls a function when unpickled (here: writes a marker file)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (Path.write_text, (Path(self.marker), "ran"))


def test_a_checkpoint_cannot_run_code_when_loaded(tmp_path):
    """load_checkpoint uses torch's restricted unpickler: tensors and plain containers only, so a
    checkpoint from someone else cannot run code (the plain unpickler would call the payload)."""
    marker = tmp_path / "marker"
    torch.save({"version": 2, "config": {}, "epoch": 0, "model": {"w": torch.zeros(1)}, "evil": _Payload(marker)},
               tmp_path / "evil.pt")
    with pytest.raises(UserError, match="corrupt or not a pipesdfa checkpoint"):
        load_checkpoint(tmp_path / "evil.pt")
    assert not marker.exists()
    torch.load(tmp_path / "evil.pt", weights_only=False)  # the test's own check that the payload is live
    assert marker.read_text() == "ran"


@pytest.mark.parametrize("name", ["adam", "sgd"])
def test_make_optimizer_fused_step_matches_plain(name):
    """The trainer's optimiser is PyTorch's fused kernel on CPU and takes the same step as
    the plain implementation (up to rounding)."""
    from pipesdfa.training.loop import make_optimizer

    torch.manual_seed(0)
    w = torch.nn.Parameter(torch.randn(30, 20))
    w_ref = torch.nn.Parameter(w.detach().clone())
    opt = make_optimizer(name, [w], lr=1e-2, weight_decay=1e-3)
    assert opt.defaults.get("fused") is True
    ref = (torch.optim.Adam([w_ref], lr=1e-2, weight_decay=1e-3) if name == "adam"
           else torch.optim.SGD([w_ref], lr=1e-2, momentum=0.9, weight_decay=1e-3))
    for _ in range(3):
        g = torch.randn(30, 20)
        w.grad, w_ref.grad = g.clone(), g.clone()
        opt.step()
        ref.step()
    torch.testing.assert_close(w.detach(), w_ref.detach(), rtol=1e-5, atol=1e-6)
    with pytest.raises(UserError, match="optimizer 'lamb' unknown"):
        make_optimizer("lamb", [w], lr=1e-2)
