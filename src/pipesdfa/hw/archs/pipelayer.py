"""PipeLayer (Song et al., HPCA 2017), the BP/BPTT baseline.

Per sample: forward ``F_0 .. F_{L-1}``, output error ``E``, then the backward pass
``B_{L-1} .. B_1`` (transposed reads, ``E`` bit-serial passes) with each layer's weight gradient
``G_l`` on its gradient arrays as soon as its error is known. Samples of a batch are pipelined;
the update of all layers follows the batch and the next batch waits for it (serial update).

* As published (default): a layer's ``T`` time steps run one after the other (``T f_l``,
  ``T b_l``, ``T g_l``), and the backward reads a separate transposed copy of the weights
  (``pipeline.pipelayer_shared_transpose = false``): forward and backward of a layer run in the
  same cycle, which is what PipeLayer's ``(N/B)(2L + B + 1)`` cycle count presumes. The copy is
  replicated on its own for its ``E`` bit-serial passes (:func:`~pipesdfa.hw.placement.map_layers`).
* ``pipeline.pipelayer_shared_transpose``: the backward reads the forward arrays transposed
  through row-side ADCs (half the weight arrays, but forward and backward share them).
* ``pipeline.pipelayer_timestep_pipeline`` (a legal optimisation the published design lacks):
  the forward as PipeSDFA's time-step pipeline (layer ``l`` step ``t`` after layer ``l-1`` step
  ``t``), and the backward as a reverse-time wavefront -- ``B_l`` and ``G_l`` at step ``t`` after
  ``B_{l+1}`` at step ``t`` and their own step ``t+1`` (BPTT's membrane recurrence) -- as chains.

Buffers: a sample keeps ``T (n_in + n_neurons membrane_bits)`` bits per layer for the surrogate
gradient plus its ``T n_neurons E``-bit error history, freed when its last gradient is done.
"""

from __future__ import annotations

from pipesdfa.hw.archs.base import COMMON_DESIGN_KEYS, Architecture
from pipesdfa.hw.dataflow import Graph, StageTimes
from pipesdfa.hw.schedule import Task

__all__ = ["PipeLayer"]


class PipeLayer(Architecture):
    name = "pipelayer"
    design_keys = COMMON_DESIGN_KEYS + ("pipeline.pipelayer_shared_transpose", "pipeline.pipelayer_timestep_pipeline")

    def transposed_copies(self, layers, p, r_max: int) -> list[int]:
        """A separate transposed copy (unless shared), replicated for its ``E`` read passes."""
        from pipesdfa.hw.mapping import replication_plan

        if p.pipeline.pipelayer_shared_transpose:
            return [0] * len(layers)
        E = p.precision.error_bits
        return [0] + replication_plan(layers, r_max, [E] * len(layers))[1:]  # layer 0 has no backward

    def transpose_periphery(self, p) -> bool:
        return p.pipeline.pipelayer_shared_transpose

    def stored_bits(self, m, p, T: int) -> list[int]:
        E, mb = p.precision.error_bits, p.precision.membrane_bits
        return [T * (l.n_in + l.n_neurons * mb) + T * l.n_neurons * E for l in m.layers]

    def build_batches(self, m, p, st: StageTimes, sizes: list[int], K: int, fine: bool = False) -> list[Task]:
        L, T = len(m.layers), st.T
        shared = p.pipeline.pipelayer_shared_transpose
        tsp = p.pipeline.pipelayer_timestep_pipeline
        gr = Graph(st)
        add = gr.add
        release: list[list[int]] = []  # per sample: the tasks whose ends free its buffers
        prev_updates: list[int] = []
        sample = 0
        last_issue = -1  # samples enter layer 0 in order

        for k, bsz in enumerate(sizes):
            grads: list[list[int]] = [[] for _ in range(L)]
            bwds: list[list[int]] = [[] for _ in range(L)]
            accs: list[list[int]] = [[] for _ in range(L)]
            for j in range(bsz):
                i = sample
                deps0: list[int] = list(prev_updates) if j == 0 else []
                if K and i - K >= 0:
                    deps0.extend(release[i - K])
                if last_issue >= 0:
                    deps0.append(last_issue)
                deps0 = gr.load_input(deps0, i, k)
                prev, outs = -1, []
                for l in range(L):
                    deps = tuple(deps0) if l == 0 else (() if tsp else (prev,))
                    if tsp:
                        prev = add(Task(f"xbar{l}", T * st.f[l], deps, (i, 0, l), "forward", l, i, k,
                                        steps=T, step=st.f[l], up=prev))
                    else:
                        prev = add(Task(f"xbar{l}", T * st.f[l], deps, (i, 0, l), "forward", l, i, k))
                    if l == 0:
                        last_issue = prev
                    outs.append(gr.spill_out(prev, l, i, k))
                err = add(Task("digital", st.e, (prev,), (i, 1), "error", L - 1, i, k))
                up, up_chain = err, -1
                for l in range(L - 1, -1, -1):
                    back_in = gr.spill_in(outs[l], err, l, i, k)
                    gdeps = tuple([up] + back_in) if up_chain < 0 else tuple(back_in)
                    if tsp:
                        g = add(Task(f"grad{l}", T * st.g[l], gdeps, (i, 2, -l), "gradient", l, i, k,
                                     steps=T, step=st.g[l], up=up_chain))
                    else:
                        g = add(Task(f"grad{l}", T * st.g[l], tuple([up] + back_in), (i, 2, -l), "gradient", l, i, k))
                    grads[l].append(g)
                    accs[l].append(gr.accumulate(g, l, i, k))
                    if l > 0:
                        res = f"xbar{l}" if shared else f"xbarT{l}"
                        if tsp:
                            b = add(Task(res, T * st.b[l], gdeps, (i, 2, -l), "backward", l, i, k,
                                         steps=T, step=st.b[l], up=up_chain))
                            up_chain = b
                        else:
                            b = add(Task(res, T * st.b[l], tuple([up] + back_in), (i, 2, -l), "backward", l, i, k))
                        bwds[l].append(b)
                        up = b
                release.append([grads[l][-1] for l in range(L)])
                sample += 1
            prev_updates = []
            for l in range(L):
                # the update writes the layer's arrays: after every gradient and backward read of this batch
                deps = gr.read_accumulators(grads[l] + bwds[l] + accs[l], l, sample, k)
                prev_updates.append(add(Task(f"xbar{l}", st.u[l], tuple(deps), (sample, 3, l), "update", l, -1, k)))
            # the next batch waits for the whole update (PipeLayer's serial update)
        return gr.tasks

    def sample_energy(self, led, m, p, act, T: int) -> None:
        """Transposed reads of layers >= 1 (``E`` passes), errors buffered and sent back."""
        from pipesdfa.hw.energy import add_buffer, add_noc

        xb, per = p.crossbar, p.periphery
        adc_j = p.adc.conversion_energy_j()
        E, d = p.precision.error_bits, p.precision.error_bit_density
        for l in m.layers:
            i = l.index
            add_buffer(led, i, 2 * T * l.n_neurons * E, p)  # error history written, read back
            if i == 0:
                continue
            reads = T * l.positions * l.crossbars_per_copy * E
            cols = T * l.positions * E * d * l.out_channels * l.cells_per_weight * l.row_tiles
            conv = T * l.positions * E * l.transpose_conversions_per_read
            led.add("backward", "crossbar", i, reads * xb.read_energy_cycle_j + cols * xb.read_energy_row_j)
            led.add("backward", "dac", i, cols * per.dac_energy_j)
            led.add("backward", "adc", i, conv * adc_j)
            led.add("backward", "shift_add", i, conv * per.shift_add_energy_j)
            led.add("backward", "digital", i, T * l.n_in * p.digital.op_energy_j)
            add_noc(led, i, T * l.n_in * E, p)
