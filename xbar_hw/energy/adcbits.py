"""Heterogeneous ADC resolution in the cost model (TinyADC, issue 13).

A Program records each crossbar's ADC bits (``LayerProgram.adc_bits``); the hardware it
runs on builds each crossbar's ADCs at those bits. Two figures:

- :meth:`~xbar_hw.energy.technology.Technology.adc_conversion_pj` prices the ADC
  conversions of a workload crossbar by crossbar at each crossbar's bits
  (:func:`xbar_hw.energy.model.program_report` uses it, as this module does);
- :func:`hardware_report`: the tile that holds the Program's PEs, at peak (every crossbar
  fully used on back-to-back MVMs, as :func:`~xbar_hw.energy.model.design_report`), with
  the ADC power and area of the design's report replaced by those of the Program's
  crossbars: per PE, each occupied slot's ADCs at its crossbar's bits and empty slots at
  the design's bits, averaged over the Program's PEs and scaled to ``tile.pes`` PEs.
  Everything else (cells, DACs, shift-adds, registers, buffers, static parts, the cycle
  count) is the design's: fewer ADC bits change neither the conversions per read nor the
  cycle model (the project counts conversions, not their bit time).

Throughput at peak: 2 R L operations (multiply and add) per crossbar per MVM; GOPs/s per
mm2 of tile area and GOPs/W of tile power. An ADC of fewer bits than the technology table
lists is priced at the table's lowest entry (conservative).
"""

from __future__ import annotations

from ..core.cycles import crossbar_conversions
from ..core.program import Program
from .model import design_report
from .technology import technology


def pe_slot_bits(program: Program, empty: bool = True) -> list[list[int]]:
    """Per PE of the Program, the ADC bits of each of its ``pe.crossbars`` slots (empty
    slots at the design's ``adc.bits``; ``empty=False``: one list of the used crossbars'
    bits, as if every PE held crossbars like them)."""
    d = program.design
    out = []
    for lp in program.layers.values():
        bits = lp.crossbar_adc_bits(d).tolist()
        for p0 in range(0, len(bits), d.pe.crossbars):
            slots = bits[p0 : p0 + d.pe.crossbars]
            out.append(slots + [d.adc.bits] * (d.pe.crossbars - len(slots)))
    if not empty:
        used = [b for lp in program.layers.values() for b in lp.crossbar_adc_bits(d).tolist()]
        return [used]
    return out


def hardware_report(program: Program, empty: bool = True) -> dict:
    """Peak tile power (mW), ADC power (mW), tile area (mm2), GOPs/s/mm2 and GOPs/W of the
    hardware that runs ``program`` with each crossbar's ADC at its bits (module docstring),
    and the same of the design with every ADC at ``adc.bits``. ``empty=False``: a tile
    whose every crossbar is like the Program's used ones (their mean ADC cost per slot),
    not counting the empty slots of its partly filled PEs at the design's bits."""
    d = program.design
    tech = technology(d)
    base = design_report(d)
    t_mvm = base["mvm_seconds"]
    conv = crossbar_conversions(d, d.logical_cols, 0)  # per crossbar per MVM, whatever the ADC count
    slots = pe_slot_bits(program, empty)
    n_slots = max(1, sum(len(pe) for pe in slots))
    per_tile = d.tile.pes * d.pe.crossbars / n_slots  # slots of a tile per slot counted
    adc_mw = per_tile * sum(conv * tech.adc_conversion_pj(b) for pe in slots for b in pe) * 1e-12 / t_mvm * 1e3
    adc_um2 = per_tile * sum(d.adc.per_crossbar * tech.adc_area_um2(b) for pe in slots for b in pe)
    base_adc_mw = base["tile_power_breakdown_mw"]["pe.adc"]
    base_adc_um2 = d.tile.pes * base["pe_area_breakdown_um2"]["adc"]
    power_mw = base["tile_power_mw"] - base_adc_mw + adc_mw
    area_mm2 = base["area_mm2"] - base_adc_um2 * 1e-6 + adc_um2 * 1e-6
    gops = 2 * d.crossbar.rows * d.logical_cols * d.pe.crossbars * d.tile.pes / t_mvm / 1e9
    all_bits = [b for pe in slots for b in pe]
    return {
        "design": d.name,
        "adc_bits_mean": sum(all_bits) / len(all_bits),
        "adc_bits_histogram": {str(b): all_bits.count(b) for b in sorted(set(all_bits))},
        "adc_power_mw": adc_mw, "tile_power_mw": power_mw, "area_mm2": area_mm2, "adc_area_mm2": adc_um2 * 1e-6,
        "gops": gops, "gops_per_s_mm2": gops / area_mm2, "gops_per_w": gops / (power_mw * 1e-3),
        "design_adc_power_mw": base_adc_mw, "design_tile_power_mw": base["tile_power_mw"],
        "design_area_mm2": base["area_mm2"], "design_adc_area_mm2": base_adc_um2 * 1e-6,
        "design_gops_per_s_mm2": gops / base["area_mm2"], "design_gops_per_w": gops / (base["tile_power_mw"] * 1e-3),
    }


__all__ = ["hardware_report", "pe_slot_bits"]
