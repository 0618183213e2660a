"""Discrete-event schedule: closed forms, fast path vs full run, invariants, dependency rules."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipesdfa.hw.config import load_config
from pipesdfa.hw.dataflow import StageTimes, stage_times
from pipesdfa.hw.gradient import layer_gradient
from pipesdfa.hw.placement import map_layers
from pipesdfa.hw.memory import plan_memory
from pipesdfa.hw.schedule import (Task, flowshop_makespan, pipelayer_closed_form, pipelayer_wavefront_closed_form,
                                  run_des, sdfa_single_batch_closed_form)
from pipesdfa.hw.timing import build_batches, simulate_time
from pipesdfa.zoo.workloads import Dense, ModelSpec, resolve

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _mlp(L: int, width: int = 20) -> ModelSpec:
    return ModelSpec(f"mlp{L}", (width,), tuple(Dense(width) for _ in range(L - 1)) + (Dense(4),), 4)


def _setup(arch: str, L: int, **overrides):
    p = load_config("isaac-32nm", overrides).params
    return map_layers(resolve(_mlp(L)), p, arch), p


def _check_invariants(s):
    for i, t in enumerate(s.tasks):
        if t.steps:
            assert s.end[i] - s.start[i] >= t.duration == t.steps * t.step
        else:
            assert s.end[i] - s.start[i] == t.duration
        for d in t.deps:
            assert s.start[i] >= s.end[d]
    by_res = {}
    for i, t in enumerate(s.tasks):
        for a, d in s.spans(i):
            if d:
                by_res.setdefault(t.resource, []).append((a, a + d))
    for spans in by_res.values():
        spans.sort()
        for (a0, a1), (b0, b1) in zip(spans, spans[1:]):
            assert b0 >= a1, "a resource ran two tasks at once"


def test_des_chain_and_resource_exclusivity_golden():
    tasks = [Task("a", 5, (), (0,), "x"), Task("a", 3, (), (1,), "x"), Task("b", 2, (0,), (0,), "x")]
    s = run_des(tasks)
    assert list(s.start) == [0, 5, 5] and list(s.end) == [5, 8, 7]
    with pytest.raises(RuntimeError, match="cycle"):
        run_des([Task("a", 1, (1,), (0,), "x"), Task("a", 1, (0,), (1,), "x")])


@FAST
@given(L=st.integers(1, 5), B=st.integers(1, 6), nb=st.integers(1, 4), D=st.integers(1, 1000))
def test_pipelayer_des_equals_published_cycle_count_on_the_default_configuration(L, B, nb, D):
    """Every stage and the update one cycle D long: (N/B)(2L + B + 1) D (Song et al. 2017); and
    (2L + 1) N D + (N/B) D with one sample in flight (no pipeline)."""
    m, p = _setup("pipelayer", L)  # default: PipeLayer as published, separate transposed copy
    assert not p.pipeline.pipelayer_shared_transpose and not p.pipeline.pipelayer_timestep_pipeline
    stt = StageTimes(f=(D,) * L, b=(0,) + (D,) * (L - 1), g=(D,) * L, u=(D,) * L, e=D, fb=0, T=1)
    s = run_des(build_batches(m, p, stt, [B] * nb))
    _check_invariants(s)
    assert s.makespan == pipelayer_closed_form(nb * B, B, L, D)
    serial = run_des(build_batches(m, p, stt, [B] * nb, K=1)).makespan
    assert serial == ((2 * L + 1) * nb * B + nb) * D


@FAST
@given(L=st.integers(2, 5), T=st.integers(1, 6), f=st.integers(1, 50), b=st.integers(1, 80), g=st.integers(1, 80),
       e=st.integers(0, 20), u=st.integers(0, 50))
def test_pipelayer_timestep_wavefront_equals_closed_form(L, T, f, b, g, e, u):
    """One sample, time-step pipelined forward and reverse-time wavefront backward:
    (L + T - 1) f + e + (L - 1) b + g + (T - 1) max(b, g) + u."""
    m, p = _setup("pipelayer", L, **{"pipeline.pipelayer_timestep_pipeline": True})
    stt = StageTimes(f=(f,) * L, b=(0,) + (b,) * (L - 1), g=(g,) * L, u=(u,) * L, e=e, fb=0, T=T)
    s = run_des(build_batches(m, p, stt, [1]))
    _check_invariants(s)
    assert s.makespan == pipelayer_wavefront_closed_form(L, T, f, e, b, g, u)
    as_published = run_des(build_batches(m, load_config("isaac-32nm").params, stt, [1])).makespan
    assert s.makespan <= as_published


@FAST
@given(L=st.integers(2, 4), T=st.integers(1, 5), B=st.integers(1, 5), f=st.integers(1, 50),
       g=st.integers(1, 100), u=st.integers(0, 300), strict=st.booleans())
def test_pipesdfa_single_batch_equals_closed_form(L, T, B, f, g, u, strict):
    m, p = _setup("pipesdfa", L, **{"pipeline.batch_dependency": "strict" if strict else "stale-1"})
    e = fb = min(T * g, T * f)  # closed form holds for e, fb <= max(G, T f)
    stt = StageTimes(f=(f,) * L, b=(0,) * L, g=(g,) * L, u=(u,) * L, e=e, fb=fb, T=T)
    s = run_des(build_batches(m, p, stt, [B]))
    _check_invariants(s)
    assert s.makespan == sdfa_single_batch_closed_form(L, T, B, f, e, fb, T * g, u)  # G = T g per sample


@FAST
@given(L=st.integers(1, 5), n=st.integers(1, 6), T=st.integers(1, 6), f=st.integers(1, 100))
def test_timestep_pipeline_is_a_flow_shop(L, n, T, f):
    """Forward only (zero-cost error/feedback/gradient): (L + nT - 1) f."""
    m, p = _setup("pipesdfa", L)
    stt = StageTimes(f=(f,) * L, b=(0,) * L, g=(0,) * L, u=(0,) * L, e=0, fb=0, T=T)
    s = run_des(build_batches(m, p, stt, [n]))
    assert s.makespan == flowshop_makespan(L, n * T, f)


@FAST
@given(arch=st.sampled_from(["pipelayer", "pipesdfa"]), L=st.integers(1, 4), T=st.integers(1, 3),
       B=st.integers(1, 4), extra=st.integers(0, 12), rem=st.integers(0, 3),
       dep=st.sampled_from(["stale-1", "strict"]), shared=st.booleans(), tsp=st.booleans(),
       K=st.integers(0, 3), cap=st.sampled_from([2000, 200000]), slow_write=st.booleans())
def test_fast_path_equals_full_discrete_event_run(arch, L, T, B, extra, rem, dep, shared, tsp, K, cap, slow_write):
    p = load_config("pipelayer-2017", {"pipeline.batch_dependency": dep, "pipeline.pipelayer_shared_transpose": shared,
                                       "pipeline.timestep_pipeline": tsp, "pipeline.pipelayer_timestep_pipeline": tsp,
                                       "update.serial_latency_s": 6.5e-6 if slow_write else 475e-9,
                                       "dram.bandwidth_bits_per_s": 1e10}).params
    m = map_layers(resolve(_mlp(L, 150)), p, arch)
    grads = [layer_gradient(l, p, T, 0.1) for l in m.layers]
    state = [5000] * L
    plan = plan_memory(m, p, state, B, cap, max(K, 1), 300)  # small buffers: spills and DRAM accumulators
    stt = stage_times(m, p, T, grads, 1, plan)
    samples = (6 + extra) * B + (rem % B)
    fast = simulate_time(m, p, stt, samples, B, K=K, fast=True, prefix_batches=2)
    full = simulate_time(m, p, stt, samples, B, K=K, fast=False)
    assert fast.makespan_ticks == full.makespan_ticks
    assert fast.busy_ticks == full.busy_ticks
    _check_invariants(full.prefix)


@pytest.mark.parametrize("arch", ["pipelayer", "pipesdfa"])
@pytest.mark.parametrize("workload", ["nmnist-mlp3", "dvs-convnet"])
def test_time_is_linear_in_samples(arch, workload):
    from pipesdfa.hw.engine import simulate
    from pipesdfa.zoo.workloads import get_workload

    B = get_workload(workload).batch
    t = [simulate(workload, arch, samples=k * B)["time_s"] for k in (40, 60, 80)]
    assert t[2] - t[1] == pytest.approx(t[1] - t[0], rel=1e-9)
    assert t[0] > 0


@FAST
@given(L=st.integers(1, 4), T=st.integers(1, 5), sizes=st.lists(st.integers(1, 4), min_size=1, max_size=5),
       f=st.lists(st.integers(1, 60), min_size=4, max_size=4), g=st.integers(0, 300), u=st.integers(0, 300),
       dep=st.sampled_from(["stale-1", "strict"]), K=st.integers(0, 3))
def test_chain_tasks_equal_the_per_time_step_reference(L, T, sizes, f, g, u, dep, K):
    m, p = _setup("pipesdfa", L, **{"pipeline.batch_dependency": dep})
    stt = StageTimes(f=tuple(f[:L]), b=(0,) * L, g=(g,) * L, u=(u,) * L, e=7, fb=11, T=T)
    fast = run_des(build_batches(m, p, stt, sizes, K))
    ref = run_des(build_batches(m, p, stt, sizes, K, fine=True))
    _check_invariants(fast)
    _check_invariants(ref)
    assert fast.makespan == ref.makespan
    ends = lambda s, ph: sorted(int(s.end[i]) for i, t in enumerate(s.tasks) if t.phase == ph)  # noqa: E731
    for ph in ("gradient", "update", "error"):
        assert ends(fast, ph) == ends(ref, ph)


@pytest.mark.parametrize("fine", [False, True])
def test_stale1_update_is_inserted_between_samples_and_strict_waits(fine):
    for dep in ("stale-1", "strict"):
        m, p = _setup("pipesdfa", 3, **{"pipeline.batch_dependency": dep})
        # layer 1 slower than layer 2: layer 2 stalls inside a sample, an update must not slip in
        stt = StageTimes(f=(10, 30, 5), b=(0,) * 3, g=(100,) * 3, u=(35,) * 3, e=5, fb=5, T=4)
        s = run_des(build_batches(m, p, stt, [3, 3, 3], fine=fine))
        _check_invariants(s)
        for ui, ut in enumerate(s.tasks):
            if ut.phase != "update":
                continue
            # no sample has forward steps on this layer both before and after the update
            steps = {}
            for i, t in enumerate(s.tasks):
                if t.phase == "forward" and t.layer == ut.layer:
                    steps.setdefault(t.sample, []).extend(a < s.start[ui] for a, _ in s.spans(i))
            assert all(len(set(v)) == 1 for v in steps.values())
            if dep == "strict":
                nxt = [s.start[i] for i, t in enumerate(s.tasks) if t.batch == ut.batch + 1 and t.phase == "forward"
                       and t.layer == ut.layer]
                assert all(a >= s.end[ui] for a in nxt)
            else:
                after = [s.start[i] for i, t in enumerate(s.tasks) if t.batch == ut.batch + 2 and t.phase == "forward"
                         and t.layer == ut.layer]
                assert all(a >= s.end[ui] for a in after)  # at most one batch stale


def test_stale1_hides_the_update_strict_does_not():
    m, p = _setup("pipesdfa", 3)
    stt = StageTimes(f=(10,) * 3, b=(0,) * 3, g=(100,) * 3, u=(200,) * 3, e=5, fb=5, T=4)
    stale = run_des(build_batches(m, p, stt, [4] * 5)).makespan
    _, ps = _setup("pipesdfa", 3, **{"pipeline.batch_dependency": "strict"})
    strict = run_des(build_batches(m, ps, stt, [4] * 5)).makespan
    assert stale < strict


@pytest.mark.parametrize("arch", ["pipelayer", "pipesdfa"])
@pytest.mark.parametrize("workload, batches", [("digits-mlp", 40), ("dvs-convnet", 30)])
def test_fast_path_is_used_and_agrees_on_real_workloads(arch, workload, batches):
    from pipesdfa.hw.engine import simulate_detailed
    from pipesdfa.zoo.workloads import get_workload

    n = batches * get_workload(workload).batch + 3
    fast = simulate_detailed(workload, arch, samples=n)
    full = simulate_detailed(workload, arch, samples=n, fast=False)
    assert fast.timing.fast_path and not full.timing.fast_path
    assert fast.timing.makespan_ticks == full.timing.makespan_ticks
    assert fast.run["energy_j"] == pytest.approx(full.run["energy_j"])
