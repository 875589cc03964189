"""Event counts (spec section 5): what each crossbar, PE and tile does.

Per MVM of one crossbar, per read cycle: row drives, ADC conversions (gated columns skip
theirs), cell reads, sample-and-holds, shift-adds, input- and output-register accesses;
per MVM: mask shifts (masked columns, when a task is active), SAF corrections (one per
fault-table entry) and the words moved between the tile buffer and the PE.

Two sources of counts:
- :func:`peak_pe_events`: a PE with every crossbar fully used and every row driven on
  every read: the design's peak rates (tile power, ISAAC's comparison);
- :func:`program_events`: a Program (and its active task) running a workload: per layer
  and per crossbar, with the data-dependent counts (rows driven with a non-zero digit, and
  the cells on them) measured on the workload's activations.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ..core.cycles import crossbar_conversions, cycles_per_mvm
from ..core.design import Design
from ..core.program import Program
from ..xbar.convert import build_network
from ..xbar.layers import mapped_layers, set_column_masks, set_path
from ..xbar.observe import observe_inputs

#: event names, in report order, with the table entry that prices each
EVENTS = {
    "adc": ("events", "adc_conversion_pj"),
    "dac": ("events", "dac_drive_pj"),
    "cell": ("events", "cell_read_pj"),
    "sample_hold": ("events", "sample_hold_pj"),
    "shift_add": ("events", "shift_add_pj"),
    "input_register": ("events", "input_register_pj"),
    "output_register": ("events", "output_register_pj"),
    "mask": ("events", "mask_shift_pj"),
    "saf_correction": ("events", "saf_correction_pj"),
    "edram_bits": ("events", "edram_pj_per_bit"),
    "bus_bits": ("events", "bus_pj_per_bit"),
}


def word_bits(design: Design) -> int:
    """Bits of one activation word in the tile buffer: the input precision (outputs are
    requantized to the next layer's input width)."""
    return design.inputs.bits


def crossbar_mvm_events(design: Design, rows: int, logical: int, gated: int = 0, masked: bool = False,
                        faults: int = 0, driven: float | None = None) -> dict[str, float]:
    """Events of one MVM of one crossbar holding ``rows`` rows and ``logical`` logical
    columns, ``gated`` of them gated. ``driven``: row drives with a non-zero digit over the
    T read cycles (default: every row on every read)."""
    T, s2 = design.read_cycles, design.cols_per_logical
    conversions = crossbar_conversions(design, logical, gated)  # one per active column per read
    drives = T * rows if driven is None else driven
    words = rows + logical
    return {
        "adc": conversions,
        "dac": drives,
        "cell": drives * s2 * logical,
        "sample_hold": conversions,
        "shift_add": conversions,
        "input_register": T * rows,
        "output_register": conversions,
        "mask": (logical - gated) if masked else 0,
        "saf_correction": faults,
        "edram_bits": words * word_bits(design),
        "bus_bits": words * word_bits(design),
    }


def peak_pe_events(design: Design) -> dict[str, float]:
    """Events of one MVM of a fully used PE (all crossbars, all rows, all logical columns)."""
    one = crossbar_mvm_events(design, design.crossbar.rows, design.logical_cols)
    return {k: v * design.pe.crossbars for k, v in one.items()}


@dataclass
class LayerEvents:
    name: str
    mvms: int  # input vectors over the workload
    crossbar_events: list[dict[str, float]]  # per crossbar, totals over the workload
    crossbar_pe: list[int]
    pe_cycles: dict[int, int] = field(default_factory=dict)  # PE -> cycles over the workload

    def totals(self) -> dict[str, float]:
        out = dict.fromkeys(EVENTS, 0.0)
        for ev in self.crossbar_events:
            for k, v in ev.items():
                out[k] += v
        return out

    def per_pe(self) -> dict[int, dict[str, float]]:
        out: dict[int, dict[str, float]] = {}
        for pe, ev in zip(self.crossbar_pe, self.crossbar_events):
            acc = out.setdefault(pe, dict.fromkeys(EVENTS, 0.0))
            for k, v in ev.items():
                acc[k] += v
        return out

    @property
    def cycles(self) -> int:
        """The layer's PEs work in parallel: the slowest sets its time."""
        return max(self.pe_cycles.values()) if self.pe_cycles else 0


@torch.no_grad()
def layer_input_stats(program: Program, x: torch.Tensor, masks: dict | None = None, batch: int = 64,
                      model=None) -> dict[str, tuple[int, torch.Tensor]]:
    """Per mapped layer: (input vectors seen, row drives with a non-zero digit per row [K]
    summed over the T read cycles) on workload ``x``. The activations come from the exact
    integer product (the folded path), which the crossbar path equals up to ADC rounding."""

    d = program.design
    # non-zero digits of every input value: one gather per row instead of T digit planes
    values = torch.arange(1 << d.inputs.bits, dtype=torch.int64)
    lut = sum(((values >> (t * d.inputs.dac_bits)) & d.digit_max).ne(0).to(torch.int64) for t in range(d.read_cycles))
    net = build_network(program, model)
    set_path(net, "folded")
    set_column_masks(net, None)
    stats: dict[str, list] = {}

    def see(mod, x):
        rows = mod.input_rows(mod.quantize_input(x))
        nz = lut[rows.to(torch.int64)].sum(0)
        acc = stats.setdefault(mod.lp.name, [0, torch.zeros_like(nz)])
        acc[0] += rows.shape[0]
        acc[1] += nz

    observe_inputs(net, mapped_layers(net), see, x, batch)
    return {k: (v[0], v[1]) for k, v in stats.items()}


def fault_table_sizes(design: Design, lp) -> torch.Tensor:
    """Fault-table entries of each crossbar of layer ``lp``, int64 [n_crossbars]: one per
    logical weight whose stored value differs from the intended one (the corrector adds
    x_u * delta for the whole weight), so a cell stuck at its intended level needs none;
    at most the design's table depth (the rest overflow and are not corrected)."""
    return lp.faulty_weights(design).clamp(max=design.fault_table_entries)


def program_events(program: Program, x: torch.Tensor | None = None, masks: dict | None = None,
                   model=None) -> list[LayerEvents]:
    """Events of ``program`` (a task view, with its ``masks``) over workload ``x`` (one
    image when None: a zero input, every digit zero — pass real data for real counts)."""
    d = program.design
    R, L = d.crossbar.rows, d.logical_cols
    if x is None:
        raise ValueError("program_events needs a workload")
    stats = layer_input_stats(program, x, masks, model=model)
    out = []
    for name, lp in program.layers.items():
        mvms, nz = stats.get(name, (0, torch.zeros(lp.k_in, dtype=torch.int64)))
        n_rb, n_cb = lp.grid(d)
        codes = masks.get(name) if masks else None
        faults = torch.zeros(lp.n_crossbars, dtype=torch.int64)
        if lp.faults is not None and d.nonideal.saf.correct and len(lp.faults):
            faults = fault_table_sizes(d, lp)
        evs, pes = [], lp.crossbar_pe(d).tolist()
        gated_of = []
        for idx in range(lp.n_crossbars):
            cb, rb = divmod(idx, n_rb)
            rows = min(R, lp.k_in - rb * R)
            logical = min(L, lp.n_out - cb * L)
            gated = int((codes[idx, :logical] == 0).sum()) if codes is not None else 0
            gated_of.append(gated + (L - logical))  # unused logical columns convert nothing either
            driven = float(nz[rb * R : rb * R + rows].sum())
            one = crossbar_mvm_events(d, rows, logical, gated, codes is not None, int(faults[idx]))
            ev = {k: v * mvms for k, v in one.items()}
            ev["dac"] = driven
            ev["cell"] = driven * d.cols_per_logical * logical
            evs.append(ev)
        le = LayerEvents(name, int(mvms), evs, pes)
        for pe in sorted(set(pes)):
            idxs = [i for i, p in enumerate(pes) if p == pe]
            n = d.pe.crossbars
            gated = [gated_of[i] for i in idxs] + [L] * (n - len(idxs))  # empty slots convert nothing
            nf = [int(faults[i]) for i in idxs] + [0] * (n - len(idxs))
            # one output beat per column block held in the PE: its row blocks accumulate in place
            groups = len({i // n_rb for i in idxs})
            le.pe_cycles[pe] = cycles_per_mvm(d, gated=gated, n_faults=nf, groups=groups) * int(mvms)
        out.append(le)
    return out
