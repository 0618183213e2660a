"""The stratified, seeded validation split (data/splits.py) and the epoch chosen on it (training/selection.py)."""

from __future__ import annotations

import pytest
import torch

from pipesdfa.data.bundle import DatasetBundle, FrameTensorDataset
from pipesdfa.data.splits import stratified_split, with_validation
from pipesdfa.training.selection import select_epoch
from pipesdfa.util.errors import UserError


def test_split_by_hand():
    labels = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 2]  # 10 of class 0, 5 of class 1, 1 of class 2
    train, val = stratified_split(labels, 0.2, seed=3)
    assert sorted(train + val) == list(range(16)) and not set(train) & set(val)
    got = [labels[i] for i in val]
    assert got.count(0) == 2 and got.count(1) == 1 and got.count(2) == 0  # round(2.0), round(1.0); a lone sample stays
    assert val == sorted(val) and train == sorted(train)
    assert stratified_split(labels, 0.2, seed=3) == (train, val)  # seeded
    assert stratified_split(labels, 0.2, seed=4)[1] != val
    assert stratified_split(labels, 0.0, seed=3) == (list(range(16)), [])
    with pytest.raises(UserError, match="validation fraction must be in \\[0, 1\\)"):
        stratified_split(labels, 1.0, 0)


def test_with_validation_keeps_memory_datasets_and_records_the_split():
    frames = torch.arange(40, dtype=torch.float32).reshape(20, 1, 2)
    labels = torch.tensor([0, 1] * 10)
    ds = FrameTensorDataset(frames, labels)
    b = with_validation(DatasetBundle("t", ds, ds, (2,), 2, ["a", "b"]), 0.1, seed=0)
    assert isinstance(b.train, FrameTensorDataset) and isinstance(b.val, FrameTensorDataset)
    assert len(b.train) == 18 and len(b.val) == 2 and b.val.labels.tolist() in ([0, 1], [1, 0])
    v = b.meta["validation"]
    assert v["train"] == 18 and v["val"] == 2 and v["val_per_class"] == [1, 1] and v["seed"] == 0
    assert len(v["val_indices_sha1"]) == 40
    assert set(b.train.frames[:, 0, 0].tolist()).isdisjoint(b.val.frames[:, 0, 0].tolist())
    none = with_validation(DatasetBundle("t", ds, ds, (2,), 2, ["a", "b"]), 0.0, seed=0)
    assert none.val is None and len(none.train) == 20


def test_the_epoch_is_chosen_on_validation_not_test():
    h = [{"epoch": 1, "val_acc": 0.5, "test_acc": 0.9, "test_correct": "1"},
         {"epoch": 2, "val_acc": 0.7, "test_acc": 0.6, "test_correct": "0"},
         {"epoch": 3, "val_acc": 0.7, "test_acc": 0.8, "test_correct": "1"}]
    s = select_epoch(h)
    assert s == {"selected_epoch": 2, "selected_val_acc": 0.7, "selected_test_acc": 0.6, "selected_test_correct": "0"}
    assert select_epoch([{"epoch": 1, "val_acc": None, "test_acc": 0.3}])["selected_epoch"] is None


def test_a_run_records_its_split_and_selected_epoch(tmp_path):
    from pipesdfa.training.config import TrainConfig
    from pipesdfa.training.loop import train

    m = train(TrainConfig.from_flat(dataset="digits", model="mlp", hidden=(16,), epochs=2, T=2, max_train=200, max_test=50,
                          threads=1, out=str(tmp_path / "r")), log=None, progress=False)
    assert m["dataset"]["train"] + m["dataset"]["val"] == 200 and m["dataset"]["val"] == 20
    assert m["dataset"]["validation"]["stratified"] is True
    f = m["final"]
    assert f["selected_epoch"] in (1, 2) and len(f["test_correct"]) == 50
    assert f["test_acc"] == pytest.approx(f["test_correct"].count("1") / 50)
    assert all("val_acc" in e and "test_correct" not in e for e in m["epochs"])


# ------------------------------------------------------------------------------- k-fold

def test_kfold_by_hand():
    """Two classes of 3 and 2, 2 folds: class 0 deals its permutation to folds 0,1,0 and class 1
    (starting where class 0 stopped) to folds 1,0."""
    from pipesdfa.data.splits import kfold_split

    labels = [0, 0, 0, 1, 1]
    g = lambda c: torch.randperm(3 if c == 0 else 2, generator=torch.Generator().manual_seed(c)).tolist()  # noqa: E731
    p0, p1 = g(0), [3 + i for i in g(1)]
    want0 = sorted([p0[0], p0[2], p1[1]])
    rest, held = kfold_split(labels, 2, 0)
    assert held == want0 and rest == sorted(set(range(5)) - set(want0))


@pytest.mark.parametrize("folds", [2, 3, 11])
def test_kfold_partitions_and_balances(folds):
    from pipesdfa.data.splits import kfold_split

    g = torch.Generator().manual_seed(folds)
    labels = torch.randint(0, 10, (1100,), generator=g).tolist()
    parts = [kfold_split(labels, folds, f, seed=1) for f in range(folds)]
    held = [set(h) for _, h in parts]
    assert set().union(*held) == set(range(1100)) and sum(len(h) for h in held) == 1100
    assert max(len(h) for h in held) - min(len(h) for h in held) <= 1
    for rest, h in parts:
        assert not set(rest) & set(h) and len(rest) + len(h) == 1100
    for c in range(10):  # every class spread over the folds within one sample
        per = [sum(1 for i in h if labels[i] == c) for h in held]
        assert max(per) - min(per) <= 1


def test_kfold_refuses_bad_folds():
    from pipesdfa.data.splits import kfold_split

    with pytest.raises(UserError, match="folds must be"):
        kfold_split([0, 1], 1, 0)
    with pytest.raises(UserError, match=r"fold must be an integer in \[0, 3\)"):
        kfold_split([0, 1, 2], 3, 3)
