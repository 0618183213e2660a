"""Stage graphs of one training batch on PipeLayer (BP/BPTT) and PipeSDFA.

Stage durations (per sample; ``t_c`` = one crossbar read cycle, ``s_l`` = read cycles per time
step of layer ``l`` after replication, ``E`` = error bits fed bit-serially, ``T`` time steps):

* forward, one time step: ``f_l = s_l t_c`` (spike inputs are one bit: one cycle per read);
* PipeLayer transposed (backward) read, one time step: ``b_l = s_l E t_c`` (none for layer 0);
* weight gradient of one time step on the gradient arrays: ``g_l = s_l E t_c``;
* output error: ``e = ceil(n_out / lanes)`` digital cycles; PipeSDFA feedback MVM: ``E t_c``;
* update of layer ``l`` (all copies): ``ceil(crossbars_l / parallel_crossbars) * t_update``.

PipeLayer, per sample: ``F_0..F_{L-1}`` (each ``T f_l``, time steps serial) -> ``E`` ->
``B_{L-1}..B_1`` (each ``T b_l``) with the gradient ``G_l`` (``T g_l``) of each layer in
parallel with its backward read on separate arrays; samples of a batch are pipelined; after the
batch all layers update and the next batch waits for the whole update (serial).

PipeSDFA, per sample: forward as ``L x T`` tasks (layer ``l`` step ``t`` after layer ``l-1`` step
``t`` and layer ``l`` step ``t-1``: the time-step pipeline) -> ``E`` -> one feedback MVM ``FB``
-> all gradients ``G_l`` in parallel (the output layer's straight after ``E``). Updates follow
``pipeline.batch_dependency`` (see :class:`~pipesdfa.hw.params.PipelineParams`).

Buffers: every sample keeps, per layer, ``T (n_in + n_neurons * membrane_bits)`` bits (input
spikes and membrane potentials needed for the surrogate gradient) from the start of its forward
pass in that layer until the layer's gradient is done (PipeSDFA) or until the backward pass has
passed the layer (PipeLayer, released in reverse order); PipeLayer also keeps the
``T n_neurons E``-bit errors of a layer, PipeSDFA the ``n_out E``-bit projected error.
When ``buffer.enforce_capacity`` is set, at most ``K = floor(capacity / bytes_per_sample)``
samples (at least one) are in flight: sample ``i`` starts after sample ``i - K`` released all.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipesdfa.hw.mapping import ModelMap
from pipesdfa.hw.params import HwParams
from pipesdfa.hw.schedule import Task, to_ticks

__all__ = ["StageTimes", "stage_times", "stored_bits", "build_batches"]


@dataclass(frozen=True)
class StageTimes:
    """Per-layer stage durations in ticks (see module docstring)."""

    f: tuple[int, ...]  # forward, one time step
    b: tuple[int, ...]  # transposed read, one time step (PipeLayer)
    g: tuple[int, ...]  # gradient, one time step
    u: tuple[int, ...]  # update of the layer (all copies)
    e: int
    fb: int
    T: int


def update_crossbars(m: ModelMap, p: HwParams) -> list[int]:
    """Crossbars written by the update of each layer (all copies; PipeLayer's separate
    transpose copy when it has one)."""
    extra = 2 if (m.arch == "pipelayer" and not p.pipeline.pipelayer_shared_transpose) else 1
    return [l.crossbars * extra for l in m.layers]


def stage_times(m: ModelMap, p: HwParams, T: int) -> StageTimes:
    tc = m.cycle_s
    E = p.precision.error_bits
    f = tuple(to_ticks(l.steps_per_timestep * tc) for l in m.layers)
    b = tuple(0 if i == 0 else to_ticks(l.steps_per_timestep * E * tc) for i, l in enumerate(m.layers))
    g = tuple(to_ticks(l.steps_per_timestep * E * tc) for l in m.layers)
    par = p.update.parallel_crossbars
    u = tuple(to_ticks(-(-n // par) * p.update_latency_s) for n in update_crossbars(m, p))
    n_last = m.layers[-1].n_out
    e = to_ticks(-(-n_last // p.digital.lanes) / p.digital.clock_hz)
    fb = to_ticks(E * tc) if m.feedback is not None else 0
    return StageTimes(f, b, g, u, e, fb, T)


def stored_bits(m: ModelMap, p: HwParams, T: int) -> list[int]:
    """Bits one sample keeps per layer for its gradient (activations plus errors)."""
    E, mb = p.precision.error_bits, p.precision.membrane_bits
    out = []
    for l in m.layers:
        bits = T * (l.n_in + l.n_neurons * mb)
        bits += T * l.n_neurons * E if m.arch == "pipelayer" else (0 if l is m.layers[-1] else l.n_out * E)
        out.append(bits)
    return out


def build_batches(m: ModelMap, p: HwParams, st: StageTimes, batch_sizes: list[int],
                  max_in_flight: int = 0, fine: bool = False) -> list[Task]:
    """Task graph for consecutive batches of the given sizes (``max_in_flight`` 0 = unlimited).

    PipeSDFA's time-step pipeline is built as one chain task per layer and sample; ``fine``
    builds the reference form instead (one task per layer, sample and time step).
    """
    if m.arch == "pipelayer":
        return _pipelayer(m, p, st, batch_sizes, max_in_flight)
    return _pipesdfa(m, p, st, batch_sizes, max_in_flight, fine)


class _Graph:
    """A growing task list; ``add`` returns the new task's index."""

    def __init__(self) -> None:
        self.tasks: list[Task] = []

    def add(self, t: Task) -> int:
        self.tasks.append(t)
        return len(self.tasks) - 1


def _pipelayer(m: ModelMap, p: HwParams, st: StageTimes, sizes: list[int], K: int) -> list[Task]:
    L, T = len(m.layers), st.T
    shared = p.pipeline.pipelayer_shared_transpose
    gr = _Graph()
    add, tasks = gr.add, gr.tasks
    release: list[int] = []  # per sample: task whose end frees its buffers
    prev_updates: list[int] = []
    sample = 0
    last_issue = -1  # samples enter layer 0 in order

    for k, bsz in enumerate(sizes):
        grads: list[list[int]] = [[] for _ in range(L)]
        bwds: list[list[int]] = [[] for _ in range(L)]
        for j in range(bsz):
            i = sample
            deps0: list[int] = list(prev_updates) if j == 0 else []
            if K and i - K >= 0:
                deps0.append(release[i - K])
            if last_issue >= 0:
                deps0.append(last_issue)
            prev = -1
            for l in range(L):
                deps = tuple(deps0) if l == 0 else (prev,)
                prev = add(Task(f"xbar{l}", T * st.f[l], deps, (i, 0, l), "forward", l, i, k))
                if l == 0:
                    last_issue = prev
            err = add(Task("digital", st.e, (prev,), (i, 1), "error", L - 1, i, k))
            up = err
            last_sample_tasks = []
            for l in range(L - 1, -1, -1):
                g = add(Task(f"grad{l}", T * st.g[l], (up,), (i, 2, -l), "gradient", l, i, k))
                grads[l].append(g)
                last_sample_tasks.append(g)
                if l > 0:
                    res = f"xbar{l}" if shared else f"xbarT{l}"
                    up = add(Task(res, T * st.b[l], (up,), (i, 2, -l), "backward", l, i, k))
                    bwds[l].append(up)
            release.append(last_sample_tasks[-1])
            sample += 1
        prev_updates = []
        for l in range(L):
            # the update writes the layer's arrays: after every gradient and backward read of this batch
            deps = tuple(grads[l] + bwds[l])
            prev_updates.append(add(Task(f"xbar{l}", st.u[l], deps, (sample, 3, l), "update", l, -1, k)))
        # next batch waits for the whole update (PipeLayer's serial update)
    return tasks


def _pipesdfa(m: ModelMap, p: HwParams, st: StageTimes, sizes: list[int], K: int, fine: bool) -> list[Task]:
    L, T = len(m.layers), st.T
    strict = p.pipeline.batch_dependency == "strict"
    tsp = p.pipeline.timestep_pipeline
    gr = _Graph()
    add, tasks = gr.add, gr.tasks
    release: list[list[int]] = []
    prev_updates: list[int] = []  # batch k-1's update tasks, per layer
    older_updates: list[int] = []  # batch k-2's
    sample = 0
    last_issue = -1  # samples enter layer 0 in order

    for k, bsz in enumerate(sizes):
        grads: list[list[int]] = [[] for _ in range(L)]
        # strict: batch k waits for batch k-1's update of each layer; stale-1: for batch k-2's
        wait = prev_updates if strict else older_updates
        for j in range(bsz):
            i = sample
            gate: list[int] = [last_issue] if last_issue >= 0 else []
            if K and i - K >= 0:
                gate.extend(release[i - K])
            if tsp and fine:
                # reference form: one task per layer and time step, the layer reserved for the sample
                prev_layer: list[int] = []
                for l in range(L):
                    row: list[int] = []
                    for t in range(T):
                        deps: list[int] = []
                        if l > 0:
                            deps.append(prev_layer[t])
                        elif t == 0:
                            deps.extend(gate)
                        if t > 0:
                            deps.append(row[t - 1])
                        elif j == 0 and wait:
                            deps.append(wait[l])
                        row.append(add(Task(f"xbar{l}", st.f[l], tuple(deps), (2, i, t), "forward", l, i, k, t)))
                        if t > 0:
                            tasks[row[t - 1]].reserve_next = row[t]
                    prev_layer = row
                    if l == 0:
                        last_issue = row[-1]
                last_fwd = prev_layer[-1]
            elif tsp:
                # the same schedule as chains: layer l's step t after its step t-1 and layer l-1's step t
                up = -1
                for l in range(L):
                    deps = list(gate) if l == 0 else []
                    if j == 0 and wait:
                        deps.append(wait[l])
                    up = add(Task(f"xbar{l}", T * st.f[l], tuple(deps), (2, i, 0), "forward", l, i, k,
                                  steps=T, step=st.f[l], up=up))
                    if l == 0:
                        last_issue = up
                last_fwd = up
            else:
                prev = -1
                for l in range(L):
                    deps = list(gate) if l == 0 else [prev]
                    if j == 0 and wait:
                        deps.append(wait[l])
                    prev = add(Task(f"xbar{l}", T * st.f[l], tuple(deps), (2, i, 0), "forward", l, i, k))
                    if l == 0:
                        last_issue = prev
                last_fwd = prev
            err = add(Task("digital", st.e, (last_fwd,), (i, 1), "error", L - 1, i, k))
            fb = add(Task("feedback", st.fb, (err,), (i, 2), "feedback", -1, i, k)) if L > 1 else err
            mine = []
            for l in range(L):
                deps = [err if l == L - 1 else fb]
                if j == 0 and prev_updates:
                    # the gradient accumulator is free once batch k-1's update has consumed it
                    deps.append(prev_updates[l])
                g = add(Task(f"grad{l}", T * st.g[l], tuple(deps), (i, 3), "gradient", l, i, k))
                grads[l].append(g)
                mine.append(g)
            release.append(mine)
            sample += 1
        older_updates = prev_updates
        prev_updates = []
        for l in range(L):
            prev_updates.append(add(Task(f"xbar{l}", st.u[l], tuple(grads[l]), (1, sample, l), "update", l, -1, k)))
    return tasks
