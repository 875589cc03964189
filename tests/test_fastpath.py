"""The fast exact path (xbar_hw/xbar/fastpath.py) against the spec written out in plain
integers (tests/spec_reference.py) and against the engine's reference path (the float
bit-plane GEMMs of CrossbarEngine.forward), on random designs and on the shipped ones."""

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from spec_reference import ref_crossbar_mvm
from torch import nn

import xbar_hw.xbar.fastpath as fastpath
from xbar_hw import build_network, convert_to_program, design_from_dict, load_design, set_path
from xbar_hw.xbar import set_column_masks
from xbar_hw.core.mapping import map_layer
from xbar_hw.workload.models import build_model
from xbar_hw.xbar.layers import mapped_layers

DESIGNS = Path(__file__).resolve().parent.parent / "designs"


@st.composite
def designs(draw):
    b_c = draw(st.integers(1, 8))  # 8: the float GEMM (levels beyond int8)
    b_w = draw(st.integers(2, 9))
    s = -(-(b_w - 1) // b_c)
    R = draw(st.integers(1, 9))
    C = 2 * s * draw(st.integers(1, 3)) + draw(st.integers(0, 2 * s - 1))
    b_x = draw(st.integers(1, 10))
    v = draw(st.sampled_from(sorted({1, min(b_x, 8), b_x, draw(st.integers(1, b_x))})))  # 8: the d - 128 digits
    signed = b_x >= 2 and draw(st.booleans())
    b_a = draw(st.integers(1, 9))
    return design_from_dict({
        "crossbar": {"rows": R, "cols": C, "cell_bits": b_c}, "weights": {"bits": b_w},
        "inputs": {"bits": b_x, "dac_bits": v, "signed": signed}, "adc": {"bits": b_a, "per_crossbar": 1},
    })


def _linear_layer(d, w, shifts, bits=None):
    """A mapped Linear layer holding integer weights w [K, N] with per-crossbar ADC shifts
    (and per-crossbar ADC bits, TinyADC's heterogeneous resolution, when ``bits`` is given)."""
    K, N = w.shape
    prog = convert_to_program(nn.Sequential(nn.Linear(K, N)), d, torch.rand(4, K, generator=torch.Generator().manual_seed(0)))
    lp = prog.layers["0"]
    lp.levels, lp.adc_shift = map_layer(w, d), shifts
    lp.adc_bits = bits
    layer = mapped_layers(build_network(prog))[0]
    layer.path = "crossbar"
    return layer, lp


def _spec_layer(d, levels, shifts, x, K, N, bits=None):
    """P [B, N] of a layer: the spec reference of every crossbar (at its own ADC bits when
    ``bits`` is given), summed over row blocks."""
    R, L = d.crossbar.rows, d.logical_cols
    n_rb, n_cb = -(-K // R), -(-N // L)
    out = [[0] * (n_cb * L) for _ in x]
    for cb in range(n_cb):
        for rb in range(n_rb):
            i = cb * n_rb + rb
            rows = [row[rb * R:(rb + 1) * R] + [0] * max(0, (rb + 1) * R - K) for row in x]
            p = ref_crossbar_mvm(levels[i].tolist(), rows, d.weights.bits, d.crossbar.cell_bits, d.inputs.bits,
                                 d.inputs.dac_bits, d.adc.bits if bits is None else int(bits[i]), int(shifts[i]),
                                 d.inputs.signed)
            for b, pb in enumerate(p):
                for j, v in enumerate(pb):
                    out[b][cb * L + j] += v
    return [row[:N] for row in out]


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(designs(), st.data())
def test_fast_layer_matches_spec_reference(d, data):
    """A whole layer (several row and column blocks, a shift per crossbar) on the fast path
    equals the spec reference crossbar by crossbar, summed."""
    R, L = d.crossbar.rows, d.logical_cols
    K = data.draw(st.integers(1, 3 * R))
    N = data.draw(st.integers(1, 3 * L))
    wm, (lo, hi) = d.weight_max, d.input_range
    extreme = data.draw(st.booleans())
    if extreme:  # the largest sums: every weight and input at its top
        w = torch.full((K, N), wm, dtype=torch.int64)
        x = [[hi] * K, [lo] * K]
    else:
        w = torch.tensor(data.draw(st.lists(st.lists(st.integers(-wm, wm), min_size=N, max_size=N), min_size=K, max_size=K)))
        x = data.draw(st.lists(st.lists(st.integers(lo, hi), min_size=K, max_size=K), min_size=1, max_size=3))
    n_x = -(-K // R) * -(-N // L)
    shifts = torch.tensor(data.draw(st.lists(st.integers(0, 8), min_size=n_x, max_size=n_x)))
    bits = None
    if data.draw(st.booleans()):  # heterogeneous ADC resolution: each crossbar clips at its own bits
        bits = torch.tensor(data.draw(st.lists(st.integers(1, d.adc.bits), min_size=n_x, max_size=n_x)))
    layer, lp = _linear_layer(d, w, shifts, bits)
    assert layer.engine.fast is not None
    x_u = torch.tensor(x) + d.input_offset
    got = layer.crossbar_rows(x_u)
    assert got.dtype == torch.float64
    assert got.round().to(torch.int64).tolist() == _spec_layer(d, lp.levels, shifts, x, K, N, bits)


def _reference(mapped):
    """The same network on the engine's reference path (the fast path switched off)."""
    for m in mapped_layers(mapped):
        m.engine.fast = None
    return mapped


class ConvNet(nn.Module):
    """Strides, dilation, asymmetric padding, a 1x1 conv, no bias, a linear head."""

    def __init__(self, c=3):
        super().__init__()
        self.c1 = nn.Conv2d(c, 6, (3, 2), stride=(2, 1), padding=(1, 0), dilation=(1, 2))
        self.c2 = nn.Conv2d(6, 9, 3, padding=2, dilation=2, bias=False)
        self.c3 = nn.Conv2d(9, 5, 1)
        self.fc = nn.Linear(5 * 5 * 7, 4)

    def forward(self, x):
        x = F.relu(self.c1(x))
        x = F.relu(self.c2(x))
        return self.fc(F.relu(self.c3(x)).flatten(1))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(designs(), st.integers(0, 2**16), st.booleans())
def test_fast_network_matches_reference_path(d, seed, calibrated):
    """Conv and linear layers on random designs: the fast path's outputs equal the
    reference path's bit for bit (quantizer, ADC, shift-add, epilogue)."""
    torch.manual_seed(seed)
    if calibrated:
        d = design_from_dict({**d.to_dict(), "adc": {**d.to_dict()["adc"], "shift": "calibrated"}})
    x = torch.rand(3, 3, 9, 9) - (0.5 if d.inputs.signed else 0.0)
    prog = convert_to_program(ConvNet().eval(), d, x)
    got = set_path(build_network(prog), "crossbar")(x)
    exp = _reference(set_path(build_network(prog), "crossbar"))(x)
    assert torch.equal(got, exp)


def test_float_gemm_variant_matches_int8(monkeypatch):
    """The float GEMM (used off CPUs) and the int8 GEMM give the same network outputs."""
    d = load_design(DESIGNS / "lightning.yaml")
    torch.manual_seed(0)
    x = torch.rand(2, 3, 9, 9) - 0.5
    prog = convert_to_program(ConvNet().eval(), d, x)
    fast = set_path(build_network(prog), "crossbar")
    assert all(m.engine.fast.int8 for m in mapped_layers(fast))
    got = fast(x)
    monkeypatch.setattr(fastpath, "int8_gemm_available", lambda device: False)
    slow = set_path(build_network(prog), "crossbar")
    assert not any(m.engine.fast.int8 for m in mapped_layers(slow))
    assert torch.equal(slow(x), got)


@pytest.mark.parametrize("name", ["lightning", "default", "pytorx", "isaac", "tiny", "lossless"])
def test_shipped_designs_resnet20_fast_equals_reference(name):
    """ResNet-20 (batch-norm folded, random weights) on every shipped design: fast path ==
    reference path, bit for bit, with and without column masks."""
    d = load_design(DESIGNS / f"{name}.yaml")
    torch.manual_seed(0)
    model = build_model("resnet20", seed=0, in_channels=3, num_classes=10).eval()
    x = torch.rand(2, 3, 16, 16)
    prog = convert_to_program(model, d, torch.rand(8, 3, 16, 16))
    got = set_path(build_network(prog), "crossbar")
    ref = _reference(set_path(build_network(prog), "crossbar"))
    with torch.no_grad():
        assert torch.equal(got(x), ref(x))
        g = torch.Generator().manual_seed(1)
        top = (1 << d.mask.bits) - 1
        masks = {n: torch.randint(0, top + 1, (lp.n_crossbars, d.logical_cols), generator=g) for n, lp in prog.layers.items()}
        set_column_masks(got, masks)
        set_column_masks(ref, masks)
        assert torch.equal(got(x), ref(x))


def test_chunks_cover_the_columns_and_respect_images():
    d = load_design(DESIGNS / "default.yaml")
    prog = convert_to_program(nn.Sequential(nn.Conv2d(3, 16, 3, padding=1)), d, torch.rand(2, 3, 8, 8))
    fast = mapped_layers(build_network(prog))[0].engine.fast
    for M, align in [(1, 1), (1000, 1), (64 * 1024, 1024), (7 * 100, 100), (5 * 37, 37)]:
        ranges = fast.chunks(M, align)
        assert ranges[0][0] == 0 and ranges[-1][1] == M
        assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))
        for m0, m1 in ranges:  # whole images, or inside one
            assert (m0 % align == 0 and (m1 - m0) % align == 0) or m0 // align == (m1 - 1) // align


def test_scratch_buffers_are_reused():
    a = fastpath.scratch("test", (4, 5), torch.float32, "cpu")
    b = fastpath.scratch("test", (2, 3), torch.float32, "cpu")
    assert b.data_ptr() == a.data_ptr() and b.shape == (2, 3)
    c = fastpath.scratch("test", (10, 10), torch.float32, "cpu")
    assert c.shape == (10, 10)


def test_chunks_on_worker_threads_equal_one_thread():
    """Several intra-op threads share a layer's chunks out to worker threads: same outputs,
    and the caller's thread count is left as it was."""
    d = load_design(DESIGNS / "default.yaml")
    torch.manual_seed(0)
    model = build_model("resnet20", seed=0, in_channels=3, num_classes=10).eval()
    prog = convert_to_program(model, d, torch.rand(4, 3, 16, 16))
    net = set_path(build_network(prog), "crossbar")
    x = torch.rand(3, 3, 16, 16)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        with torch.no_grad():
            one = net(x)
        torch.set_num_threads(2)
        with torch.no_grad():
            two = net(x)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    assert torch.equal(one, two)
