"""Block-circulant layers and the ReBoc mapping (issue 14): the layers against a circulant
product written out loop by loop, Programs of circulant models, the golden model under the
plain and ReBoc mappings (identical, and equal to the direct product when lossless), the
mapping block, bad input."""

import pytest
import torch
import torch.nn.functional as F

from xbar_hw import XbarError, build_network, design_from_dict, load_design, set_path
from xbar_hw.cli import main as cli_main
from xbar_hw.core.circulant import duplication, is_block_circulant, reboc_matrix
from xbar_hw.core.mapping import layer_weights
from xbar_hw.core.program import Program
from xbar_hw.workload.circulant import (
    CirculantConv2d,
    CirculantLinear,
    circulant_blocks,
    make_circulant,
    parameter_count,
    project_vectors,
)
from xbar_hw.workload.models import build_model, load_model, save_model
from xbar_hw.xbar.circulant import RebocLayer, attach_reboc, circulant_to_program, layer_product

DEFAULT = load_design("designs/default.yaml")
TINY = load_design("designs/tiny.yaml")
LOSSLESS = load_design("designs/lossless.yaml")
KWARGS = {"in_channels": 1, "num_classes": 10, "in_size": 8, "width": 4}  # mnist_cnn on 8x8 digits


def plain_circulant(v: torch.Tensor) -> list[list[float]]:
    """W[K, N] from vectors [p, q, b], entry by entry: W[i*b + r][j*b + c] = v[i][j][(c - r) % b]."""
    p, q, b = v.shape
    return [[float(v[k // b][n // b][((n % b) - (k % b)) % b]) for n in range(q * b)] for k in range(p * b)]


def plain_product(x: list, W: list) -> list:
    """y[n] = sum_k x[k] * W[k][n], in Python numbers."""
    return [sum(x[k] * W[k][n] for k in range(len(W))) for n in range(len(W[0]))]


def test_hand_worked_block():
    # v = (1, 2, 3): rows (1 2 3), (3 1 2), (2 3 1); unit inputs pick the rows
    lin = CirculantLinear(3, 3, 3, bias=False)
    with torch.no_grad():
        lin.vectors.copy_(torch.tensor([[[1.0, 2.0, 3.0]]]))
    assert lin(torch.tensor([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0]])).tolist() == [[1, 2, 3], [3, 1, 2], [2, 3, 1]]


@pytest.mark.parametrize("b", [4, 8, 16])
def test_linear_is_the_circulant_product(b):
    torch.manual_seed(b)
    lin = CirculantLinear(2 * b, 3 * b, b)
    with torch.no_grad():
        lin.bias.uniform_(-1, 1)
    x = torch.randn(5, 2 * b, dtype=torch.float64)
    W = plain_circulant(lin.vectors.detach().double())
    want = [[y + float(bb) for y, bb in zip(plain_product(row.tolist(), W), lin.bias.tolist())] for row in x]
    got = lin.double()(x)
    assert torch.allclose(got, torch.tensor(want, dtype=torch.float64), atol=1e-12)
    assert parameter_count(lin) == 2 * 3 * b + 3 * b


def test_conv_unfolds_to_the_circulant_matrix():
    torch.manual_seed(1)
    conv = CirculantConv2d(4, 8, 3, 4, padding=1).double()
    W = torch.tensor(plain_circulant(conv.vectors.detach()), dtype=torch.float64)  # [36, 8], K in (c_in, kh, kw)
    x = torch.randn(2, 4, 5, 5, dtype=torch.float64)
    cols = F.unfold(x, 3, padding=1).transpose(1, 2)  # [B, 25, 36], the same (c_in, kh, kw) order
    want = (cols @ W + conv.bias.detach()).transpose(1, 2).reshape(2, 8, 5, 5)
    assert torch.allclose(conv(x), want, atol=1e-12)


def test_projection_recovers_vectors_and_checks_structure():
    v = torch.randn(3, 2, 4, dtype=torch.float64)
    W = torch.tensor(plain_circulant(v), dtype=torch.float64)
    assert torch.allclose(project_vectors(W, 4), v)
    assert is_block_circulant(W, 4) and not is_block_circulant(W, 8)
    W[1, 2] += 1
    assert not is_block_circulant(W, 4)


def test_reboc_matrix_rotations():
    # one block, v = (1, 2, 3, 4), D = 2: copy 0 is v, copy 1 is v rotated by b/D = 2
    W = torch.tensor(plain_circulant(torch.tensor([[[1, 2, 3, 4]]])), dtype=torch.int64)
    assert reboc_matrix(W, 4, 2).t().tolist() == [[1, 2, 3, 4], [3, 4, 1, 2]]
    assert reboc_matrix(W, 4, 4).t().tolist() == [[1, 2, 3, 4], [2, 3, 4, 1], [3, 4, 1, 2], [4, 1, 2, 3]]


def test_duplication_fills_unused_columns():
    L = DEFAULT.logical_cols  # 16
    assert L == 16
    assert duplication(DEFAULT, 8, 4) == 4  # 4 block columns x 4 copies = 16 logical columns: one crossbar wide
    assert duplication(DEFAULT, 8, 32) == 1  # already two crossbars wide: no room
    assert duplication(DEFAULT, 16, 1) == 16
    assert duplication(DEFAULT.replace(mapping={"duplication": 3}), 8, 4) == 2  # largest divisor <= 3


def circulant_program(design, b=4, seed=0):
    model = make_circulant(build_model("mnist_cnn", seed=seed, **KWARGS), b)
    x = torch.rand(16, 1, 8, 8, generator=torch.Generator().manual_seed(seed))
    return model, circulant_to_program(model, design, x), x


def test_program_keeps_blocks_and_circulant_integers(tmp_path):
    model, prog, _ = circulant_program(TINY)
    assert circulant_blocks(model) == {"conv2": 4}
    lp = prog.layers["conv2"]
    assert lp.block == 4 and prog.layers["conv1"].block is None
    w = layer_weights(lp.levels, lp.k_in, lp.n_out, TINY)
    b = 4
    for k in range(lp.k_in):  # every entry equals the first row of its block at the cyclic offset
        for n in range(lp.n_out):
            assert w[k, n] == w[k - k % b, n - n % b + ((n % b) - (k % b)) % b]
    prog.save(tmp_path / "p.safetensors")
    back = Program.load(tmp_path / "p.safetensors")
    assert back.layers["conv2"].block == 4 and back.layers["fc"].block is None


def test_model_file_round_trip(tmp_path):
    model = make_circulant(build_model("mnist_cnn", seed=2, **KWARGS), 4)
    save_model(model, "mnist_cnn", KWARGS, tmp_path / "m.safetensors", {"circulant": 4, "circulant_layers": ["conv2"]})
    back, _ = load_model(tmp_path / "m.safetensors")
    assert circulant_blocks(back) == {"conv2": 4}
    x = torch.rand(3, 1, 8, 8)
    assert torch.equal(back(x), model.eval()(x))


@pytest.mark.parametrize("design", [DEFAULT, TINY, LOSSLESS], ids=["default", "tiny", "lossless"])
@pytest.mark.parametrize("dup", [0, 1])
def test_reboc_equals_plain_bit_for_bit(design, dup):
    # rows are a multiple of b, so every column sum (and so every ADC code) is the plain one's
    d = design.replace(mapping={"duplication": dup})
    _, prog, _ = circulant_program(d)
    lp = prog.layers["conv2"]
    lo, hi = d.input_range
    x = torch.randint(lo, hi + 1, (40, lp.k_in), generator=torch.Generator().manual_seed(3))
    plain, reboc = layer_product(lp, x, d), layer_product(lp, x, d, "reboc")
    assert torch.equal(plain, reboc)
    if d.lossless:  # both are the direct circulant product of the integers
        w = layer_weights(lp.levels, lp.k_in, lp.n_out, d).tolist()
        want = [plain_product(row, w) for row in x.tolist()]
        assert reboc.tolist() == want


def test_reboc_fewer_crossbars_more_reads():
    d = DEFAULT
    model = make_circulant(build_model("mnist_cnn", seed=0), 8)
    prog = circulant_to_program(model, d, torch.rand(8, 1, 28, 28, generator=torch.Generator().manual_seed(0)))
    rl = RebocLayer(prog.layers["conv2"], d)  # W[144, 32], b = 8: 4 block columns, D = 4, 2 reads
    assert (rl.D, rl.reads) == (4, 2)
    assert prog.layers["conv2"].n_crossbars == 2 * 2 and rl.n_crossbars == 2 * 1


def test_network_under_reboc_equals_plain():
    _, prog, x = circulant_program(DEFAULT)
    plain = set_path(build_network(prog), "crossbar")
    reboc = attach_reboc(build_network(prog), DEFAULT)
    assert torch.equal(plain(x[:4]), reboc(x[:4]))


def test_mapping_block_validation_and_fingerprint():
    base = {"name": "x"}
    assert design_from_dict(base).mapping_fingerprint() == design_from_dict(
        {**base, "mapping": {"kind": "reboc", "duplication": 2}}).mapping_fingerprint()
    with pytest.raises(XbarError, match=r"^mapping.kind: got 'dense'; allowed: one of plain, reboc$"):
        design_from_dict({"mapping": {"kind": "dense"}})
    with pytest.raises(XbarError, match=r"^mapping.copies: unknown key"):
        design_from_dict({"mapping": {"copies": 2}})
    with pytest.raises(XbarError, match=r"^mapping.kind: .*calibrated"):
        design_from_dict({"mapping": {"kind": "reboc"}, "adc": {"shift": "calibrated"}})


def test_bad_blocks():
    with pytest.raises(XbarError, match="block size 4 does not divide it"):
        CirculantLinear(6, 8, 4)
    with pytest.raises(XbarError, match="block size 16 divides no Linear or Conv2d layer"):
        make_circulant(build_model("mnist_cnn", seed=0, **KWARGS), 16)
    with pytest.raises(XbarError, match="layer conv1 is 9 x 4"):
        make_circulant(build_model("mnist_cnn", seed=0, **KWARGS), 4, ["conv1"])
    odd = TINY.replace(crossbar={"rows": 10}, mapping={"kind": "reboc"})
    with pytest.raises(XbarError, match="block size 4 does not fit crossbar.rows = 10"):
        circulant_program(odd)


def one_line_error(capsys, argv, *parts):
    capsys.readouterr()
    rc = cli_main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert rc == 2 and len(err.splitlines()) == 1 and err.startswith("error: "), err
    for p in parts:
        assert p in err


def test_cli_bad_input(tmp_path, capsys):
    one_line_error(capsys, ["train", "--data", "digits", "--circulant", "5", "-o", tmp_path / "m.safetensors",
                            "--quiet"], "block size 5")
    model = make_circulant(build_model("mnist_cnn", seed=2, **KWARGS), 4)
    save_model(model, "mnist_cnn", KWARGS, tmp_path / "m.safetensors",
               {"data": "digits", "seed": 0, "circulant": 4, "circulant_layers": ["conv2"]})
    design = tmp_path / "odd.yaml"
    design.write_text("name: odd\ncrossbar: {rows: 10, cols: 16, cell_bits: 2}\nweights: {bits: 4}\n"
                      "inputs: {bits: 4}\nadc: {bits: 5, per_crossbar: 4}\nmapping: {kind: reboc}\n")
    one_line_error(capsys, ["map", "--model", tmp_path / "m.safetensors", "--design", design, "-o",
                            tmp_path / "p.safetensors"], "does not fit crossbar.rows = 10")


def test_program_with_bad_block_header(tmp_path):
    _, prog, _ = circulant_program(TINY)
    prog.layers["conv1"].block = 4  # conv1 is 9 x 4: 4 does not divide k_in
    prog.save(tmp_path / "p.safetensors")
    with pytest.raises(XbarError, match=r"layer 'conv1'.block: got 4; allowed: a block size dividing k_in = 9"):
        Program.load(tmp_path / "p.safetensors")
    _, prog, _ = circulant_program(TINY)
    prog.layers["fc"].block = 2  # 32 x 10: divisible, but the weights are dense
    prog.save(tmp_path / "q.safetensors")
    with pytest.raises(XbarError, match="not made of 2 x 2 circulant blocks"):
        Program.load(tmp_path / "q.safetensors")


def test_counts_plain_is_the_cost_model_and_reboc_by_hand():
    from xbar_hw.energy.model import program_report
    from xbar_hw.energy.reboc import compare_mappings

    d = DEFAULT
    model = make_circulant(build_model("mnist_cnn", seed=0), 8)
    x = torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(5))
    prog = circulant_to_program(model, d, x)
    doc = compare_mappings(prog, x)
    rep = program_report(prog, x)  # the existing cost model prices the plain mapping
    assert doc["plain"]["energy_per_inference_pj"] == pytest.approx(rep["energy_per_inference_pj"], rel=1e-12)
    assert doc["plain"]["cycles"] == rep["cycles_per_inference"]
    plain, reboc = doc["plain"]["layers"]["conv2"], doc["reboc"]["layers"]["conv2"]
    # conv2: W[144, 32], b = 8, 14 x 14 = 196 MVMs per image, T = 8, settle S = 16 cycles,
    # 16 conversion cycles per read (128 used columns / 8 ADCs)
    assert (plain["crossbars"], reboc["crossbars"], reboc["reads_per_mvm"]) == (4, 2, 2)
    assert plain["cycles"] == 196 * (1 + (16 + 7 * 16 + 16) + 1 + 2)  # 2 column blocks: 2 output beats
    assert reboc["cycles"] == 196 * (1 + (16 + (8 * 2 - 1) * 16 + 16) + 1 + 1 * 2)  # one beat per read sequence
    assert plain["reads"] == reboc["reads"] == 196 * 8 * 4
    assert plain["cells_used"] == 144 * 32 * 8 and reboc["cells_used"] == 144 * 16 * 8
    words_plain = doc["plain"]["input_buffer_words"] - doc["reboc"]["input_buffer_words"]
    # plain fetches conv2's 144 inputs once per column block (2), ReBoc once; both write each
    # crossbar's partial sums: plain 2 row blocks x 32 outputs, ReBoc 2 row blocks x 16 stored
    # columns x 2 read sequences; fc (1568 x 10: 13 row blocks, 1 column block) and conv1 (one
    # crossbar) fetch each input once either way
    assert words_plain == pytest.approx(196 * ((2 * 144 + 2 * 32) - (144 + 2 * 16 * 2)), rel=1e-12)
    # the same ADC conversions: every output still needs its own column sums (T x 2s x N x n_rb)
    assert doc["plain"]["adc_conversions"] == doc["reboc"]["adc_conversions"]
    # without the intra-layer pipeline: 2 whole MVMs of one output beat each
    serial = compare_mappings(prog, x, pipeline=False)["reboc"]["layers"]["conv2"]
    assert serial["cycles"] == 196 * 2 * (1 + (16 + 7 * 16 + 16) + 1 + 1)


def test_cli_reboc_comparison(tmp_path, capsys):
    import json

    m, p = tmp_path / "m.safetensors", tmp_path / "p.safetensors"
    assert cli_main(["train", "--data", "digits", "--width", "4", "--epochs", "1", "--circulant", "4", "-o", str(m),
                     "--quiet"]) == 0
    assert cli_main(["map", "--model", str(m), "--design", "designs/tiny.yaml", "-o", str(p)]) == 0
    capsys.readouterr()
    assert cli_main(["reboc", "--program", str(p), "--images", "2", "--json", "-o", str(tmp_path / "r.json")]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["blocks"] == {"conv2": 4} and json.loads((tmp_path / "r.json").read_text()) == doc
    assert cli_main(["reboc", "--program", str(p), "--images", "2"]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith(f"plain / ReBoc on tiny (2 images): crossbars {doc['plain']['crossbars']} / "
                           f"{doc['reboc']['crossbars']}, speedup ") and "\n" not in line
    # plain: every layer's W[K, N] on ceil(K / R) x ceil(N / L) crossbars (tiny: R = 16, L = 4)
    prog = Program.load(p)
    assert doc["plain"]["crossbars"] == sum(-(-lp.k_in // 16) * -(-lp.n_out // 4) for lp in prog.layers.values())
    assert doc["reboc"]["crossbars"] < doc["plain"]["crossbars"]
    dense, q = tmp_path / "d.safetensors", tmp_path / "q.safetensors"
    assert cli_main(["train", "--data", "digits", "--width", "4", "--epochs", "1", "-o", str(dense), "--quiet"]) == 0
    assert cli_main(["map", "--model", str(dense), "--design", "designs/tiny.yaml", "-o", str(q)]) == 0
    one_line_error(capsys, ["reboc", "--program", q], "has no block-circulant layer")


@pytest.mark.parametrize("b", [4, 8])
def test_slice_rotator_rtl_drives_the_shifted_slices(b):
    pytest.importorskip("amaranth")
    from amaranth.sim import Simulator

    from xbar_hw.core.circulant import input_index
    from xbar_hw.rtl.reboc import SliceRotator

    d = TINY  # 16 rows, 4-bit inputs
    dut = SliceRotator(d, b)
    gen = torch.Generator().manual_seed(b)
    x = torch.randint(0, 16, (16,), generator=gen).tolist()
    seen = []

    async def bench(ctx):
        for r in range(16):
            ctx.set(dut.x[r], x[r])
        ctx.set(dut.load, 1)
        await ctx.tick()
        ctx.set(dut.load, 0)
        ctx.set(dut.rotate, 1)
        for _ in range(b + 1):  # sequences 0 .. b: b wraps round to 0
            seen.append([ctx.get(dut.rows[r]) for r in range(16)])
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    # by hand, b = 4, sequence 0: each slice (x0 x1 x2 x3) drives rows as (x0 x3 x2 x1)
    if b == 4:
        assert seen[0][:4] == [x[0], x[3], x[2], x[1]] and seen[1][:4] == [x[1], x[0], x[3], x[2]]
    for c in range(b + 1):
        assert seen[c] == [x[i] for i in input_index(16, b, c % b).tolist()]


def test_evaluate_runs_the_designs_mapping():
    from xbar_hw.flows.evaluate import evaluate
    from xbar_hw.workload.resolve import resolve_data

    data = resolve_data("digits", seed=0)
    model = make_circulant(build_model("mnist_cnn", seed=0, **KWARGS), 4)
    calib = data.x_train[:64]
    docs = {kind: evaluate(circulant_to_program(model, DEFAULT.replace(mapping={"kind": kind}), calib), data,
                           progress=False, limit=60) for kind in ("plain", "reboc")}
    assert docs["plain"]["mapping"] == "plain" and docs["reboc"]["mapping"] == "reboc"
    assert docs["plain"]["mapped_acc"] == docs["reboc"]["mapped_acc"]


def test_model_file_with_bad_circulant_meta(tmp_path):
    model = make_circulant(build_model("mnist_cnn", seed=2, **KWARGS), 4)
    for meta, field in (({"circulant": 5, "circulant_layers": ["conv2"]}, "model.meta.circulant: got 5"),
                        ({"circulant": 4, "circulant_layers": "conv2"}, "model.meta.circulant_layers: got 'conv2'")):
        save_model(model, "mnist_cnn", KWARGS, tmp_path / "m.safetensors", meta)
        with pytest.raises(XbarError, match=field):
            load_model(tmp_path / "m.safetensors")


def test_batchnorm_folded_into_circulant_convs_keeps_the_integers_circulant():
    # per-channel quantization cancels the per-channel BatchNorm scale: the crossbars stay
    # circulant, the scale goes to the digital epilogue (w_scale differs within a block column)
    from xbar_hw.workload.circulant import densify
    from xbar_hw.xbar.convert import fold_batchnorm

    def bn_model(lo):
        model = make_circulant(build_model("resnet20", seed=0, in_channels=1, num_classes=10, width=4), 4)
        with torch.no_grad():  # trained BatchNorms scale their channels differently
            for i, m in enumerate(model.modules()):
                if isinstance(m, torch.nn.BatchNorm2d):
                    m.weight.uniform_(lo, 1.5, generator=torch.Generator().manual_seed(i))
        return model.eval()

    calib = torch.rand(4, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    model = bn_model(0.5)
    prog = circulant_to_program(model, DEFAULT, calib)
    blocks = {n: lp for n, lp in prog.layers.items() if lp.block is not None}
    assert len(blocks) == 18 + 2  # the 3x3 convs of the 9 blocks and the 2 1x1 shortcuts (not conv1: K = 9)
    lp = prog.layers["layers.0.conv1"]
    assert not torch.equal(lp.w_scale[0:1].expand(4), lp.w_scale[0:4])
    folded = dict(fold_batchnorm(densify(model)[0]).named_modules())
    for name, lp in blocks.items():
        w = layer_weights(lp.levels, lp.k_in, lp.n_out, DEFAULT)
        assert is_block_circulant(w, lp.block)
        # the crossbars' weights times the epilogue's scale are the folded float weights,
        # to half a quantization step
        want = folded[name].weight.detach().double().reshape(lp.n_out, -1).t()
        step = lp.w_scale.double()
        assert bool(((w * step - want).abs() <= step / 2 + 1e-6).all())
    with pytest.raises(XbarError, match=r"^model: layer .* a BatchNorm with a negative scale follows it"):
        circulant_to_program(bn_model(-1.5), DEFAULT, calib)


def test_tinyadc_bits_on_circulant_programs():
    # adc_bits="lossless" (TinyADC) assigns each crossbar its bits on the final circulant
    # levels; the ReBoc mapping, which keeps the design's ADC, refuses such a layer in one line
    model = make_circulant(build_model("mnist_cnn", seed=0, **KWARGS), 4)
    x = torch.rand(16, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    prog = circulant_to_program(model, DEFAULT, x, adc_bits="lossless")
    lp = prog.layers["conv2"]
    assert lp.block == 4 and lp.adc_bits is not None and len(lp.adc_bits) == lp.n_crossbars
    with pytest.raises(XbarError, match="per-crossbar ADC bits"):
        RebocLayer(lp, DEFAULT)


def test_chips_of_a_reboc_program_are_refused_in_one_line():
    from xbar_hw.flows.evaluate import evaluate_chips, evaluate_with_chips
    from xbar_hw.workload.resolve import resolve_data

    data = resolve_data("digits", seed=0)
    model = make_circulant(build_model("mnist_cnn", seed=0, **KWARGS), 4)
    prog = circulant_to_program(model, DEFAULT.replace(mapping={"kind": "reboc"}), data.x_train[:16])
    for call in (lambda: evaluate_chips(prog, data, prog.design, 1, progress=False),
                 lambda: evaluate_with_chips(prog, data, chips=2, progress=False)):
        with pytest.raises(XbarError, match=r"^--chips / nonideal: got a Program mapped with mapping.kind = reboc"):
            call()


def test_named_layers_that_cannot_be_converted_are_one_line():
    model = build_model("mnist_cnn", seed=0, **KWARGS)
    with pytest.raises(XbarError, match=r"^circulant: layer 'no_such_layer' is not a Linear or Conv2d"):
        make_circulant(model, 4, ["conv2", "no_such_layer"])


def test_conversion_draws_nothing_from_torch_global_generator():
    model = build_model("mnist_cnn", seed=0, **KWARGS)
    torch.manual_seed(123)
    want = torch.rand(3)
    torch.manual_seed(123)
    make_circulant(model, 4)
    assert torch.equal(torch.rand(3), want)
