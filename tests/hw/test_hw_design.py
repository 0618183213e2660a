"""The design space (every sampled point legal, JSON round-trips, the hand-picked point is simulate's),
Pareto fronts and ratios (hand-computed), endurance counts, feedback copies."""

from __future__ import annotations

import json
import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipesdfa.hw.config import load_config, with_dram
from pipesdfa.hw.dataflow import stage_times
from pipesdfa.hw.design import REPLICATION, TRANSPOSED, design_space, leaf_choices
from pipesdfa.hw.endurance import epochs_survived, writes_per_cell
from pipesdfa.hw.engine import simulate_detailed
from pipesdfa.hw.evaluate import Evaluator, Problem
from pipesdfa.hw.gradient import layer_gradient
from pipesdfa.hw.pareto import best_at, front_ratios, hypervolume, pareto_front
from pipesdfa.hw.placement import map_layers
from pipesdfa.hw.schedule import to_ticks
from pipesdfa.util.errors import UserError
from pipesdfa.zoo.workloads import get_workload, resolve

CFG = load_config("pipelayer-2017")
SPACES = {(w, a): design_space(get_workload(w).model_spec(), a, CFG)
          for w in ("dvs-convnet", "nmnist-mlp3") for a in ("pipelayer", "pipesdfa")}


@settings(max_examples=60, deadline=None)
@given(key=st.sampled_from(sorted(SPACES)), seed=st.integers(0, 2**31 - 1))
def test_every_sampled_point_is_legal_and_round_trips(key, seed):
    space = SPACES[key]
    point = space.sample(random.Random(seed))
    assert set(point) == set(space.names)
    assert space.check(json.loads(json.dumps(point))) == point  # JSON numbers read back as the same choices
    changes, reps, t_reps = space.realise(point)
    cfg = CFG.with_overrides(changes, "test")  # validates every leaf
    layers = resolve(space.spec)
    assert all(1 <= r <= max(1, l.positions) for r, l in zip(reps, layers))
    if t_reps is not None:
        E = cfg.params.precision.error_bits
        assert all(0 <= t <= l.positions * E for t, l in zip(t_reps, layers))
    m = map_layers(layers, cfg.params, space.arch, max_replication=max(reps), replication=reps, t_replication=t_reps)
    assert [l.replication for l in m.layers] == reps


def test_space_has_the_resources_each_machine_fixes():
    pl, ps = SPACES["dvs-convnet", "pipelayer"], SPACES["dvs-convnet", "pipesdfa"]
    common = {"buffer.capacity_bytes_per_tile", "chip.adcs_per_group", "gradient.arrays_per_weight_array",
              "gradient.technology"}
    assert common <= set(pl.names) and common <= set(ps.names)
    assert "mapping.feedback_copies" in ps.names and "mapping.feedback_copies" not in pl.names
    assert {"pipeline.pipelayer_shared_transpose", "pipeline.pipelayer_timestep_pipeline"} <= set(pl.names)
    assert any(n.startswith(TRANSPOSED) for n in pl.names) and not any(n.startswith(TRANSPOSED) for n in ps.names)
    assert sum(n.startswith(REPLICATION) for n in ps.names) == 5  # the five conv layers; the MLP head has 1 position
    assert set(leaf_choices()) >= common | {"mapping.feedback_copies"}


@pytest.mark.parametrize("arch", ["pipelayer", "pipesdfa"])
def test_the_hand_picked_point_is_what_simulate_gives(arch):
    space = SPACES["dvs-convnet", arch]
    changes, reps, t_reps = space.realise(space.default_point())
    a = simulate_detailed("dvs-convnet", arch, config=CFG.with_overrides(changes), replication=reps,
                          t_replication=t_reps).run
    b = simulate_detailed("dvs-convnet", arch, config=CFG).run
    assert (a["time_s"], a["energy_j"], a["area_mm2"]) == (b["time_s"], b["energy_j"], b["area_mm2"])


def test_unknown_variables_and_illegal_values_are_refused():
    space = SPACES["nmnist-mlp3", "pipesdfa"]
    with pytest.raises(UserError, match="unknown design variable 'chip.frobs'"):
        space.check({"chip.frobs": 1})
    with pytest.raises(UserError, match="mapping.feedback_copies = 3"):
        space.check({"mapping.feedback_copies": 3})


def test_grid_is_evenly_spaced_and_legal():
    space = SPACES["nmnist-mlp3", "pipesdfa"]
    pts = space.grid(10)
    assert len(pts) == 10 and pts[0] == {v.name: v.choices[0] for v in space.variables}
    assert pts[-1] == {v.name: v.choices[-1] for v in space.variables}
    assert all(space.check(p) == p for p in pts)
    assert len(space.grid(10**9)) == space.size


def test_over_budget_points_are_infeasible_without_a_schedule():
    w = get_workload("dvs-convnet")
    prob = Problem(w.model_spec(), CFG, w.T, w.batch, 1000, budget_mm2=CFG.params.chip_area_mm2)
    ev = Evaluator(prob, "pipelayer")
    big = {**ev.space.default_point(), **{n: ev.space.variable(n).choices[-1] for n in ev.space.names
                                          if n.startswith((REPLICATION, TRANSPOSED))}}
    r = ev.evaluate(big)
    assert not r["feasible"] and r["reason"] == "area" and "time_s" not in r and r["area_mm2"] > prob.budget_mm2


# ---------------------------------------------------------------------------- fronts and ratios

def test_pareto_front_hand_computed():
    pts = [(3.0, 1.0), (1.0, 3.0), (2.0, 2.0), (2.0, 2.5), (4.0, 4.0), (1.0, 3.0)]
    assert pareto_front(pts) == [1, 2, 0]  # (1,3), (2,2), (3,1); the duplicate and the dominated dropped


def test_hypervolume_hand_computed():
    # staircase (1,3), (2,2), (3,1) under ref (4,4): 1*1 + 1*2 + 1*3 = 6
    assert hypervolume([(3.0, 1.0), (1.0, 3.0), (2.0, 2.0)], (4.0, 4.0)) == pytest.approx(6.0)
    assert hypervolume([(5.0, 1.0)], (4.0, 4.0)) == 0.0
    assert hypervolume([(1.0, 1.0), (2.0, 2.0)], (3.0, 3.0)) == pytest.approx(4.0)


def test_front_ratios_hand_computed():
    base = [(10.0, 100.0), (20.0, 50.0)]
    prop = [(5.0, 80.0), (40.0, 10.0)]
    r = front_ratios(base, prop)
    assert r["time_best_vs_best"] == pytest.approx(2.0) and r["energy_best_vs_best"] == pytest.approx(5.0)
    # E* = max(50, 10) = 50: base's fastest under 50 J is 20 s, prop's is 40 s
    assert r["time_at_equal_energy"] == pytest.approx(0.5)
    # t* = max(10, 5) = 10: base 100 J, prop 80 J
    assert r["energy_at_equal_time"] == pytest.approx(1.25)
    # log10 plane, ref = (log 40 + 1, log 100 + 1) = (2.60206, 3)
    lx, ly = math.log10, math.log10
    ref = (lx(40) + 1, 3.0)
    hv_b = (lx(20) - lx(10)) * (ref[1] - ly(100)) + (ref[0] - lx(20)) * (ref[1] - ly(50))
    hv_p = (lx(40) - lx(5)) * (ref[1] - ly(80)) + (ref[0] - lx(40)) * (ref[1] - ly(10))
    assert r["hypervolume_ratio"] == pytest.approx(hv_p / hv_b)
    assert best_at(base, 49.0, 1) == math.inf
    assert front_ratios(base, base)["hypervolume_ratio"] == pytest.approx(1.0)


# ---------------------------------------------------------------------------- endurance, feedback copies

def test_endurance_hand_computed():
    w = writes_per_cell(updates=100, samples=800, gradient_waves=[1, 3], rram_gradient=True, has_feedback=True)
    assert w == {"weights": 100.0, "gradient": 2400.0, "feedback": 0.0}
    assert epochs_survived(w, 1e6) == pytest.approx(1e6 / 2400)
    sram = writes_per_cell(100, 800, [1, 3], rram_gradient=False, has_feedback=False)
    assert sram == {"weights": 100.0, "gradient": 0.0} and epochs_survived(sram, 1e9) == pytest.approx(1e7)
    assert epochs_survived({"feedback": 0.0}, 1e6) == math.inf


def test_simulated_run_reports_writes_per_cell():
    w = get_workload("dvs-convnet")
    prob = Problem(w.model_spec(), CFG, w.T, w.batch, 1077)
    ev = Evaluator(prob, "pipesdfa")
    r = ev.evaluate(ev.space.default_point())
    wpc = r["endurance"]["writes_per_cell_per_epoch"]
    assert wpc["weights"] == math.ceil(1077 / w.batch) and wpc["feedback"] == 0.0
    assert wpc["gradient"] >= 1077 and r["endurance"]["epochs_survived"]["1e06"] == pytest.approx(1e6 / wpc["gradient"])


def test_feedback_copies_split_the_projection():
    layers = resolve(get_workload("nmnist-mlp3").model_spec())
    one = CFG.params
    four = CFG.with_overrides({"mapping.feedback_copies": 4}).params
    m1, m4 = map_layers(layers, one, "pipesdfa", 10), map_layers(layers, four, "pipesdfa", 10)
    assert m4.feedback.crossbars == 4 * m1.feedback.crossbars
    g = [layer_gradient(l, one, 10, 0.1) for l in m1.layers]
    s1, s4 = stage_times(m1, one, 10, g), stage_times(m4, four, 10, g)
    E = one.precision.error_bits  # 16 bit-serial passes: 4 per copy
    assert (s1.fb, s4.fb) == (to_ticks(E * m1.cycle_s), to_ticks(math.ceil(E / 4) * m4.cycle_s))


def test_lpddr5_preset_is_cited_and_slower():
    c = with_dram(CFG, "lpddr5")
    assert c.params.dram.bandwidth_bits_per_s == pytest.approx(204.8e9)
    assert "JESD209-5" in c.sources["dram.bandwidth_bits_per_s"] and "pJ/bit" in c.sources["dram.energy_per_bit_j"]
    with pytest.raises(UserError, match="unknown DRAM preset"):
        with_dram(CFG, "ddr9")


def test_neighbours_change_one_free_variable():
    from pipesdfa.studies.exploration.run import neighbours

    space = SPACES["nmnist-mlp3", "pipesdfa"]
    pt = space.default_point()
    nb = neighbours(space, pt, {"gradient.technology": "rram"})
    free = [v for v in space.variables if v.name != "gradient.technology"]
    assert len(nb) == sum(len(v.choices) - 1 for v in free)
    assert all(sum(n[k] != pt[k] for k in pt) == 1 and n["gradient.technology"] == "rram" for n in nb)


def test_cost_to_accuracy_hand_computed():
    from pipesdfa.studies.exploration.cost import cost_to_accuracy, epochs_to_target, median_epochs

    assert epochs_to_target([0.2, 0.5, 0.8, 0.9], 0.8) == 3 and epochs_to_target([0.2, 0.5], 0.8) is None
    assert median_epochs([[0.9], [0.1, 0.9], [0.1, 0.1, 0.9]], 0.9) == 2.0
    assert median_epochs([[0.9], [0.1], [0.1]], 0.9) is None  # two of three never get there
    acc = {"rows": [
        {"workload": "w", "method": "bptt", "variant": None, "curve": [0.5, 0.8, 1.0]},
        {"workload": "w", "method": "sdfa", "variant": None, "curve": [0.5, 0.7, 0.8, 0.9]},
        {"workload": "w", "method": "sdfa", "variant": "x", "curve": [1.0]},
    ]}
    ex = {"workload": "w", "dram": "hbm2", "archs": {
        "pipelayer": {"best_time": {"time_s": 2.0}, "best_energy": {"energy_j": 10.0}},
        "pipesdfa": {"best_time": {"time_s": 1.0}, "best_energy": {"energy_j": 4.0}}}}
    r = cost_to_accuracy(acc, ex, 0.8)  # target 0.8 x min(1.0, 0.9) = 0.72: BPTT epoch 2, SDFA epoch 3
    assert r["target_accuracy"] == pytest.approx(0.72)
    assert r["machines"]["pipelayer"]["epochs"] == 2 and r["machines"]["pipesdfa"]["epochs"] == 3
    assert r["time_ratio"] == pytest.approx(4.0 / 3.0) and r["energy_ratio"] == pytest.approx(20.0 / 12.0)
    assert cost_to_accuracy(acc, {**ex, "workload": "other"}) is None
