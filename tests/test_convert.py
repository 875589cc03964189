"""Whole networks: quantization, conversion, the crossbar path against independent
compositions, Programs on disk."""

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from xbar_hw import (
    Program,
    XbarError,
    build_network,
    convert_to_program,
    design_from_dict,
    load_design,
    set_path,
)
from xbar_hw.workload.models import build_model
from xbar_hw.xbar import crossbar_mvm
from xbar_hw.xbar.convert import fold_batchnorm
from xbar_hw.xbar.layers import mapped_layers

LOSSLESS = {"crossbar": {"rows": 16, "cols": 16, "cell_bits": 2}, "weights": {"bits": 6},
            "inputs": {"bits": 5, "dac_bits": 1}, "adc": {"bits": 6, "per_crossbar": 2}}


class OddNet(nn.Module):
    """Strides, dilation, asymmetric padding, no bias, a linear head."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(2, 5, (3, 2), stride=(2, 1), padding=(1, 0), dilation=(1, 2))
        self.c2 = nn.Conv2d(5, 7, 3, padding=2, dilation=2, bias=False)
        self.fc = nn.Linear(7 * 5 * 7, 3)

    def forward(self, x):
        x = F.relu(self.c1(x))
        x = F.relu(self.c2(x))
        return self.fc(x.flatten(1))


def _data(shape, n=24, seed=0):
    return torch.rand((n, *shape), generator=torch.Generator().manual_seed(seed))


def _integer_reference(model: nn.Module, program: Program, x: torch.Tensor) -> torch.Tensor:
    """The integer-quantized network written out with plain float64 torch ops."""
    d = program.design
    lo, hi = d.input_range
    lps = program.layers
    w = {n: _w_int(lps[n], d) for n in lps}

    def q(n, t):
        return torch.clamp(torch.round(t.float() / lps[n].x_scale), lo, hi).double()

    def epi(n, p, dim):
        shape = [1] * p.dim(); shape[dim] = -1
        b = lps[n].bias.double() if lps[n].bias is not None else 0 * lps[n].w_scale.double()
        return (p * (lps[n].x_scale * lps[n].w_scale.double()).view(shape) + b.view(shape)).float()

    m = model
    h = epi("c1", F.conv2d(q("c1", x), w["c1"], None, m.c1.stride, m.c1.padding, m.c1.dilation), 1)
    h = epi("c2", F.conv2d(q("c2", F.relu(h)), w["c2"], None, m.c2.stride, m.c2.padding, m.c2.dilation), 1)
    return epi("fc", q("fc", F.relu(h).flatten(1)) @ w["fc"].view(3, -1).t(), 1)


def _w_int(lp, d):
    from xbar_hw.core.mapping import layer_weights
    w = layer_weights(lp.levels, lp.k_in, lp.n_out, d).t().double()
    if lp.conv:
        return w.reshape(lp.n_out, lp.conv["in_channels"], *lp.conv["kernel_size"])
    return w


def test_weight_quantization_per_channel():
    torch.manual_seed(0)
    model = OddNet().eval()
    d = design_from_dict(LOSSLESS)
    prog = convert_to_program(model, d, _data((2, 9, 9)))
    lp = prog.layers["c1"]
    w = model.c1.weight.detach().reshape(5, -1).t().double()  # [K, N]
    scale = w.abs().amax(0) / 31
    assert torch.allclose(lp.w_scale.double(), scale, rtol=1e-6)
    assert torch.equal(_w_int(lp, d).reshape(5, -1).t(), torch.round(w / scale))
    # activation scale: the calibration peak over (2^b_x - 1)
    assert lp.x_scale == pytest.approx(float(_data((2, 9, 9)).max()) / 31, rel=1e-6)


@pytest.mark.parametrize("signed", [False, True])
def test_lossless_crossbar_path_is_bit_exact(signed):
    torch.manual_seed(1)
    model = OddNet().eval()
    d = design_from_dict({**LOSSLESS, "inputs": {"bits": 5, "dac_bits": 1, "signed": signed}})
    assert d.lossless
    x = _data((2, 9, 9)) - (0.5 if signed else 0.0)
    prog = convert_to_program(model, d, x)
    mapped = build_network(prog)
    ref = _integer_reference(model, prog, x)
    folded = set_path(mapped, "folded")(x)
    crossbar = set_path(mapped, "crossbar")(x)
    assert torch.equal(folded, ref)
    assert torch.equal(crossbar, folded)


def test_crossbar_layer_equals_composition_of_crossbars():
    """A lossy layer's integer sums are the sums of its crossbars' golden outputs."""
    d = design_from_dict({"crossbar": {"rows": 5, "cols": 8, "cell_bits": 2}, "weights": {"bits": 5},
                          "inputs": {"bits": 4, "dac_bits": 1}, "adc": {"bits": 3, "per_crossbar": 1}})
    assert not d.lossless
    torch.manual_seed(2)
    lin = nn.Sequential(nn.Linear(13, 7))
    x = _data((13,), n=10)
    prog = convert_to_program(lin, d, x)
    lp = prog.layers["0"]
    lp.adc_shift = torch.tensor([0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1])  # per-crossbar shifts differ
    layer = mapped_layers(build_network(prog))[0]
    layer.path = "crossbar"
    x_int = layer.quantize_input(x).to(torch.int64)
    got = layer.crossbar_rows(layer.input_rows(x_int.double()))
    n_rb, n_cb = 3, 4
    exp = torch.zeros(10, 4 * 2, dtype=torch.int64)
    for cb in range(n_cb):
        for rb in range(n_rb):
            i = cb * n_rb + rb
            rows = x_int[:, rb * 5:(rb + 1) * 5]
            rows = F.pad(rows, (0, 5 - rows.shape[1]))
            exp[:, cb * 2:(cb + 1) * 2] += crossbar_mvm(lp.levels[i], rows, d, int(lp.adc_shift[i]))
    assert torch.equal(got.round().to(torch.int64), exp[:, :7])


def test_batchnorm_folding_preserves_float_outputs():
    torch.manual_seed(3)
    model = build_model("resnet20", in_channels=3, num_classes=10, width=4)
    for m in model.modules():  # non-trivial statistics
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5); m.running_var.uniform_(0.5, 2); m.weight.data.uniform_(0.5, 1.5)
    model.eval()
    x = _data((3, 16, 16), n=4)
    gm = fold_batchnorm(copy.deepcopy(model))
    assert not any(isinstance(m, nn.BatchNorm2d) for m in gm.modules())
    assert torch.allclose(gm(x), model(x), atol=1e-4)


def test_program_roundtrip_identical_outputs(tmp_path):
    torch.manual_seed(4)
    model = build_model("resnet20", in_channels=3, num_classes=10, width=4).eval()
    d = load_design("designs/tiny.yaml")
    x = _data((3, 12, 12), n=6)
    prog = convert_to_program(model, d, x, {"arch": "resnet20", "kwargs": {"in_channels": 3, "num_classes": 10, "width": 4}})
    out = build_network(prog)(x)
    prog.save(tmp_path / "p.safetensors")
    again = Program.load(tmp_path / "p.safetensors", d)
    assert torch.equal(build_network(again)(x), out)
    for n, lp in prog.layers.items():
        assert torch.equal(again.layers[n].levels, lp.levels) and again.layers[n].first_pe == lp.first_pe
    with pytest.raises(XbarError, match="mapped for design 'tiny'"):
        Program.load(tmp_path / "p.safetensors", load_design("designs/default.yaml"))


def test_pe_assignment():
    d = load_design("designs/tiny.yaml")  # 16x16, L = 4, 4 crossbars per PE
    net = nn.Sequential(nn.Linear(40, 9), nn.ReLU(), nn.Linear(9, 2))
    prog = convert_to_program(net, d, _data((40,)))
    a, b = prog.layers["0"], prog.layers["2"]
    assert a.n_crossbars == 3 * 3 and a.n_pes(d) == 3 and a.first_pe == 0
    assert b.n_crossbars == 1 and b.first_pe == 3 and prog.n_pes == 4
    assert a.crossbar_pe(d).tolist() == [0, 0, 0, 0, 1, 1, 1, 1, 2]


def test_calibrated_adc_shift_never_clips_calibration_data():
    torch.manual_seed(5)
    base = {"crossbar": {"rows": 32, "cols": 16, "cell_bits": 2}, "weights": {"bits": 5},
            "inputs": {"bits": 4, "dac_bits": 2}}
    model = OddNet().eval()
    x = _data((2, 9, 9))
    auto = convert_to_program(model, design_from_dict({**base, "adc": {"bits": 5, "per_crossbar": 1}}), x)
    cal = convert_to_program(model, design_from_dict({**base, "adc": {"bits": 5, "per_crossbar": 1, "shift": "calibrated"}}), x)
    for n in auto.layers:
        assert bool((cal.layers[n].adc_shift <= auto.layers[n].adc_shift).all())
    # on the calibration data no column clips, and one shift less would clip somewhere
    mapped = set_path(build_network(cal), "crossbar")
    rows = {}
    hooks = [m.register_forward_pre_hook(lambda mod, a: rows.__setitem__(mod.lp.name, mod.input_rows(mod.quantize_input(a[0]))))
             for m in mapped_layers(mapped)]
    mapped(x)
    for h in hooks:
        h.remove()
    for n, lp in cal.layers.items():
        n_rb = -(-lp.k_in // 32)
        xr = F.pad(rows[n].to(torch.int64), (0, n_rb * 32 - lp.k_in))
        for i in range(lp.n_crossbars):
            rb = i % n_rb
            xb = xr[:, rb * 32:(rb + 1) * 32]
            s_peak = max(int((((xb >> (2 * t)) & 3) @ lp.levels[i].to(torch.int64)).max()) for t in range(2))
            a = int(lp.adc_shift[i])
            h = (1 << (a - 1)) if a else 0
            assert (s_peak + h) >> a <= 31
            if a > 0:
                h1 = (1 << (a - 2)) if a > 1 else 0
                assert (s_peak + h1) >> (a - 1) > 31


def test_grouped_conv_is_rejected():
    net = nn.Sequential(nn.Conv2d(4, 4, 3, groups=2))
    with pytest.raises(XbarError, match="groups=2"):
        convert_to_program(net, design_from_dict({}), _data((4, 6, 6)))


@pytest.mark.slow
def test_default_design_mnist_within_half_point_of_float():
    from xbar_hw.workload.data import mnist5k
    from xbar_hw.workload.train import accuracy, train

    data = mnist5k(0)
    model = train(build_model("mnist_cnn", seed=0), data, epochs=5, seed=0, progress=False).cpu()
    prog = convert_to_program(model, load_design("designs/default.yaml"), data.x_train[:512])
    f = accuracy(model, data.x_test, data.y_test)
    m = accuracy(set_path(build_network(prog), "crossbar"), data.x_test, data.y_test)
    assert f > 0.9
    assert abs(m - f) <= 0.005, (f, m)


def test_masked_layer_equals_per_crossbar_spec_composition():
    """Masks act on each crossbar's P (after the shift-add) before the sum over crossbars."""
    from spec_reference import ref_column_mask

    from xbar_hw.xbar.layers import set_column_masks

    d = design_from_dict({"crossbar": {"rows": 5, "cols": 8, "cell_bits": 2}, "weights": {"bits": 5},
                          "inputs": {"bits": 4, "dac_bits": 1, "signed": True}, "adc": {"bits": 3, "per_crossbar": 1},
                          "mask": {"bits": 2, "exponents": [-2, -1, 1]}})
    torch.manual_seed(6)
    lin = nn.Sequential(nn.Linear(13, 7))
    x = _data((13,), n=10) - 0.5
    prog = convert_to_program(lin, d, x)
    lp = prog.layers["0"]
    codes = torch.randint(0, 4, (12, 2), generator=torch.Generator().manual_seed(0))
    mapped = set_column_masks(build_network(prog), {"0": codes})
    layer = mapped_layers(mapped)[0]
    x_int = layer.quantize_input(x).to(torch.int64)
    got = layer.crossbar_rows(layer.input_rows(x_int.double()))
    exp = torch.zeros(10, 8, dtype=torch.int64)
    for cb in range(4):
        for rb in range(3):
            i = cb * 3 + rb
            rows = F.pad(x_int[:, rb * 5:(rb + 1) * 5], (0, 5 - x_int[:, rb * 5:(rb + 1) * 5].shape[1]))
            p = crossbar_mvm(lp.levels[i], rows, d).tolist()
            exp[:, cb * 2:(cb + 1) * 2] += torch.tensor(ref_column_mask(p, codes[i].tolist(), [-2, -1, 1]))
    assert torch.equal(got.round().to(torch.int64), exp[:, :7])
    masked_out = mapped(x)
    assert not torch.equal(set_column_masks(mapped, None)(x), masked_out)  # no code is the identity here
    with pytest.raises(XbarError, match="masks: got layers"):
        set_column_masks(mapped, {"nope": codes})
