"""Technology tables: per-event energies (pJ), static powers (mW, only for parts with no
events in the model), unit areas (µm²) and the device's write costs, each with its source.

A design names a shipped table (``isaac-32nm``, ``neurosim-22nm``) or a YAML file of the
same format, and may override entries (``technology_overrides: {"section.entry": value}``).
Loading checks every entry: present, a finite number >= 0, sourced; no unknown ones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from ..core.design import TECHNOLOGIES, Design
from ..core.errors import XbarError, short
from ..core.yamlfile import load_yaml

#: the entries every table holds, by section; ``*`` marks an entry given by ADC bits
SCHEMA = {
    "events": ("adc_conversion_pj*", "dac_drive_pj", "cell_read_pj", "sample_hold_pj", "shift_add_pj",
               "input_register_pj", "output_register_pj", "mask_shift_pj", "saf_correction_pj",
               "edram_pj_per_bit", "bus_pj_per_bit"),
    "static_mw": ("router", "sigmoid", "tile_shift_add", "maxpool", "tile_output_register"),
    "area_um2": ("adc*", "dac", "sample_hold", "crossbar", "shift_add", "input_register", "output_register",
                 "mask_unit_per_column", "saf_corrector", "edram", "bus", "router", "sigmoid", "tile_shift_add",
                 "maxpool", "tile_output_register"),
    "device": ("write_pj_per_pulse", "pulses_single_level", "pulses_multi_level", "endurance_cycles"),
}


@dataclass(frozen=True)
class Technology:
    name: str
    values: dict  # section -> entry -> float, or {bits: float} for ``*`` entries
    sources: dict  # "section.entry" -> source text

    def get(self, section: str, entry: str) -> float:
        return self.values[section][entry]

    def by_bits_floor(self, section: str, entry: str, bits: int) -> float:
        """:meth:`by_bits`, with fewer bits than the table lists priced at its lowest entry
        (conservative; a TinyADC crossbar may need only 2 or 3 bits)."""
        return self.by_bits(section, entry, max(int(bits), min(self.values[section][entry])))

    def adc_conversion_pj(self, bits: int) -> float:
        """Energy of one conversion (pJ) of a ``bits``-bit ADC (:meth:`by_bits_floor`)."""
        return self.by_bits_floor("events", "adc_conversion_pj", bits)

    def adc_area_um2(self, bits: int) -> float:
        """Area (um2) of one ``bits``-bit ADC (:meth:`by_bits_floor`)."""
        return self.by_bits_floor("area_um2", "adc", bits)

    def by_bits(self, section: str, entry: str, bits: int) -> float:
        """An ADC entry at ``bits`` bits; between tabulated points, log-linear interpolation;
        outside them, an error naming the range."""
        table = self.values[section][entry]
        if bits in table:
            return table[bits]
        lo, hi = min(table), max(table)
        if not lo <= bits <= hi:
            raise XbarError(f"technology {self.name}: {section}.{entry} has no value for {bits} bits; "
                            f"allowed: adc.bits in [{lo}, {hi}]")
        a = max(b for b in table if b < bits)
        b = min(b for b in table if b > bits)
        t = (bits - a) / (b - a)
        return math.exp(math.log(table[a]) * (1 - t) + math.log(table[b]) * t)


def _number(where: str, v) -> float:
    if isinstance(v, str):
        try:
            v = float(v)
        except ValueError:
            pass
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
        raise XbarError(f"technology: {where}: got {short(v)}; allowed: a finite number >= 0")
    return float(v)


def parse_table(doc, origin: str) -> Technology:
    if not isinstance(doc, dict):
        raise XbarError(f"technology: {origin} is not a mapping; allowed: a table with sections {', '.join(SCHEMA)}")
    unknown = sorted(set(doc) - set(SCHEMA) - {"name", "node_nm"})
    if unknown:
        raise XbarError(f"technology: {origin}: unknown section {unknown[0]!r}; allowed: {', '.join(SCHEMA)}")
    values, sources = {}, {}
    for section, entries in SCHEMA.items():
        block = doc.get(section)
        if not isinstance(block, dict):
            raise XbarError(f"technology: {origin}: section {section!r} is missing; allowed: a mapping of {', '.join(e.rstrip('*') for e in entries)}")
        names = {e.rstrip("*"): e.endswith("*") for e in entries}
        extra = sorted(set(block) - set(names))
        if extra:
            raise XbarError(f"technology: {origin}: unknown component {section}.{extra[0]}; allowed: {', '.join(names)}")
        values[section] = {}
        for name, bits in names.items():
            where = f"{section}.{name}"
            e = block.get(name)
            if not isinstance(e, dict):
                raise XbarError(f"technology: {origin}: entry {where} is missing; allowed: "
                                f"{{{'by_bits' if bits else 'value'}: ..., source: ...}}")
            if not isinstance(e.get("source"), str) or not e["source"].strip():
                raise XbarError(f"technology: {origin}: entry {where} has no source; allowed: a source text for every number")
            if bits:
                table = e.get("by_bits")
                if not isinstance(table, dict) or not table:
                    raise XbarError(f"technology: {origin}: entry {where} lacks by_bits; allowed: {{bits: value}}")
                if not all(isinstance(b, int) and not isinstance(b, bool) and 1 <= b <= 16 for b in table):
                    raise XbarError(f"technology: {origin}: entry {where}.by_bits has keys {short(list(table))}; "
                                    "allowed: ADC bits, integers in [1, 16]")
                values[section][name] = {int(b): _number(f"{where}.{b}", v) for b, v in table.items()}
            else:
                values[section][name] = _number(where, e.get("value"))
            sources[where] = e["source"].strip()
    return Technology(str(doc.get("name", origin)), values, sources)


def load_table(name_or_path: str) -> Technology:
    """A shipped table by name, or a YAML table file (bounded and checked like a design)."""
    if name_or_path in TECHNOLOGIES:
        path = Path(str(resources.files(__package__).joinpath("tables", f"{name_or_path}.yaml")))
        return parse_table(load_yaml(path, "technology"), name_or_path)
    if not Path(name_or_path).is_file():
        raise XbarError(f"technology: got {short(name_or_path)}; allowed: one of {', '.join(TECHNOLOGIES)} "
                        "or an existing YAML file")
    return parse_table(load_yaml(name_or_path, "technology"), str(name_or_path))


def technology(design: Design) -> Technology:
    """The design's table with its overrides applied."""
    tech = load_table(design.technology)
    if not design.technology_overrides:
        return tech
    values = {s: dict(v) for s, v in tech.values.items()}
    sources = dict(tech.sources)
    for key, v in design.technology_overrides.items():
        parts = key.split(".")
        section, entry = parts[0], parts[1] if len(parts) > 1 else None
        if section not in values or entry not in values[section] or len(parts) > 3:
            raise XbarError(f"technology_overrides: unknown entry {key!r}; allowed: section.entry of the table "
                            f"(e.g. device.write_pj_per_pulse, events.adc_conversion_pj.8)")
        if isinstance(values[section][entry], dict):
            if len(parts) != 3 or not parts[2].isdigit():
                raise XbarError(f"technology_overrides: {key!r} needs the ADC bits; allowed: {section}.{entry}.BITS")
            values[section][entry] = {**values[section][entry], int(parts[2]): _number(key, v)}
        else:
            if len(parts) != 2:
                raise XbarError(f"technology_overrides: unknown entry {key!r}; allowed: {section}.{entry}")
            values[section][entry] = _number(key, v)
        sources[f"{section}.{entry}"] = f"design {design.name}: override"
    return Technology(tech.name, values, sources)
