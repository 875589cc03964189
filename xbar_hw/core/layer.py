"""One mapped layer of a Program (spec section 1): its cell levels, ADC shifts and
digital scales, and its tensors in the Program file.

Placement: each layer starts on a fresh PE; its crossbars (index ``cb * n_rb + rb``, so
the row blocks of one column block are neighbours) fill PEs of ``pe.crossbars`` in order.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .check import need_bool, need_dict, need_float, need_int, need_key, need_str, need_tensor
from .design import Design
from .errors import XbarError, field_error, short
from .circulant import is_block_circulant
from .mapping import fault_entries, layer_grid, layer_weights, unmap_levels


@dataclass
class LayerProgram:
    """One Conv2d or Linear layer mapped to crossbars."""

    name: str
    kind: str  # "conv" or "linear"
    k_in: int  # rows of W[K, N]: in_channels * kh * kw for a conv
    n_out: int
    levels: torch.Tensor  # uint8 [n_crossbars, R, C]
    adc_shift: torch.Tensor  # int64 [n_crossbars]
    w_scale: torch.Tensor  # float32 [N]: weight = w_scale[n] * w_int
    x_scale: float  # input = x_scale * x_int
    bias: torch.Tensor | None = None  # float32 [N]
    conv: dict | None = None  # in_channels, kernel_size, stride, padding, dilation
    first_pe: int = 0
    faults: torch.Tensor | None = None  # int64 [f, 4]: crossbar, row, column, stuck level (profiled)
    #: int64 [n_crossbars]: each crossbar's ADC bits (TinyADC, issue 13); None: the design's adc.bits
    adc_bits: torch.Tensor | None = None
    block: int | None = None  # b when W[K, N] is made of b x b circulant blocks (core/circulant.py)

    @property
    def n_crossbars(self) -> int:
        return int(self.levels.shape[0])

    def grid(self, design: Design) -> tuple[int, int]:
        return layer_grid(self.k_in, self.n_out, design)

    def n_pes(self, design: Design) -> int:
        return -(-self.n_crossbars // design.pe.crossbars)

    def crossbar_pe(self, design: Design) -> torch.Tensor:
        """PE index of each crossbar."""
        return self.first_pe + torch.arange(self.n_crossbars) // design.pe.crossbars

    def crossbar_adc_bits(self, design: Design) -> torch.Tensor:
        """int64 [n_crossbars]: the ADC bits of every crossbar (the design's where none are recorded)."""
        if self.adc_bits is None:
            return torch.full((self.n_crossbars,), design.adc.bits, dtype=torch.int64)
        return self.adc_bits.to(torch.int64)

    def stored_levels(self, xb: int) -> torch.Tensor:
        """The levels the cells of crossbar ``xb`` hold, int64 [R, C]: the intended levels
        with every profiled stuck cell at its stuck level."""
        stored = self.levels[xb].to(torch.int64).clone()
        if self.faults is not None and len(self.faults):
            f = self.faults.to(torch.int64)
            mine = f[f[:, 0] == xb]
            stored[mine[:, 1], mine[:, 2]] = mine[:, 3]
        return stored

    def fault_table(self, xb: int, design: Design) -> list[tuple[int, int, int]]:
        """The fault table of crossbar ``xb`` as the corrector holds it: the first
        ``design.fault_table_entries`` entries of :func:`fault_entries` of its intended and
        stored levels (one entry per logical weight whose stored value differs)."""
        table = fault_entries(self.levels[xb].to(torch.int64), self.stored_levels(xb), design)
        return table[: design.fault_table_entries]

    def faulty_weights(self, design: Design) -> torch.Tensor:
        """int64 [n_crossbars]: the weights of each crossbar whose stored value differs from
        the intended one (the fault-table entries a table of unlimited depth would hold)."""
        counts = torch.zeros(self.n_crossbars, dtype=torch.int64)
        if self.faults is None or not len(self.faults):
            return counts
        f = self.faults.to(torch.int64)
        stored = self.levels.to(torch.int64).clone()
        stored[f[:, 0], f[:, 1], f[:, 2]] = f[:, 3]
        delta = unmap_levels(self.levels, design) - unmap_levels(stored, design)
        return (delta != 0).sum((1, 2))

    def fault_overflow(self, design: Design) -> dict[int, int]:
        """{crossbar: faulty weights past the design's fault-table depth}, for the crossbars
        whose table overflows: those weights go uncorrected."""
        dropped = (self.faulty_weights(design) - design.fault_table_entries).clamp(min=0)
        return {int(xb): int(dropped[xb]) for xb in dropped.nonzero().flatten().tolist()}

    def json(self) -> dict:
        return {
            "name": self.name,
            "kind": self.kind,
            "k_in": self.k_in,
            "n_out": self.n_out,
            "x_scale": self.x_scale,
            "conv": self.conv,
            "first_pe": self.first_pe,
            "n_crossbars": self.n_crossbars,
            "has_bias": self.bias is not None,
            **({"block": self.block} if self.block is not None else {}),
        }


def layer_tensors(prefix: str, lp: LayerProgram) -> dict[str, torch.Tensor]:
    t = {
        f"{prefix}levels": lp.levels.to(torch.uint8),
        f"{prefix}adc_shift": lp.adc_shift.to(torch.int64),
        f"{prefix}w_scale": lp.w_scale.to(torch.float32),
    }
    if lp.bias is not None:
        t[f"{prefix}bias"] = lp.bias.to(torch.float32)
    if lp.faults is not None:
        t[f"{prefix}faults"] = lp.faults.to(torch.int64)
    if lp.adc_bits is not None:
        t[f"{prefix}adc_bits"] = lp.adc_bits.to(torch.int64)
    return t


#: limits of a layer read from a file: past these a header is damaged, not a real network
MAX_FEATURES = 1 << 24
MAX_CROSSBARS = 1 << 20


def check_conv(conv, where: str, k_in: int) -> dict:
    """A conv layer's parameters as a file holds them; its rows k_in = c_in * kh * kw."""
    need_dict(conv, where)
    for key in ("in_channels", "kernel_size", "stride", "padding", "dilation"):
        value = need_key(conv, key, where)
        for i, v in enumerate(value if isinstance(value, list) else [value]):
            need_int(v, f"{where}.{key}" + (f"[{i}]" if isinstance(value, list) else ""), 0 if key == "padding" else 1,
                     1 << 16)
    ks = conv["kernel_size"] if isinstance(conv["kernel_size"], list) else [conv["kernel_size"]] * 2
    if len(ks) != 2 or conv["in_channels"] * ks[0] * ks[1] != k_in:
        raise field_error(f"{where}.kernel_size", conv["kernel_size"], f"a kernel with in_channels * kh * kw = k_in = {k_in}")
    return conv


def layer_from(prefix: str, lj: dict, tensors: dict, design: Design, where: str = "program") -> LayerProgram:
    """A LayerProgram from its JSON entry and tensors, checked against ``design``: shapes,
    dtypes, cell levels within the cell's levels, finite scales, faults on real cells."""
    need_dict(lj, where)
    name = need_str(need_key(lj, "name", where), f"{where}.name")
    at = f"{where} layer {short(name)}"
    kind = need_str(need_key(lj, "kind", at), f"{at}.kind", ("conv", "linear"))
    k_in = need_int(need_key(lj, "k_in", at), f"{at}.k_in", 1, MAX_FEATURES)
    n_out = need_int(need_key(lj, "n_out", at), f"{at}.n_out", 1, MAX_FEATURES)
    n_rb, n_cb = layer_grid(k_in, n_out, design)
    if n_rb * n_cb > MAX_CROSSBARS:
        raise field_error(f"{at}.k_in", k_in, f"a layer of at most {MAX_CROSSBARS} crossbars")
    R, C = design.crossbar.rows, design.crossbar.cols
    levels = need_tensor(tensors, f"{prefix}levels", at, torch.uint8, (n_rb * n_cb, R, C), 0, design.cell_max)
    faults = None
    if f"{prefix}faults" in tensors:
        faults = need_tensor(tensors, f"{prefix}faults", at, torch.int64, (None, 4), 0, max(R, C, n_rb * n_cb))
        for col, hi, what in ((0, n_rb * n_cb - 1, "crossbar"), (1, R - 1, "row"), (2, C - 1, "column"),
                              (3, design.cell_max, "stuck level")):
            if len(faults) and int(faults[:, col].max()) > hi:
                raise XbarError(f"{at}: tensor '{prefix}faults' names {what} {int(faults[:, col].max())}; "
                                f"allowed: at most {hi}")
    bias = None
    if need_bool(lj.get("has_bias", f"{prefix}bias" in tensors), f"{at}.has_bias"):
        bias = need_tensor(tensors, f"{prefix}bias", at, torch.float32, (n_out,))
    block = lj.get("block")
    if block is not None:
        need_int(block, f"{at}.block", 2, 4096)
        if k_in % block or n_out % block:
            raise field_error(f"{at}.block", block, f"a block size dividing k_in = {k_in} and n_out = {n_out}")
        if not is_block_circulant(layer_weights(levels, k_in, n_out, design), block):
            raise XbarError(f"{at}: tensor '{prefix}levels' is not made of {block} x {block} circulant blocks "
                            f"(header block = {block}); allowed: block-circulant weights")
    return LayerProgram(
        block=block,
        name=name,
        kind=kind,
        k_in=k_in,
        n_out=n_out,
        levels=levels,
        adc_shift=need_tensor(tensors, f"{prefix}adc_shift", at, torch.int64, (n_rb * n_cb,), 0, 62),
        w_scale=need_tensor(tensors, f"{prefix}w_scale", at, torch.float32, (n_out,), 0, 3.4e38),
        x_scale=need_float(need_key(lj, "x_scale", at), f"{at}.x_scale", 0, 3.4e38, lo_open=True),
        bias=bias,
        conv=check_conv(lj.get("conv"), f"{at}.conv", k_in) if kind == "conv" else None,
        first_pe=need_int(need_key(lj, "first_pe", at), f"{at}.first_pe", 0, MAX_CROSSBARS),
        faults=faults,
        # optional (TinyADC): a file without it runs every crossbar at the design's adc.bits
        adc_bits=need_tensor(tensors, f"{prefix}adc_bits", at, torch.int64, (n_rb * n_cb,), 1, design.adc.bits)
        if f"{prefix}adc_bits" in tensors else None,
    )
