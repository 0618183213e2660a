"""PipeSDFA (Ren et al., ICCAD 2025), the SDFA accelerator.

No transposed reads: after the forward pass the output error ``e`` is projected once through
the random feedback matrix ``B`` held in its own 1T1R arrays (``fb = E t_c``), and every layer
forms its own weight gradient in parallel (the output layer's straight after ``E``). Three
pipeline levels:

* time step: layer ``l`` step ``t`` starts after layer ``l-1`` step ``t`` and its own step
  ``t-1`` (one chain task per layer and sample; ``pipeline.timestep_pipeline``);
* sample: samples of a batch are issued back to back;
* batch (``pipeline.batch_dependency``): ``stale-1`` -- batch ``k+1`` enters layer ``l`` once
  layer ``l``'s update of batch ``k-1`` is done; the update of batch ``k`` is queued on the
  layer's arrays at a sample boundary (a chain holds its arrays from its first to its last
  step), so a sample never sees a half-written layer and misses at most one batch's update;
  ``strict`` -- batch ``k+1`` waits for batch ``k``'s update of each layer.

Buffers: a sample keeps ``T (n_in + n_neurons membrane_bits)`` bits per layer for its local
surrogate gradient plus the ``n_out E``-bit projected error of each hidden layer, freed as soon
as that layer's gradient is done.
"""

from __future__ import annotations

from pipesdfa.hw.archs.base import COMMON_DESIGN_KEYS, Architecture
from pipesdfa.hw.dataflow import Graph, StageTimes
from pipesdfa.hw.mapping import feedback_map
from pipesdfa.hw.schedule import Task

__all__ = ["PipeSDFA"]


class PipeSDFA(Architecture):
    name = "pipesdfa"
    design_keys = COMMON_DESIGN_KEYS + ("mapping.feedback_copies",)

    def feedback_map(self, layers, p, rows_c: int):
        return feedback_map(layers, p, rows_c)

    def stored_bits(self, m, p, T: int) -> list[int]:
        E, mb = p.precision.error_bits, p.precision.membrane_bits
        last = m.layers[-1]
        return [T * (l.n_in + l.n_neurons * mb) + (0 if l is last else l.n_out * E) for l in m.layers]

    def build_batches(self, m, p, st: StageTimes, sizes: list[int], K: int, fine: bool = False) -> list[Task]:
        L, T = len(m.layers), st.T
        strict = p.pipeline.batch_dependency == "strict"
        tsp = p.pipeline.timestep_pipeline
        gr = Graph(st)
        add, tasks = gr.add, gr.tasks
        release: list[list[int]] = []
        prev_updates: list[int] = []  # batch k-1's update tasks, per layer
        older_updates: list[int] = []  # batch k-2's
        sample = 0
        last_issue = -1  # samples enter layer 0 in order

        for k, bsz in enumerate(sizes):
            grads: list[list[int]] = [[] for _ in range(L)]
            accs: list[list[int]] = [[] for _ in range(L)]
            # strict: batch k waits for batch k-1's update of each layer; stale-1: for batch k-2's
            wait = prev_updates if strict else older_updates
            for j in range(bsz):
                i = sample
                gate: list[int] = [last_issue] if last_issue >= 0 else []
                if K and i - K >= 0:
                    gate.extend(release[i - K])
                gate = gr.load_input(gate, i, k)
                outs: list[int] = []
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
                        outs.append(gr.spill_out(row[-1], l, i, k))
                        if l == 0:
                            last_issue = row[-1]
                    last_fwd = prev_layer[-1]
                else:
                    prev = -1
                    for l in range(L):
                        deps = list(gate) if l == 0 else ([] if tsp else [prev])
                        if j == 0 and wait:
                            deps.append(wait[l])
                        if tsp:
                            # layer l's step t after its step t-1 and layer l-1's step t
                            prev = add(Task(f"xbar{l}", T * st.f[l], tuple(deps), (2, i, 0), "forward", l, i, k,
                                            steps=T, step=st.f[l], up=prev))
                        else:
                            prev = add(Task(f"xbar{l}", T * st.f[l], tuple(deps), (2, i, 0), "forward", l, i, k))
                        outs.append(gr.spill_out(prev, l, i, k))
                        if l == 0:
                            last_issue = prev
                    last_fwd = prev
                err = add(Task("digital", st.e, (last_fwd,), (i, 1), "error", L - 1, i, k))
                fb = add(Task("feedback", st.fb, (err,), (i, 2), "feedback", -1, i, k)) if L > 1 else err
                mine = []
                for l in range(L):
                    deps = [err if l == L - 1 else fb] + gr.spill_in(outs[l], err, l, i, k)
                    if j == 0 and prev_updates:
                        # the gradient accumulator is free once batch k-1's update has consumed it
                        deps.append(prev_updates[l])
                    g = add(Task(f"grad{l}", T * st.g[l], tuple(deps), (i, 3), "gradient", l, i, k))
                    grads[l].append(g)
                    accs[l].append(gr.accumulate(g, l, i, k))
                    mine.append(g)
                release.append(mine)
                sample += 1
            older_updates = prev_updates
            prev_updates = []
            for l in range(L):
                deps = gr.read_accumulators(grads[l] + accs[l], l, sample, k)
                prev_updates.append(add(Task(f"xbar{l}", st.u[l], tuple(deps), (1, sample, l), "update", l, -1, k)))
        return tasks

    def sample_energy(self, led, m, p, act, T: int) -> None:
        """One ``E``-bit pass over the feedback arrays; projected errors stored and broadcast."""
        from pipesdfa.hw.energy import add_buffer, add_noc

        fbm = m.feedback
        if fbm is None:
            return
        xb, per = p.crossbar, p.periphery
        adc_j = p.adc.conversion_energy_j()
        E, d = p.precision.error_bits, p.precision.error_bit_density
        col_tiles = -(-fbm.cols // xb.cols)
        led.add("feedback", "crossbar", -1, E * (fbm.crossbars // fbm.copies * xb.read_energy_cycle_j
                                                  + d * fbm.rows * xb.read_energy_row_j * col_tiles))
        led.add("feedback", "dac", -1, E * d * fbm.rows * col_tiles * per.dac_energy_j)
        led.add("feedback", "adc", -1, E * fbm.conversions * adc_j)
        led.add("feedback", "shift_add", -1, E * fbm.conversions * per.shift_add_energy_j)
        for l in m.layers[:-1]:
            add_buffer(led, l.index, 2 * l.n_out * E, p)
            add_noc(led, l.index, l.n_out * E, p)
