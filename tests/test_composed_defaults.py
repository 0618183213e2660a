"""benchmarks/composed_defaults.py's choice of a default on validation, checked on hand-built files."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from pipesdfa.util.errors import UserError

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import composed_defaults as cd  # noqa: E402


def _file(loss, lr, vals, tests=None, shapes=((2, 64), (4, 64))):
    """A candidate file: one seed per shape and rule, ``vals[rule]`` its validation accuracy."""
    runs = [{"dataset": "digits", "model": "mlp", "depth": d, "width": w, "init": "data", "rule": rule, "seed": 0,
             "val_acc": v, "test_acc": (tests or vals)[rule]} for d, w in shapes for rule, v in vals.items()]
    return {"loss": loss, "lr": lr, "commit": "abc", "command": f"python benchmarks/composed_defaults.py --out {loss}{lr}.json",
            "runs": runs}


def _check(loss, lr, bptt):
    res = {"loss": loss, "lr": lr, "command": "python benchmarks/composed_defaults.py --out check.json", "commit": "abc",
           "runs": [{"dataset": "digits", "model": "mlp", "depth": 4, "width": 1000, "init": "data", "rule": "bptt",
                     "seed": 0, "test_acc": bptt}]}
    res["rows"], res["gaps"] = cd.summarise(res["runs"])
    return res


def test_the_best_mean_over_rules_wins_unless_a_check_rejects_it():
    a = _file("ce", 1e-3, {"bptt": 0.94, "sdfa": 0.85})
    b = _file("mse", 1e-3, {"bptt": 0.96, "sdfa": 0.93})
    c = _file("mse", 3e-3, {"bptt": 0.97, "sdfa": 0.95})
    cands, best = cd.select([a, b, c])
    assert (best["loss"], best["lr"]) == ("mse", 3e-3)
    assert [round(x["mean_val"], 1) for x in cands] == [89.5, 94.5, 96.0]
    cands, best = cd.select([a, b, c], [_check("mse", 3e-3, 0.10), _check("mse", 1e-3, 0.97)])
    assert (best["loss"], best["lr"]) == ("mse", 1e-3)
    assert cands[2]["rejected"] and "bptt 4 x 1000 (10 %)" in cands[2]["rejected"][0] and not cands[1]["rejected"]
    table = cd.select_markdown(cands, best)
    assert "rejected: bptt 4 x 1000" in table and table.count("**yes**") == 1


def test_select_refuses_files_that_differ_or_lack_validation():
    a = _file("mse", 1e-3, {"bptt": 0.9, "sdfa": 0.9})
    with pytest.raises(SystemExit, match="same runs"):
        cd.select([a, _file("mse", 3e-3, {"bptt": 0.9, "sdfa": 0.9}, shapes=((2, 64),))])
    b = _file("mse", 3e-3, {"bptt": 0.9, "sdfa": 0.9})
    b["runs"][0]["val_acc"] = None
    with pytest.raises(SystemExit, match="without a validation accuracy"):
        cd.select([a, b])
    with pytest.raises(SystemExit, match="every candidate is rejected"):
        cd.select([a], [_check("mse", 1e-3, 0.05)])


def test_parse_set_and_rule_options():
    assert cd.parse_set(["T=16", "weight_decay=1e-4", "feedback=independent"]) == \
        {"T": 16, "weight_decay": 1e-4, "feedback": "independent"}
    with pytest.raises(UserError, match="--set 'T16': expected KEY=VALUE"):
        cd.parse_set(["T16"])
    assert cd.rule_options("sdfa:authors") == ("sdfa", {"sdfa_variant": "authors"})
    assert cd.rule_options("bptt") == ("bptt", {})
