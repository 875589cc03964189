"""Design files: loading, derived quantities (spec section 3), immutability, validation.

Expected derived values are worked out by hand from the spec's formulas (see the comments
beside each table row) and, for every shipped design, recomputed from the raw YAML by an
independent transcription of those formulas.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest
import yaml

import xbar_hw
from xbar_hw import Design, XbarError, design_from_dict, load_design

ROOT = Path(__file__).resolve().parent.parent
DESIGNS = sorted((ROOT / "designs").glob("*.yaml"))

# The stable core of spec section 6: these keys must exist in every design file.
CORE = {
    "name": None,
    "crossbar": {"rows", "cols", "cell_bits"},
    "weights": {"bits"},
    "inputs": {"bits", "signed", "dac_bits"},
    "adc": {"bits", "per_crossbar", "shift"},
    "pe": {"crossbars"},
    "tile": {"pes"},
    "device": {"g_on", "g_off", "v_read", "read_frequency", "temperature"},
    "mask": {"bits", "exponents"},
    "nonideal": None,
    "technology": None,
}


def default_dict() -> dict:
    """Spec section 6's example, written out here (not read from the package)."""
    return {
        "name": "default",
        "crossbar": {"rows": 128, "cols": 128, "cell_bits": 2},
        "weights": {"bits": 8},
        "inputs": {"bits": 8, "signed": False, "dac_bits": 1},
        "adc": {"bits": 8, "per_crossbar": 8, "shift": "auto"},
        "pe": {"crossbars": 8},
        "tile": {"pes": 12},
        "device": {"g_on": 3.33e-4, "g_off": 3.33e-6, "v_read": 0.2, "read_frequency": 1.0e7, "temperature": 300},
        "mask": {"bits": 2, "exponents": [-1, 0, 1]},
        "nonideal": {},
        "technology": "isaac-32nm",
    }


def with_changes(**blocks) -> dict:
    """default_dict() with some blocks' keys replaced: with_changes(crossbar={"rows": 4})."""
    d = default_dict()
    for block, value in blocks.items():
        if isinstance(value, dict) and isinstance(d.get(block), dict):
            d[block] = {**d[block], **value}
        else:
            d[block] = value
    return d


# ----------------------------------------------------------------------------- loading


@pytest.mark.parametrize("path", DESIGNS, ids=lambda p: p.name)
def test_every_shipped_design_loads(path):
    d = load_design(path)
    assert isinstance(d, Design)
    raw = yaml.safe_load(path.read_text())
    assert d.name == raw["name"]
    # every core key of spec section 6 is present in the file itself
    for block, keys in CORE.items():
        assert block in raw, f"{path.name} lacks core key {block}"
        if keys:
            assert keys <= set(raw[block]), f"{path.name}: {block} lacks {keys - set(raw[block])}"


def test_the_shipped_designs_are_the_expected_ones():
    names = {p.stem for p in DESIGNS}
    assert {"default", "tiny", "pytorx", "lossless"} <= names


def test_default_yaml_equals_spec_example():
    d = load_design(ROOT / "designs" / "default.yaml")
    assert d == design_from_dict(default_dict())
    assert d.crossbar.rows == 128 and d.crossbar.cols == 128 and d.crossbar.cell_bits == 2
    assert d.weights.bits == 8
    assert d.inputs.bits == 8 and d.inputs.signed is False and d.inputs.dac_bits == 1
    assert d.adc.bits == 8 and d.adc.per_crossbar == 8 and d.adc.shift == "auto"
    assert d.pe.crossbars == 8 and d.tile.pes == 12
    assert d.device.g_on == pytest.approx(3.33e-4) and d.device.g_off == pytest.approx(3.33e-6)
    assert d.device.v_read == pytest.approx(0.2)
    assert d.device.read_frequency == pytest.approx(1.0e7)
    assert d.device.temperature == pytest.approx(300.0)
    assert tuple(d.mask.exponents) == (-1, 0, 1) and d.mask.bits == 2
    assert d.technology == "isaac-32nm"


# ----------------------------------------------------------------------------- derived

# Hand-worked from spec section 3:
#   s = ceil((b_w-1)/b_c); L = floor(C/2s); T = ceil(b_x/v);
#   S_max = R*(2^v-1)*(2^b_c-1); a0 = max(0, bitlen(S_max) - b_a);
#   lossless = (a == 0 and S_max < 2^b_a).
HAND = {
    # R=C=128, b_c=2, b_w=8, b_x=8, v=1, b_a=8:
    # s=ceil(7/2)=4, 2s=8, L=128//8=16, unused 0, T=8, S_max=128*1*3=384,
    # bitlen(384)=9 (256 <= 384 < 512), a0=9-8=1, not lossless.
    "default": dict(s=4, two_s=8, L=16, unused=0, T=8, s_max=384, a0=1, lossless=False,
                    wmax=127, xrange=(0, 255), weights_per_xbar=128 * 16),
    # R=C=64, b_c=7, b_w=8, b_x=8, v=8, b_a=8:
    # s=ceil(7/7)=1, 2s=2, L=32, T=1, S_max=64*255*127=2072640,
    # 2^20=1048576 <= 2072640 < 2^21=2097152 -> bitlen 21, a0=21-8=13.
    "pytorx": dict(s=1, two_s=2, L=32, unused=0, T=1, s_max=2072640, a0=13, lossless=False,
                   wmax=127, xrange=(0, 255), weights_per_xbar=64 * 32),
    # R=C=16, b_c=2, b_w=4, b_x=4, v=1, b_a=5:
    # s=ceil(3/2)=2, 2s=4, L=4, T=4, S_max=16*1*3=48, bitlen(48)=6, a0=1.
    "tiny": dict(s=2, two_s=4, L=4, unused=0, T=4, s_max=48, a0=1, lossless=False,
                 wmax=7, xrange=(0, 15), weights_per_xbar=16 * 4),
    # R=32, C=64, b_c=1, b_w=8, b_x=8, v=1, b_a=6:
    # s=7, 2s=14, L=64//14=4, unused=64-56=8, T=8, S_max=32*1*1=32,
    # bitlen(32)=6, a0=0, 32 < 2^6=64 -> lossless.
    "lossless": dict(s=7, two_s=14, L=4, unused=8, T=8, s_max=32, a0=0, lossless=True,
                     wmax=127, xrange=(0, 255), weights_per_xbar=32 * 4),
}


@pytest.mark.parametrize("name", sorted(HAND))
def test_derived_quantities_hand_worked(name):
    e = HAND[name]
    d = load_design(ROOT / "designs" / f"{name}.yaml")
    assert d.slices == e["s"]
    assert d.cols_per_logical == e["two_s"]
    assert d.logical_cols == e["L"]
    assert d.read_cycles == e["T"]
    assert d.s_max == e["s_max"]
    assert d.adc_shift_a0 == e["a0"]
    assert d.adc_shift == e["a0"]  # shift: auto
    assert d.lossless is e["lossless"]

    der = d.derived()
    assert der["slices_per_polarity"] == e["s"]
    assert der["physical_cols_per_logical"] == e["two_s"]
    assert der["logical_cols_per_crossbar"] == e["L"]
    assert der["unused_cols_per_crossbar"] == e["unused"]
    assert der["read_cycles"] == e["T"]
    assert der["s_max"] == e["s_max"]
    assert der["adc_shift_a0"] == e["a0"]
    assert der["adc_shift"] == e["a0"]
    assert der["lossless"] is e["lossless"]
    assert list(der["weight_range"]) == [-e["wmax"], e["wmax"]]
    assert list(der["input_range"]) == list(e["xrange"])
    assert der["weights_per_crossbar"] == e["weights_per_xbar"]


def spec_derived(raw: dict) -> dict:
    """Spec section 3's formulas, transcribed from the raw YAML mapping."""
    R, C, b_c = raw["crossbar"]["rows"], raw["crossbar"]["cols"], raw["crossbar"]["cell_bits"]
    b_w, b_x, v, b_a = raw["weights"]["bits"], raw["inputs"]["bits"], raw["inputs"]["dac_bits"], raw["adc"]["bits"]
    s = math.ceil((b_w - 1) / b_c)
    s_max = R * (2**v - 1) * (2**b_c - 1)
    a0 = max(0, int(s_max).bit_length() - b_a)
    shift = raw["adc"]["shift"]
    a = a0 if shift == "auto" else shift
    return dict(s=s, L=math.floor(C / (2 * s)), T=math.ceil(b_x / v), s_max=s_max, a0=a0,
                lossless=(a == 0 and s_max < 2**b_a))


@pytest.mark.parametrize("path", DESIGNS, ids=lambda p: p.name)
def test_derived_quantities_match_spec_formulas(path):
    e = spec_derived(yaml.safe_load(path.read_text()))
    d = load_design(path)
    assert (d.slices, d.logical_cols, d.read_cycles, d.s_max, d.adc_shift_a0, d.lossless) == (
        e["s"], e["L"], e["T"], e["s_max"], e["a0"], e["lossless"])


@pytest.mark.parametrize(
    "changes, a, lossless",
    [
        # explicit shift 0 on the default geometry: S_max=384 > 255, so not lossless
        (dict(adc={"shift": 0}), 0, False),
        # explicit shift 3 is taken as is
        (dict(adc={"shift": 3}), 3, False),
        # 9-bit ADC on the default geometry: bitlen(384)=9 -> a0=0 and 384 < 512: lossless
        (dict(adc={"bits": 9}), 0, True),
        # 2-bit DAC: S_max = 128*3*3 = 1152, bitlen 11, a0 = 11-8 = 3
        (dict(inputs={"dac_bits": 2}), 3, False),
        # S_max exactly 2^b_a: R=64, v=1, b_c=2 -> 192; b_a=8 -> bitlen 8, a0=0, 192<256
        (dict(crossbar={"rows": 64}), 0, True),
        # R=256 -> S_max=768, bitlen 10, a0 = 2
        (dict(crossbar={"rows": 256}), 2, False),
    ],
)
def test_adc_shift_and_lossless(changes, a, lossless):
    d = design_from_dict(with_changes(**changes))
    assert d.adc_shift == a
    assert d.lossless is lossless


@pytest.mark.parametrize(
    "changes, T",
    [(dict(inputs={"dac_bits": 3}), 3),  # ceil(8/3) = 3
     (dict(inputs={"dac_bits": 8}), 1),
     (dict(inputs={"bits": 7, "dac_bits": 2}), 4)],  # ceil(7/2) = 4
)
def test_read_cycles_round_up(changes, T):
    assert design_from_dict(with_changes(**changes)).read_cycles == T


def test_signed_inputs_range():
    d = design_from_dict(with_changes(inputs={"signed": True}))
    assert tuple(d.input_range) == (-128, 127)
    assert d.input_offset == 128


# ----------------------------------------------------------------------------- immutability


def test_design_is_frozen():
    d = load_design(ROOT / "designs" / "default.yaml")
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.name = "other"
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.crossbar = None
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.crossbar.rows = 64
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.device.g_on = 1.0
    # the exponents list must not be a mutable list either
    assert not isinstance(d.mask.exponents, list)
    assert d.crossbar.rows == 128 and d.name == "default"


def test_loading_does_not_alias_the_input_dict():
    raw = default_dict()
    d = design_from_dict(raw)
    raw["mask"]["exponents"].append(7)
    raw["crossbar"]["rows"] = 4
    assert tuple(d.mask.exponents) == (-1, 0, 1)
    assert d.crossbar.rows == 128


# ----------------------------------------------------------------------------- validation


def assert_one_line(msg: str, *parts: str) -> None:
    assert msg and "\n" not in msg and "\r" not in msg, f"not one line: {msg!r}"
    assert "Traceback" not in msg
    for p in parts:
        assert p in msg, f"{p!r} not in {msg!r}"


# (changes, field named, value shown, words of what is allowed)
BAD = {
    "unknown top-level key": (dict(colour="red"), "colour", "colour", ["crossbar"]),
    "unknown nested key": (dict(crossbar={"rowz": 4}), "crossbar.rowz", "rowz", ["rows", "cols", "cell_bits"]),
    "string for int": (dict(crossbar={"rows": "128"}), "crossbar.rows", "'128'", ["integer"]),
    "bool for int": (dict(crossbar={"rows": True}), "crossbar.rows", "True", ["integer"]),
    "float for int": (dict(crossbar={"rows": 128.0}), "crossbar.rows", "128.0", ["integer"]),
    "cell_bits 0": (dict(crossbar={"cell_bits": 0}), "crossbar.cell_bits", "0", ["1", "8"]),
    "cell_bits 9": (dict(crossbar={"cell_bits": 9}), "crossbar.cell_bits", "9", ["1", "8"]),
    "weights.bits 1": (dict(weights={"bits": 1}), "weights.bits", "1", ["2"]),
    "dac_bits > inputs.bits": (dict(inputs={"bits": 4, "dac_bits": 5}), "inputs.dac_bits", "5", ["inputs.bits", "4"]),
    # b_w=8, b_c=2 -> s=4, one logical column needs 2s = 8 physical columns
    "cols < 2s": (dict(crossbar={"cols": 7}, adc={"per_crossbar": 1}), "crossbar.cols", "7", ["8"]),
    # b_w=16, b_c=2 -> s=8, 2s=16
    "cols < 2s (16-bit)": (dict(crossbar={"cols": 15}, weights={"bits": 16}, adc={"per_crossbar": 1}),
                           "crossbar.cols", "15", ["16"]),
    "g_on == g_off": (dict(device={"g_on": 1e-5, "g_off": 1e-5}), "g_on", "1e-05", ["g_off"]),
    "g_on < g_off": (dict(device={"g_on": 1e-6, "g_off": 1e-5}), "g_on", "1e-06", ["g_off"]),
    "negative g_off": (dict(device={"g_off": -0.5}), "device.g_off", "-0.5", ["finite"]),
    "negative v_read": (dict(device={"v_read": -0.25}), "device.v_read", "-0.25", ["finite"]),
    "nan g_on": (dict(device={"g_on": float("nan")}), "device.g_on", "nan", ["finite"]),
    "inf temperature": (dict(device={"temperature": float("inf")}), "device.temperature", "inf", ["finite"]),
    # mask.bits=2 -> 2^2-1 = 3 exponents
    "two exponents for 2 bits": (dict(mask={"bits": 2, "exponents": [0, 1]}), "mask.exponents", "[0, 1]", ["3"]),
    "three exponents for 1 bit": (dict(mask={"bits": 1, "exponents": [-1, 0, 1]}), "mask.exponents", "[-1, 0, 1]", ["1"]),
    "shift sometimes": (dict(adc={"shift": "sometimes"}), "adc.shift", "sometimes", ["auto"]),
    "negative shift": (dict(adc={"shift": -1}), "adc.shift", "-1", ["auto"]),
    "block not a mapping": (dict(crossbar=5), "crossbar", "5", ["mapping"]),
    "unknown technology": (dict(technology="tsmc-3nm"), "technology", "tsmc-3nm", ["isaac-32nm"]),
    "signed not bool": (dict(inputs={"signed": "yes please"}), "inputs.signed", "yes please", ["true", "false"]),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_design_dict_raises_one_line_error(case):
    changes, field_name, value, allowed = BAD[case]
    with pytest.raises(XbarError) as ei:
        design_from_dict(with_changes(**changes))
    msg = str(ei.value)
    assert_one_line(msg, field_name, value, *allowed)
    assert "allowed" in msg


def test_xbar_error_is_a_value_error_and_exported():
    assert issubclass(xbar_hw.XbarError, ValueError)
    with pytest.raises(ValueError):
        design_from_dict({"crossbar": {"rows": 0}})


# ----------------------------------------------------------------------------- files

DEFAULT_YAML = """\
name: filetest
crossbar: {rows: 128, cols: 128, cell_bits: 2}
weights:  {bits: 8}
inputs:   {bits: 8, signed: false, dac_bits: 1}
adc:      {bits: 8, per_crossbar: 8, shift: auto}
pe:       {crossbars: 8}
tile:     {pes: 12}
device:   {g_on: 3.33e-4, g_off: 3.33e-6, v_read: 0.2, read_frequency: 2.5e7, temperature: 300}
mask:     {bits: 2, exponents: [-1, 0, 1]}
nonideal: {}
technology: isaac-32nm
"""


def test_unsigned_exponent_float_loads_as_float(tmp_path):
    # PyYAML (YAML 1.1) reads "2.5e7" (no sign in the exponent) as a string
    assert isinstance(yaml.safe_load("x: 2.5e7")["x"], str)
    p = tmp_path / "d.yaml"
    p.write_text(DEFAULT_YAML)
    d = load_design(p)
    assert isinstance(d.device.read_frequency, float)
    assert d.device.read_frequency == 2.5e7
    assert d.name == "filetest"


def test_unsigned_exponent_without_dot_loads_as_float(tmp_path):
    p = tmp_path / "d.yaml"
    p.write_text(DEFAULT_YAML.replace("read_frequency: 2.5e7", "read_frequency: 5e6"))
    d = load_design(p)
    assert isinstance(d.device.read_frequency, float) and d.device.read_frequency == 5e6


def test_non_numeric_string_for_a_float_is_rejected(tmp_path):
    p = tmp_path / "d.yaml"
    p.write_text(DEFAULT_YAML.replace("read_frequency: 2.5e7", "read_frequency: fast"))
    with pytest.raises(XbarError) as ei:
        load_design(p)
    assert_one_line(str(ei.value), "device.read_frequency", "fast", "allowed")


@pytest.mark.parametrize(
    "old, new, field_name, value",
    [
        ("g_off: 3.33e-6", "g_off: .nan", "device.g_off", "nan"),
        ("g_off: 3.33e-6", "g_off: -3.33e-6", "device.g_off", "-3.33e-06"),
        ("rows: 128", "rows: '128'", "crossbar.rows", "'128'"),
        ("rows: 128", "rows: yes", "crossbar.rows", "True"),
        ("cell_bits: 2", "cell_bits: 9", "crossbar.cell_bits", "9"),
        ("shift: auto", "shift: sometimes", "adc.shift", "sometimes"),
        ("technology: isaac-32nm", "technology: isaac-32nm\nextra: 1", "extra", "extra"),
        ("nonideal: {}", "nonideal: {ir_drop: true}", "nonideal.ir_drop", "ir_drop"),
    ],
)
def test_bad_yaml_file_raises_one_line_error(tmp_path, old, new, field_name, value):
    assert old in DEFAULT_YAML
    p = tmp_path / "bad.yaml"
    p.write_text(DEFAULT_YAML.replace(old, new))
    with pytest.raises(XbarError) as ei:
        load_design(p)
    assert_one_line(str(ei.value), field_name, value, "allowed")


@pytest.mark.parametrize("text", ["- 1\n- 2\n", "just a string\n", "42\n", ""])
def test_non_mapping_yaml_file(tmp_path, text):
    p = tmp_path / "list.yaml"
    p.write_text(text)
    with pytest.raises(XbarError) as ei:
        load_design(p)
    msg = str(ei.value)
    assert_one_line(msg, "design", str(p), "mapping")


@pytest.mark.parametrize(
    "text",
    [
        "name: x\ncrossbar: {rows: 128, cols: 128\n",  # unclosed flow mapping
        "name: x\n  crossbar: 1\n bad: [\n",  # bad indentation
        "name: [1, 2\n",
        "a: b: c\n",
    ],
)
def test_invalid_yaml_syntax(tmp_path, text):
    p = tmp_path / "broken.yaml"
    p.write_text(text)
    with pytest.raises(XbarError) as ei:
        load_design(p)
    assert_one_line(str(ei.value), str(p), "YAML")


def test_missing_file(tmp_path):
    p = tmp_path / "nope.yaml"
    with pytest.raises(XbarError) as ei:
        load_design(p)
    assert_one_line(str(ei.value), "design", str(p), "allowed")


def test_directory_instead_of_file(tmp_path):
    with pytest.raises(XbarError) as ei:
        load_design(tmp_path)
    assert_one_line(str(ei.value), str(tmp_path))


def test_binary_garbage_file(tmp_path):
    p = tmp_path / "garbage.yaml"
    p.write_bytes(b"\xff\xfe\x00\x81\x00\x00garbage\x9c")
    with pytest.raises(XbarError) as ei:
        load_design(p)
    assert_one_line(str(ei.value), str(p))
