"""The PE tile's four streams: their payload layouts and named stream signatures, and
what a config beat writes (:class:`ConfigTarget`). The Verilog port of a stream is
``<name>__valid``, ``<name>__ready`` and ``<name>__payload`` (the payload's fields packed
least significant first, as ``<top>.ports.json`` lists them).

``p``: :class:`~xbar_hw.rtl.params.RtlParams` of the design.
"""

from __future__ import annotations

from amaranth.hdl import signed, unsigned
from amaranth.lib import data, enum, stream

from .saf import fault_entry_layout


class ConfigTarget(enum.Enum, shape=3):
    """What a config beat writes (``xbar`` selects the crossbar where it applies)."""

    ADC_SHIFT = 0    #: data = the crossbar's ADC shift a
    MASK_CODE = 1    #: index = logical column, data = mask code
    FAULT_ENTRY = 2  #: index = table entry, data = {row, col, delta} (fault entry layout, packed)
    FAULT_COUNT = 3  #: data = entries in use (clamped to the table depth)
    COLSUM = 4       #: index = logical column, data = colsum_w (two's complement); signed designs only
    GROUP = 5        #: data = the crossbar's output group
    GROUPS = 6       #: data = output beats per MVM (1 .. N; the xbar field is ignored)



def input_layout(p) -> data.ArrayLayout:
    """x's payload: [N][R] inputs, signed b_x bits for signed designs, else unsigned."""
    x_shape = signed(p.input_bits) if p.signed else unsigned(p.input_bits)
    return data.ArrayLayout(data.ArrayLayout(x_shape, p.rows), p.crossbars)


def output_layout(p) -> data.StructLayout:
    """p's payload: {p: [L] signed outputs, group, last}."""
    return data.StructLayout({
        "p": data.ArrayLayout(signed(p.out_bits), p.logical),
        "group": unsigned(p.xbar_bits),
        "last": unsigned(1),
    })


def prog_layout(p) -> data.StructLayout:
    """prog's payload: one cell write {xbar, row, col, level}."""
    return data.StructLayout({
        "xbar": unsigned(p.xbar_bits),
        "row": unsigned(p.row_bits),
        "col": unsigned(p.col_bits),
        "level": unsigned(p.level_bits),
    })


def cfg_layout(p) -> data.StructLayout:
    """cfg's payload: one config write {target, xbar, index, data} (:class:`ConfigTarget`);
    index and data are as wide as the widest thing they carry."""
    index_bits = max(p.lcol_bits, max(1, (p.fault_entries - 1).bit_length()))
    data_bits = max(p.shift_bits, p.mask_bits, fault_entry_layout(p).size, p.fault_count_bits,
                    p.colsum_bits, p.xbar_bits, p.crossbars.bit_length())
    return data.StructLayout({
        "target": ConfigTarget,
        "xbar": unsigned(p.xbar_bits),
        "index": unsigned(index_bits),
        "data": unsigned(data_bits),
    })


def input_stream(p) -> stream.Signature:
    """The ``x`` stream: one MVM's inputs per beat (:func:`input_layout`)."""
    return stream.Signature(input_layout(p))


def output_stream(p) -> stream.Signature:
    """The ``p`` stream: one output group's results per beat (:func:`output_layout`)."""
    return stream.Signature(output_layout(p))


def prog_stream(p) -> stream.Signature:
    """The ``prog`` stream: one cell write per beat (:func:`prog_layout`)."""
    return stream.Signature(prog_layout(p))


def cfg_stream(p) -> stream.Signature:
    """The ``cfg`` stream: one config write per beat (:func:`cfg_layout`)."""
    return stream.Signature(cfg_layout(p))


def layouts(p) -> dict:
    """The payload layouts of the PE tile's four streams, by port name."""
    return {"x": input_layout(p), "p": output_layout(p), "prog": prog_layout(p), "cfg": cfg_layout(p)}
