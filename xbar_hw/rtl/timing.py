"""The PE tile's exact cycle count, in plain Python (the cost model imports it).

Counting: cycle 0 is the cycle in which the input beat transfers (x.valid and x.ready);
the MVM ends with the cycle in which its last output beat transfers, the output being
always ready. ``cycles_per_mvm`` counts both ends, so it is also the initiation interval
of back-to-back MVMs (the tile is idle again, and accepts the next input, in the cycle
after the last output beat):

    cycles = 1 (input) + K (compute) + 1 (finish) + G (output beats)
    K      = max(T * max_n ceil(2s * (L - gated_n) / A), max_n F_n)

T = read cycles, 2s physical columns per logical column, L logical columns, A =
adc.per_crossbar, gated_n = logical columns of crossbar n with mask code 0, F_n = fault
entries of crossbar n, G = output groups (default pe.crossbars). The crossbars of a PE
convert in parallel, so the one with the most active columns sets the pace; the SAF
corrector applies one fault entry per cycle alongside the conversions.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..design import Design
from ..errors import XbarError


def _per_crossbar(value, n: int, what: str, hi: int) -> list[int]:
    if isinstance(value, bool):
        raise XbarError(f"{what}: got {value!r}; allowed: an integer in [0, {hi}] or a list of {n} of them")
    vals = [value] * n if isinstance(value, int) else list(value) if isinstance(value, Sequence) else None
    if vals is None or len(vals) != n or not all(
            isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= hi for v in vals):
        raise XbarError(f"{what}: got {value!r}; allowed: an integer in [0, {hi}] or a list of {n} of them")
    return vals


def conversion_cycles(design: Design, gated: int = 0) -> int:
    """Conversion cycles per read cycle of one crossbar with ``gated`` logical columns gated:
    ceil(active physical columns / adc.per_crossbar)."""
    (g,) = _per_crossbar(gated, 1, "gated", design.logical_cols)
    return -(-(design.cols_per_logical * (design.logical_cols - g)) // design.adc.per_crossbar)


def mvm_phases(design: Design, gated: int | Sequence[int] = 0, n_faults: int | Sequence[int] = 0,
               groups: int | None = None, fault_entries: int | None = None) -> dict:
    """The phases of one MVM in cycles: input, compute (conversion and correction), finish,
    output. Arguments as :func:`cycles_per_mvm`."""
    n = design.pe.crossbars
    depth = design.crossbar.rows * design.logical_cols if fault_entries is None else fault_entries
    gates = _per_crossbar(gated, n, "gated", design.logical_cols)
    faults = _per_crossbar(n_faults, n, "n_faults", depth)
    if groups is None:
        groups = n
    if isinstance(groups, bool) or not isinstance(groups, int) or not 1 <= groups <= n:
        raise XbarError(f"groups: got {groups!r}; allowed: an integer in [1, {n}] (pe.crossbars)")
    conv = design.read_cycles * max(conversion_cycles(design, g) for g in gates)
    return {"input": 1, "compute": max(conv, max(faults)), "conversion": conv,
            "correction": max(faults), "finish": 1, "output": groups}


def cycles_per_mvm(design: Design, gated: int | Sequence[int] = 0, n_faults: int | Sequence[int] = 0,
                   groups: int | None = None, fault_entries: int | None = None) -> int:
    """Exact clock cycles of one MVM on the PE tile (see the module docstring).

    ``gated``: gated logical columns (mask code 0), one int for every crossbar or a list of
    pe.crossbars ints; ``n_faults``: fault-table entries in use, likewise; ``groups``: output
    beats per MVM (default pe.crossbars, the tile's reset configuration).
    """
    ph = mvm_phases(design, gated, n_faults, groups, fault_entries)
    return ph["input"] + ph["compute"] + ph["finish"] + ph["output"]


def adc_conversions(design: Design, gated: int | Sequence[int] = 0) -> int:
    """ADC conversions of one MVM over the whole PE: T * active physical columns, summed
    over the crossbars (gated and unused physical columns convert nothing)."""
    n = design.pe.crossbars
    gates = _per_crossbar(gated, n, "gated", design.logical_cols)
    return design.read_cycles * design.cols_per_logical * sum(design.logical_cols - g for g in gates)


__all__ = ["adc_conversions", "conversion_cycles", "cycles_per_mvm", "mvm_phases"]
