"""TrainConfig in sections: flat names, config files that mirror the sections, the "moved to"
error for the flat files before sections, and the loop's plug-ins (hooks)."""

from __future__ import annotations

import json

import pytest
import yaml

from pipesdfa.training.config import FLAT_KEYS, SECTIONS, TrainConfig, config_from_workload, flat_view
from pipesdfa.training.configfile import read_config_file
from pipesdfa.training.hooks import HOOK_FACTORIES, LoopHook, register_hook
from pipesdfa.util.errors import UserError


def test_every_flat_name_has_a_place_and_round_trips():
    cfg = TrainConfig()
    for flat, path in FLAT_KEYS.items():
        assert cfg.get(flat) == cfg.get(path)
    c = TrainConfig.from_flat(method="sdfa", lr="1e-3", feedback="independent", hidden=[64, 64], threads=2)
    assert c.optim.lr == 1e-3 and c.rule.sdfa.feedback == "independent" and c.model.hidden == (64, 64)
    assert c.runtime.threads == 2
    assert TrainConfig.from_dict(json.loads(json.dumps(c.to_dict()))) == c
    assert set(c.to_dict()) == {*SECTIONS, "seed", "workload"}
    assert flat_view(c.to_dict())["feedback"] == "independent"


def test_updated_copies_and_checks_types():
    a = config_from_workload("digits-mlp")
    b = a.updated(lr=0.5, epochs=3)
    assert (b.optim.lr, b.optim.epochs) == (0.5, 3) and a.optim.lr != 0.5
    with pytest.raises(UserError, match="key 'epochs': expected an integer"):
        a.updated(epochs="three")
    with pytest.raises(UserError, match="unknown key 'lrr'.*did you mean 'lr'"):
        a.updated(lrr=1)


def test_another_rules_options_are_refused():
    with pytest.raises(UserError, match=r"--temporal is an SDFA option \(rule.sdfa.temporal\).*--method bptt"):
        TrainConfig.from_flat(method="bptt", temporal="local").validate()
    TrainConfig.from_flat(method="sdfa", temporal="local").validate()


@pytest.mark.parametrize("text,needle", [
    ("lr: 0.01\n", "key 'lr' moved to optim.lr"),
    ("method: sdfa\n", "key 'method' moved to rule.method"),
    ("feedback: shared\n", "key 'feedback' moved to rule.sdfa.feedback"),
    ("model: mlp\n", "section 'model': expected a mapping"),
    ("optim: {lr: 0.1, momentum: 0.9}\n", "section 'optim': unknown key 'momentum'"),
    ("rule: {method: sdfa, sdfa: {temporal: 3}}\n", "section 'rule.sdfa': key 'temporal'"),
])
def test_config_file_errors_name_the_file_and_the_key(tmp_path, text, needle):
    f = tmp_path / "c.yaml"
    f.write_text(text)
    with pytest.raises(UserError) as exc:
        read_config_file(f)
    assert str(f) in str(exc.value) and needle in str(exc.value), str(exc.value)


def test_a_sectioned_file_reads_back_as_written(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("workload: digits-mlp\ndata: {T: 4}\nrule:\n  method: sdfa\n  sdfa: {temporal: instantaneous}\n"
                 "optim: {lr: 1e-3}\n")
    cfg = TrainConfig.from_values(read_config_file(f), str(f))
    assert cfg.data.T == 4 and cfg.rule.sdfa.temporal == "instantaneous" and cfg.optim.lr == 1e-3


def test_a_registered_hook_adds_to_every_epoch_and_to_metrics(tmp_path):
    """A feature plugs into the loop without the loop knowing its name."""
    from pipesdfa.training.loop import train

    calls = []

    class Counter(LoopHook):
        def after_step(self, run):
            calls.append("step")

        def epoch_metrics(self, run, loss_fn):
            return {"steps_seen": calls.count("step")}

        def final_metrics(self, run, history):
            return {"counter": {"steps": calls.count("step")}}

    factory = register_hook(lambda cfg: Counter() if cfg.workload == "digits-mlp" else None)
    try:
        cfg = config_from_workload("digits-mlp", T=4, hidden=(16,), max_train=64, max_test=32, epochs=2,
                                   batch=32, out=str(tmp_path / "r"))
        m = train(cfg, progress=False, log=None)
    finally:
        HOOK_FACTORIES.remove(factory)
    assert [e["steps_seen"] for e in m["epochs"]] == [2, 4] and m["counter"] == {"steps": 4}
    on_disk = yaml.safe_load((tmp_path / "r" / "config.yaml").read_text())
    assert set(on_disk) >= {"data", "model", "rule", "optim"} and "sdfa" not in on_disk["rule"]
