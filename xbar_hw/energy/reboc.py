"""What the ReBoc mapping saves (docs/architecture.md, "ReBoc"): the same Program counted
under the plain and the ReBoc mapping, per inference.

Per layer and mapping: crossbars and PEs, cells that hold a weight slice against the
cells of the crossbars used (utilization), crossbar reads, ADC conversions, row drives
(data-dependent, as :mod:`xbar_hw.energy.events`), input-buffer words read, input-register
words (buffer size), cycles, energy (the table's per-event energies) and area.

- plain: :func:`~xbar_hw.energy.events.program_events`'s counts: every crossbar fetches
  its own rows' inputs (rows + logical columns words through eDRAM and bus per MVM) into
  an input register of R words; one read sequence of T reads per MVM.
- reboc: block-circulant layers on their ReBoc crossbars (``xbar_hw.xbar.circulant``),
  b/D read sequences per MVM (Input Slice Reusing: each sequence drives the slices rotated
  by one more place, from a rotating register, no refetch); Input Tile Sharing: the
  crossbars of one row block share one register and one fetch (K input words per MVM, not
  one per crossbar), for dense layers too; outputs are counted as plain counts them (each
  crossbar's partial sums, one word per logical column per read sequence). Intra-layer pipeline: the b/D sequences run
  back to back through the same ADCs (S + (T*b/D - 1)*max(S, c) + c conversion cycles, the
  tile's own read schedule stretched), with ``pipeline=False`` b/D whole MVMs one after another.
"""

from __future__ import annotations

import math

import torch

from ..core.cycles import crossbar_conversions, mvm_phases
from ..core.design import Design
from ..core.mapping import layer_grid
from ..core.program import Program
from ..xbar.circulant import RebocLayer
from .events import EVENTS, layer_input_stats, word_bits
from .model import energy_breakdown_pj, event_energy_pj, pe_area_um2, tile_area_um2
from .technology import technology


def layer_counts(design: Design, k_in: int, n_cols: int, nz: torch.Tensor, mvms: float, reads: int = 1,
                 shared: bool = False, pipeline: bool = True) -> dict:
    """Counts of one layer whose crossbars hold a K x ``n_cols`` matrix (``n_cols`` logical
    columns), run ``reads`` read sequences per MVM, ``mvms`` MVMs; ``nz`` [K]: row drives
    with a non-zero digit per MVM summed over the workload (so over T read cycles).
    ``shared``: Input Tile Sharing (one fetch and one register per row block). Events
    crossbar by crossbar, then cycles PE by PE, as :func:`~xbar_hw.energy.events.program_events`."""
    d = design
    R, C, L, s2, T = d.crossbar.rows, d.crossbar.cols, d.logical_cols, d.cols_per_logical, d.read_cycles
    n_rb, n_cb = layer_grid(k_in, n_cols, d)
    n_x = n_rb * n_cb
    ev = dict.fromkeys(EVENTS, 0.0)
    gated_of = []
    for idx in range(n_x):
        cb, rb = divmod(idx, n_rb)
        rows = min(R, k_in - rb * R)
        logical = min(L, n_cols - cb * L)
        gated_of.append(L - logical)
        conv = crossbar_conversions(d, logical) * mvms * reads
        driven = float(nz[rb * R: rb * R + rows].sum()) * reads
        for k in ("adc", "sample_hold", "shift_add", "output_register"):
            ev[k] += conv
        ev["dac"] += driven
        ev["cell"] += driven * s2 * logical
        ev["input_register"] += T * rows * mvms * reads
        if not shared:
            ev["edram_bits"] += (rows + logical) * word_bits(d) * mvms
    if shared:  # K inputs once per MVM; outputs as plain counts them: each crossbar's partial sums
        ev["edram_bits"] = (k_in + n_rb * n_cols * reads) * word_bits(d) * mvms
    ev["bus_bits"] = ev["edram_bits"]
    n = d.pe.crossbars
    per_mvm = 0
    for first in range(0, n_x, n):
        idxs = list(range(first, min(n_x, first + n)))
        gated = [gated_of[i] for i in idxs] + [L] * (n - len(idxs))
        groups = len({i // n_rb for i in idxs})
        ph = mvm_phases(d, gated=gated, groups=groups)
        if pipeline:
            step = max(ph["settle"], ph["per_read"])
            conv = ph["settle"] + (T * reads - 1) * step + ph["per_read"]
            cycles = ph["input"] + conv + ph["finish"] + ph["output"] * reads
        else:
            cycles = reads * (ph["input"] + ph["compute"] + ph["finish"] + ph["output"])
        per_mvm = max(per_mvm, cycles)
    cells = k_in * n_cols * s2
    return {
        "crossbars": n_x, "pes": -(-n_x // n), "cells_used": cells, "cells_capacity": n_x * R * C,
        "utilization": cells / (n_x * R * C), "reads": T * reads * n_x * mvms,
        "input_register_words": (n_rb if shared else n_x) * R, "cycles": per_mvm * mvms, "events": ev,
    }


def program_counts(program: Program, x: torch.Tensor, mapping: str, pipeline: bool = True, model=None) -> dict:
    """Per-inference counts, energy (pJ), latency (s) and area of ``program`` on workload ``x``
    (images) under ``mapping`` (``plain`` or ``reboc``)."""
    d = program.design
    tech = technology(d)
    energies = event_energy_pj(tech, d)
    stats = layer_input_stats(program, x, model=model)
    n = len(x)
    layers, totals, events = {}, {}, dict.fromkeys(EVENTS, 0.0)
    for name, lp in program.layers.items():
        mvms, nz = stats.get(name, (0, torch.zeros(lp.k_in, dtype=torch.int64)))
        cols, reads = lp.n_out, 1
        if mapping == "reboc" and lp.block is not None:
            rl = RebocLayer(lp, d)
            cols, reads = rl.stored.shape[1], rl.reads
        c = layer_counts(d, lp.k_in, cols, nz.to(torch.float64) / n, mvms / n, reads, mapping == "reboc", pipeline)
        pj = sum(energy_breakdown_pj(c["events"], energies).values())
        layers[name] = {k: v for k, v in c.items() if k != "events"} | {"energy_pj": pj, "reads_per_mvm": reads}
        for k, v in c["events"].items():
            events[k] += v
        for k in ("crossbars", "pes", "cells_used", "cells_capacity", "reads", "input_register_words", "cycles"):
            totals[k] = totals.get(k, 0) + c[k]
    by_component = energy_breakdown_pj(events, energies)
    latency = totals["cycles"] / d.tile.clock_hz
    static_pj = sum(tech.values["static_mw"].values()) * 1e-3 * latency * 1e12
    pe_area = sum(pe_area_um2(tech, d).values())
    tiles = math.ceil(totals["pes"] / d.tile.pes)
    return {
        "mapping": mapping,
        **totals,
        "utilization": totals["cells_used"] / totals["cells_capacity"],
        "adc_conversions": events["adc"],
        "input_buffer_words": events["edram_bits"] / word_bits(d),
        "energy_per_inference_pj": sum(by_component.values()),
        "static_energy_per_inference_pj": static_pj,
        "energy_by_component_pj": by_component,
        "latency_s": latency,
        "pe_area_mm2": totals["pes"] * pe_area * 1e-6,
        "chip_area_mm2": tiles * sum(tile_area_um2(tech, d).values()) * 1e-6,
        "layers": layers,
    }


def compare_mappings(program: Program, x: torch.Tensor, pipeline: bool = True, model=None) -> dict:
    """Both mappings of ``program`` on ``x`` and the ratios plain / reboc: speedup (latency),
    energy (dynamic per inference), crossbars, input-buffer words; ReBoc's utilization and
    throughput per PE area against plain's."""
    plain = program_counts(program, x, "plain", pipeline, model)
    reboc = program_counts(program, x, "reboc", pipeline, model)

    def ratio(key):
        return plain[key] / reboc[key] if reboc[key] else float("inf")

    per_area = (1 / (reboc["latency_s"] * reboc["pe_area_mm2"])) / (1 / (plain["latency_s"] * plain["pe_area_mm2"]))
    return {
        "design": program.design.name, "images": len(x), "pipeline": pipeline,
        "blocks": {n: lp.block for n, lp in program.layers.items() if lp.block is not None},
        "speedup": ratio("latency_s"), "energy_ratio": ratio("energy_per_inference_pj"),
        "crossbar_ratio": ratio("crossbars"), "input_buffer_ratio": ratio("input_buffer_words"),
        "input_register_ratio": ratio("input_register_words"),
        "utilization": {"plain": plain["utilization"], "reboc": reboc["utilization"]},
        "throughput_per_pe_area_ratio": per_area,
        # at equal crossbars (the freed ones holding replicas of the layers): speedup x crossbar ratio
        "throughput_per_crossbar_ratio": ratio("latency_s") * ratio("crossbars"),
        "plain": plain, "reboc": reboc,
    }
