"""Design files: YAML -> validated, immutable :class:`Design`.

One Design object feeds every stage (torch model, RTL, co-simulation, cost model); the
derived quantities of the spec (slices, logical columns, read cycles, ADC shift) are
properties here so that no stage re-derives them.

The keys of spec section 6 are the stable core; extend them, never rename them.
Units: siemens (S), volts (V), hertz (Hz), kelvin (K).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .errors import field_error
from .nonideal import NonidealSpec
from .schema import build_block, choice_field, float_field, int_field
from .yamlfile import load_yaml

# --------------------------------------------------------------------------- blocks


@dataclass(frozen=True)
class CrossbarSpec:
    """One R x C array; ``cell_bits`` bits per cell (levels 0 .. 2^cell_bits - 1)."""

    rows: int = field(default=128, metadata=int_field(1, 4096))
    cols: int = field(default=128, metadata=int_field(2, 4096))
    cell_bits: int = field(default=2, metadata=int_field(1, 8))


@dataclass(frozen=True)
class WeightSpec:
    """Signed, symmetric weights: range +-(2^(bits-1) - 1)."""

    bits: int = field(default=8, metadata=int_field(2, 16))


@dataclass(frozen=True)
class InputSpec:
    """Inputs of ``bits`` bits, applied ``dac_bits`` bits per read cycle.

    ``signed: true`` passes x + 2^(bits-1) through the crossbar and subtracts the
    offset's contribution digitally (spec section 3).
    """

    bits: int = field(default=8, metadata=int_field(1, 16))
    signed: bool = field(default=False, metadata={"kind": "bool"})
    dac_bits: int = field(default=1, metadata=int_field(1, 16))


@dataclass(frozen=True)
class AdcSpec:
    """Per-column ADC: ``bits`` bits; ``per_crossbar`` ADCs shared by a crossbar's columns.

    ``shift``: ``auto`` (the lossless-range default a0 of the spec), an integer, or
    ``calibrated`` (per crossbar, the smallest shift that does not clip the column sums
    seen on calibration data when the network is mapped).
    """

    bits: int = field(default=8, metadata=int_field(1, 16))
    per_crossbar: int = field(default=8, metadata=int_field(1, 4096))
    shift: Any = field(default="auto", metadata={"kind": "shift"})


@dataclass(frozen=True)
class PeSpec:
    """Processing element: ``crossbars`` crossbars with their periphery."""

    crossbars: int = field(default=8, metadata=int_field(1, 1024))


@dataclass(frozen=True)
class TileSpec:
    """A tile: ``pes`` PEs sharing buffers and a router (cost model only).

    ``clock_hz``: the periphery clock in hertz (Hz); each ADC converts one column per
    clock. Default 160 MHz: the default design's 8 ADCs per crossbar convert its 128
    columns (16 conversions) in one 100 ns read (``device.read_frequency``).
    """

    pes: int = field(default=12, metadata=int_field(1, 1024))
    clock_hz: float = field(default=1.6e8, metadata=float_field(0.0, 1e11))


@dataclass(frozen=True)
class DeviceSpec:
    """ReRAM device and read conditions.

    g_on / g_off in siemens (S), v_read in volts (V), read_frequency in hertz (Hz),
    temperature in kelvin (K). Defaults: PytorX's Gmax = 1/3 kOhm; ISAAC-like 10 MHz read
    (100 ns crossbar read, ISAAC ISCA 2016); 300 K (PytorX).
    """

    g_on: float = field(default=3.33e-4, metadata=float_field(0.0, 1.0))
    g_off: float = field(default=3.33e-6, metadata=float_field(1e-15, 1.0, lo_open=False))
    v_read: float = field(default=0.2, metadata=float_field(0.0, 10.0))
    read_frequency: float = field(default=1.0e7, metadata=float_field(1e3, 1e11, lo_open=False))
    temperature: float = field(default=300.0, metadata=float_field(0.0, 1000.0))


@dataclass(frozen=True)
class MaskSpec:
    """Column-mask codes of ``bits`` bits; code i >= 1 selects ``exponents[i-1]``."""

    bits: int = field(default=2, metadata=int_field(1, 4))
    exponents: tuple = field(default=(-1, 0, 1), metadata={"kind": "intlist", "lo": -16, "hi": 16})


@dataclass(frozen=True)
class MappingSpec:
    """How block-circulant layers sit on the crossbars (docs/architecture.md, "ReBoc").

    ``kind``: ``plain`` (every circulant block expanded into b x b cells) or ``reboc`` (one
    stored vector per block, shifted inputs; dense layers map plainly either way).
    ``duplication``: ReBoc's copies per block column (0 = auto: fill the unused logical
    columns). The Program file always holds the plain layout, so this block is not part of
    the mapping fingerprint: it chooses how the chip runs a Program, like ``tile``.
    """

    kind: str = field(default="plain", metadata=choice_field("plain", "reboc"))
    duplication: int = field(default=0, metadata=int_field(0, 4096))


@dataclass(frozen=True)
class CorrectorSpec:
    """The SAF corrector of each crossbar (spec section 3's digital correction).

    ``entries``: the depth of each crossbar's fault table (one entry per faulty weight), an
    integer in [1, crossbar.rows * logical columns], or ``auto``: mean + 6 sigma of the
    faulty weights of one crossbar under the binomial model of ``nonideal.saf``
    (:attr:`Design.fault_table_entries`). Faults past the depth go uncorrected, in the RTL
    and in the golden model alike. Not part of the mapping fingerprint: the Program holds
    the stuck cells, and the table a chip loads is cut from them at the design's depth.
    """

    entries: Any = field(default="auto", metadata={"kind": "auto_int", "lo": 1, "hi": 1 << 24})


#: sigmas above the mean number of faulty weights per crossbar that ``corrector.entries: auto`` covers
FAULT_TABLE_SIGMAS = 6

#: the most clock cycles an analog read may take to settle (tile.clock_hz / device.read_frequency)
MAX_SETTLE_CYCLES = 1 << 16

TECHNOLOGIES = ("isaac-32nm", "neurosim-22nm")


@dataclass(frozen=True)
class Design:
    """A validated, immutable design. Build it with :func:`load_design` or :func:`design_from_dict`."""

    name: str = field(default="default", metadata={"kind": "str"})
    crossbar: CrossbarSpec = field(default_factory=CrossbarSpec)
    weights: WeightSpec = field(default_factory=WeightSpec)
    inputs: InputSpec = field(default_factory=InputSpec)
    adc: AdcSpec = field(default_factory=AdcSpec)
    pe: PeSpec = field(default_factory=PeSpec)
    tile: TileSpec = field(default_factory=TileSpec)
    device: DeviceSpec = field(default_factory=DeviceSpec)
    mask: MaskSpec = field(default_factory=MaskSpec)
    mapping: MappingSpec = field(default_factory=MappingSpec)
    corrector: CorrectorSpec = field(default_factory=CorrectorSpec)
    nonideal: NonidealSpec = field(default_factory=NonidealSpec)
    #: a shipped table (isaac-32nm, neurosim-22nm) or a path to a YAML table of that format
    technology: str = field(default="isaac-32nm", metadata={"kind": "technology", "options": TECHNOLOGIES})
    #: entries of the table replaced by this design: {"section.entry": value} (for example
    #: {"device.write_pj_per_pulse": 3.2}, {"events.adc_conversion_pj.8": 1.5})
    technology_overrides: dict = field(default_factory=dict, metadata={"kind": "numbers"})

    # ---------------------------------------------------------------- derived (spec section 3)
    @property
    def slices(self) -> int:
        """s = ceil((b_w - 1) / b_c): slices per polarity."""
        return -(-(self.weights.bits - 1) // self.crossbar.cell_bits)

    @property
    def cols_per_logical(self) -> int:
        """2s physical columns per logical column."""
        return 2 * self.slices

    @property
    def logical_cols(self) -> int:
        """L = floor(C / 2s): logical columns (output neurons) per crossbar."""
        return self.crossbar.cols // self.cols_per_logical

    @property
    def read_cycles(self) -> int:
        """T = ceil(b_x / v): read cycles per input vector."""
        return -(-self.inputs.bits // self.inputs.dac_bits)

    @property
    def settle_cycles(self) -> int:
        """Clock cycles an analog read needs before its column sums can be sampled:
        ceil(tile.clock_hz / device.read_frequency), at least 1. A ratio within float
        rounding of an integer counts as that integer (1.2e9 / 1e7 gives exactly 120)."""
        ratio = self.tile.clock_hz / self.device.read_frequency
        nearest = round(ratio)
        if abs(ratio - nearest) <= 1e-9 * max(1.0, abs(ratio)):
            return max(1, int(nearest))
        return max(1, math.ceil(ratio))

    @property
    def conductance_step(self) -> float:
        """dG = (g_on - g_off) / (2^b_c - 1): the conductance of one cell level, siemens (S)."""
        return (self.device.g_on - self.device.g_off) / self.cell_max

    @property
    def weight_max(self) -> int:
        return (1 << (self.weights.bits - 1)) - 1

    @property
    def cell_max(self) -> int:
        return (1 << self.crossbar.cell_bits) - 1

    @property
    def digit_max(self) -> int:
        return (1 << self.inputs.dac_bits) - 1

    @property
    def input_range(self) -> tuple[int, int]:
        """Inclusive range of the integer inputs x (before the signed offset)."""
        b = self.inputs.bits
        if self.inputs.signed:
            return -(1 << (b - 1)), (1 << (b - 1)) - 1
        return 0, (1 << b) - 1

    @property
    def input_offset(self) -> int:
        """2^(b_x-1) for signed inputs, else 0."""
        return (1 << (self.inputs.bits - 1)) if self.inputs.signed else 0

    @property
    def s_max(self) -> int:
        """S_max = R * (2^v - 1) * (2^b_c - 1): the largest column sum."""
        return self.crossbar.rows * self.digit_max * self.cell_max

    @property
    def adc_max(self) -> int:
        return (1 << self.adc.bits) - 1

    @property
    def adc_shift_a0(self) -> int:
        """a0 = max(0, bitlen(S_max) - b_a)."""
        return max(0, self.s_max.bit_length() - self.adc.bits)

    @property
    def adc_shift(self) -> int:
        """The design's fixed shift (a0 for ``auto``; a0 is also the start of calibration)."""
        return self.adc.shift if isinstance(self.adc.shift, int) else self.adc_shift_a0

    @property
    def lossless(self) -> bool:
        """True when the ADC never loses information: shift 0 and S_max <= 2^b_a - 1."""
        return self.adc.shift != "calibrated" and self.adc_shift == 0 and self.s_max <= self.adc_max

    @property
    def weight_fault_probability(self) -> float:
        """An upper bound on the chance that a weight has a fault-table entry under
        ``nonideal.saf``'s i.i.d. rates: 1 - (1 - p_top)^s (1 - p_stuck)^s, with p_stuck =
        sa0 + sa1 and p_top the rate of the fault that pins the top level (sa0 with
        ``sa0_state: on``). A weight's entry is needed iff one of its 2s cells is stuck at
        another level than it was to hold; one polarity of every weight holds level 0 in
        all its s cells, which only the top-pinning fault changes."""
        saf = self.nonideal.saf
        p_stuck = saf.sa0 + saf.sa1
        p_top = saf.sa0 if saf.sa0_state == "on" else saf.sa1
        s = self.slices
        return 1.0 - (1.0 - p_top) ** s * (1.0 - p_stuck) ** s

    @property
    def fault_table_entries(self) -> int:
        """Depth of each crossbar's fault table. ``corrector.entries`` when an integer; for
        ``auto``: the faulty weights of one crossbar are a sum of n = R * L independent
        weights, each faulty with at most p = :attr:`weight_fault_probability`, so at most
        binomial (n, p); the depth is
        ceil(n p + FAULT_TABLE_SIGMAS * sqrt(n p (1 - p))), at least 1 and at most n. A design
        with a fault map file (``nonideal.saf.map``) and ``auto`` gets n: a map has no rate."""
        n = self.crossbar.rows * self.logical_cols
        if isinstance(self.corrector.entries, int):
            return self.corrector.entries
        if self.nonideal.saf.map is not None:
            return n
        p = self.weight_fault_probability
        depth = math.ceil(n * p + FAULT_TABLE_SIGMAS * math.sqrt(n * p * (1.0 - p)))
        return min(n, max(1, depth))

    def derived(self) -> dict:
        """The derived quantities that ``xbar-hw design show`` prints."""
        return {
            "slices_per_polarity": self.slices,
            "physical_cols_per_logical": self.cols_per_logical,
            "logical_cols_per_crossbar": self.logical_cols,
            "unused_cols_per_crossbar": self.crossbar.cols - self.logical_cols * self.cols_per_logical,
            "read_cycles": self.read_cycles,
            "weight_range": [-self.weight_max, self.weight_max],
            "input_range": list(self.input_range),
            "s_max": self.s_max,
            "adc_shift_a0": self.adc_shift_a0,
            "adc_shift": self.adc.shift if self.adc.shift == "calibrated" else self.adc_shift,
            "lossless": self.lossless,
            "crossbars_per_pe": self.pe.crossbars,
            "weights_per_crossbar": self.crossbar.rows * self.logical_cols,
            "fault_table_entries": self.fault_table_entries,
        }

    # ---------------------------------------------------------------- serialisation
    def to_dict(self) -> dict:
        d = asdict(self)
        d["mask"]["exponents"] = list(self.mask.exponents)
        return d

    def replace(self, **blocks) -> "Design":
        """A validated copy with some blocks (dicts merged key by key) replaced."""
        d = self.to_dict()
        for k, v in blocks.items():
            d[k] = _merge(d[k], v) if isinstance(v, dict) and isinstance(d.get(k), dict) else v
        return design_from_dict(d)

    def mapping_fingerprint(self) -> str:
        """Hash of the keys that decide a Program's contents (geometry, bits, ADC, PE, mask)."""
        d = self.to_dict()
        core = {k: d[k] for k in MAPPING_KEYS}
        return hashlib.sha256(json.dumps(core, sort_keys=True).encode()).hexdigest()[:16]


def _merge(base: dict, new: dict) -> dict:
    out = dict(base)
    for k, v in new.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


#: The blocks whose values a Program depends on: a Program mapped under other values is
#: "from another design".
MAPPING_KEYS = ("crossbar", "weights", "inputs", "adc", "pe", "mask")


def _check_cross_fields(d: Design) -> None:
    if d.inputs.dac_bits > d.inputs.bits:
        raise field_error("inputs.dac_bits", d.inputs.dac_bits, f"at most inputs.bits = {d.inputs.bits}")
    if d.inputs.signed and d.inputs.bits < 2:
        raise field_error("inputs.bits", d.inputs.bits, "at least 2 when inputs.signed is true")
    if d.logical_cols < 1:
        raise field_error(
            "crossbar.cols",
            d.crossbar.cols,
            f"at least 2*s = {d.cols_per_logical} (one logical column: s = {d.slices} slices per "
            f"polarity for weights.bits = {d.weights.bits} at crossbar.cell_bits = {d.crossbar.cell_bits})",
        )
    if d.adc.per_crossbar > d.crossbar.cols:
        raise field_error("adc.per_crossbar", d.adc.per_crossbar, f"at most crossbar.cols = {d.crossbar.cols}")
    if d.tile.clock_hz / d.device.read_frequency > MAX_SETTLE_CYCLES:
        raise field_error("tile.clock_hz", d.tile.clock_hz, f"at most {MAX_SETTLE_CYCLES} clock cycles per analog read "
                          f"(device.read_frequency = {d.device.read_frequency:g} Hz)")
    if d.device.g_on <= d.device.g_off:
        raise field_error("device.g_on", d.device.g_on, f"greater than device.g_off = {d.device.g_off}")
    n_codes = (1 << d.mask.bits) - 1
    if len(d.mask.exponents) != n_codes:
        raise field_error(
            "mask.exponents", list(d.mask.exponents), f"exactly 2^mask.bits - 1 = {n_codes} integers"
        )
    if d.nonideal.saf.sa0 + d.nonideal.saf.sa1 > 1:
        raise field_error(
            "nonideal.saf.sa1", d.nonideal.saf.sa1, f"at most 1 - nonideal.saf.sa0 = {1 - d.nonideal.saf.sa0:g} (SA0 + SA1 <= 1)"
        )
    if d.mapping.kind == "reboc" and d.adc.shift == "calibrated":
        raise field_error("mapping.kind", "reboc", "plain when adc.shift is calibrated (ReBoc keeps the design's "
                          "one ADC shift; per-crossbar calibrated shifts belong to the plain layout)")
    weights = d.crossbar.rows * d.logical_cols
    if isinstance(d.corrector.entries, int) and d.corrector.entries > weights:
        raise field_error("corrector.entries", d.corrector.entries, f"'auto' or an integer in [1, {weights}] "
                          "(crossbar.rows * logical columns: one entry per weight)")
    if d.s_max.bit_length() + d.weights.bits + d.inputs.bits > 62:
        raise field_error("crossbar.rows", d.crossbar.rows, "a geometry whose sums fit 62 bits")


def design_from_dict(data: dict) -> Design:
    """Validate a mapping (as read from YAML) into a Design; raises XbarError on bad input."""
    design = build_block(Design, data, "")
    _check_cross_fields(design)
    return design


def load_design(path: str | Path) -> Design:
    """Load and validate ``designs/NAME.yaml``. Bad input raises :class:`XbarError`."""
    data = load_yaml(path, "design")
    if not isinstance(data, dict):
        raise field_error(f"design {path}", data, "a YAML mapping with the keys of spec section 6")
    return design_from_dict(data)
