"""The golden crossbar of spec section 3, vectorized.

For every crossbar and read cycle t the column sum S[t, c] = sum_r d_t(x_r) * level[r, c]
is one matrix product of the input bit-planes with the cell levels; the ADC
(round half up at 2^a, clip at 2^b_a - 1) is elementwise; the shift-add over digits,
slices and polarity is a contraction with powers of two. There is no Python loop over
rows, columns, digits or slices; the only loop is over a layer's row blocks (crossbars
whose sums must be quantized separately before they are added).

Exactness: every column sum, ADC code and partial accumulation is an integer; the engine
picks float32 only where the largest possible magnitude is below 2^24 (where float32
represents every integer exactly) and float64 (exact below 2^53) otherwise; the final
shift-add over slices always runs in float64.

Two implementations of this arithmetic: ``CrossbarEngine.forward`` / ``per_crossbar`` here
(the reference path, float bit-plane GEMMs on [T*M, K] rows; it also runs the analog path
of chip instances: effective conductances, read noise, SAF correction) and
``CrossbarEngine.fast`` (:mod:`xbar_hw.xbar.fastpath`: int8 GEMMs on CPUs, the ADC and
shift-add as integer passes per cache-sized chunk), which :func:`crossbar_mvm` and the
mapped layers use whenever there is no chip. The tests hold both to the spec reference.
"""

from __future__ import annotations

import torch

from ..core.design import Design
from ..core.errors import XbarError
from ..core.mapping import layer_grid, layer_planes, map_weights
from .fastpath import FastCrossbars, float_dtype


def check_input_range(x_int: torch.Tensor, design: Design, what: str = "inputs") -> None:
    """Raise XbarError unless every input is an integer in the design's input range."""
    lo, hi = design.input_range
    if x_int.dtype.is_floating_point and not torch.equal(x_int, torch.round(x_int)):
        raise XbarError(f"{what}: not all integers; allowed: integers in [{lo}, {hi}]")
    bad = (x_int < lo) | (x_int > hi)
    if bool(bad.any()):
        idx = tuple(int(i) for i in bad.nonzero()[0])
        raise XbarError(
            f"{what}: got {int(x_int[idx])} at index {list(idx)}; allowed: integers in [{lo}, {hi}]"
            f" (inputs.bits = {design.inputs.bits}, signed = {str(design.inputs.signed).lower()})"
        )


def int_dtype(bits: int) -> torch.dtype:
    """The smallest integer dtype that holds unsigned ``bits``-bit inputs."""
    return torch.uint8 if bits <= 8 else torch.int16 if bits <= 15 else torch.int32 if bits <= 31 else torch.int64


def input_digits(x_u: torch.Tensor, design: Design, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Digits d_t(x) = (x >> t*v) & (2^v - 1) of unsigned inputs, stacked as [T, *x.shape]."""
    v, T = design.inputs.dac_bits, design.read_cycles
    it = int_dtype(design.inputs.bits)
    xi = x_u if x_u.dtype == it else x_u.to(it)
    shifts = (torch.arange(T, device=x_u.device, dtype=it) * v).view(T, *([1] * xi.dim()))
    return ((xi.unsqueeze(0) >> shifts) & design.digit_max).to(dtype)


class CrossbarEngine:
    """The golden path for the crossbars of one layer (W[K, N], cut into row and column blocks).

    ``levels``: uint8 [n_crossbars, R, C] as laid out by :func:`~xbar_hw.core.mapping.map_layer`;
    ``adc_shift``: None (the design's shift), an int, or an int tensor [n_crossbars];
    ``adc_bits``: None (the design's ``adc.bits``), an int, or an int tensor [n_crossbars]
    (heterogeneous ADC resolution, TinyADC): crossbar i clips at 2^adc_bits[i] - 1.
    """

    def __init__(self, levels: torch.Tensor, k_in: int, n_out: int, design: Design, adc_shift=None,
                 chip=None, noise=None, adc_bits=None):
        # ``chip``: a LayerChip (xbar_hw.xbar.effects) to read instead of the intended levels;
        # ``noise``: the chip's ReadNoise stream, when it has read noise
        self.design, self.k_in, self.n_out = design, k_in, n_out
        self.noise = noise
        self.n_rb, self.n_cb = layer_grid(k_in, n_out, design)
        n_x = self.n_rb * self.n_cb
        if levels.shape != (n_x, design.crossbar.rows, design.crossbar.cols):
            raise XbarError(
                f"levels: got shape {list(levels.shape)}; allowed: [{n_x}, {design.crossbar.rows}, "
                f"{design.crossbar.cols}] for a {k_in} x {n_out} layer"
            )
        device = levels.device
        self.shifts = shifts = _crossbar_shifts(design.adc_shift if adc_shift is None else adc_shift, n_x, device)
        self.bits = crossbar_bits(design.adc.bits if adc_bits is None else adc_bits, n_x, design, device)
        R, two_s = design.crossbar.rows, design.cols_per_logical
        planes = layer_planes(levels, k_in, n_out, design)  # [N*2s, K] int64: the intended cells
        # The analog path (a chip: faults, variation, IR drop, noise) multiplies by the
        # chip's matrix; it is approximate by nature and runs in float32. The golden path
        # is exact: S / 2^a + 1/2 needs one bit more than S_max.
        self.analog = chip is not None and (chip.w_eff is not None or noise is not None)
        cells = planes
        if chip is not None:
            source = chip.w_eff if chip.w_eff is not None else chip.stored
            cells = layer_planes(source, k_in, n_out, design)
        self.dtype = torch.float32 if self.analog else float_dtype(2 * design.s_max + 1)
        self.planes_t = cells.t().contiguous().to(self.dtype)  # [K, N*2s]
        self.row_blocks = [(rb * R, min(k_in, (rb + 1) * R)) for rb in range(self.n_rb)]
        # the chip's read-noise terms, laid out by row block and plane column
        self.reads = [t.laid_out(self._column_layout, self._cell_layout) for t in chip.reads] if noise is not None else []
        self.uniform = bool((shifts == shifts[0]).all())
        acc_bound = self._adc_blocks(planes, chip is not None)
        # the fast exact path (xbar_hw.xbar.fastpath) for the intended cells; a chip's cells
        # and its SAF correction run on the path below
        self.fast = None if chip is not None else FastCrossbars(planes, self.a_cols, self.row_blocks, design, n_out,
                                                                self.q_cols)
        T, v = design.read_cycles, design.inputs.dac_bits
        self.acc_dtype = float_dtype(max(acc_bound, 1) * ((1 << (T * v)) - 1))
        self.t_coef = torch.pow(2.0, torch.arange(T, dtype=torch.float64) * v).to(device)
        k_pow = torch.pow(2.0, torch.arange(design.slices, dtype=torch.float64) * design.crossbar.cell_bits)
        self.k_coef = torch.cat([k_pow, -k_pow]).to(device)  # [2s]: + slices then - slices
        self.scale = float(2 ** int(shifts[0])) if self.uniform else 1.0
        # signed inputs: 2^(b_x-1) * sum_r w[r, j], precomputed per crossbar and column
        offset = design.input_offset
        self.offset_rb = self.offset_term = None
        if offset:
            per_rb = torch.stack([planes[:, r0:r1].sum(1) for r0, r1 in self.row_blocks]).to(torch.float64)
            self.offset_rb = offset * (per_rb.view(self.n_rb, n_out, two_s) @ self.k_coef)  # [n_rb, N]
            self.offset_term = self.offset_rb.sum(0)

    def _adc_blocks(self, planes: torch.Tensor, on_chip: bool) -> int:
        """The ADC of every row block (``self.adc``): levels pre-scaled by 2^-a, half, clip;
        returns the bound on the sum of the ADC codes over row blocks."""
        design = self.design
        two_s, L = design.cols_per_logical, design.logical_cols
        # per row block and used physical column: the ADC shift of the crossbar it sits in
        col_block = torch.arange(self.n_out * two_s, device=planes.device) // (L * two_s)
        self.a_cols = a_cols = self.shifts.view(self.n_cb, self.n_rb)[col_block, :].t()  # [n_rb, N*2s]
        # the clip level 2^b - 1 of each row block and used column (its crossbar's ADC bits)
        self.q_cols = q_cols = ((1 << self.bits) - 1).view(self.n_cb, self.n_rb)[col_block, :].t()
        self.adc = []
        acc_bound = 0
        for rb, (r0, r1) in enumerate(self.row_blocks):
            a, qmax = a_cols[rb], q_cols[rb]
            h = torch.where(a > 0, torch.ones_like(a) << (a - 1).clamp(min=0), torch.zeros_like(a))
            # the largest sum each column can reach with these levels decides whether to clip
            col_max = planes[:, r0:r1].sum(1) * design.digit_max
            if on_chip:  # stuck cells: bound by the top level
                col_max = torch.full_like(col_max, (r1 - r0) * design.digit_max * design.cell_max)
            clip = self.analog or bool((((col_max + h) >> a) > qmax).any())
            q_bound = int(torch.minimum((col_max + h) >> a, qmax).max()) if a.numel() else 0
            acc_bound += q_bound * (1 if self.uniform else int((1 << a).max()) if a.numel() else 1)
            inv = torch.pow(2.0, -a.to(torch.float64))
            # planes pre-scaled by 2^-a (exact: a power of two), so the product is S / 2^a and
            # the GEMM's bias adds h / 2^a = 1/2: the ADC is then one floor
            self.adc.append(
                {
                    "w": (self.planes_t[r0:r1].to(torch.float64) * inv).to(self.dtype).contiguous(),
                    # an analog S is real-valued: the ADC rounds half up at every shift, a = 0 too
                    "half": (torch.where((a > 0) | self.analog, 0.5, 0.0)).to(self.dtype)
                    if bool((a > 0).any()) or self.analog else None,
                    "up": None if self.uniform else torch.pow(2.0, a.to(torch.float64)).to(self.dtype),
                    "inv": inv.to(self.dtype),
                    "clip": clip,
                    # one clip level for all columns, or one per column (heterogeneous ADC bits)
                    "qmax": float(design.adc_max) if bool((qmax == design.adc_max).all())
                    else qmax.to(self.dtype),
                }
            )
        return acc_bound

    def column_codes(self, digits: torch.Tensor, rb: int) -> torch.Tensor:
        """ADC codes of row block ``rb`` for digits [T*M, K]: [T*M, N*2s], times 2^a when
        the layer's shifts differ (a uniform 2^a is applied once after the sum).

        ADC of spec section 3: min((S + h) >> a, 2^b_a - 1) = min(floor(S/2^a + 1/2), 2^b_a - 1).
        """
        r0, r1 = self.row_blocks[rb]
        p = self.adc[rb]
        x = digits[:, r0:r1]
        if self.noise is not None:
            S = torch.mm(x, self.planes_t[r0:r1])
            S.add_(self._read_noise(S, x, rb)).mul_(p["inv"]).add_(p["half"]).floor_()
        elif p["half"] is None:
            S = torch.mm(x, p["w"])
        else:
            S = torch.addmm(p["half"], x, p["w"]).floor_()
        if p["clip"]:
            S.clamp_(min=0.0)
            if isinstance(p["qmax"], float):
                S.clamp_(max=p["qmax"])
            else:
                torch.minimum(S, p["qmax"], out=S)
        if p["up"] is not None:
            S.mul_(p["up"])
        return S

    def _column_layout(self, per_col: torch.Tensor) -> torch.Tensor:
        """[crossbars, C] per physical column -> [n_rb, N*2s] in plane order."""
        d = self.design
        width = d.logical_cols * d.cols_per_logical
        t = per_col[:, :width].reshape(self.n_cb, self.n_rb, width).permute(1, 0, 2)
        out = t.reshape(self.n_rb, self.n_cb * width)[:, : self.n_out * d.cols_per_logical].contiguous()
        return out.to(self.dtype)

    def _cell_layout(self, per_cell: torch.Tensor) -> torch.Tensor:
        """[crossbars, R, C] per cell -> [K, N*2s] in plane order."""
        return layer_planes(per_cell, self.k_in, self.n_out, self.design).t().contiguous().to(self.dtype)

    def _read_noise(self, S: torch.Tensor, x: torch.Tensor, rb: int) -> torch.Tensor:
        """The read noise in S units: each term's variance (in registry order), then a fresh
        N(0, 1) draw for every read cycle, sample and column (rows of S are (read cycle,
        sample) pairs)."""
        r0, r1 = self.row_blocks[rb]
        var = torch.zeros_like(S)
        for term in self.reads:
            term.add_variance(var, S, x, rb, slice(r0, r1))
        gen = self.noise.gen
        eps = torch.randn(S.shape, generator=gen, dtype=S.dtype, device=gen.device).to(S.device)
        return eps.mul_(var.sqrt_())

    def _shift_add(self, codes: torch.Tensor, M: int) -> torch.Tensor:
        """ADC codes [T*M, N*2s] -> P [M, N] float64: over read cycles, slices, polarity."""
        T = codes.shape[0] // M
        acc = codes.view(T, -1).to(self.acc_dtype)
        y = (self.t_coef.to(acc.dtype) @ acc).to(torch.float64)
        p = y.view(M, self.n_out, self.design.cols_per_logical) @ self.k_coef
        if self.scale != 1.0:
            p.mul_(self.scale)
        return p

    def forward(self, digits: torch.Tensor) -> torch.Tensor:
        """digits [T, M, K] (unsigned bit-planes) -> P [M, N] float64, exact integers,
        summed over the layer's crossbars (the shift-add is linear, so the ADC codes of
        the row blocks are added first)."""
        T, M, K = digits.shape
        flat = digits.reshape(T * M, K)
        acc = None
        for rb in range(self.n_rb):
            q = self.column_codes(flat, rb)
            acc = q if acc is None else acc.add_(q)
        p = self._shift_add(acc, M)
        if self.offset_term is not None:
            p.sub_(self.offset_term)
        return p

    def per_crossbar(self, digits: torch.Tensor) -> torch.Tensor:
        """digits [T, M, K] -> P of every row block's crossbars, [n_rb, M, N] float64:
        what a column mask acts on (spec section 3: mask before the sum over crossbars)."""
        T, M, K = digits.shape
        flat = digits.reshape(T * M, K)
        out = torch.stack([self._shift_add(self.column_codes(flat, rb), M) for rb in range(self.n_rb)])
        if self.offset_rb is not None:
            out.sub_(self.offset_rb.unsqueeze(1))
        return out

    __call__ = forward


def _crossbar_shifts(adc_shift, n_x: int, device) -> torch.Tensor:
    """The ADC shift of each of ``n_x`` crossbars (int64), from one int or one per crossbar."""
    shifts = torch.as_tensor(adc_shift, dtype=torch.int64, device=device).flatten()
    if shifts.numel() == 1:
        shifts = shifts.expand(n_x).clone()
    if shifts.numel() != n_x or bool((shifts < 0).any()) or bool((shifts > 62).any()):
        raise XbarError(f"adc_shift: got {shifts.tolist()}; allowed: one integer in [0, 62] per crossbar ({n_x})")
    return shifts


def crossbar_bits(adc_bits, n_x: int, design: Design, device) -> torch.Tensor:
    """The ADC bits of each of ``n_x`` crossbars (int64), from one int or one per crossbar."""
    bits = torch.as_tensor(adc_bits, dtype=torch.int64, device=device).flatten()
    if bits.numel() == 1:
        bits = bits.expand(n_x).clone()
    if bits.numel() != n_x or bool((bits < 1).any()) or bool((bits > 62).any()):
        raise XbarError(f"adc_bits: got {bits.tolist()}; allowed: one integer in [1, 62] per crossbar ({n_x})")
    return bits


def check_mask_codes(codes: torch.Tensor, shape: tuple, design: Design, what: str = "mask codes") -> torch.Tensor:
    """Raise XbarError unless ``codes`` has ``shape`` and every code is in 0 .. 2^b_m - 1."""
    top = (1 << design.mask.bits) - 1
    codes = torch.as_tensor(codes)
    if tuple(codes.shape) != tuple(shape):
        raise XbarError(f"{what}: got shape {list(codes.shape)}; allowed: {list(shape)}")
    if codes.dtype.is_floating_point or bool(((codes < 0) | (codes > top)).any()):
        raise XbarError(f"{what}: got codes outside 0 .. {top}; allowed: integers in [0, {top}] (mask.bits = {design.mask.bits})")
    return codes.to(torch.int64)


def apply_column_masks(p_rb: torch.Tensor, codes_rb: torch.Tensor, design: Design) -> torch.Tensor:
    """Spec section 3's column mask, then the sum over crossbars.

    p_rb: P of each crossbar [n_rb, M, N] (exact integers, float64); codes_rb: [n_rb, N].
    Code 0 gates the column (P' = 0); code i >= 1 takes e = mask.exponents[i-1]:
    P' = P << e for e >= 0, P' = P >> -e (arithmetic, floor) for e < 0.
    """
    exps = torch.tensor((0,) + tuple(design.mask.exponents), dtype=torch.float64, device=p_rb.device)
    e = exps[codes_rb].unsqueeze(1)  # [n_rb, 1, N]
    masked = torch.floor(p_rb * torch.pow(2.0, e))  # a power-of-two scaling: exact, then floor
    return masked.masked_fill_((codes_rb == 0).unsqueeze(1), 0.0).sum(0)


def crossbar_mvm(levels: torch.Tensor, x: torch.Tensor, design: Design, adc_shift: int | None = None,
                 mask_codes: torch.Tensor | None = None, adc_bits: int | None = None) -> torch.Tensor:
    """One crossbar: levels uint8 [R, C], integer inputs x [B, R] -> P int64 [B, L].

    ``adc_shift`` None uses the design's shift (a0 for ``auto``). ``mask_codes`` [L]: the
    column mask of each logical column (spec section 3). ``adc_bits`` None: the design's
    ``adc.bits`` (else this crossbar's own, TinyADC). No faults here.
    """
    R, C = design.crossbar.rows, design.crossbar.cols
    if levels.shape != (R, C):
        raise XbarError(f"levels: got shape {list(levels.shape)}; allowed: [{R}, {C}]")
    if x.dim() != 2 or x.shape[1] != R:
        raise XbarError(f"inputs: got shape {list(x.shape)}; allowed: [batch, {R}]")
    if bool((levels > design.cell_max).any()):
        raise XbarError(f"levels: got {int(levels.max())}; allowed: integers in [0, {design.cell_max}]")
    check_input_range(x, design)
    engine = CrossbarEngine(levels.unsqueeze(0), R, design.logical_cols, design, adc_shift, adc_bits=adc_bits)
    x_u = x.to(torch.int64) + design.input_offset
    cols = engine.fast.columns_from_rows(x_u)
    if mask_codes is None:
        return engine.fast(cols, x.shape[0]).t().round().to(torch.int64)
    codes = check_mask_codes(mask_codes, (design.logical_cols,), design)
    p_rb = engine.fast.per_crossbar(cols, x.shape[0]).transpose(1, 2)  # [1, B, L]
    return apply_column_masks(p_rb, codes.unsqueeze(0), design).round().to(torch.int64)


__all__ = ["CrossbarEngine", "apply_column_masks", "check_mask_codes", "crossbar_mvm", "map_weights", "input_digits", "check_input_range"]
