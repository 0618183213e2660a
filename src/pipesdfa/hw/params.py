"""Hardware cost parameters: a typed, validated configuration tree with a citation per value.

The tree (:class:`HwParams`) groups per-operation costs by component. Every leaf has its unit
in its name (``_s`` seconds, ``_j`` joules, ``_w`` watts, ``_hz``, ``_um2``, ``_mm2``,
``_bytes``, ``_bits``) and a citation in :data:`DEFAULT_SOURCES` (or in the preset that
changes it). A leaf is addressed by a dotted key, ``"crossbar.rows"``; the same keys work in
``--set key=value``, in YAML/JSON override files and in :func:`HwConfig.with_overrides`.

Presets are *swappable constant sets*, not code branches (the PUMA simulator's lesson):

* ``isaac-32nm`` -- ISAAC's 32 nm crossbar, ADC, DAC, shift-and-add, eDRAM and router numbers
  (Shafiee et al., ISCA 2016), PANTHER's encoding of the serial update.
* ``pipelayer-2017`` -- ISAAC's periphery with PipeLayer's ReRAM read/write numbers and cell
  precision (Song et al., HPCA 2017).
* ``neurosim-rram`` -- ISAAC's periphery with a crossbar whose read energy, cell precision and
  write energy are derived from the DNN+NeuroSim default device in :mod:`pipesdfa.hw.device`.
* ``paper-calibrated`` -- ``pipelayer-2017`` with the few global assumptions changed that
  bring our ratios onto the paper's reported ranges; each change carries its reason.

Device facts (resistances, levels, pulse width, read voltage) are *read* from
:class:`~pipesdfa.hw.device.DeviceParams` via ``device.preset``; this module holds only
per-operation *costs* and architecture choices.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any, Mapping

from pipesdfa.errors import UserError
from pipesdfa.hw.device import DEVICE_PRESETS, DeviceParams, get_device_preset

__all__ = [
    "CrossbarParams", "ADCParams", "PeripheryParams", "DigitalParams", "BufferParams",
    "InterconnectParams", "UpdateParams", "PrecisionParams", "MappingParams", "PipelineParams",
    "ChipParams", "ActivityParams", "DeviceRef", "HwParams", "HwConfig", "PRESETS", "load_config",
    "adc_energy_j", "flatten", "DEFAULT_SOURCES", "parse_set",
]

ISAAC = "ISAAC (Shafiee et al., ISCA 2016), Table 6"
PIPELAYER = "PipeLayer (Song et al., HPCA 2017), NVSim-based ReRAM numbers"
PANTHER = "PANTHER (Ankit et al., IEEE TC 2020), PUMA-simulator constants"
SPIKESIM = "SpikeSim (Moitra et al., IEEE TCAD 2023), 65 nm LIF unit"
SABERI = "ADC energy vs resolution after Saberi et al., IEEE TCAS-I 2011 (values as quoted in PAPER.md section 5)"

#: ISAAC's 8-bit SAR ADC and the resolution scaling quoted in PAPER.md section 5 (pJ/conversion).
ADC_ENERGY_BY_BITS_J: dict[int, float] = {4: 0.79e-12, 6: 1.20e-12, 8: 1.67e-12}


def adc_energy_j(bits: int) -> float:
    """Energy of one ADC conversion at ``bits`` of resolution, in joules.

    Exact at the cited points (4, 6, 8 bits); between and beyond them log-linear in the
    number of bits through the nearest two cited points (an assumption: SAR energy grows
    roughly geometrically with resolution at these sizes).
    """
    if bits in ADC_ENERGY_BY_BITS_J:
        return ADC_ENERGY_BY_BITS_J[bits]
    pts = sorted(ADC_ENERGY_BY_BITS_J)
    lo, hi = (pts[0], pts[1]) if bits < pts[1] else (pts[-2], pts[-1]) if bits > pts[-2] else (
        max(p for p in pts if p < bits), min(p for p in pts if p > bits))
    slope = (math.log(ADC_ENERGY_BY_BITS_J[hi]) - math.log(ADC_ENERGY_BY_BITS_J[lo])) / (hi - lo)
    return math.exp(math.log(ADC_ENERGY_BY_BITS_J[lo]) + slope * (bits - lo))


# ------------------------------------------------------------------------------ the tree

@dataclass(frozen=True)
class CrossbarParams:
    """One RRAM crossbar (array plus its drivers).

    ``read_energy_cycle_j`` is charged per crossbar per read cycle regardless of activity
    (ISAAC: 0.3 mW x 100 ns); ``read_energy_row_j`` per *active* input row per cycle
    (PipeLayer's per-spike read energy). ``cell_area_um2`` times ``rows*cols`` is the array area.
    """

    rows: int = 128
    cols: int = 128
    cell_bits: int = 2
    read_latency_s: float = 100e-9
    read_energy_cycle_j: float = 30e-12
    read_energy_row_j: float = 0.0
    cell_area_um2: float = 25.0 / (128 * 128)


@dataclass(frozen=True)
class ADCParams:
    """Column ADCs. ``energy_j`` < 0 means "take it from the resolution table" (:func:`adc_energy_j`)."""

    bits: int = 8
    energy_j: float = -1.0
    sample_rate_hz: float = 1.28e9
    per_crossbar: int = 1
    area_um2: float = 1200.0

    def conversion_energy_j(self) -> float:
        return adc_energy_j(self.bits) if self.energy_j < 0 else self.energy_j


@dataclass(frozen=True)
class PeripheryParams:
    """Per-operation costs of the crossbar periphery and the neuron units.

    ``dac_energy_j``: one 1-bit input driver activation (per active row per cycle);
    ``shift_add_energy_j``: one shift-and-add of a converted column; ``neuron_energy_j``: one
    LIF/IF membrane update; ``pipelayer_array_factor``: multiplier on the energy of every
    PipeLayer array access (crossbar, drivers, ADCs, shift-add; forward, backward and gradient)
    for the transpose read circuitry its arrays carry (1 = no overhead).
    """

    dac_energy_j: float = 0.42e-12
    shift_add_energy_j: float = 0.021e-12
    neuron_energy_j: float = 1.27e-12
    pipelayer_array_factor: float = 1.0


@dataclass(frozen=True)
class DigitalParams:
    """The digital unit that computes the output error, surrogate derivatives and bookkeeping."""

    clock_hz: float = 1.2e9
    lanes: int = 128
    op_energy_j: float = 0.021e-12


@dataclass(frozen=True)
class BufferParams:
    """Activation/error buffers (eDRAM). ``capacity_bytes`` per chip; ``enforce_capacity``
    limits the samples in flight to what the buffers of all chips can hold (at least one)."""

    access_energy_j: float = 20e-12
    access_bits: int = 256
    capacity_bytes: int = 168 * 64 * 1024
    area_um2_per_kb: float = 83000.0 / 64.0
    enforce_capacity: bool = True


@dataclass(frozen=True)
class InterconnectParams:
    """On-chip network: energy per flit of ``flit_bits``."""

    flit_energy_j: float = 20.74e-12
    flit_bits: int = 256


@dataclass(frozen=True)
class UpdateParams:
    """Weight update written into the crossbars once per batch.

    ``scheme``: ``"serial"`` (PipeLayer-style read-modify-write) or ``"outer-product"``
    (parallel row/column coincident pulses). Costs are per 128x128 crossbar (scaled by cell
    count for other sizes); ``parallel_crossbars`` crossbars are written at the same time
    (write-driver/power budget), so a layer with ``n`` crossbars (all copies) takes
    ``ceil(n / parallel_crossbars)`` update steps. ``write_voltage_v`` feeds the per-pulse
    cell energy ``V^2 / R_on * t_pulse`` used when a training run reports pulse counts.
    """

    scheme: str = "serial"
    serial_latency_s: float = 475e-9
    serial_energy_j: float = 113e-9
    outer_latency_s: float = 20e-9
    outer_energy_j: float = 88.8e-12
    parallel_crossbars: int = 64
    write_voltage_v: float = 2.0


@dataclass(frozen=True)
class PrecisionParams:
    """Bit widths: weights (sliced over cells), errors (fed bit-serially, one bit per read
    cycle), stored membrane/surrogate values per neuron and time step."""

    weight_bits: int = 16
    error_bits: int = 16
    membrane_bits: int = 16
    error_bit_density: float = 0.5


@dataclass(frozen=True)
class MappingParams:
    """Crossbar mapping: replication for balance (at most ``max_replication`` copies of a
    layer's weights; a layer gets just enough copies to match the slowest layer), and the
    SDFA feedback matrix storage: ``"shared"`` (one ``C x n_max`` matrix, sliced per layer)
    or ``"per-layer"`` (one ``C x n_l`` matrix per hidden layer)."""

    max_replication: int = 16
    feedback: str = "shared"
    feedback_cell_bits: int = 0  # 0 = analog RRAM-sampled value in one cell


@dataclass(frozen=True)
class PipelineParams:
    """Scheduling assumptions.

    ``batch_dependency`` (PipeSDFA): ``"stale-1"`` -- batch k+1 is issued without waiting for
    batch k's update; its first sample enters layer l once layer l's update of batch k-1 is
    done. The update of layer l for batch k is inserted into layer l's crossbar queue at the
    first sample boundary after batch k's last gradient of layer l, so a sample never sees a
    half-written layer, and a sample of batch k+1 misses at most batch k's update (one batch
    stale, per layer); ``"strict"`` -- the first sample of batch k+1 enters layer l only after
    layer l's batch-k update (sequential SGD semantics). PipeLayer always waits for the whole
    update before the next batch.
    ``pipelayer_shared_transpose``: PipeLayer's backward reads the *same* crossbars
    transposed (so forward and backward of a layer share them), else a separate copy.
    ``timestep_pipeline``: PipeSDFA's layer l on step t while layer l+1 on step t-1.
    """

    batch_dependency: str = "stale-1"
    pipelayer_shared_transpose: bool = True
    timestep_pipeline: bool = True


@dataclass(frozen=True)
class ChipParams:
    """One chip: area bound (a crossbar larger than this is rejected) and static power."""

    area_mm2: float = 85.4
    static_power_w: float = 0.0


@dataclass(frozen=True)
class ActivityParams:
    """Default spike rates (spikes per neuron per time step) when no metrics.json is given."""

    input_rate: float = 0.1
    layer_rate: float = 0.1


@dataclass(frozen=True)
class DeviceRef:
    """Which :data:`pipesdfa.hw.device.DEVICE_PRESETS` entry supplies the device facts, and
    whether the crossbar's read energy/cell bits are derived from it (``derive``)."""

    preset: str = "neurosim-default"
    derive: bool = False


@dataclass(frozen=True)
class HwParams:
    crossbar: CrossbarParams = field(default_factory=CrossbarParams)
    adc: ADCParams = field(default_factory=ADCParams)
    periphery: PeripheryParams = field(default_factory=PeripheryParams)
    digital: DigitalParams = field(default_factory=DigitalParams)
    buffer: BufferParams = field(default_factory=BufferParams)
    interconnect: InterconnectParams = field(default_factory=InterconnectParams)
    update: UpdateParams = field(default_factory=UpdateParams)
    precision: PrecisionParams = field(default_factory=PrecisionParams)
    mapping: MappingParams = field(default_factory=MappingParams)
    pipeline: PipelineParams = field(default_factory=PipelineParams)
    chip: ChipParams = field(default_factory=ChipParams)
    activity: ActivityParams = field(default_factory=ActivityParams)
    device: DeviceRef = field(default_factory=DeviceRef)

    # -- derived quantities -------------------------------------------------------------
    @property
    def device_params(self) -> DeviceParams:
        return get_device_preset(self.device.preset)

    @property
    def cells_per_weight(self) -> int:
        """``ceil(weight_bits / cell_bits)`` cells hold one weight (bit slicing)."""
        return -(-self.precision.weight_bits // self.crossbar.cell_bits)

    @property
    def cycle_s(self) -> float:
        """One crossbar read cycle with conversion: ``max(t_read, cols / (ADCs * f_s))``."""
        conv = self.crossbar.cols / (self.adc.per_crossbar * self.adc.sample_rate_hz)
        return max(self.crossbar.read_latency_s, conv)

    @property
    def crossbar_area_um2(self) -> float:
        return self.crossbar.rows * self.crossbar.cols * self.crossbar.cell_area_um2

    @property
    def cell_scale(self) -> float:
        """Cells of one crossbar relative to the 128x128 reference of the update costs."""
        return self.crossbar.rows * self.crossbar.cols / (128 * 128)

    @property
    def pulse_energy_j(self) -> float:
        """Energy of one programming pulse into one cell: ``V_w^2 / R_on * t_pulse`` (J)."""
        d = self.device_params
        return self.update.write_voltage_v ** 2 / d.r_on_ohm * d.write_pulse_s

    @property
    def update_latency_s(self) -> float:
        u = self.update
        base = u.serial_latency_s if u.scheme == "serial" else u.outer_latency_s
        return base * (self.crossbar.rows / 128 if u.scheme == "serial" else 1.0)

    @property
    def update_energy_j(self) -> float:
        """Energy to update one crossbar (J), scaled from the 128x128 reference by cell count."""
        u = self.update
        base = u.serial_energy_j if u.scheme == "serial" else u.outer_energy_j
        return base * self.cell_scale


# --------------------------------------------------------------------------- validation

_CHOICES: dict[str, tuple[str, ...]] = {
    "update.scheme": ("serial", "outer-product"),
    "mapping.feedback": ("shared", "per-layer"),
    "pipeline.batch_dependency": ("stale-1", "strict"),
    "device.preset": tuple(DEVICE_PRESETS),
}
#: keys that must be strictly positive (divisors, sizes); every other number must be >= 0.
_POSITIVE = {
    "crossbar.rows", "crossbar.cols", "crossbar.cell_bits", "crossbar.read_latency_s",
    "crossbar.cell_area_um2", "adc.bits", "adc.sample_rate_hz", "adc.per_crossbar", "digital.clock_hz",
    "digital.lanes", "buffer.access_bits", "interconnect.flit_bits", "update.parallel_crossbars",
    "precision.weight_bits", "precision.error_bits", "precision.membrane_bits", "mapping.max_replication",
    "chip.area_mm2",
}
#: keys that may be negative as a sentinel (documented on the field).
_SENTINEL = {"adc.energy_j"}
_RATES = {"activity.input_rate", "activity.layer_rate", "precision.error_bit_density"}


def flatten(p: Any, prefix: str = "") -> dict[str, Any]:
    """``{"section.key": value}`` for every leaf of a params dataclass."""
    out: dict[str, Any] = {}
    for f in fields(p):
        v = getattr(p, f.name)
        key = f"{prefix}{f.name}"
        if is_dataclass(v):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def validate(p: HwParams, where: str = "hardware config") -> None:
    """Reject impossible values, naming the key. Raises :class:`UserError`."""
    for key, v in flatten(p).items():
        if key in _CHOICES:
            if v not in _CHOICES[key]:
                raise UserError(f"{where}: {key} = {v!r}; expected one of: {', '.join(_CHOICES[key])}")
            continue
        if isinstance(v, bool) or isinstance(v, str):
            continue
        if not math.isfinite(float(v)):
            raise UserError(f"{where}: {key} = {v!r}; expected a finite number")
        if key in _SENTINEL:
            continue
        if key in _POSITIVE and not v > 0:
            raise UserError(f"{where}: {key} = {v!r}; expected a positive value")
        if v < 0:
            raise UserError(f"{where}: {key} = {v!r}; expected a value >= 0 (costs cannot be negative)")
        if key in _RATES and v > 1:
            raise UserError(f"{where}: {key} = {v!r}; expected a rate in [0, 1]")
    dev = p.device_params
    max_bits = int(math.floor(math.log2(dev.levels)))
    if p.crossbar.cell_bits > max_bits:
        raise UserError(
            f"{where}: crossbar.cell_bits = {p.crossbar.cell_bits} but device {dev.name!r} has only "
            f"{dev.levels} levels (at most {max_bits} bits per cell)")
    if p.mapping.feedback_cell_bits > max_bits:
        raise UserError(f"{where}: mapping.feedback_cell_bits = {p.mapping.feedback_cell_bits} exceeds "
                        f"the device's {max_bits} bits per cell")
    xbar_mm2 = p.crossbar_area_um2 * 1e-6 + p.adc.per_crossbar * p.adc.area_um2 * 1e-6
    if xbar_mm2 > p.chip.area_mm2:
        raise UserError(
            f"{where}: crossbar.rows x crossbar.cols = {p.crossbar.rows}x{p.crossbar.cols} makes one crossbar "
            f"{xbar_mm2:.3g} mm^2, larger than the chip (chip.area_mm2 = {p.chip.area_mm2})")
    if p.crossbar.rows > 1 << 20 or p.crossbar.cols > 1 << 20:
        raise UserError(f"{where}: crossbar.rows/cols must be <= {1 << 20}")


# ------------------------------------------------------------------------ (de)serialising

def _coerce(key: str, current: Any, raw: Any, where: str) -> Any:
    """Convert ``raw`` (from YAML/JSON/--set) to the type of the current value."""
    try:
        if isinstance(current, bool):
            if isinstance(raw, bool):
                return raw
            s = str(raw).strip().lower()
            if s in ("true", "1", "yes", "on"):
                return True
            if s in ("false", "0", "no", "off"):
                return False
            raise ValueError
        if isinstance(current, int):
            f = float(raw)
            if f != int(f):
                raise ValueError
            return int(f)
        if isinstance(current, float):
            return float(raw)
        return str(raw)
    except (TypeError, ValueError):
        kind = "true/false" if isinstance(current, bool) else type(current).__name__
        raise UserError(f"{where}: {key} = {raw!r}; expected {kind}") from None


def _apply(p: HwParams, changes: Mapping[str, Any], where: str) -> HwParams:
    known = flatten(p)
    groups: dict[str, dict[str, Any]] = {}
    for key, raw in changes.items():
        if key not in known:
            raise UserError(f"{where}: unknown key {key!r}; expected one of: {', '.join(sorted(known))}")
        section, leaf = key.split(".", 1)
        groups.setdefault(section, {})[leaf] = _coerce(key, known[key], raw, where)
    for section, vals in groups.items():
        p = replace(p, **{section: replace(getattr(p, section), **vals)})
    return p


def _flatten_nested(d: Mapping[str, Any], where: str, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(_flatten_nested(v, where, key + "."))
        else:
            out[key] = v
    return out


def parse_set(items: list[str] | None) -> dict[str, str]:
    """``["a.b=1", ...]`` -> ``{"a.b": "1"}``; rejects items without ``=``."""
    out: dict[str, str] = {}
    for item in items or []:
        if "=" not in item:
            raise UserError(f"--set {item!r}: expected KEY=VALUE, e.g. --set crossbar.rows=256")
        k, v = item.split("=", 1)
        out[k.strip()] = v.strip()
    return out


# ------------------------------------------------------------------------------ presets

DEFAULT_SOURCES: dict[str, str] = {
    "crossbar.rows": f"{ISAAC}: 128x128 crossbar",
    "crossbar.cols": f"{ISAAC}: 128x128 crossbar",
    "crossbar.cell_bits": f"{ISAAC}: 2 bits per cell",
    "crossbar.read_latency_s": f"{ISAAC}: 100 ns read cycle",
    "crossbar.read_energy_cycle_j": f"{ISAAC}: 0.3 mW x 100 ns = 30 pJ per crossbar read cycle",
    "crossbar.read_energy_row_j": f"{ISAAC}: included in the per-cycle energy",
    "crossbar.cell_area_um2": f"{ISAAC}: 25 um^2 per 128x128 array",
    "adc.bits": f"{ISAAC}: 8-bit SAR ADC",
    "adc.energy_j": f"{ISAAC} (8 b: 1.67 pJ); {SABERI} (4 b: 0.79 pJ, 6 b: 1.20 pJ)",
    "adc.sample_rate_hz": f"{ISAAC}: 1.28 GS/s",
    "adc.per_crossbar": f"{ISAAC}: 8 ADCs per IMA of 8 crossbars",
    "adc.area_um2": f"{ISAAC}: 1200 um^2 per ADC",
    "periphery.dac_energy_j": f"{ISAAC}: 1-bit DAC, 0.42 pJ per conversion (PAPER.md section 5)",
    "periphery.shift_add_energy_j": f"{ISAAC}: shift-and-add 0.021 pJ per op",
    "periphery.neuron_energy_j": f"{SPIKESIM}: about 1.27 pJ per neuron update",
    "periphery.pipelayer_array_factor": "assumption: PipeLayer's transpose read circuit adds no energy per access",
    "digital.clock_hz": f"{ISAAC}: 1.2 GHz digital logic",
    "digital.lanes": "assumption: 128-wide vector unit (one crossbar column group)",
    "digital.op_energy_j": f"assumption: one digital add/compare costs {ISAAC}'s shift-and-add",
    "buffer.access_energy_j": f"{ISAAC}: eDRAM tile buffer (CACTI), about 20 pJ per 256-bit access",
    "buffer.access_bits": f"{ISAAC}: 256-bit eDRAM bus",
    "buffer.capacity_bytes": f"{ISAAC}: 64 KB eDRAM per tile x 168 tiles per chip",
    "buffer.area_um2_per_kb": f"{ISAAC}: 0.083 mm^2 per 64 KB eDRAM",
    "buffer.enforce_capacity": "assumption: activations kept for training must fit in on-chip buffers",
    "interconnect.flit_energy_j": f"{ISAAC}: router 20.74 pJ per 256-bit flit",
    "interconnect.flit_bits": f"{ISAAC}: 256-bit flits",
    "update.scheme": f"{PIPELAYER}: serial read-modify-write update",
    "update.serial_latency_s": f"{PANTHER}: PipeLayer-style serial update, about 475 ns per 128x128 crossbar",
    "update.serial_energy_j": f"{PANTHER}: PipeLayer-style serial update, about 113 nJ per 128x128 crossbar",
    "update.outer_latency_s": f"{PANTHER}: outer-product update, 20 ns per 128x128 crossbar",
    "update.outer_energy_j": f"{PANTHER}: outer-product update, 88.8 pJ per 128x128 crossbar",
    "update.parallel_crossbars": "assumption: 64 crossbars (8 ISAAC IMAs) written at once (write power budget)",
    "update.write_voltage_v": "assumption: 2 V SET/RESET pulses (typical HfOx RRAM, NeuroSim-like)",
    "precision.weight_bits": f"{PIPELAYER}: 16-bit weights",
    "precision.error_bits": f"{PIPELAYER}: 16-bit data; errors fed bit-serially by 1-bit drivers ({ISAAC})",
    "precision.membrane_bits": "assumption: 16-bit membrane potential stored per neuron and time step",
    "precision.error_bit_density": "assumption: half of the error bits are ones",
    "mapping.max_replication": "assumption: at most 16 weight copies per layer (PipeLayer's G / ISAAC balancing)",
    "mapping.feedback": "SDFA authors' code: one shared matrix sliced per layer (PAPER.md section 2)",
    "mapping.feedback_cell_bits": "PAPER.md section 4: feedback values from RRAM stochasticity, one cell each",
    "pipeline.batch_dependency": "assumption (documented in docs/hardware.md): stale-by-at-most-one-batch",
    "pipeline.pipelayer_shared_transpose": f"{PIPELAYER}: backward reads the same arrays via a transpose circuit",
    "pipeline.timestep_pipeline": "PAPER.md section 4: PipeSDFA's time-step-level pipeline",
    "chip.area_mm2": f"{ISAAC}: 85.4 mm^2 chip",
    "chip.static_power_w": "assumption: static power not modelled (0 W)",
    "activity.input_rate": "assumption: 10 % input spikes per time step when no metrics.json is given",
    "activity.layer_rate": "assumption: 10 % spikes per neuron per time step when no metrics.json is given",
    "device.preset": "DNN+NeuroSim V2.1 default RRAM (pipesdfa.hw.device)",
    "device.derive": "cited per-operation numbers are used (not derived from the device)",
}


@dataclass(frozen=True)
class Preset:
    """A named set of changes over a base preset (``None`` = the tree's defaults), each with a reason."""

    name: str
    description: str
    base: str | None
    changes: dict[str, tuple[Any, str]]


PRESETS: dict[str, Preset] = {p.name: p for p in [
    Preset("isaac-32nm", "ISAAC's 32 nm crossbar, ADC, DAC, eDRAM and router numbers", None, {}),
    Preset("pipelayer-2017", "ISAAC periphery with PipeLayer's ReRAM numbers (16-bit weights in four 4-bit cells, "
           "spike-driven reads)", "isaac-32nm", {
               "crossbar.cell_bits": (4, f"{PIPELAYER}: 16-bit weights from four 4-bit cells"),
               "crossbar.read_latency_s": (29.31e-9, f"{PIPELAYER}: ReRAM read per spike 29.31 ns"),
               "crossbar.read_energy_cycle_j": (0.0, f"{PIPELAYER}: read energy is charged per spike"),
               "crossbar.read_energy_row_j": (1.08e-12, f"{PIPELAYER}: ReRAM read per spike 1.08 pJ"),
               "periphery.dac_energy_j": (0.0, f"{PIPELAYER}: spike-coded inputs, no DACs"),
           }),
    Preset("neurosim-rram", "ISAAC periphery with a crossbar derived from the NeuroSim default device "
           "(cell bits from its levels, read energy V^2 G t per active cell)", "isaac-32nm", {
               "device.derive": (True, "read energy and cell precision derived from pipesdfa.hw.device"),
               "crossbar.cell_bits": (5, "floor(log2(60 levels)) of the DNN+NeuroSim V2.1 default device"),
               "crossbar.read_energy_cycle_j": (0.0, "derived per active cell from the device instead"),
           }),
    Preset("paper-calibrated", "pipelayer-2017 with the global assumptions that put our ratios on the paper's "
           "ranges (see docs/hardware.md); never tuned per workload", "pipelayer-2017", {
               "mapping.max_replication": (16384, "calibration: every layer finishes one time step per logical "
                                           "cycle, as PipeLayer's cycle-level model (2L+1 cycles per sample) "
                                           "presumes; needs full replication of the convolution layers"),
               "update.parallel_crossbars": (1_000_000, "calibration: all arrays are written at once, as PipeLayer "
                                             "counts the update as one cycle"),
               "periphery.pipelayer_array_factor": (1.3, "calibration: the energy of PipeLayer's transpose read "
                                                    "circuitry on every array access is not published; 1.3 puts "
                                                    "the smallest energy ratio near the paper's 1.37x"),
           }),
]}


def _resolve_preset(name: str) -> tuple[HwParams, dict[str, str]]:
    if name not in PRESETS:
        raise UserError(f"unknown hardware preset {name!r}; expected one of: {', '.join(PRESETS)}")
    pr = PRESETS[name]
    if pr.base is None:
        p, sources = HwParams(), dict(DEFAULT_SOURCES)
    else:
        p, sources = _resolve_preset(pr.base)
    p = _apply(p, {k: v for k, (v, _) in pr.changes.items()}, f"preset {name!r}")
    for k, (_, why) in pr.changes.items():
        sources[k] = why
    if p.device.derive:
        p, sources = _derive_from_device(p, sources)
    return p, sources


def _derive_from_device(p: HwParams, sources: dict[str, str]) -> tuple[HwParams, dict[str, str]]:
    """Crossbar read energy per active row from the device: ``cols * V_r^2 * G_mean * t_read``."""
    d = p.device_params
    g_mean = 0.5 * (d.g_max_s + d.g_min_s)
    row_j = p.crossbar.cols * d.read_voltage_v ** 2 * g_mean * p.crossbar.read_latency_s
    p = replace(p, crossbar=replace(p.crossbar, read_energy_row_j=row_j))
    sources = dict(sources)
    sources["crossbar.read_energy_row_j"] = (
        f"derived: cols x V_read^2 x mean(1/R_on, 1/R_off) x t_read from device {d.name!r} ({d.source})")
    return p, sources


@dataclass(frozen=True)
class HwConfig:
    """A resolved configuration: the parameter tree, where each value comes from, the preset name."""

    params: HwParams
    sources: dict[str, str]
    preset: str

    def with_overrides(self, changes: Mapping[str, Any], where: str = "--set") -> "HwConfig":
        if not changes:
            return self
        p = _apply(self.params, changes, where)
        if p.device.derive and ("device.preset" in changes or "crossbar.read_latency_s" in changes
                                or "crossbar.cols" in changes):
            p, sources = _derive_from_device(p, self.sources)
        else:
            sources = dict(self.sources)
        for k in changes:
            sources[k] = f"override ({where})"
        validate(p, where)
        return HwConfig(p, sources, self.preset)

    def to_dict(self) -> dict[str, Any]:
        """Nested plain dict (YAML/JSON-ready) of the parameter tree."""
        out: dict[str, Any] = {}
        for key, v in flatten(self.params).items():
            section, leaf = key.split(".", 1)
            out.setdefault(section, {})[leaf] = v
        return out

    @staticmethod
    def from_dict(d: Mapping[str, Any], preset: str = "isaac-32nm", where: str = "config") -> "HwConfig":
        """Start from ``preset`` and apply a nested (or dotted) dict; unknown keys are rejected."""
        return load_config(preset).with_overrides(_flatten_nested(d, where), where)


def load_config(preset: str = "pipelayer-2017", overrides: Mapping[str, Any] | None = None,
                files: list[str | Path] | None = None) -> HwConfig:
    """Resolve ``preset``, then apply each YAML/JSON file in order, then ``overrides``."""
    p, sources = _resolve_preset(preset)
    validate(p, f"preset {preset!r}")
    cfg = HwConfig(p, sources, preset)
    for f in files or []:
        cfg = cfg.with_overrides(_read_override_file(Path(f)), str(f))
    return cfg.with_overrides(dict(overrides or {}), "--set")


def _read_override_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except Exception as exc:  # noqa: BLE001 -- any parse error is the user's file
        raise UserError(f"{path}: not valid {'JSON' if path.suffix.lower() == '.json' else 'YAML'}: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise UserError(f"{path}: expected a mapping of section -> key -> value at the top level")
    return _flatten_nested(data, str(path))
