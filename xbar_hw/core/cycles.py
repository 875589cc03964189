"""The PE tile's exact cycle count (the cycle model every stage shares: the RTL takes exactly
these cycles, the cost model prices them, the co-simulation checks them).

Counting: cycle 0 is the cycle in which the input beat transfers (x.valid and x.ready);
the MVM ends with the cycle in which its last output beat transfers, the output being
always ready. ``cycles_per_mvm`` counts both ends, so it is also the initiation interval
of back-to-back MVMs (the tile is idle again, and accepts the next input, in the cycle
after the last output beat):

    cycles = 1 (input) + K (compute) + 1 (finish) + G (output beats)
    K      = max(S + (T - 1) * max(S, c) + c, max_n F_n)
    c      = max_n ceil(2s * (L - gated_n) / A)

S = design.settle_cycles = ceil(tile.clock_hz / device.read_frequency) (at least 1): the
cycles an analog read needs before its column sums can be sampled. T = read cycles, 2s
physical columns per logical column, L logical columns, A = adc.per_crossbar, gated_n =
logical columns of crossbar n with mask code 0, c = conversion cycles per read (the
crossbars of a PE convert in parallel, so the one with the most active columns sets the
pace), F_n = fault entries of crossbar n, G = output groups (default pe.crossbars).

The reads go through a sample-and-hold (ISAAC-style). Counting compute cycles from 0:
read 0's digits are applied in cycle 0; read t's column sums are sampled at the edge that
starts cycle h_t, at least S cycles after its digits were applied; the sample frees the
array, so read t+1's digits are applied from cycle h_t on (its settle overlaps read t's
conversions); read t's c conversions take cycles h_t .. h_t + c - 1 from the held sums.
Read t+1 is sampled once it has settled and read t's conversions are done:

    h_0 = S,   h_{t+1} = h_t + max(S, c),   conversion phase = h_{T-1} + c
                                                         = S + (T-1) * max(S, c) + c

(with S = 0 this would be the old T * c). An MVM whose columns are all gated (c = 0) still
applies and samples its T reads: T * S cycles. The SAF corrector applies one fault entry
per compute cycle from cycle 0, alongside, so K is the longer of the two.
"""

from __future__ import annotations

from collections.abc import Sequence

from .design import Design
from .errors import XbarError


def _per_crossbar(value, n: int, what: str, hi: int) -> list[int]:
    if isinstance(value, bool):
        raise XbarError(f"{what}: got {value!r}; allowed: an integer in [0, {hi}] or a list of {n} of them")
    vals = [value] * n if isinstance(value, int) else list(value) if isinstance(value, Sequence) else None
    if vals is None or len(vals) != n or not all(
            isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= hi for v in vals):
        raise XbarError(f"{what}: got {value!r}; allowed: an integer in [0, {hi}] or a list of {n} of them")
    return vals


def conversion_cycles(design: Design, gated: int = 0) -> int:
    """Conversion cycles per read of one crossbar with ``gated`` logical columns gated:
    ceil(active physical columns / adc.per_crossbar)."""
    (g,) = _per_crossbar(gated, 1, "gated", design.logical_cols)
    return -(-(design.cols_per_logical * (design.logical_cols - g)) // design.adc.per_crossbar)


def mvm_phases(design: Design, gated: int | Sequence[int] = 0, n_faults: int | Sequence[int] = 0,
               groups: int | None = None, fault_entries: int | None = None) -> dict:
    """The phases of one MVM in cycles: input, compute (the longer of conversion and
    correction), finish, output; with ``settle`` (S, cycles per analog read before its
    sample), ``per_read`` (c, conversion cycles per read of the slowest crossbar) and
    ``conversion`` (S + (T-1) * max(S, c) + c: every read, settle and conversions, through
    the last conversion). Arguments as :func:`cycles_per_mvm`."""
    n = design.pe.crossbars
    depth = design.fault_table_entries if fault_entries is None else fault_entries
    gates = _per_crossbar(gated, n, "gated", design.logical_cols)
    faults = _per_crossbar(n_faults, n, "n_faults", depth)
    if groups is None:
        groups = n
    if isinstance(groups, bool) or not isinstance(groups, int) or not 1 <= groups <= n:
        raise XbarError(f"groups: got {groups!r}; allowed: an integer in [1, {n}] (pe.crossbars)")
    settle = design.settle_cycles
    per_read = max(conversion_cycles(design, g) for g in gates)
    conv = settle + (design.read_cycles - 1) * max(settle, per_read) + per_read
    return {"input": 1, "compute": max(conv, max(faults)), "settle": settle, "per_read": per_read,
            "conversion": conv, "correction": max(faults), "finish": 1, "output": groups}


def cycles_per_mvm(design: Design, gated: int | Sequence[int] = 0, n_faults: int | Sequence[int] = 0,
                   groups: int | None = None, fault_entries: int | None = None) -> int:
    """Exact clock cycles of one MVM on the PE tile (see the module docstring).

    ``gated``: gated logical columns (mask code 0), one int for every crossbar or a list of
    pe.crossbars ints; ``n_faults``: fault-table entries in use, likewise; ``groups``: output
    beats per MVM (default pe.crossbars, the tile's reset configuration).
    """
    ph = mvm_phases(design, gated, n_faults, groups, fault_entries)
    return ph["input"] + ph["compute"] + ph["finish"] + ph["output"]


def crossbar_conversions(design: Design, logical: int | None = None, gated: int = 0) -> int:
    """ADC conversions of one MVM of one crossbar holding ``logical`` logical columns (all L
    by default), ``gated`` of them gated: T * 2s * (logical - gated). Gated and unused
    physical columns convert nothing."""
    logical = design.logical_cols if logical is None else logical
    return design.read_cycles * design.cols_per_logical * (logical - gated)


def adc_conversions(design: Design, gated: int | Sequence[int] = 0) -> int:
    """ADC conversions of one MVM over the whole PE: :func:`crossbar_conversions` summed
    over its crossbars."""
    gates = _per_crossbar(gated, design.pe.crossbars, "gated", design.logical_cols)
    return sum(crossbar_conversions(design, gated=g) for g in gates)


__all__ = ["adc_conversions", "conversion_cycles", "crossbar_conversions", "cycles_per_mvm", "mvm_phases"]
