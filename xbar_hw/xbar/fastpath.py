"""The fast exact path of the golden crossbar (spec section 3): integer bit-planes, one
GEMM per row block and chunk, then the per-column ADC and the shift-add as a few in-place
integer passes on data that stays in cache.

Layout. One column per (input vector m, read cycle t), t innermost; one row per (slice or
polarity j, output n), j outermost:

    D [K, M*T]             the input digits d_t(x) (int8 on CPUs, else float)
    S [2s*N, m*T]          = L_rb [2s*N, r] @ D[rows of row block rb, columns of a chunk]

so a conv layer's digits are gathered straight from its padded input in runs of wo*T
elements (the unfolded input is materialized once, for all read cycles together), a row
block is a contiguous slice of D's rows, the sum over read cycles contracts the innermost
axis, the sum over slices and polarity the outermost, and the result P [N, M] is channel
major, as a convolution's output is. Columns run in chunks of about CHUNK_ELEMENTS column
sums, each finished (ADC, shift-add, epilogue) before the next.

Exactness, step by step (every value is an integer; each dtype is chosen by a bound):

- GEMM, int8 (``torch._int_mm``, CPU): levels are at most 2^7 - 1 (cell_bits <= 7) and
  digits at most 2^7 - 1 (dac_bits <= 7), or, at dac_bits = 8, are stored as d - 128 in
  [-128, 127]; the 128 * (sum of the row block's levels) this removes from every column sum
  is added back with the ADC's half step h. Products and sums accumulate in int32, exact
  while R * 2^7 * (2^7 - 1) < 2^31 (R below 2^17; checked).
- GEMM, float (other devices, or wider cells or digits): float32 when the largest column
  sum S_max is below 2^24 (float32 holds every integer up to 2^24, so every partial sum, in
  any order, is exact), else float64 (exact below 2^53); S is then cast to integers exactly.
  No float64 GEMM runs on the int8 path, whatever S_max.
- ADC: min((S + h) >> a, 2^b_a - 1) in int32 when every column's S + h stays below 2^31,
  else int64; the clip runs only where some column can reach it with the levels it holds
  (b_a per crossbar where the Program records its ADC bits: one clip level per column).
- The codes of the row blocks are added (times 2^a where the crossbars' shifts differ) in
  int32, or int64 when their bound (the sum of the blocks' largest codes) needs it.
- Over read cycles (weights 2^(t*v)): a GEMV in float32 when that bound times 2^(T*v) is
  below 2^24, else float64; with one read cycle nothing runs and the codes stay integers.
- Over slices and polarity: positive minus negative slices, then Horner with 2^b_c, in the
  integer or float dtype that holds the bound times sum_k 2^(k*b_c); last, P = 2^a * that
  - 2^(b_x-1) * sum_r w[r, n] for signed inputs, converted to float64 in the same pass,
  exact while |P| < 2^53 (checked when the engine is built).
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import torch

from ..core.design import Design
from ..core.errors import XbarError

F32_EXACT = 1 << 24
F64_EXACT = 1 << 53
I32_EXACT = 1 << 31
#: S elements of one chunk (int32: 1 MiB), so that a chunk's passes run in cache
CHUNK_ELEMENTS = 1 << 18


_SCRATCH = threading.local()


def scratch(name: str, shape: tuple, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """A reused buffer of ``shape`` (uninitialized), one per name, dtype, device and thread:
    fresh multi-megabyte buffers cost a page fault per 4 KiB on every call. The same name
    returns the same memory, so a caller holds a scratch tensor only until its next call.
    Each buffer keeps the largest size asked for, for the life of its thread (ResNet-20 at
    batch 64 on the default design: about 90 MB, most of it the digit columns)."""
    pool = _SCRATCH.__dict__.setdefault("pool", {})
    key = (name, dtype, torch.device(device))
    n = 1
    for size in shape:
        n *= size
    buf = pool.get(key)
    if buf is None or buf.numel() < n:
        buf = pool[key] = torch.empty(n, dtype=dtype, device=device)
    return buf[:n].view(shape)


_POOL: dict = {"threads": 0, "executor": None, "pid": None}
_POOL_LOCK = threading.Lock()


def _one_thread(barrier: threading.Barrier) -> None:
    torch.set_num_threads(1)  # this worker's kernels run single-threaded
    barrier.wait()


def chunk_workers(n: int) -> ThreadPoolExecutor:
    """``n`` persistent worker threads whose torch kernels run single-threaded.

    Chunks are independent, so with n intra-op threads the chunks of a layer are shared out
    to n workers (each a queue consumer) instead of splitting every small kernel n ways: no
    barrier after each kernel, so a worker that the OS pauses (other jobs on the machine)
    delays only its own chunk. ``torch.set_num_threads(1)`` in a worker sets that thread's
    OpenMP and MKL threads; it also sets torch's default for threads not yet started, which
    is put back here. A forked child (whose copy of the pool has no threads) starts its own."""
    with _POOL_LOCK:
        if _POOL["threads"] != n or _POOL["pid"] != os.getpid():
            if _POOL["executor"] is not None and _POOL["pid"] == os.getpid():
                _POOL["executor"].shutdown(wait=True)
            executor = ThreadPoolExecutor(n, thread_name_prefix="xbar-chunks")
            barrier = threading.Barrier(n + 1)
            started = [executor.submit(_one_thread, barrier) for _ in range(n)]  # one per thread
            barrier.wait()
            for f in started:
                f.result()
            torch.set_num_threads(n)
            _POOL.update(threads=n, executor=executor, pid=os.getpid())
        return _POOL["executor"]


def run_chunks(fn, ranges: list, device: torch.device) -> None:
    """``fn(m0, m1)`` for every range: on :func:`chunk_workers` where torch has several
    intra-op threads on a CPU and there are several chunks, else in this thread."""
    n = torch.get_num_threads()
    if n > 1 and len(ranges) > 1 and torch.device(device).type == "cpu":
        for _ in chunk_workers(n).map(lambda r: fn(*r), ranges):
            pass
    else:
        for m0, m1 in ranges:
            fn(m0, m1)


def int8_gemm_available(device: torch.device) -> bool:
    """True where ``torch._int_mm`` multiplies int8 matrices of any shape (CPUs)."""
    return torch.device(device).type == "cpu" and hasattr(torch, "_int_mm")


def float_dtype(bound: int) -> torch.dtype:
    """float32 where every integer up to ``bound`` is exact, else float64."""
    if bound < F32_EXACT:
        return torch.float32
    if bound < F64_EXACT:
        return torch.float64
    raise XbarError(f"design: sums up to {bound} exceed float64's exact integer range")


class FastCrossbars:
    """The exact crossbar path of one layer on digit columns D [K, M*T] (see the module).

    ``planes``: int64 [N*2s, K], row n*2s + j (:func:`~xbar_hw.core.mapping.layer_planes`);
    ``a_cols``: int64 [n_rb, N*2s], the ADC shift of every row block and used column;
    ``q_cols``: int64 [n_rb, N*2s], their clip levels 2^b - 1 (None: the design's ``adc.bits``).
    """

    def __init__(self, planes: torch.Tensor, a_cols: torch.Tensor, row_blocks: list, design: Design, n_out: int,
                 q_cols: torch.Tensor | None = None):
        self.design, self.n_out, self.row_blocks = design, n_out, row_blocks
        device = planes.device
        two_s, T, v = design.cols_per_logical, design.read_cycles, design.inputs.dac_bits
        self.T, self.C, self.k_device = T, two_s * n_out, device
        # rows (j, n): j = pol*s + k outermost
        jn = planes.view(n_out, two_s, -1).transpose(0, 1).reshape(self.C, -1)
        a_jn = a_cols.view(-1, n_out, two_s).transpose(1, 2).reshape(len(row_blocks), self.C)
        self.int8 = (int8_gemm_available(device) and design.cell_max <= 127 and v <= 8
                     and design.crossbar.rows * 128 * 127 < I32_EXACT)
        # digits d - 128 at dac_bits = 8 (int8); the removed 128 * sum(levels) is added back
        self.digit_offset = 128 if self.int8 and v == 8 else 0
        self.gemm_dtype = torch.int8 if self.int8 else float_dtype(design.s_max)
        if q_cols is None:
            q_cols = torch.full_like(a_cols, design.adc_max)
        q_jn = q_cols.view(-1, n_out, two_s).transpose(1, 2).reshape(len(row_blocks), self.C)
        self.uniform = bool((a_jn == a_jn.flatten()[0]).all()) if a_jn.numel() else True
        a0 = int(a_jn.flatten()[0]) if a_jn.numel() else 0
        self.blocks = []
        acc_bound = 0
        for rb, (r0, r1) in enumerate(row_blocks):
            lv = jn[:, r0:r1]
            a, qmax = a_jn[rb], q_jn[rb]
            h = torch.where(a > 0, torch.ones_like(a) << (a - 1).clamp(min=0), torch.zeros_like(a))
            col_max = lv.sum(1) * design.digit_max  # the largest S each column can reach
            reach = (col_max + h) >> a
            clip = bool((reach > qmax).any())
            q_bound = int(torch.minimum(reach, qmax).max()) if reach.numel() else 0
            wide = int((col_max + h).max()) >= I32_EXACT if a.numel() else False
            adc_dtype = torch.int64 if wide else torch.int32
            add = (h + self.digit_offset * lv.sum(1)).to(adc_dtype).view(-1, 1)
            self.blocks.append({
                "levels": lv.to(self.gemm_dtype).contiguous(),
                "add": add, "clip": clip, "dtype": adc_dtype,
                "shift": a0 if self.uniform else a.to(adc_dtype).view(-1, 1),
                # one clip level, or one per column (heterogeneous ADC bits)
                "qmax": design.adc_max if bool((qmax == design.adc_max).all()) else qmax.to(adc_dtype).view(-1, 1),
            })
            acc_bound += q_bound * (1 if self.uniform else (1 << int(a.max())) if a.numel() else 1)
        self.acc_dtype = torch.int32 if acc_bound < I32_EXACT else torch.int64
        self._shift_add_plan(max(acc_bound, 1), a0)
        self.shifts = torch.arange(T, device=device) * v
        # signed inputs: -2^(b_x-1) * sum_r w[r, n] per row block [n_rb, N, 1], and in all [N, 1]
        k_unit = torch.pow(2.0, torch.arange(design.slices, dtype=torch.float64, device=device) * design.crossbar.cell_bits)
        k_unit = torch.cat([k_unit, -k_unit]).view(two_s, 1)
        per_rb = torch.stack([(jn[:, r0:r1].sum(1).to(torch.float64).view(two_s, n_out) * k_unit).sum(0)
                              for r0, r1 in row_blocks])
        self.neg_offset_rb = (-design.input_offset * per_rb).unsqueeze(-1)
        self.neg_offset = self.neg_offset_rb.sum(0)

    def _shift_add_plan(self, acc_bound: int, a0: int) -> None:
        """The dtypes of the shift-add, from the bound on the summed codes (module docstring)."""
        d, T = self.design, self.T
        v, b_c, s = d.inputs.dac_bits, d.crossbar.cell_bits, d.slices
        y_bound = acc_bound * ((1 << (T * v)) - 1)
        r_bound = y_bound * sum(1 << (k * b_c) for k in range(s))
        self.scale = float(2 ** a0) if self.uniform else 1.0
        float_dtype(r_bound * int(self.scale))  # raises where |P| could leave float64's exact range
        # over read cycles: a float GEMV with weights 2^(t*v), exact below the dtype's bound
        self.t_dtype = float_dtype(y_bound)
        self.t_coef = torch.pow(2.0, torch.arange(T, dtype=torch.float64) * v).to(self.t_dtype).to(self.k_device)
        # over slices and polarity: Horner with 2^b_c, in integers (T = 1) or floats
        if T == 1:
            self.r_dtype = torch.int32 if r_bound < I32_EXACT else torch.int64
        else:
            self.r_dtype = float_dtype(r_bound)

    # ------------------------------------------------------------------ digits
    def digits(self, x_u: torch.Tensor) -> torch.Tensor:
        """Unsigned integer inputs [...] -> digit planes [..., T] in the GEMM's dtype
        (d - 128 at dac_bits = 8 on the int8 path)."""
        d = self.design
        if not self.int8:
            xi = x_u.to(torch.int64) if x_u.dtype.is_floating_point else x_u
            return ((xi.unsqueeze(-1) >> self.shifts.to(xi.dtype)) & d.digit_max).to(self.gemm_dtype)
        if self.T == 1 and x_u.dtype == torch.uint8:
            dig = x_u.unsqueeze(-1)
            if self.digit_offset:
                dig = dig ^ 128  # d - 128 modulo 256: as int8 exactly d - 128
            return dig.view(torch.int8)
        xi = x_u.to(torch.int32) if x_u.dtype.is_floating_point else x_u
        dig = scratch("digit planes", (*x_u.shape, self.T), torch.uint8, x_u.device)
        if xi.dtype == torch.uint8:
            torch.bitwise_right_shift(xi.unsqueeze(-1), self.shifts.to(torch.uint8), out=dig)
        else:
            dig.copy_(xi.unsqueeze(-1) >> self.shifts.to(xi.dtype))  # the high bits are masked next
        dig.bitwise_and_(d.digit_max)
        if self.digit_offset:
            dig.bitwise_xor_(128)
        return dig.view(torch.int8)

    def columns_from_rows(self, x_u: torch.Tensor) -> torch.Tensor:
        """Input vectors x_u [M, K] (unsigned integers) -> D [K, M*T]."""
        dig = self.digits(x_u)  # [M, K, T]
        return dig.permute(1, 0, 2).reshape(x_u.shape[1], -1)

    @staticmethod
    def columns_from_conv(dig: torch.Tensor, kernel: tuple, stride: tuple, dilation: tuple) -> torch.Tensor:
        """Digit planes of a padded conv input, channel major [C, B, Hp, Wp, T] -> D [K,
        B*ho*wo*T], K in (c_in, kh, kw) order: one strided view and one copy (into a reused
        buffer) for all read cycles, in runs of wo*T elements at stride 1."""
        C, B, Hp, Wp, T = dig.shape
        (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
        ho, wo = (Hp - dh * (kh - 1) - 1) // sh + 1, (Wp - dw * (kw - 1) - 1) // sw + 1
        sC, sB, sH, sW, sT = dig.stride()
        view = dig.as_strided((C, kh, kw, B, ho, wo, T), (sC, sH * dh, sW * dw, sB, sH * sh, sW * sw, sT))
        cols = scratch("columns", tuple(view.shape), dig.dtype, dig.device)
        return cols.copy_(view).view(C * kh * kw, B * ho * wo * T)

    # ------------------------------------------------------------------ the crossbars
    def _column_sums(self, D: torch.Tensor, rb: int) -> torch.Tensor:
        r0, r1 = self.row_blocks[rb]
        blk = self.blocks[rb]
        if self.int8:
            S = torch._int_mm(blk["levels"], D[r0:r1])
            return S if S.dtype == blk["dtype"] else S.to(blk["dtype"])
        return torch.mm(blk["levels"], D[r0:r1]).to(blk["dtype"])

    def codes(self, D: torch.Tensor, rb: int) -> torch.Tensor:
        """ADC codes of row block ``rb`` for digit columns D [K, w]: [2s*N, w], times 2^a
        where the layer's shifts differ (a uniform 2^a is applied in the shift-add).

        ADC of spec section 3: min((S + h) >> a, 2^b_a - 1), in place on S."""
        blk = self.blocks[rb]
        S = self._column_sums(D, rb)
        S.add_(blk["add"]).bitwise_right_shift_(blk["shift"])
        if blk["clip"]:
            if isinstance(blk["qmax"], int):
                S.clamp_(max=blk["qmax"])
            else:
                torch.minimum(S, blk["qmax"], out=S)
        if not self.uniform:
            S.bitwise_left_shift_(blk["shift"])
        return S

    def shift_add(self, q: torch.Tensor, out: torch.Tensor, neg_offset: torch.Tensor) -> None:
        """Codes [2s*N, m*T] -> ``out`` [N, m] (float64, may be a strided view): the sum over
        read cycles (a GEMV), then over slices and polarity (Horner), times the uniform 2^a,
        plus ``neg_offset`` [N, 1] -- the last step converts, scales, adds and stores in one
        pass, exact since both terms are integers below 2^53."""
        d, T = self.design, self.T
        s, b_c = d.slices, d.crossbar.cell_bits
        y = q.to(self.t_dtype).view(-1, T) @ self.t_coef if T > 1 else q
        y = y.view(2 * s, self.n_out, -1)
        if y.dtype != self.r_dtype:
            y = y.to(self.r_dtype)
        r = torch.sub(y[:s], y[s:])  # [s, N, m]: positive minus negative slices
        acc = r[s - 1]
        for k in range(s - 2, -1, -1):
            acc = torch.add(r[k], acc, alpha=1 << b_c)
        torch.add(neg_offset, acc, alpha=self.scale, out=out)

    def chunks(self, M: int, align: int = 1) -> list:
        """Column ranges [m0, m1) of about CHUNK_ELEMENTS column sums each; with ``align``,
        each range is whole multiples of ``align`` or lies inside one (conv: an image)."""
        step = max(1, CHUNK_ELEMENTS // max(1, self.C * self.T))
        if step >= align:
            step -= step % align
            return [(m0, min(M, m0 + step)) for m0 in range(0, M, step)]
        # ranges inside one image each, the first of every image ``step`` wide (a range never
        # wider than the first: the store's buffer is sized by it)
        return [(m0, min(M, i + align, m0 + step)) for i in range(0, M, align) for m0 in range(i, min(M, i + align), step)]

    def __call__(self, D: torch.Tensor, M: int, epilogue: tuple | None = None, store=None, align: int = 1) -> torch.Tensor:
        """D [K, M*T] -> P [N, M] float64: exact integers, summed over the row blocks (the
        shift-add is linear, so the codes of the row blocks are added first).

        ``epilogue`` (scale, bias), each [N, 1] float64: P * scale + bias instead of P,
        chunk by chunk while in cache. ``store(m0, m1, chunk)``: hand each chunk [N, m1 - m0]
        (a reused buffer) to the caller instead of returning P (then None); ``align``: see
        :meth:`chunks`."""
        T = self.T
        ranges = self.chunks(M, align)
        out = torch.empty(self.n_out, M, dtype=torch.float64, device=D.device) if store is None else None

        def one(m0: int, m1: int) -> None:
            cols = D[:, m0 * T : m1 * T]
            acc = None
            for rb in range(len(self.row_blocks)):
                q = self.codes(cols, rb)
                if acc is None:
                    acc = q if q.dtype == self.acc_dtype else q.to(self.acc_dtype)
                else:
                    acc.add_(q)
            if store is None:
                chunk = out[:, m0:m1]
            else:  # a buffer of this thread's
                chunk = scratch("chunk", (self.n_out, ranges[0][1] - ranges[0][0]), torch.float64, D.device)[:, : m1 - m0]
            self.shift_add(acc, chunk, self.neg_offset)
            if epilogue is not None:
                chunk.mul_(epilogue[0]).add_(epilogue[1])
            if store is not None:
                store(m0, m1, chunk)

        run_chunks(one, ranges, D.device)
        return out

    def per_crossbar(self, D: torch.Tensor, M: int) -> torch.Tensor:
        """D [K, M*T] -> P of every row block's crossbars [n_rb, N, M] float64 (what a column
        mask acts on)."""
        T = self.T
        out = torch.empty(len(self.row_blocks), self.n_out, M, dtype=torch.float64, device=D.device)

        def one(m0: int, m1: int) -> None:
            cols = D[:, m0 * T : m1 * T]
            for rb in range(len(self.row_blocks)):
                self.shift_add(self.codes(cols, rb), out[rb, :, m0:m1], self.neg_offset_rb[rb])

        run_chunks(one, self.chunks(M), D.device)
        return out


__all__ = ["FastCrossbars", "int8_gemm_available", "float_dtype", "scratch", "CHUNK_ELEMENTS"]
