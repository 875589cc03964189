"""Energy, power, area and latency from event counts, the cycle model and a technology table.

Power is never summed from published powers: it is (events per MVM x energy per event) /
(time per MVM), with the time from the cycle model of the PE tile
(:func:`xbar_hw.core.cycles.cycles_per_mvm`, the count the RTL takes) at ``tile.clock_hz``.
Only parts with no events in the model (router, sigmoid, max-pool, the tile's output
register and shift-add) add a static power from the table.
"""

from __future__ import annotations

import math

import torch

from ..core.cycles import cycles_per_mvm
from ..core.design import Design
from ..core.program import Program
from ..core.switch import task_view
from .events import EVENTS, LayerEvents, peak_pe_events, program_events
from .technology import Technology, technology

#: component of each event in the breakdowns
COMPONENT = {"adc": "adc", "dac": "dac", "cell": "crossbar", "sample_hold": "sample_hold", "shift_add": "shift_add",
             "input_register": "input_register", "output_register": "output_register", "mask": "mask_unit",
             "saf_correction": "saf_corrector", "edram_bits": "edram", "bus_bits": "bus"}
#: events of the tile (buffer and bus), not of a PE
TILE_EVENTS = ("edram_bits", "bus_bits")


def event_energy_pj(tech: Technology, design: Design) -> dict[str, float]:
    out = {}
    for ev, (section, entry) in EVENTS.items():
        out[ev] = tech.by_bits(section, entry, design.adc.bits) if ev == "adc" else tech.get(section, entry)
    return out


def energy_breakdown_pj(events: dict[str, float], energies: dict[str, float]) -> dict[str, float]:
    out: dict[str, float] = {}
    for ev, n in events.items():
        c = COMPONENT[ev]
        out[c] = out.get(c, 0.0) + n * energies[ev]
    return out


def pe_area_um2(tech: Technology, design: Design) -> dict[str, float]:
    """Unit areas x instances of one PE (the crossbar arrays' own area included)."""
    n, R, C = design.pe.crossbars, design.crossbar.rows, design.crossbar.cols
    adcs = n * design.adc.per_crossbar
    a = tech.values["area_um2"]
    return {
        "crossbar": n * a["crossbar"],
        "dac": n * R * a["dac"],
        "sample_hold": n * C * a["sample_hold"],
        "adc": adcs * tech.by_bits("area_um2", "adc", design.adc.bits),
        "shift_add": adcs * a["shift_add"],  # one shift-and-add behind each ADC
        "input_register": a["input_register"],
        "output_register": a["output_register"],
        "mask_unit": n * design.logical_cols * a["mask_unit_per_column"],
        "saf_corrector": n * a["saf_corrector"],
    }


def tile_area_um2(tech: Technology, design: Design) -> dict[str, float]:
    a = tech.values["area_um2"]
    pe = sum(pe_area_um2(tech, design).values())
    return {"pes": design.tile.pes * pe, "edram": a["edram"], "bus": a["bus"], "router": a["router"],
            "sigmoid": a["sigmoid"], "tile_shift_add": a["tile_shift_add"], "maxpool": a["maxpool"],
            "tile_output_register": a["tile_output_register"]}


def design_report(design: Design) -> dict:
    """A design's peak figures: every PE of a tile busy with back-to-back fully used MVMs."""
    tech = technology(design)
    energies = event_energy_pj(tech, design)
    ev = peak_pe_events(design)
    cycles = cycles_per_mvm(design)
    t_mvm = cycles / design.tile.clock_hz  # s
    pe_ev = {k: v for k, v in ev.items() if k not in TILE_EVENTS}
    tile_ev = {k: v for k, v in ev.items() if k in TILE_EVENTS}
    pe_pj = energy_breakdown_pj(pe_ev, energies)
    pe_mw = {k: v * 1e-12 / t_mvm * 1e3 for k, v in pe_pj.items()}
    tile_dyn_mw = {k: v * 1e-12 / t_mvm * 1e3 * design.tile.pes for k, v in energy_breakdown_pj(tile_ev, energies).items()}
    static = dict(tech.values["static_mw"])
    tile_mw = {f"pe.{k}": v * design.tile.pes for k, v in pe_mw.items()}
    tile_mw.update(tile_dyn_mw)
    tile_mw.update(static)
    total = sum(tile_mw.values())
    adc = tile_mw["pe.adc"]
    pe_area = pe_area_um2(tech, design)
    tile_area = tile_area_um2(tech, design)
    read_s = cycles / design.tile.clock_hz / design.read_cycles
    return {
        "design": design.name,
        "technology": tech.name,
        "clock_hz": design.tile.clock_hz,
        "cycles_per_mvm": cycles,
        "mvm_seconds": t_mvm,
        "read_cycle_seconds": read_s,
        "read_limited": read_s < 1.0 / design.device.read_frequency,
        "pe_power_mw": sum(pe_mw.values()),
        "pe_power_breakdown_mw": pe_mw,
        "tile_power_mw": total,
        "tile_power_breakdown_mw": tile_mw,
        "adc_share": adc / total,
        "energy_per_mvm_pj": sum(pe_pj.values()),
        "pe_area_um2": sum(pe_area.values()),
        "pe_area_breakdown_um2": pe_area,
        "area_mm2": sum(tile_area.values()) * 1e-6,
        "tile_area_breakdown_um2": tile_area,
        "adc_area_share": design.tile.pes * pe_area["adc"] / sum(tile_area.values()),
        "events_per_pe_mvm": ev,
        "energies_pj": energies,
    }


def program_report(program: Program, x: torch.Tensor, task: str | None = None, model=None) -> dict:
    """Energy per inference (by layer and component), cycles and latency of ``program``
    running ``task`` (None: the base task) on workload ``x`` (images)."""

    design = program.design
    tech = technology(design)
    energies = event_energy_pj(tech, design)
    view, masks = task_view(program, task)
    layers = program_events(view, x, masks, model=model)
    n = len(x)
    by_layer, by_component, by_pe = {}, {}, {}
    for le in layers:
        # each crossbar's conversions at its own ADC bits (TinyADC; the design's where none are recorded)
        bits = view.layers[le.name].crossbar_adc_bits(design).tolist()
        at = {b: {**energies, "adc": tech.adc_conversion_pj(b)} for b in set(bits)}
        pj: dict[str, float] = {}
        for ev, b, pe in zip(le.crossbar_events, bits, le.crossbar_pe):
            one = energy_breakdown_pj(ev, at[b])
            by_pe[pe] = by_pe.get(pe, 0.0) + sum(one.values()) / n
            for k, v in one.items():
                pj[k] = pj.get(k, 0.0) + v
        by_layer[le.name] = sum(pj.values()) / n
        for k, v in pj.items():
            by_component[k] = by_component.get(k, 0.0) + v / n
    cycles = sum(le.cycles for le in layers) / n
    total = sum(by_component.values())
    static_mw = sum(tech.values["static_mw"].values())
    latency_s = cycles / design.tile.clock_hz
    return {
        "design": design.name,
        "technology": tech.name,
        "task": task or "base",
        "images": n,
        "energy_per_inference_pj": total,
        "static_energy_per_inference_pj": static_mw * 1e-3 * latency_s * 1e12,
        "energy_by_layer_pj": by_layer,
        "energy_by_component_pj": by_component,
        "energy_by_pe_pj": {str(k): v for k, v in sorted(by_pe.items())},
        "adc_share": by_component.get("adc", 0.0) / total if total else 0.0,
        "cycles_per_inference": cycles,
        "latency_s": latency_s,
        "cycles_by_layer": {le.name: le.cycles / n for le in layers},
        "mvms_by_layer": {le.name: le.mvms / n for le in layers},
        "pes": program.n_pes,
        "tiles": math.ceil(program.n_pes / design.tile.pes),
        # the chip this Program needs: whole tiles (a tile's PEs, eDRAM, bus, router)
        "chip_area_mm2": math.ceil(program.n_pes / design.tile.pes) * sum(tile_area_um2(tech, design).values()) * 1e-6,
        # layer after layer, one image at a time (no pipelining across layers or images)
        "inferences_per_s": 1.0 / latency_s if latency_s else float("inf"),
    }


def write_pulses(design: Design, tech: Technology) -> float:
    """Program-and-verify pulses per cell write: one for binary cells, the multi-level
    count otherwise."""
    key = "pulses_single_level" if design.crossbar.cell_bits == 1 else "pulses_multi_level"
    return tech.get("device", key)


def switch_energy_pj(design: Design, cells: int) -> float:
    tech = technology(design)
    return cells * write_pulses(design, tech) * tech.get("device", "write_pj_per_pulse")


__all__ = ["design_report", "program_report", "switch_energy_pj", "write_pulses", "LayerEvents"]
