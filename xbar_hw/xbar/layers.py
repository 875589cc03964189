"""Mapped layers: a Conv2d or Linear whose integer product runs on the golden crossbars.

Forward: quantize the input (x_int = clamp(round(x / x_scale))), compute the integer sums
P[n] (``path``: ``crossbar`` = bit-planes through the golden crossbars and their ADCs;
``folded`` = the exact integer product, which equals the crossbar path when the ADC is
lossless; ``auto`` = folded when the design is lossless, else crossbar), then the digital
epilogue y = P * x_scale * w_scale[n] + bias[n] in float64. Both paths share the quantizer
and the epilogue, so with a lossless ADC they agree bit for bit.

Without a chip, the crossbar path runs on :mod:`xbar_hw.xbar.fastpath` (a conv layer:
quantized into a reused buffer, digits gathered once from the channel-major padded input,
the epilogue applied chunk by chunk and stored straight into the NCHW output); with a chip,
on the engine's reference path. Both give the same values with the same roundings (tested).
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import nn

from ..core.adcbits import crossbars_lossless
from ..core.design import Design
from ..core.errors import XbarError, field_error
from ..core.layer import LayerProgram
from ..core.mapping import layer_weights
from .fastpath import F32_EXACT, scratch
from .golden import (
    CrossbarEngine,
    apply_column_masks,
    check_mask_codes,
    input_digits,
    int_dtype,
)

PATHS = ("auto", "crossbar", "folded")
#: bound on the elements of one chunk of bit-planes, so that intermediates stay cache-sized
CHUNK_ELEMENTS = 1 << 18


def exact_float32(fn):
    """Run ``fn`` with TF32 off on CUDA: the exactness argument needs true float32 products."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if not torch.cuda.is_available():
            return fn(*args, **kwargs)
        old = torch.backends.cuda.matmul.allow_tf32
        torch.backends.cuda.matmul.allow_tf32 = False
        try:
            with torch.backends.cudnn.flags(enabled=True, allow_tf32=False):
                return fn(*args, **kwargs)
        finally:
            torch.backends.cuda.matmul.allow_tf32 = old

    return wrapper


class MappedLayer(nn.Module):
    def __init__(self, lp: LayerProgram, design: Design, device=None):
        super().__init__()
        self.lp, self.design = lp, design
        self.path = "auto"
        device = torch.device(device or "cpu")
        self.device_ = device
        w_int = layer_weights(lp.levels.to(device), lp.k_in, lp.n_out, design)  # int64 [K, N]
        self.register_buffer("w_int", w_int, persistent=False)
        # The folded path: exact float32 products when sum_r |x_r * w_rn| < 2^24 for every
        # input in range; otherwise the unsigned inputs are cut into planes of u bits, each
        # of which meets that bound (float64 convolutions are far slower on CPUs).
        wsum = int(w_int.abs().sum(0).max()) if w_int.numel() else 0
        bits = design.inputs.bits
        u = bits
        while u > 1 and ((1 << u) - 1) * wsum >= F32_EXACT:
            u -= 1
        self.fold_bits = u
        self.fold_planes = -(-bits // u)
        self.register_buffer("w_colsum", w_int.sum(0).to(torch.float64), persistent=False)
        self.register_buffer("out_scale", (lp.x_scale * lp.w_scale.to(torch.float64)).to(device), persistent=False)
        bias = lp.bias.to(torch.float64) if lp.bias is not None else torch.zeros(lp.n_out, dtype=torch.float64)
        self.register_buffer("bias64", bias.to(device), persistent=False)
        self._engine = None
        self._exact_per_crossbar = None  # per-crossbar ADC bits: every crossbar exact (kept with the engine)
        self.chip = None  # a LayerChip (xbar_hw.xbar.effects) when running as a chip instance
        self.noise = None  # the chip's ReadNoise stream, when it has read noise
        self.mask_codes = self._codes_rb = None  # the active task's column masks

    # -------------------------------------------------------------- shared pieces
    @property
    def engine(self) -> CrossbarEngine:
        if self._engine is None:
            self._engine = CrossbarEngine(
                self.lp.levels.to(self.device_), self.lp.k_in, self.lp.n_out, self.design, self.lp.adc_shift,
                self.chip, self.noise, self.lp.adc_bits,
            )
        return self._engine

    def reset_engine(self) -> None:
        self._engine = self._exact_per_crossbar = None

    def quantize_input(self, x: torch.Tensor) -> torch.Tensor:
        lo, hi = self.design.input_range
        return torch.clamp(torch.round(x / self.lp.x_scale), lo, hi)

    def use_crossbar(self) -> bool:
        if self.chip is not None or self.mask_codes is not None:
            return True
        if self.path == "auto":
            if self.lp.adc_bits is not None:  # per-crossbar ADC bits: folded where each crossbar is exact
                if self._exact_per_crossbar is None:  # a pass over every level: once, not per forward
                    self._exact_per_crossbar = bool(
                        crossbars_lossless(self.lp.levels, self.lp.adc_bits, self.lp.adc_shift, self.design).all())
                return not self._exact_per_crossbar
            return not (self.design.lossless and bool((self.lp.adc_shift == 0).all()))
        return self.path == "crossbar"

    def epilogue(self, p: torch.Tensor, channel_dim: int) -> torch.Tensor:
        shape = [1] * p.dim()
        shape[channel_dim] = -1
        return (p * self.out_scale.view(shape) + self.bias64.view(shape)).to(torch.float32)

    def crossbar_rows(self, rows: torch.Tensor) -> torch.Tensor:
        """Unsigned integer input rows [M, K] (offset applied) -> P [M, N] float64, in chunks
        that keep the bit-planes cache-sized."""
        fast = self.engine.fast
        if fast is not None:
            return self.fast_product(fast.columns_from_rows(rows), rows.shape[0]).t()
        T = self.design.read_cycles
        width = max(self.lp.k_in, self.lp.n_out * self.design.cols_per_logical)
        step = max(1, CHUNK_ELEMENTS // (T * width))
        M = rows.shape[0]
        if M <= step:
            return self._rows_chunk(rows)
        out = torch.empty(M, self.lp.n_out, dtype=torch.float64, device=rows.device)
        for i in range(0, M, step):
            out[i : i + step] = self._rows_chunk(rows[i : i + step])
        return out

    def fast_product(self, cols: torch.Tensor, M: int) -> torch.Tensor:
        """Digit columns [K, M*T] (:mod:`xbar_hw.xbar.fastpath`) -> P [N, M] float64 on the
        fast exact path, column masks included."""
        fast = self.engine.fast
        if self.mask_codes is None:
            return fast(cols, M)
        p_rb = fast.per_crossbar(cols, M).transpose(1, 2)  # [n_rb, M, N]
        return apply_column_masks(p_rb, self._codes_rb, self.design).t()

    def _rows_chunk(self, rows: torch.Tensor) -> torch.Tensor:
        """Spec order: ADC -> shift-add -> SAF correction -> column mask -> sum over crossbars."""
        eng = self.engine
        digits = input_digits(rows, self.design, eng.dtype)
        correction = self.chip.correction if self.chip is not None else None
        if self.mask_codes is None:
            out = eng(digits)
            if correction is not None:
                # digital SAF correction at full precision: sum_r x_u[r] * (w - w_stored)[r, j]
                out += rows.to(torch.float64) @ correction.to(torch.float64)
            return out
        p_rb = eng.per_crossbar(digits)
        if correction is not None:
            x = rows.to(torch.float64)
            c = correction.to(torch.float64)
            for rb, (r0, r1) in enumerate(eng.row_blocks):
                p_rb[rb] += x[:, r0:r1] @ c[r0:r1]
        return apply_column_masks(p_rb, self._codes_rb, self.design)

    def set_mask_codes(self, codes: torch.Tensor | None) -> None:
        """Column-mask codes of the active task, [crossbars, L] (None: no mask)."""
        if codes is None:
            self.mask_codes = self._codes_rb = None
            return
        d = self.design
        codes = check_mask_codes(codes, (self.lp.n_crossbars, d.logical_cols), d, f"mask codes of layer {self.lp.name}")
        n_rb, n_cb = self.lp.grid(d)
        # crossbar cb * n_rb + rb, logical column j -> row block rb, output cb * L + j
        self._codes_rb = codes.view(n_cb, n_rb, d.logical_cols).permute(1, 0, 2).reshape(n_rb, -1)[:, : self.lp.n_out]
        self.mask_codes = codes

    def folded(self, x_u: torch.Tensor, product) -> torch.Tensor:
        """The exact integer product of unsigned inputs x_u, plane by plane in float32,
        minus the signed offset's contribution."""
        u, n = self.fold_bits, self.fold_planes
        if n == 1:
            p = product(x_u.to(torch.float32)).to(torch.float64)
        else:
            xi = x_u.to(torch.int32)
            p = sum(product(((xi >> (j * u)) & ((1 << u) - 1)).to(torch.float32)).to(torch.float64) * float(1 << (j * u))
                    for j in range(n))
        offset = self.design.input_offset
        if offset:
            shape = [1] * p.dim()
            shape[1] = -1
            p = p - offset * self.w_colsum.view(shape)
        return p


class MappedLinear(MappedLayer):
    def input_rows(self, x_int: torch.Tensor) -> torch.Tensor:
        """The crossbar input vectors x_u [B, K] (unsigned integers)."""
        return (x_int + self.design.input_offset).to(int_dtype(self.design.inputs.bits))

    @exact_float32
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x_u = self.input_rows(self.quantize_input(x))
        if self.use_crossbar():
            p = self.crossbar_rows(x_u)
        else:
            w = self.w_int.to(torch.float32)
            p = self.folded(x_u, lambda xp: xp @ w)
        return self.epilogue(p, 1)


class MappedConv2d(MappedLayer):
    def __init__(self, lp: LayerProgram, design: Design, device=None):
        super().__init__(lp, design, device)
        c = lp.conv
        self.kernel_size, self.stride = tuple(c["kernel_size"]), tuple(c["stride"])
        self.padding, self.dilation = tuple(c["padding"]), tuple(c["dilation"])
        w = self.w_int.t().reshape(lp.n_out, c["in_channels"], *self.kernel_size)
        self.register_buffer("w_conv", w.to(torch.float32), persistent=False)

    def _out_hw(self, h: int, w: int) -> tuple[int, int]:
        return tuple(
            (size + 2 * p - d * (k - 1) - 1) // s + 1
            for size, p, d, k, s in zip((h, w), self.padding, self.dilation, self.kernel_size, self.stride)
        )

    def padded_input(self, x_int: torch.Tensor) -> torch.Tensor:
        """x_u = x + offset as unsigned integers, padded so that a padded position carries
        x = 0 (x_u = offset), not x_u = 0."""
        offset = self.design.input_offset
        ph, pw = self.padding
        x_u = F.pad(x_int + offset, (pw, pw, ph, ph), value=float(offset))
        return x_u.to(int_dtype(self.design.inputs.bits))

    @exact_float32
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.use_crossbar() and self.engine.fast is not None:
            return self.fast_forward(x)
        x_int = self.quantize_input(x)
        if not self.use_crossbar():
            p = self.folded(self.padded_input(x_int),
                            lambda xp: F.conv2d(xp, self.w_conv, None, self.stride, 0, self.dilation))
            return self.epilogue(p, 1)
        B, _, H, W = x.shape
        ho, wo = self._out_hw(H, W)
        p = self.crossbar_rows(self.input_rows(x_int)).view(B, ho * wo, self.lp.n_out)
        return self.epilogue(p, 2).transpose(1, 2).reshape(B, self.lp.n_out, ho, wo)

    def fast_forward(self, x: torch.Tensor) -> torch.Tensor:
        """The crossbar path on :mod:`xbar_hw.xbar.fastpath`: quantize into a reused buffer,
        digit columns, the crossbars with the epilogue chunk by chunk, one pass to float32
        NCHW (the values and their rounding are those of :meth:`forward`'s other paths)."""
        lo, hi = self.design.input_range
        # (no gradient flows through the integer path, as on the other crossbar path)
        q = torch.div(x.detach(), self.lp.x_scale, out=scratch("quantized", tuple(x.shape), x.dtype, x.device))
        x_int = q.round_().clamp_(lo, hi)
        B, _, H, W = x.shape
        ho, wo = self._out_hw(H, W)
        fast = self.engine.fast
        cols = fast.columns_from_conv(self.conv_digits(x_int), self.kernel_size, self.stride, self.dilation)
        N, P = self.lp.n_out, ho * wo
        y = torch.empty(B, N, ho, wo, dtype=torch.float32, device=x.device)
        if self.mask_codes is not None:
            p = self.fast_product(cols, B * P).view(N, B, ho, wo)
            y.transpose(0, 1).copy_(p * self.out_scale.view(-1, 1, 1, 1) + self.bias64.view(-1, 1, 1, 1))
            return y
        y3 = y.view(B, N, P)

        def store(m0: int, m1: int, chunk: torch.Tensor) -> None:
            # to float32 and NCHW: whole images, or a range inside one image
            b0, p0 = divmod(m0, P)
            if p0 == 0 and m1 - m0 >= P:
                y3[b0 : b0 + (m1 - m0) // P].transpose(0, 1).copy_(chunk.view(N, -1, P))
            else:
                y3[b0, :, p0 : p0 + m1 - m0].copy_(chunk)

        fast(cols, B * P, (self.out_scale.view(-1, 1), self.bias64.view(-1, 1)), store, align=P)
        return y

    def conv_digits(self, x_int: torch.Tensor) -> torch.Tensor:
        """Integer inputs x [B, C, H, W] -> the fast path's digit planes of the padded input,
        channel major [C, B, Hp, Wp, T]; a padded position carries x = 0."""
        fast, d = self.engine.fast, self.design
        B, C, H, W = x_int.shape
        ph, pw = self.padding
        if fast.int8 and fast.T == 1:
            # one read: the digit is x_u itself (less 128 at dac_bits = 8), written straight
            # from x in one pass (float to int8, NCHW to channel major)
            shift = d.input_offset - fast.digit_offset
            buf = scratch("digits", (C, B, H + 2 * ph, W + 2 * pw), torch.int8, x_int.device).fill_(shift)
            buf[:, :, ph : ph + H, pw : pw + W].copy_((x_int + shift if shift else x_int).transpose(0, 1))
            return buf.unsqueeze(-1)
        buf = scratch("inputs", (C, B, H + 2 * ph, W + 2 * pw), int_dtype(d.inputs.bits), x_int.device)
        buf.fill_(d.input_offset)
        buf[:, :, ph : ph + H, pw : pw + W].copy_((x_int + d.input_offset).transpose(0, 1))
        return fast.digits(buf)

    def input_rows(self, x_int: torch.Tensor) -> torch.Tensor:
        """The crossbar input vectors x_u [B * positions, K], K in (c_in, kh, kw) order: one
        strided view of the padded input and one copy (no float im2col)."""
        x_u = self.padded_input(x_int).contiguous()
        B, C, Hp, Wp = x_u.shape
        (kh, kw), (sh, sw), (dh, dw) = self.kernel_size, self.stride, self.dilation
        ho, wo = (Hp - dh * (kh - 1) - 1) // sh + 1, (Wp - dw * (kw - 1) - 1) // sw + 1
        sB, sC, sH, sW = x_u.stride()
        patches = x_u.as_strided((B, ho, wo, C, kh, kw), (sB, sH * sh, sW * sw, sC, sH * dh, sW * dw))
        return patches.reshape(B * ho * wo, self.lp.k_in)


def mapped_layers(module: nn.Module) -> list[MappedLayer]:
    return [m for m in module.modules() if isinstance(m, MappedLayer)]


def set_path(module: nn.Module, path: str) -> nn.Module:
    """Choose the integer-product path of every mapped layer: auto, crossbar or folded."""
    if path not in PATHS:

        raise field_error("path", path, ", ".join(PATHS))
    for m in mapped_layers(module):
        m.path = path
    return module


def set_column_masks(module: nn.Module, masks: dict[str, torch.Tensor] | None) -> nn.Module:
    """Load a task's column-mask codes ({layer: [crossbars, L]}) into every mapped layer;
    None removes them. A layer missing from ``masks`` is unmasked."""

    layers = {m.lp.name: m for m in mapped_layers(module)}
    unknown = sorted(set(masks or {}) - set(layers))
    if unknown:
        raise XbarError(f"masks: got layers {unknown}; allowed: {sorted(layers)}")
    for name, m in layers.items():
        m.set_mask_codes((masks or {}).get(name))
    return module
