"""What the RTL derives from a Design: bit widths, limits, reset values.

Plain Python (no Amaranth import), so that the cost model and host-side tools can use
it. Every width is the exact bound of spec section 3's arithmetic, so no stage of the PE
tile ever wraps: a wrap would break the bit-exact contract silently.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..core.cycles import conversion_cycles
from ..core.design import Design
from ..core.errors import XbarError, field_error

#: Practical limits of the generated PE tile (Amaranth builds every adder as a Python
#: object; beyond these the Verilog is unmanageable, not wrong).
MAX_CELLS_PER_PE = 1 << 20
MAX_PRODUCTS_PER_PE = 1 << 16  # pe.crossbars * adc.per_crossbar * crossbar.rows
COUNTER_BITS = 32  # event counters (cell writes, ADC conversions) wrap at 2^32


def tree_sum(values):
    """Sum of a list of Amaranth values as a balanced adder tree: depth log2(n), which keeps
    Amaranth's netlist checks (and a synthesizer's critical path) short."""
    values = list(values)
    if not values:
        return 0
    while len(values) > 1:
        values = [values[i] + values[i + 1] if i + 1 < len(values) else values[i] for i in range(0, len(values), 2)]
    return values[0]


def _signed_bits(bound: int) -> int:
    """Bits of a two's-complement value in [-bound, bound]."""
    return max(1, int(bound).bit_length()) + 1


def _ubits(n: int) -> int:
    """Bits of an unsigned value in [0, n]."""
    return max(1, int(n).bit_length())


def check_buildable(design: Design) -> None:
    """Raise XbarError (one line: field, value, what is allowed) unless the RTL can build
    a PE tile for ``design``."""
    if not isinstance(design, Design):
        raise XbarError(f"design: got {type(design).__name__}; allowed: an xbar_hw.Design")
    d = design
    limits = (  # field, its value, the product it multiplies into, the limit, what the product counts
        ("pe.crossbars", d.pe.crossbars, d.crossbar.rows * d.crossbar.cols, MAX_CELLS_PER_PE,
         "crossbar.rows * crossbar.cols * pe.crossbars", "cells"),
        ("adc.per_crossbar", d.adc.per_crossbar, d.pe.crossbars * d.crossbar.rows, MAX_PRODUCTS_PER_PE,
         "pe.crossbars * adc.per_crossbar * crossbar.rows", "digit-by-level products"),
    )
    for field, value, other, limit, formula, what in limits:
        if value * other > limit:
            raise field_error(field, value, f"at most {max(1, limit // other)} for the RTL PE tile ({formula} "
                                            f"<= {limit} {what})")


def component_params(component, design: Design, fault_entries: int | None = None) -> "RtlParams":
    """:func:`rtl_params` for a component's constructor: on a design it cannot build, the
    half-built component is marked used, so that Amaranth adds no "created but never used"
    warning to the XbarError."""
    try:
        return rtl_params(design, fault_entries)
    except XbarError:
        component._MustUse__used = True
        raise


def default_mask_code(design: Design) -> int:
    """The code every logical column has after reset: the first code whose exponent is 0
    (P' = P), or code 1 when no exponent is 0."""
    exps = list(design.mask.exponents)
    return exps.index(0) + 1 if 0 in exps else 1


@dataclass(frozen=True)
class RtlParams:
    """Widths and counts of the PE tile for one Design (see :func:`rtl_params`)."""

    rows: int            # R
    cols: int            # C
    logical: int         # L
    two_s: int           # physical columns per logical column
    slices: int          # s
    cell_bits: int       # b_c
    dac_bits: int        # v
    read_cycles: int     # T
    input_bits: int      # b_x
    signed: bool
    adc_bits: int        # b_a
    adcs: int            # A = adc.per_crossbar
    crossbars: int       # pe.crossbars
    fault_entries: int   # depth of each crossbar's fault table
    sum_bits: int        # column sum S (unsigned)
    shift_bits: int      # ADC shift register a (unsigned)
    shift_reset: int     # the design's shift
    acc_bits: int        # Horner accumulator of one physical column (unsigned)
    p_bits: int          # shift-add result of one logical column, after << a (signed)
    colsum_bits: int     # colsum_w of one logical column (signed)
    delta_bits: int      # fault entry's weight delta (signed)
    corr_bits: int       # SAF correction of one logical column (signed)
    pre_mask_bits: int   # shift-add - offset + correction (signed)
    masked_bits: int     # after the column mask (signed)
    out_bits: int        # sum over the crossbars (signed): the output stream's P
    conv_max: int        # conversion cycles per read cycle with no column gated (core.cycles.conversion_cycles)
    settle: int          # S = design.settle_cycles: cycles an analog read settles before its sample
    step_bits: int       # conversion-step and fault-entry counters
    mask_bits: int       # b_m
    mask_reset: int      # reset code of every logical column
    row_bits: int
    col_bits: int        # physical column index
    lcol_bits: int       # logical column index
    xbar_bits: int       # crossbar index
    level_bits: int      # = b_c
    fault_count_bits: int


def rtl_params(design: Design, fault_entries: int | None = None) -> RtlParams:
    """Derive the PE tile's widths from ``design``.

    ``fault_entries``: depth of each crossbar's fault table; None gives the design's
    (``design.fault_table_entries``: ``corrector.entries``, by default mean + 6 sigma of
    the faulty weights per crossbar at the design's SAF rates). R * L, one entry per
    weight, is the most: no fault map overflows it.
    """
    check_buildable(design)
    d = design
    R, C, L, two_s, s = d.crossbar.rows, d.crossbar.cols, d.logical_cols, d.cols_per_logical, d.slices
    b_c, v, T, b_x, b_a = d.crossbar.cell_bits, d.inputs.dac_bits, d.read_cycles, d.inputs.bits, d.adc.bits
    A, n = d.adc.per_crossbar, d.pe.crossbars
    if fault_entries is None:
        fault_entries = d.fault_table_entries
    if isinstance(fault_entries, bool) or not isinstance(fault_entries, int) or not 1 <= fault_entries <= R * L:
        raise field_error("fault_entries", fault_entries, f"an integer in [1, {R * L}] (crossbar.rows * logical columns)")

    s_max, q_max = d.s_max, d.adc_max
    sum_bits = _ubits(s_max)
    # a > sum_bits + 1 gives Q = 0 for every S; the register still holds the design's own shift
    shift_bits = max(_ubits(sum_bits + 1), _ubits(d.adc_shift))

    t_weight = sum(1 << (t * v) for t in range(T))          # sum_t 2^(t v)
    k_weight = sum(1 << (k * b_c) for k in range(s))        # sum_k 2^(k b_c)
    acc_max = q_max * t_weight
    # Q * 2^a <= S + h <= S_max + 2^(a-1), and Q * 2^a <= q_max * 2^a: the largest Q * 2^a
    qa_max = 0
    for a in range(0, min((1 << shift_bits) - 1, sum_bits + 1) + 1):
        h = (1 << (a - 1)) if a else 0
        qa_max = max(qa_max, min(q_max, (s_max + h) >> a) << a)
    p_max = qa_max * t_weight * k_weight
    cell_weight_max = d.cell_max * k_weight                    # |w| held by s slices of one polarity
    colsum_max = R * cell_weight_max
    offset_max = d.input_offset * colsum_max
    delta_max = 2 * cell_weight_max
    corr_max = R * ((1 << b_x) - 1) * delta_max
    pre_mask_max = p_max + offset_max + corr_max
    e_up = max(0, max(d.mask.exponents))
    masked_max = pre_mask_max << e_up
    out_max = masked_max * n

    conv_max = conversion_cycles(d)
    return RtlParams(
        rows=R, cols=C, logical=L, two_s=two_s, slices=s, cell_bits=b_c, dac_bits=v, read_cycles=T,
        input_bits=b_x, signed=d.inputs.signed, adc_bits=b_a, adcs=A, crossbars=n,
        fault_entries=fault_entries, sum_bits=sum_bits, shift_bits=shift_bits, shift_reset=d.adc_shift,
        acc_bits=_ubits(acc_max), p_bits=_signed_bits(p_max), colsum_bits=_signed_bits(colsum_max),
        delta_bits=_signed_bits(delta_max), corr_bits=_signed_bits(corr_max),
        pre_mask_bits=_signed_bits(pre_mask_max), masked_bits=_signed_bits(masked_max),
        out_bits=_signed_bits(out_max), conv_max=conv_max, settle=d.settle_cycles,
        step_bits=_ubits(max(T * conv_max, fault_entries)), mask_bits=d.mask.bits,
        mask_reset=default_mask_code(d), row_bits=_ubits(R - 1), col_bits=_ubits(C - 1),
        lcol_bits=_ubits(L - 1), xbar_bits=_ubits(n - 1), level_bits=b_c,
        fault_count_bits=_ubits(fault_entries),
    )
