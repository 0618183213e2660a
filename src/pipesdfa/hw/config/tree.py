"""The hardware parameter tree: typed sections, dotted keys, coercion of overrides.

Every leaf has its unit in its name (``_s`` seconds, ``_j`` joules, ``_w`` watts, ``_hz``,
``_um2``, ``_mm2``, ``_bits``, ``_bytes``) and a citation in :mod:`pipesdfa.hw.config.presets`. A
leaf is addressed by a dotted key, ``"crossbar.rows"``; the same keys work in ``--set
key=value``, in YAML/JSON files and in :meth:`pipesdfa.hw.config.HwConfig.with_overrides`.
Device facts are a section too (``device.levels``, ``device.r_on_ohm``, ...): they start from
the device preset named by ``device.preset`` (:mod:`pipesdfa.hw.config.device`) and the trainer's
``--hardware rram --set device.KEY=V`` reads the same keys through :func:`coerce`.

This module holds the tree and its pure derived quantities only; dotted keys and coercion live
in :mod:`pipesdfa.hw.config.keys`, presets, validation and loading in :mod:`pipesdfa.hw.config.presets`,
:mod:`pipesdfa.hw.config.checks` and :mod:`pipesdfa.hw.config`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, make_dataclass
from typing import Any

from pipesdfa.hw import adc as adc_table
from pipesdfa.hw.config.device import DeviceParams

__all__ = [
    "CrossbarParams", "ADCParams", "PeripheryParams", "DigitalParams", "BufferParams", "DRAMParams",
    "InterconnectParams", "UpdateParams", "GradientParams", "PrecisionParams", "MappingParams",
    "PipelineParams", "ChipParams", "AreaParams", "ActivityParams", "DeviceSection", "HwParams",
    "DEVICE_KEYS", "device_from_section", "design_choices",
]


def design_choices(default: Any, *values: Any) -> Any:
    """A leaf that is also a design variable of ``pipesdfa explore``: ``values`` are its legal
    choices (the search's range, :mod:`pipesdfa.hw.design`); ``default`` is the hand-picked one."""
    return field(default=default, metadata={"design": tuple(values)})


@dataclass(frozen=True)
class CrossbarParams:
    """One RRAM crossbar. ``read_energy_cycle_j``: per crossbar read cycle regardless of
    activity; ``read_energy_row_j``: per active input row per read; ``cell_area_um2`` x cells
    = array area."""

    rows: int = 128
    cols: int = 128
    cell_bits: int = 2
    read_latency_s: float = 100e-9
    read_energy_cycle_j: float = 30e-12
    read_energy_row_j: float = 0.0
    cell_area_um2: float = 25.0 / (128 * 128)


@dataclass(frozen=True)
class ADCParams:
    """Column ADCs. ``energy_j``/``area_um2`` = -1: from the resolution table
    (:mod:`pipesdfa.hw.adc`). ``allow_truncation``: accept fewer bits than a column's partial
    sum needs (the accuracy cost of truncating partial sums is then not modelled).
    ``leakage_w``: static power of one ADC."""

    bits: int = 8
    energy_j: float = -1.0
    area_um2: float = -1.0
    sample_rate_hz: float = 1.28e9
    leakage_w: float = 0.2e-3
    allow_truncation: bool = False

    def conversion_energy_j(self) -> float:
        return adc_table.adc_energy_j(self.bits) if self.energy_j < 0 else self.energy_j

    def unit_area_um2(self) -> float:
        return adc_table.adc_area_um2(self.bits) if self.area_um2 < 0 else self.area_um2


@dataclass(frozen=True)
class PeripheryParams:
    """Per-operation energies of the array periphery and the neuron units (J)."""

    dac_energy_j: float = 0.42e-12
    shift_add_energy_j: float = 0.021e-12
    neuron_energy_j: float = 1.27e-12


@dataclass(frozen=True)
class DigitalParams:
    """Digital unit: output error, surrogate products, projected errors, bookkeeping."""

    clock_hz: float = 1.2e9
    lanes: int = 128
    op_energy_j: float = 0.021e-12


@dataclass(frozen=True)
class BufferParams:
    """On-chip activation/error buffers. ``sizing``: ``"per-tile"`` (eDRAM of
    ``capacity_bytes_per_tile`` in every tile) or ``"per-value"`` (memories sized to one stored
    value per input and neuron, SpikeSim's inference model; area only)."""

    access_energy_j: float = 20e-12
    access_bits: int = 256
    capacity_bytes_per_tile: int = design_choices(64 * 1024, *(k * 1024 for k in (16, 32, 64, 128, 256)))
    area_um2_per_kb: float = 83000.0 / 64.0
    sizing: str = "per-tile"


@dataclass(frozen=True)
class DRAMParams:
    """Off-chip memory: what does not fit the on-chip buffers goes here (bits per second)."""

    bandwidth_bits_per_s: float = 15.2e12
    energy_per_bit_j: float = 3.9e-12
    load_inputs: bool = True


@dataclass(frozen=True)
class InterconnectParams:
    flit_energy_j: float = 20.74e-12
    flit_bits: int = 256


@dataclass(frozen=True)
class UpdateParams:
    """Writing cells: the per-batch weight update and the gradient unit's operand writes.

    ``scheme`` of the weight update: ``"serial"`` read-modify-write or ``"outer-product"``.
    Latency and energy per 128x128 crossbar (scaled by cell count for other sizes); a serial
    write of a crossbar takes ``serial_latency_s`` for all its rows. How many crossbars are
    written at once follows from the chip's power budget (:attr:`ChipParams.power_budget_w`)
    and one crossbar's write power ``energy / latency``. ``write_voltage_v`` feeds the
    per-pulse cell energy ``V^2 / R_on * t_pulse`` used when a training run reports pulses.
    """

    scheme: str = "serial"
    serial_latency_s: float = 475e-9
    serial_energy_j: float = 113e-9
    outer_latency_s: float = 20e-9
    outer_energy_j: float = 88.8e-12
    write_voltage_v: float = 2.0


@dataclass(frozen=True)
class GradientParams:
    """The weight-gradient unit (both machines): ``dW = X^T D`` per sample and layer, one
    operand written into gradient arrays, the other streamed as array inputs.

    ``operand``: ``"error"`` (D written, spikes X streamed: PipeLayer's morphable subarrays),
    ``"activation"`` (X written, D streamed bit-serially: DNN+NeuroSim V2.1's weight-gradient
    unit) or ``"auto"`` (per layer the faster of the two). ``technology``: ``"rram"`` (writes
    cost what an update write costs per cell) or ``"sram"`` (``sram_write_energy_per_bit_j``,
    one row per digital clock). ``arrays_per_weight_array``: gradient arrays provisioned per
    weight array of the layer."""

    operand: str = "auto"
    technology: str = design_choices("rram", "rram", "sram")
    sram_write_energy_per_bit_j: float = 20e-12 / 256
    arrays_per_weight_array: float = design_choices(1.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)


@dataclass(frozen=True)
class PrecisionParams:
    """Bit widths: weights (sliced over cells), errors (fed bit-serially), stored membrane
    values per neuron and time step; ``error_bit_density`` = share of error bits that are 1."""

    weight_bits: int = 16
    error_bits: int = 16
    membrane_bits: int = 16
    error_bit_density: float = 0.5


@dataclass(frozen=True)
class MappingParams:
    """Replication (at most ``max_replication`` copies per layer, balanced to the slowest
    layer), convolution mapping (``"im2col"``: one ``C_in k^2 x C_out`` matrix; ``"kernel-split"``:
    one crossbar per kernel offset whose column currents add before conversion, SpikeSim's
    PEs) and the SDFA feedback matrix (``"shared"`` C x n_max, or ``"per-layer"``).
    ``feedback_copies``: copies of the feedback arrays; the ``E`` bit-serial passes of the error
    projection spread over them (``ceil(E / copies)`` read cycles)."""

    max_replication: int = 16
    conv_scheme: str = "im2col"
    feedback: str = "shared"
    feedback_cell_bits: int = 0  # 0 = analog RRAM-sampled value in one cell
    feedback_copies: int = design_choices(1, 1, 2, 4, 8, 16)


@dataclass(frozen=True)
class PipelineParams:
    """Scheduling rules (see :mod:`pipesdfa.hw.archs`).

    ``batch_dependency`` (PipeSDFA): ``"stale-1"`` or ``"strict"``. ``pipelayer_shared_transpose``:
    PipeLayer reads the forward arrays transposed (else a separate transposed copy, the
    published design whose cycle count is ``(N/B)(2L+B+1)``). ``timestep_pipeline``: PipeSDFA's
    time-step pipeline; ``pipelayer_timestep_pipeline``: the same for PipeLayer's forward and a
    reverse-time wavefront for its backward (not in the published PipeLayer). ``max_in_flight``:
    samples in flight (0 = chosen by the engine)."""

    batch_dependency: str = "stale-1"
    pipelayer_shared_transpose: bool = design_choices(False, False, True)
    timestep_pipeline: bool = True
    pipelayer_timestep_pipeline: bool = design_choices(False, False, True)
    max_in_flight: int = 0


@dataclass(frozen=True)
class ChipParams:
    """Chip composition (ISAAC's hierarchy): crossbars with ADCs in groups (ISAAC's IMA,
    SpikeSim's PE), groups in tiles (with eDRAM and tile periphery), tiles in chips (with I/O).
    ``power_budget_w``: power a chip can deliver (caps concurrent crossbar writes);
    ``power_gating``: tiles the mapping leaves unused draw no static power."""

    crossbars_per_group: int = 8
    adcs_per_group: int = design_choices(8, 1, 2, 4, 8, 16)
    group_periphery_area_um2: float = 3320.0
    groups_per_tile: int = 12
    tile_periphery_area_um2: float = 131850.0
    tiles_per_chip: int = 168
    io_area_mm2: float = 22.88
    power_budget_w: float = 65.8
    power_gating: bool = True


@dataclass(frozen=True)
class AreaParams:
    """``budget_mm2`` > 0: silicon available; replication is the largest that fits (0: none)."""

    budget_mm2: float = 0.0


@dataclass(frozen=True)
class ActivityParams:
    """Default spike rates (spikes per neuron per time step) when no metrics.json is given."""

    input_rate: float = 0.1
    layer_rate: float = 0.1


def _device_section() -> type:
    d = DeviceParams()
    extra = [(f.name, type(getattr(d, f.name)), getattr(d, f.name)) for f in fields(DeviceParams)
             if f.name not in ("name", "source")]
    doc = ("The RRAM device: ``preset`` names the base device (:data:`pipesdfa.hw.config.device.DEVICE_PRESETS`), "
           "the other keys are its facts (reset to the preset's when ``preset`` changes); ``derive``: take the "
           "crossbar read energy and cell bits from the device.")
    cls = make_dataclass("DeviceSection", [("preset", str, "neurosim-default"), ("derive", bool, False)] + extra,
                         frozen=True)
    cls.__doc__ = doc
    cls.__module__ = __name__
    return cls


DeviceSection = _device_section()
#: device facts addressable as ``device.<key>`` (every DeviceParams field but name/source).
DEVICE_KEYS: tuple[str, ...] = tuple(f.name for f in fields(DeviceSection) if f.name not in ("preset", "derive"))


def device_from_section(sec: Any) -> DeviceParams:
    """The :class:`DeviceParams` a device section describes (validated by DeviceParams)."""
    from pipesdfa.hw.config.device import get_device_preset

    base = get_device_preset(sec.preset)
    changes = {k: getattr(sec, k) for k in DEVICE_KEYS if getattr(sec, k) != getattr(base, k)}
    return base.with_(**changes) if changes else base


@dataclass(frozen=True)
class HwParams:
    crossbar: CrossbarParams = field(default_factory=CrossbarParams)
    adc: ADCParams = field(default_factory=ADCParams)
    periphery: PeripheryParams = field(default_factory=PeripheryParams)
    digital: DigitalParams = field(default_factory=DigitalParams)
    buffer: BufferParams = field(default_factory=BufferParams)
    dram: DRAMParams = field(default_factory=DRAMParams)
    interconnect: InterconnectParams = field(default_factory=InterconnectParams)
    update: UpdateParams = field(default_factory=UpdateParams)
    gradient: GradientParams = field(default_factory=GradientParams)
    precision: PrecisionParams = field(default_factory=PrecisionParams)
    mapping: MappingParams = field(default_factory=MappingParams)
    pipeline: PipelineParams = field(default_factory=PipelineParams)
    chip: ChipParams = field(default_factory=ChipParams)
    area: AreaParams = field(default_factory=AreaParams)
    activity: ActivityParams = field(default_factory=ActivityParams)
    device: Any = field(default_factory=DeviceSection)

    # -- derived quantities -------------------------------------------------------------
    @property
    def device_params(self) -> DeviceParams:
        return device_from_section(self.device)

    @property
    def cells_per_weight(self) -> int:
        """``ceil(weight_bits / cell_bits)`` cells hold one weight (bit slicing)."""
        return -(-self.precision.weight_bits // self.crossbar.cell_bits)

    @property
    def cycle_s(self) -> float:
        """One crossbar read with conversion: ``max(t_read, cols / (ADCs per crossbar f_s))``."""
        per_xbar = self.chip.adcs_per_group / self.chip.crossbars_per_group
        return max(self.crossbar.read_latency_s, self.crossbar.cols / (per_xbar * self.adc.sample_rate_hz))

    @property
    def crossbar_area_um2(self) -> float:
        return self.crossbar.rows * self.crossbar.cols * self.crossbar.cell_area_um2

    @property
    def cell_scale(self) -> float:
        """Cells of one crossbar relative to the 128x128 reference of the write costs."""
        return self.crossbar.rows * self.crossbar.cols / (128 * 128)

    @property
    def pulse_energy_j(self) -> float:
        """Energy of one programming pulse into one cell: ``V_w^2 / R_on * t_pulse`` (J)."""
        d = self.device_params
        return self.update.write_voltage_v ** 2 / d.r_on_ohm * d.write_pulse_s

    @property
    def write_latency_s(self) -> float:
        """Time to write one crossbar with the update scheme (rows scaled for the serial one)."""
        u = self.update
        return u.serial_latency_s * self.crossbar.rows / 128 if u.scheme == "serial" else u.outer_latency_s

    @property
    def write_energy_j(self) -> float:
        """Energy to write one crossbar with the update scheme (scaled by cell count)."""
        u = self.update
        return (u.serial_energy_j if u.scheme == "serial" else u.outer_energy_j) * self.cell_scale

    @property
    def cell_write_energy_j(self) -> float:
        """Energy to program one cell with a serial write (gradient operand writes)."""
        return self.update.serial_energy_j / (128 * 128)

    @property
    def row_write_latency_s(self) -> float:
        """Time to program one row of a crossbar with a serial write."""
        return self.update.serial_latency_s / 128

    def parallel_writes(self, chips: int) -> int:
        """Crossbars written at once: ``floor(chips * P_budget / (E_write / t_write))``, >= 1."""
        p_write = self.write_energy_j / self.write_latency_s
        return max(1, int(chips * self.chip.power_budget_w // p_write))

    @property
    def group_area_um2(self) -> float:
        c = self.chip
        return c.crossbars_per_group * self.crossbar_area_um2 + c.adcs_per_group * self.adc.unit_area_um2() \
            + c.group_periphery_area_um2

    @property
    def tile_area_um2(self) -> float:
        """Groups, eDRAM and tile periphery of one tile."""
        c = self.chip
        edram = self.buffer.capacity_bytes_per_tile / 1024 * self.buffer.area_um2_per_kb
        return c.groups_per_tile * self.group_area_um2 + edram + c.tile_periphery_area_um2

    @property
    def chip_area_mm2(self) -> float:
        return self.chip.tiles_per_chip * self.tile_area_um2 * 1e-6 + self.chip.io_area_mm2

    @property
    def crossbars_per_chip(self) -> int:
        c = self.chip
        return c.crossbars_per_group * c.groups_per_tile * c.tiles_per_chip

    @property
    def buffer_bits_per_chip(self) -> int:
        return self.buffer.capacity_bytes_per_tile * 8 * self.chip.tiles_per_chip

    @property
    def static_power_per_tile_w(self) -> float:
        """ADC leakage of every ADC of a tile (the only static power with a cited figure)."""
        c = self.chip
        return c.adcs_per_group * c.groups_per_tile * self.adc.leakage_w

    @property
    def static_power_per_chip_w(self) -> float:
        return self.chip.tiles_per_chip * self.static_power_per_tile_w

