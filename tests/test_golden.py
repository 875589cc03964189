"""The vectorized golden crossbar against the spec written out loop by loop
(tests/spec_reference.py), on random odd geometries and bit widths."""

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from spec_reference import ref_crossbar_mvm, ref_map_weights

from xbar_hw import XbarError, design_from_dict
from xbar_hw.core.mapping import layer_weights, map_layer, map_weights, unmap_levels
from xbar_hw.xbar import crossbar_mvm


@st.composite
def cases(draw):
    b_c = draw(st.integers(1, 4))
    b_w = draw(st.integers(2, 9))
    s = -(-(b_w - 1) // b_c)
    R = draw(st.integers(1, 12))
    C = 2 * s * draw(st.integers(1, 3)) + draw(st.integers(0, 2 * s - 1))
    b_x = draw(st.integers(1, 8))
    signed = b_x >= 2 and draw(st.booleans())
    v = draw(st.integers(1, b_x))
    b_a = draw(st.integers(1, 9))
    d = design_from_dict({
        "crossbar": {"rows": R, "cols": C, "cell_bits": b_c}, "weights": {"bits": b_w},
        "inputs": {"bits": b_x, "dac_bits": v, "signed": signed}, "adc": {"bits": b_a, "per_crossbar": 1},
    })
    wm = d.weight_max
    lo, hi = d.input_range
    kind = draw(st.sampled_from(["random", "zero", "max", "min"]))
    if kind == "random":
        w = draw(st.lists(st.lists(st.integers(-wm, wm), min_size=d.logical_cols, max_size=d.logical_cols), min_size=R, max_size=R))
        x = draw(st.lists(st.lists(st.integers(lo, hi), min_size=R, max_size=R), min_size=1, max_size=4))
    else:  # all-zero, all-max (+) and all-max (-) weights with extreme inputs
        val = {"zero": 0, "max": wm, "min": -wm}[kind]
        w = [[val] * d.logical_cols for _ in range(R)]
        x = [[hi] * R, [lo] * R, [0] * R]
    a = draw(st.one_of(st.none(), st.integers(0, 6)))
    return d, w, x, a


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_golden_matches_loop_reference(case):
    d, w, x, a = case
    levels = map_weights(torch.tensor(w), d)
    assert levels.dtype == torch.uint8
    assert levels.tolist() == ref_map_weights(w, d.crossbar.rows, d.crossbar.cols, d.weights.bits, d.crossbar.cell_bits)
    got = crossbar_mvm(levels, torch.tensor(x), d, adc_shift=a)
    assert got.dtype == torch.int64
    exp = ref_crossbar_mvm(levels.tolist(), x, d.weights.bits, d.crossbar.cell_bits, d.inputs.bits,
                           d.inputs.dac_bits, d.adc.bits, a, d.inputs.signed)
    assert got.tolist() == exp


@settings(max_examples=100, deadline=None)
@given(cases())
def test_lossless_equals_exact_product(case):
    """With a lossless ADC (S_max < 2^b_a, a = 0), P = sum_r x_r w[r, j] exactly."""
    d, w, x, _ = case
    d = design_from_dict({**d.to_dict(), "adc": {"bits": max(1, d.s_max.bit_length()), "per_crossbar": 1, "shift": 0}})
    assert d.lossless
    got = crossbar_mvm(map_weights(torch.tensor(w), d), torch.tensor(x), d)
    assert torch.equal(got, torch.tensor(x) @ torch.tensor(w))


def _design(**kw):
    base = {"crossbar": {"rows": 4, "cols": 4, "cell_bits": 2}, "weights": {"bits": 3},
            "inputs": {"bits": 2, "dac_bits": 2}, "adc": {"bits": 2, "per_crossbar": 1}}
    base.update(kw)
    return design_from_dict(base)


def test_adc_round_half_up_tie_by_hand():
    # 4 rows, 2-bit cells, 3-bit weights: s = 1, L = 2; 2-bit inputs in one cycle (v = 2).
    # S_max = 4*3*3 = 36 (6 bits), b_a = 2 -> a0 = 4, h = 8.
    d = _design()
    assert (d.slices, d.logical_cols, d.read_cycles, d.adc_shift_a0) == (1, 2, 1, 4)
    w = torch.tensor([[3, 0], [3, 0], [0, 0], [0, 0]])
    # S = 8 -> (8 + 8) >> 4 = 1 -> P = 16 : a tie at 0.5 LSB rounds up
    assert crossbar_mvm(map_weights(w, d), torch.tensor([[2, 1, 0, 0]]), d).tolist() == [[16, 0]]
    # S = 7 -> (7 + 8) >> 4 = 0 -> P = 0
    assert crossbar_mvm(map_weights(w, d), torch.tensor([[2, 0, 0, 1]]), d).tolist() == [[0, 0]]


def test_adc_clips_with_calibrated_shift_by_hand():
    d = _design()
    w = torch.tensor([[3, -3], [3, -3], [3, -3], [3, -3]])
    x = torch.tensor([[3, 3, 3, 3]])  # S = 36 on both columns
    # a = 2: (36 + 2) >> 2 = 9 -> clipped to 2^2 - 1 = 3 -> P = 3 * 4 = 12
    assert crossbar_mvm(map_weights(w, d), x, d, adc_shift=2).tolist() == [[12, -12]]
    # a = 4 (default): (36 + 8) >> 4 = 2 -> P = 32
    assert crossbar_mvm(map_weights(w, d), x, d).tolist() == [[32, -32]]


def test_layout_matches_spec_by_hand():
    # b_w = 5, b_c = 2 -> s = 2; w = 11 = 0b1011: slices (3, 2); w = -6 = -(0b0110): slices (2, 1)
    d = design_from_dict({"crossbar": {"rows": 1, "cols": 9, "cell_bits": 2}, "weights": {"bits": 5}})
    lv = map_weights(torch.tensor([[11, -6]]), d)
    assert lv.tolist() == [[3, 2, 0, 0, 0, 0, 2, 1, 0]]  # c = j*2s + (0|s) + k; unused column 8 is 0
    assert unmap_levels(lv, d).tolist() == [[11, -6]]


def test_map_layer_roundtrip_and_crossbar_order():
    d = design_from_dict({"crossbar": {"rows": 5, "cols": 8, "cell_bits": 2}, "weights": {"bits": 5}})
    g = torch.Generator().manual_seed(0)
    w = torch.randint(-15, 16, (13, 7), generator=g)  # 3 row blocks x 4 column blocks (L = 2)
    levels = map_layer(w, d)
    assert levels.shape == (12, 5, 8)
    assert torch.equal(layer_weights(levels, 13, 7, d), w)
    # crossbar cb * n_rb + rb holds rows rb*R.., logical columns cb*L..
    assert torch.equal(levels[1 * 3 + 2], map_weights(w[10:13, 2:4], d))


@pytest.mark.parametrize("w,msg", [
    (torch.tensor([[200]]), "got 200"),
    (torch.tensor([[0.5]]), "not all integers"),
    (torch.zeros(200, 1, dtype=torch.int64), "shape"),
])
def test_bad_weights(w, msg):
    d = design_from_dict({})
    with pytest.raises(XbarError, match=msg):
        map_weights(w, d)


def test_bad_inputs():
    d = design_from_dict({})
    lv = map_weights(torch.zeros(128, 16, dtype=torch.int64), d)
    with pytest.raises(XbarError, match=r"inputs: got 256 .*allowed: integers in \[0, 255\]"):
        crossbar_mvm(lv, torch.full((1, 128), 256), d)
    with pytest.raises(XbarError, match=r"got -1"):
        crossbar_mvm(lv, torch.full((1, 128), -1), d)
    with pytest.raises(XbarError, match=r"shape"):
        crossbar_mvm(lv, torch.zeros(1, 127, dtype=torch.int64), d)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases(), st.integers(1, 3), st.data())
def test_column_mask_matches_spec(case, b_m, data):
    from spec_reference import ref_column_mask

    d, w, x, a = case
    n = (1 << b_m) - 1
    exps = data.draw(st.lists(st.integers(-3, 3), min_size=n, max_size=n))
    d = design_from_dict({**d.to_dict(), "mask": {"bits": b_m, "exponents": exps}})
    codes = data.draw(st.lists(st.integers(0, n), min_size=d.logical_cols, max_size=d.logical_cols))
    levels = map_weights(torch.tensor(w), d)
    got = crossbar_mvm(levels, torch.tensor(x), d, adc_shift=a, mask_codes=torch.tensor(codes))
    plain = ref_crossbar_mvm(levels.tolist(), x, d.weights.bits, d.crossbar.cell_bits, d.inputs.bits,
                             d.inputs.dac_bits, d.adc.bits, a, d.inputs.signed)
    assert got.tolist() == ref_column_mask(plain, codes, exps)


def test_column_mask_by_hand():
    # XMA exponents [-2, -1, 0]... here b_m = 2, exponents [-1, 0, 1]; P = [5, -5, 7, 3] before the mask
    d = design_from_dict({"crossbar": {"rows": 1, "cols": 8, "cell_bits": 3}, "weights": {"bits": 4},
                          "inputs": {"bits": 1}, "adc": {"bits": 8, "per_crossbar": 1}})
    lv = map_weights(torch.tensor([[5, -5, 7, 3]]), d)
    x = torch.tensor([[1]])
    assert crossbar_mvm(lv, x, d).tolist() == [[5, -5, 7, 3]]
    # codes: 1 -> >>1 (floor: 5 -> 2, -5 -> -3), 2 -> unchanged, 3 -> <<1, 0 -> gated
    got = crossbar_mvm(lv, x, d, mask_codes=torch.tensor([1, 1, 3, 0]))
    assert got.tolist() == [[2, -3, 14, 0]]
    with pytest.raises(XbarError, match="mask codes: got codes outside 0 .. 3"):
        crossbar_mvm(lv, x, d, mask_codes=torch.tensor([4, 0, 0, 0]))
    with pytest.raises(XbarError, match=r"mask codes: got shape \[3\]"):
        crossbar_mvm(lv, x, d, mask_codes=torch.tensor([1, 1, 1]))
