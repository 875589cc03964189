"""Block-circulant networks on the golden crossbars: conversion into a Program, and the
ReBoc mapping's golden product (docs/architecture.md, "ReBoc"; the layout is
:mod:`xbar_hw.core.circulant`).

A block-circulant model converts like any model (its layers expanded into plain
Linear / Conv2d weights). The per-channel quantizer's integers of output n are
round(W[:, n] * wmax / max|W[:, n]|): the outputs of a block column hold the same numbers
rotated, and a BatchNorm folded into the layer scales output n by a factor this
quantization cancels (the factor lives in ``w_scale``, the digital epilogue). Float
rounding of the folded weights can still flip a tie, so each circulant layer's integers
are recomputed from its vectors (:func:`circulant_integers`), exactly circulant; a
BatchNorm with a negative scale (which negates single outputs of a block) is refused. The
Program marks each such layer with its block size. The plain mapping is the Program's own crossbars. The ReBoc
mapping stores the vectors (D copies per block column) in crossbars of their own and runs
b/D reads of shifted inputs through the same engine (the same ADC and shift-add).
"""

from __future__ import annotations

import torch
from torch import nn

from ..core.adcbits import assign_adc_bits
from ..core.circulant import check_reboc_design, duplication, input_index, output_index, reboc_matrix
from ..core.design import Design
from ..core.errors import XbarError
from ..core.layer import LayerProgram
from ..core.mapping import layer_weights, map_layer
from ..core.program import Program
from ..workload.circulant import densify, expand_vectors
from .convert import convert_to_program
from .golden import CrossbarEngine, check_input_range
from .layers import MappedLayer, mapped_layers


def circulant_to_program(model: nn.Module, design: Design, calibration: torch.Tensor, arch: dict | None = None,
                         meta: dict | None = None, adc_bits: str = "design") -> Program:
    """Quantize and map a block-circulant ``model`` (plain layout); each circulant layer's
    LayerProgram carries its block size. A design that cannot hold one block under
    ``mapping.kind: reboc`` is one line. ``adc_bits`` as :func:`convert_to_program` (the
    per-crossbar bits are assigned on the final levels)."""
    dense, blocks = densify(model)
    if design.mapping.kind == "reboc":
        for name, b in blocks.items():
            check_reboc_design(design, b, f"layer {name}")
    program = convert_to_program(dense, design, calibration, arch, meta, adc_bits="design" if blocks else adc_bits)
    for name, b in blocks.items():
        lp = program.layers[name]
        w_c = circulant_integers(model.get_submodule(name).vectors, design.weight_max)
        # the quantizer's integers (a BatchNorm folded in) agree with w_c up to float ties,
        # unless the BatchNorm negates an output channel
        if bool(((layer_weights(lp.levels, lp.k_in, lp.n_out, design) * w_c).sum(0) < 0).any()):
            raise XbarError(f"model: layer {name} is block-circulant and a BatchNorm with a negative scale follows it "
                            f"(it would negate single outputs of a circulant block); allowed: positive BatchNorm scales")
        lp.levels, lp.block = map_layer(w_c, design), b
    if blocks and adc_bits == "lossless":  # step 6 of convert_to_program, on the final levels
        for lp in program.layers.values():
            lp.adc_bits, lp.adc_shift = assign_adc_bits(lp.levels, lp.adc_shift, design)
    return program


def circulant_integers(vectors: torch.Tensor, wmax: int) -> torch.Tensor:
    """The integer W[K, N] of a circulant layer with vectors [K/b, N/b, b]: per output, the
    symmetric per-channel quantization of :func:`~xbar_hw.xbar.convert.quantize_layer`,
    round(w * wmax / max|W[:, n]|), computed on the vectors so that every block stays
    circulant exactly (the outputs of a block column share max|W[:, n]| = max |v[:, j]|)."""
    v = vectors.detach().to(torch.float64)
    peak = v.abs().amax(dim=(0, 2)).clamp(min=1e-300).view(1, -1, 1)  # [1, q, 1]
    return expand_vectors(torch.clamp(torch.round(v * wmax / peak), -wmax, wmax)).to(torch.int64)


class RebocLayer:
    """The ReBoc mapping of one block-circulant layer: its crossbars (levels of Wr[K, N/b*D],
    laid out by :func:`~xbar_hw.core.mapping.map_layer`), D and the b/D reads."""

    def __init__(self, lp: LayerProgram, design: Design, device=None):
        if lp.block is None:
            raise XbarError(f"layer {lp.name}: not block-circulant; allowed for the ReBoc mapping: a layer with a block size")
        if lp.adc_bits is not None:
            raise XbarError(f"layer {lp.name}: has per-crossbar ADC bits (TinyADC); allowed for the ReBoc mapping: "
                            f"the design's adc.bits on every crossbar")
        b = lp.block
        check_reboc_design(design, b, f"layer {lp.name}")
        self.lp, self.design, self.b = lp, design, b
        self.D = duplication(design, b, lp.n_out // b)
        self.reads = b // self.D  # reads of shifted inputs per MVM
        w = layer_weights(lp.levels, lp.k_in, lp.n_out, design)
        self.stored = reboc_matrix(w, b, self.D)  # [K, N/b * D]
        self.levels = map_layer(self.stored, design).to(device or "cpu")
        shift = int(lp.adc_shift[0])
        if not bool((lp.adc_shift == shift).all()):
            raise XbarError(f"layer {lp.name}: per-crossbar ADC shifts differ; allowed for the ReBoc mapping: one shift")
        self.engine = CrossbarEngine(self.levels, lp.k_in, self.stored.shape[1], design, shift)
        self.inputs = [input_index(lp.k_in, b, c, device) for c in range(self.reads)]
        self.outputs = [output_index(lp.n_out, b, self.D, c, device) for c in range(self.reads)]

    @property
    def n_crossbars(self) -> int:
        return int(self.levels.shape[0])

    def rows_product(self, x_u: torch.Tensor) -> torch.Tensor:
        """Unsigned input rows x_u [M, K] (offset applied) -> P [M, N] float64: read c drives
        the rows with the shifted slices x_u[:, inputs[c]] and yields outputs[c]."""
        M = x_u.shape[0]
        out = torch.empty(M, self.lp.n_out, dtype=torch.float64, device=x_u.device)
        for c in range(self.reads):
            rows = x_u[:, self.inputs[c]]
            out[:, self.outputs[c]] = self.engine.fast(self.engine.fast.columns_from_rows(rows), M).t()
        return out


def layer_product(lp: LayerProgram, x: torch.Tensor, design: Design, mapping: str = "plain") -> torch.Tensor:
    """Integer inputs x [M, K] of layer ``lp`` -> P int64 [M, N] through the golden crossbars
    of the ``plain`` or ``reboc`` mapping (spec section 3: same ADC, same shift-add)."""
    check_input_range(x, design)
    x_u = x.to(torch.int64) + design.input_offset
    if mapping == "reboc":
        return RebocLayer(lp, design, x.device).rows_product(x_u).round().to(torch.int64)
    if mapping != "plain":
        raise XbarError(f"mapping: got {mapping!r}; allowed: plain, reboc")
    engine = CrossbarEngine(lp.levels, lp.k_in, lp.n_out, design, lp.adc_shift)
    return engine.fast(engine.fast.columns_from_rows(x_u), x.shape[0]).t().round().to(torch.int64)


def reboc_forward(layer: MappedLayer, reboc: RebocLayer):
    """The forward of mapped ``layer`` with its products from ``reboc``'s crossbars: the
    layer's own quantizer, input rows and epilogue."""

    def forward(x: torch.Tensor) -> torch.Tensor:
        rows = layer.input_rows(layer.quantize_input(x)).to(torch.int64)
        p = reboc.rows_product(rows)
        if layer.lp.kind == "linear":
            return layer.epilogue(p, 1)
        B, N = x.shape[0], layer.lp.n_out
        cv = layer.lp.conv
        hw = []
        for size, k, s, pad, dil in zip(x.shape[2:], cv["kernel_size"], cv["stride"], cv["padding"], cv["dilation"]):
            hw.append((size + 2 * pad - dil * (k - 1) - 1) // s + 1)
        return layer.epilogue(p.view(B, hw[0] * hw[1], N), 2).transpose(1, 2).reshape(B, N, *hw)

    return forward


def attach_reboc(net: nn.Module, design: Design) -> nn.Module:
    """Run every block-circulant mapped layer of ``net`` (a built network, no chip, no
    task masks) through its ReBoc crossbars on the golden path; other layers stay as they are."""
    for layer in mapped_layers(net):
        if layer.lp.block is not None:
            layer.forward = reboc_forward(layer, RebocLayer(layer.lp, design, layer.device_))
    return net
