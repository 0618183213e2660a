"""Where every hardware constant comes from, and the named presets (swappable constant sets).

:data:`DEFAULT_SOURCES` cites every leaf of the tree's defaults (:class:`~pipesdfa.hw.config.tree.HwParams`);
a :class:`Preset` is a named set of changes over a base, each change with its reason. Presets
are data, not code branches (the PUMA simulator's lesson). None of them is fitted to the
PipeSDFA paper's ratios:

* ``isaac-32nm`` -- the tree's defaults: ISAAC's 32 nm chip (crossbars, ADCs, DACs,
  shift-and-add, eDRAM, router, chip composition and power), PANTHER's encoding of the serial
  update, DNN+NeuroSim V2.1's HBM2 off-chip memory.
* ``pipelayer-2017`` -- ``isaac-32nm`` with PipeLayer's ReRAM read numbers and 4-bit cells; the
  ADC has the 10 bits a 128-row column of 4-bit cells needs (ISAAC's partial-sum precision).
* ``neurosim-rram`` -- ``isaac-32nm`` with DNN+NeuroSim V2.1's training machine: the default
  device's cells and read energy, 6-bit sense amplifiers, an SRAM weight-gradient unit that
  stores activations.
* ``spikesim-vgg9`` -- SpikeSim's 65 nm example machine (64x64 crossbars, PEs of 3x3 kernel
  crossbars, per-PE-cycle energies), used by ``pipesdfa reproduce validation``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipesdfa.hw.config.tree import DEVICE_KEYS

__all__ = ["DEFAULT_SOURCES", "Preset", "PRESETS", "DEFAULT_PRESET", "ISAAC", "PIPELAYER", "PANTHER",
           "NEUROSIM", "SPIKESIM", "PUMA", "DRAM_PRESETS"]

ISAAC = "ISAAC (Shafiee et al., ISCA 2016), Table 6"
PIPELAYER = "PipeLayer (Song et al., HPCA 2017)"
PANTHER = "PANTHER (Ankit et al., IEEE TC 2020), PUMA-simulator constants (mlpPanther/constants_pipelayer.py)"
PUMA = "PUMA simulator constants (Ankit et al., ASPLOS 2019; mlpPanther/constants_pipelayer.py)"
NEUROSIM = "DNN+NeuroSim V2.1 (Peng et al., IEEE TCAD 2020; Training_pytorch/NeuroSIM)"
SPIKESIM = "SpikeSim (Moitra et al., IEEE TCAD 2023), ela_spikesim.py"
SABERI = "ADC scaling after Saberi et al. (IEEE TCAS-I 2011), as tabulated in Accelergy's ISAAC ADC model"

#: The preset ``simulate`` and ``reproduce hardware`` use unless told otherwise.
DEFAULT_PRESET = "pipelayer-2017"

DEFAULT_SOURCES: dict[str, str] = {
    "crossbar.rows": f"{ISAAC}: 128x128 crossbar",
    "crossbar.cols": f"{ISAAC}: 128x128 crossbar",
    "crossbar.cell_bits": f"{ISAAC}: 2 bits per cell",
    "crossbar.read_latency_s": f"{ISAAC}: 100 ns read cycle",
    "crossbar.read_energy_cycle_j": f"{ISAAC}: 8 arrays 2.4 mW per IMA = 0.3 mW x 100 ns = 30 pJ per read",
    "crossbar.read_energy_row_j": f"{ISAAC}: included in the per-read energy",
    "crossbar.cell_area_um2": f"{ISAAC}: 25 um^2 per 128x128 array (8 arrays 0.0002 mm^2)",
    "adc.bits": f"{ISAAC}: 8-bit SAR ADC (= the partial-sum precision of 128 rows of 2-bit cells, 1-bit inputs)",
    "adc.energy_j": f"{ISAAC}: 8 ADCs 16 mW per IMA at 1.2 GS/s, 1.67 pJ per conversion; {SABERI} for other bits",
    "adc.area_um2": f"{ISAAC}: 8 ADCs 0.0096 mm^2 per IMA = 1200 um^2 each; {SABERI} for other bits",
    "adc.sample_rate_hz": f"{ISAAC}: 1.28 GS/s (128 columns per 100 ns read)",
    "adc.leakage_w": f"{PUMA}: ADC leakage 0.2 mW",
    "adc.allow_truncation": "the ADC must resolve a column's full partial sum (ISAAC section IV)",
    "periphery.dac_energy_j": f"{ISAAC}: 8x128 1-bit DACs 4 mW per IMA, 0.42 pJ per conversion",
    "periphery.shift_add_energy_j": f"{ISAAC}: shift-and-add 0.021 pJ per op",
    "periphery.neuron_energy_j": f"{SPIKESIM}: LIF unit about 1.27 pJ per update (65 nm)",
    "digital.clock_hz": f"{ISAAC}: 1.2 GHz",
    "digital.lanes": "assumption: 128-wide vector unit (one crossbar's columns)",
    "digital.op_energy_j": f"assumption: one digital add/compare costs {ISAAC}'s shift-and-add",
    "buffer.access_energy_j": f"{ISAAC}: eDRAM tile buffer (CACTI), about 20 pJ per 256-bit access",
    "buffer.access_bits": f"{ISAAC}: 256-bit eDRAM bus",
    "buffer.capacity_bytes_per_tile": f"{ISAAC}: 64 KB eDRAM per tile",
    "buffer.area_um2_per_kb": f"{ISAAC}: 0.083 mm^2 per 64 KB eDRAM",
    "buffer.sizing": f"{ISAAC}: eDRAM in every tile",
    "dram.bandwidth_bits_per_s": f"{NEUROSIM}, DRAM.cpp: HBM2 15.2e12 bits/s (its default dramType)",
    "dram.energy_per_bit_j": f"{NEUROSIM}, DRAM.cpp: HBM2 3.9 pJ/bit",
    "dram.load_inputs": "assumption: input frames are read from off-chip memory once per sample",
    "interconnect.flit_energy_j": f"{ISAAC}: router 20.74 pJ per 256-bit flit",
    "interconnect.flit_bits": f"{ISAAC}: 256-bit flits",
    "update.scheme": f"{PIPELAYER}: serial read-modify-write weight update",
    "update.serial_latency_s": f"{PANTHER}: PipeLayer's serial write (xbar_op_lat), 475 ns per 128x128 crossbar",
    "update.serial_energy_j": f"{PANTHER}: PipeLayer's serial write (xbar_op_pow 238 mW x 475 ns), 113 nJ per crossbar",
    "update.outer_latency_s": f"{PANTHER}: outer-product write, 20 ns per 128x128 crossbar",
    "update.outer_energy_j": f"{PANTHER}: outer-product write, 88.8 pJ per 128x128 crossbar",
    "update.write_voltage_v": "assumption: 2 V SET/RESET pulses (HfOx RRAM); used with reported pulse counts",
    "gradient.operand": (f"assumption: per layer the faster of the two published orientations ({PIPELAYER}: "
                         f"errors written into morphable subarrays; {NEUROSIM}, WeightGradientUnit.cpp: "
                         "activations written), the same gradient unit on both machines"),
    "gradient.technology": f"{PIPELAYER}: ReRAM morphable subarrays (NeuroSim uses SRAM)",
    "gradient.sram_write_energy_per_bit_j": f"proxy: {ISAAC}'s eDRAM access energy per bit (20 pJ / 256 b)",
    "gradient.arrays_per_weight_array": f"assumption: {PIPELAYER}'s morphable subarrays, as many as weight arrays",
    "precision.weight_bits": f"{PIPELAYER}: 16-bit weights",
    "precision.error_bits": f"{PIPELAYER}: 16-bit data; errors fed bit-serially through 1-bit drivers ({ISAAC})",
    "precision.membrane_bits": "assumption: 16-bit membrane potential stored per neuron and time step",
    "precision.error_bit_density": "assumption: half of the error bits are ones",
    "mapping.max_replication": f"assumption: at most 16 weight copies per layer ({PIPELAYER}'s G, {ISAAC}'s balancing)",
    "mapping.conv_scheme": f"{ISAAC}, {PIPELAYER}: a convolution as one unrolled C_in k^2 x C_out matrix",
    "mapping.feedback": "the SDFA authors' code: one shared matrix sliced per layer",
    "mapping.feedback_cell_bits": "PipeSDFA: feedback values from RRAM stochasticity, one analog cell each",
    "mapping.feedback_copies": "PipeSDFA: one feedback array set (a design variable of pipesdfa explore)",
    "pipeline.batch_dependency": "assumption (docs/hardware.md): stale by at most one batch",
    "pipeline.pipelayer_shared_transpose": (f"{PIPELAYER}: forward and backward of a layer run in the same cycle "
                                            "((N/B)(2L+B+1) cycles), i.e. on separate arrays"),
    "pipeline.timestep_pipeline": "PipeSDFA (Ren et al., ICCAD 2025): time-step-level pipeline",
    "pipeline.pipelayer_timestep_pipeline": f"{PIPELAYER} as published: time steps serial inside a layer",
    "pipeline.max_in_flight": "chosen by the engine: the fastest number of samples in flight (buffers spill to DRAM)",
    "chip.crossbars_per_group": f"{ISAAC}: 8 crossbars per IMA",
    "chip.adcs_per_group": f"{ISAAC}: 8 ADCs per IMA",
    "chip.group_periphery_area_um2": f"{ISAAC}: IMA DAC 0.00017 + S+H 0.00004 + S+A 0.00024 + IR 0.0021 + OR 0.00077 mm^2",
    "chip.groups_per_tile": f"{ISAAC}: 12 IMAs per tile",
    "chip.tile_periphery_area_um2": (f"{ISAAC}: bus 0.090 + router 0.151/4 + sigmoid 0.0006 + S+A 0.00006 + "
                                     "max-pool 0.00024 + OR 0.0032 mm^2"),
    "chip.tiles_per_chip": f"{ISAAC}: 168 tiles",
    "chip.io_area_mm2": f"{ISAAC}: HyperTransport links 22.88 mm^2",
    "chip.power_budget_w": f"{ISAAC}: chip power 65.8 W (caps the crossbars written at once)",
    "chip.power_gating": "Accelergy/Timeloop's ISAAC example: tiles are power-gated (has_power_gating)",
    "area.budget_mm2": "no silicon budget (each machine takes the chips its mapping needs)",
    "activity.input_rate": "assumption: 10 % input spikes per time step when no metrics.json is given",
    "activity.layer_rate": "assumption: 10 % spikes per neuron per time step when no metrics.json is given",
    "device.preset": "DNN+NeuroSim V2.1 default RRAM (pipesdfa.hw.config.device)",
    "device.derive": "cited per-operation read numbers are used (not derived from the device)",
    **{f"device.{k}": "the device preset (pipesdfa.hw.config.device)" for k in DEVICE_KEYS},
}


@dataclass(frozen=True)
class Preset:
    """A named set of changes over a base preset (``None`` = the tree's defaults), each with a reason."""

    name: str
    description: str
    base: str | None
    changes: dict[str, tuple[Any, str]]


#: SpikeSim's per-PE-cycle energies other than arrays and ADCs (pJ): H-tree, memory fetch, neuron,
#: subtractors, temporary buffer, tile buffer.
_SPIKESIM_PE_OVERHEAD_PJ = 19.64 * 8 + 4.64 + 1.274 * 4.0 + 8 * 16 * 1.15e-6 + 8 * 0.2 + 397.0

PRESETS: dict[str, Preset] = {p.name: p for p in [
    Preset("isaac-32nm", "ISAAC's 32 nm chip, PANTHER's serial update, NeuroSim's HBM2", None, {}),
    Preset("pipelayer-2017", "ISAAC's chip with PipeLayer's ReRAM reads (16-bit weights in four 4-bit cells, "
           "spike-driven rows)", "isaac-32nm", {
               "crossbar.cell_bits": (4, f"{PIPELAYER}: 16-bit weights from four 4-bit cells"),
               "crossbar.read_latency_s": (29.31e-9, f"{PIPELAYER}: ReRAM read per spike 29.31 ns (NVSim)"),
               "crossbar.read_energy_cycle_j": (0.0, f"{PIPELAYER}: read energy is charged per spike"),
               "crossbar.read_energy_row_j": (1.08e-12, f"{PIPELAYER}: ReRAM read per spike 1.08 pJ (NVSim)"),
               "periphery.dac_energy_j": (0.0, f"{PIPELAYER}: spike-coded inputs, no DACs"),
               "adc.bits": (10, "ISAAC's partial-sum precision of 128 rows of 4-bit cells (PipeLayer's own "
                                "integrate-and-fire readout is not modelled)"),
           }),
    Preset("neurosim-rram", "ISAAC's chip as a DNN+NeuroSim V2.1 training machine: device-derived reads, 6-bit "
           "sense amplifiers, SRAM weight-gradient unit", "isaac-32nm", {
               "device.derive": (True, "read energy and cell precision derived from pipesdfa.hw.config.device"),
               "crossbar.cell_bits": (5, f"{NEUROSIM}, Param.cpp: cellBit = 5 (floor(log2 60 levels))"),
               "crossbar.read_energy_cycle_j": (0.0, "derived per active row from the device instead"),
               "adc.bits": (6, f"{NEUROSIM}, Param.cpp: levelOutput = 64"),
               "adc.allow_truncation": (True, f"{NEUROSIM}: multilevel sense amplifiers quantise partial sums"),
               "gradient.operand": ("activation", f"{NEUROSIM}, WeightGradientUnit.cpp: activations written"),
               "gradient.technology": ("sram", f"{NEUROSIM}, Param.cpp: weight gradient in SRAM arrays"),
           }),
    Preset("spikesim-vgg9", "SpikeSim's 65 nm example machine (validation)", "isaac-32nm", {
        "crossbar.rows": (64, f"{SPIKESIM}: 64x64 crossbars"),
        "crossbar.cols": (64, f"{SPIKESIM}: 64x64 crossbars"),
        "crossbar.cell_bits": (4, f"{SPIKESIM}: 4-bit weights in one cell"),
        "precision.weight_bits": (4, f"{SPIKESIM}: 4-bit weights"),
        "crossbar.cell_area_um2": (26.2144 / 4096, f"{SPIKESIM}: xbar area 26.2144 um^2"),
        "crossbar.read_latency_s": (26 / 250e6, f"{SPIKESIM}: one PE cycle = 26 clocks at 250 MHz"),
        "crossbar.read_energy_cycle_j": ((1.76423 * 8 + _SPIKESIM_PE_OVERHEAD_PJ / 9) * 1e-12,
                                         f"{SPIKESIM}: 8 column groups x 1.764 pJ per array, plus the PE cycle's "
                                         "H-tree, fetch, buffers and neuron energy shared by its 9 arrays"),
        "periphery.dac_energy_j": (0.0, f"{SPIKESIM}: spike inputs"),
        "periphery.shift_add_energy_j": (0.0, f"{SPIKESIM}: in the per-PE-cycle energy"),
        "periphery.neuron_energy_j": (0.0, f"{SPIKESIM}: counted per PE cycle (in the read energy)"),
        "adc.energy_j": ((2.03084 + 0.094245) * 1e-12, f"{SPIKESIM}: ADC 2.031 pJ + MUX 0.094 pJ per conversion"),
        "adc.area_um2": (693.633 + 45.9, f"{SPIKESIM}: ADC 693.6 + MUX 45.9 um^2"),
        "adc.sample_rate_hz": (1e12, f"{SPIKESIM}: the PE cycle includes the conversions"),
        "adc.allow_truncation": (True, f"{SPIKESIM}: partial sums quantised by the ADC"),
        "mapping.conv_scheme": ("kernel-split", f"{SPIKESIM}: a PE holds one 64x64 crossbar per kernel offset"),
        "mapping.max_replication": (1, f"{SPIKESIM}: no replication"),
        "chip.crossbars_per_group": (9, f"{SPIKESIM}: 3x3 crossbars per PE"),
        "chip.adcs_per_group": (8, f"{SPIKESIM}: 64 columns / 8 per ADC"),
        "chip.group_periphery_area_um2": (0.0, f"{SPIKESIM}: none beyond ADC and MUX"),
        "chip.groups_per_tile": (8, f"{SPIKESIM}: 8 PEs per tile"),
        "chip.tile_periphery_area_um2": (8 * 13411.41498 + 484.643999 + 0.7391 * 64 * 128 + 216830 * 2,
                                         f"{SPIKESIM}: 8 subtractors, temporary and tile buffers, H-tree"),
        "buffer.capacity_bytes_per_tile": (0, f"{SPIKESIM}: no eDRAM; values sit in per-layer memories"),
        "buffer.sizing": ("per-value", f"{SPIKESIM}: one memory word per input and neuron value"),
        "buffer.area_um2_per_kb": (0.7391 * 8192, f"{SPIKESIM}: 0.7391 um^2 per stored bit"),
        "precision.membrane_bits": (22, f"{SPIKESIM}: 22 bits per stored value"),
        "chip.io_area_mm2": (0.0, f"{SPIKESIM}: no chip I/O in the example"),
    }),
]}


#: Off-chip memories, applied over any preset (``pipesdfa explore --dram NAME``, ``reproduce
#: hardware --explore``): ``{name: {key: (value, source)}}``.
DRAM_PRESETS: dict[str, dict[str, tuple[Any, str]]] = {
    "hbm2": {
        "dram.bandwidth_bits_per_s": (15.2e12, f"{NEUROSIM}, DRAM.cpp: HBM2 15.2e12 bits/s"),
        "dram.energy_per_bit_j": (3.9e-12, f"{NEUROSIM}, DRAM.cpp: HBM2 3.9 pJ/bit"),
    },
    "lpddr5": {
        "dram.bandwidth_bits_per_s": (25.6e9 * 8, "JEDEC JESD209-5 (LPDDR5): 6400 MT/s per pin on a 32-bit "
                                                  "interface (two x16 channels) = 25.6 GB/s, an edge SoC's memory"),
        "dram.energy_per_bit_j": (14e-12, f"{NEUROSIM}, DRAM.cpp: its only off-package DRAM, GDDR5, 14 pJ/bit "
                                          "(an upper bound for LPDDR5, whose unterminated I/O costs less per bit)"),
    },
}
