"""Bad files, generated: designs (YAML values, nesting, aliases, binary), Program headers and
tensors, model headers, technology tables. Each must end in one XbarError line, quickly,
and nothing else (no other exception, no acceptance of a damaged file)."""

from __future__ import annotations

import copy
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from safetensors import safe_open
from safetensors.torch import save_file

from xbar_hw import XbarError, build_network, load_design
from xbar_hw.core.program import META_KEY, Program
from xbar_hw.energy.technology import load_table
from xbar_hw.workload.data import image_folder
from xbar_hw.workload.models import MODEL_KEY, build_model, load_model, save_model

DATA = Path(__file__).resolve().parent / "data"
SETTINGS = settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))


def one_line(exc: BaseException) -> str:
    msg = str(exc)
    assert msg and "\n" not in msg and "Traceback" not in msg and len(msg) < 600, msg
    return msg


def refused(fn, *args):
    """``fn(*args)`` raises XbarError with one line, within 10 s."""
    t0 = time.monotonic()
    with pytest.raises(XbarError) as ei:
        fn(*args)
    assert time.monotonic() - t0 < 10
    return one_line(ei.value)


# ------------------------------------------------------------------ designs
BAD_VALUES = st.one_of(
    st.none(), st.booleans(), st.text(max_size=30), st.floats(allow_nan=True), st.integers(-10**30, 10**30),
    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5), st.integers(), max_size=2))
FIELDS = ["crossbar.rows", "crossbar.cols", "crossbar.cell_bits", "weights.bits", "inputs.bits", "inputs.signed",
          "inputs.dac_bits", "adc.bits", "adc.per_crossbar", "adc.shift", "pe.crossbars", "tile.clock_hz",
          "device.g_on", "device.g_off", "device.read_frequency", "device.v_read", "mask.exponents",
          "nonideal.saf.sa0", "nonideal.ir_drop.r_row", "nonideal.noise.thermal", "technology", "name"]


def _set(doc: dict, dotted: str, value) -> dict:
    *parents, leaf = dotted.split(".")
    node = doc
    for p in parents:
        node = node.setdefault(p, {})
    node[leaf] = value
    return doc


@SETTINGS
@given(field=st.sampled_from(FIELDS), value=BAD_VALUES)
def test_design_values(tmp_path_factory, field, value):
    base = yaml.safe_load(Path("designs/default.yaml").read_text())
    path = tmp_path_factory.mktemp("d") / "d.yaml"
    path.write_text(yaml.safe_dump(_set(base, field, value)))
    try:
        d = load_design(path)
    except XbarError as exc:
        one_line(exc)
        return
    # accepted: then the value is a valid one and the design holds it (no silent change)
    got = d.to_dict()
    for part in field.split("."):
        got = got[part]
    assert got == value or (isinstance(value, list) and list(got) == value) or math.isclose(got, value)


@pytest.mark.parametrize("text", [
    "[" * 20000 + "]" * 20000,                                                  # deep brackets
    "a: &a [1,1,1,1,1,1,1,1,1]\n" + "".join(f"{c}: &{c} [*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p}]\n"
                                            for p, c in zip("abcdefgh", "bcdefghi")) + "name: *i\n",  # alias bomb
    "crossbar:\n" + "".join("  " * i + "k:\n" for i in range(1, 300)),          # deep blocks
    "crossbar: {rows: 128\n",                                                   # unclosed
    "\x00\x01\x02binary",                                                       # binary
    "- just\n- a list\n",
    "tile: {clock_hz: 1e300}\n",
    "device: {read_frequency: 1.0e-300}\n",
    "technology_overrides: {events.adc_conversion_pj.8: .inf}\n",
])
def test_design_files(tmp_path, text):
    p = tmp_path / "d.yaml"
    p.write_bytes(text.encode("utf-8"))
    refused(load_design, p)


def test_design_file_too_large(tmp_path):
    p = tmp_path / "d.yaml"
    p.write_text("name: x\n" + "# padding\n" * 200000)
    assert "bytes" in refused(load_design, p)


# ------------------------------------------------------------------ Programs
def _program_parts() -> tuple[dict, dict]:
    with safe_open(str(DATA / "program_v1.safetensors"), "pt") as f:
        return {k: f.get_tensor(k) for k in f.keys()}, json.loads(f.metadata()[META_KEY])


def _write(path: Path, tensors: dict, doc) -> Path:
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(path), metadata={META_KEY: json.dumps(doc)})
    return path


HEADER_MUTATIONS = {
    "header": lambda d, v: v,
    "format_version": lambda d, v: {**d, "format_version": v},
    "design": lambda d, v: {**d, "design": v},
    "layers": lambda d, v: {**d, "layers": v},
    "tasks": lambda d, v: {**d, "tasks": v},
    "meta": lambda d, v: {**d, "meta": v},
    "model": lambda d, v: {**d, "model": v},
    "layer.k_in": lambda d, v: _layer(d, "k_in", v),
    "layer.n_out": lambda d, v: _layer(d, "n_out", v),
    "layer.x_scale": lambda d, v: _layer(d, "x_scale", v),
    "layer.first_pe": lambda d, v: _layer(d, "first_pe", v),
    "layer.kind": lambda d, v: _layer(d, "kind", v),
    "layer.conv": lambda d, v: _layer(d, "conv", v),
    "layer.name": lambda d, v: _layer(d, "name", v),
    "task.masks": lambda d, v: _task(d, "masks", v),
    "task.head": lambda d, v: _task(d, "head", v),
    "task.classes": lambda d, v: _task(d, "classes", v),
}
BAD_JSON = st.one_of(st.none(), st.booleans(), st.text(max_size=10), st.integers(-10**12, 10**12),
                     st.sampled_from([float("nan"), -1.0, 1e300, [5], [{}], {"a": 1}, 5, "x", [], {}]))


def _layer(doc, key, value):
    doc = copy.deepcopy(doc)
    doc["layers"][0][key] = value
    return doc


def _task(doc, key, value):
    doc = copy.deepcopy(doc)
    doc["tasks"][0][key] = value
    return doc


@SETTINGS
@given(name=st.sampled_from(sorted(HEADER_MUTATIONS)), value=BAD_JSON)
def test_program_headers(tmp_path_factory, name, value):
    tensors, doc = _program_parts()
    bad = HEADER_MUTATIONS[name](doc, value)
    path = _write(tmp_path_factory.mktemp("p") / "p.safetensors", tensors, bad)
    try:
        prog = Program.load(path)
    except XbarError as exc:
        one_line(exc)
        return
    # accepted: the mutation left a valid Program (e.g. meta {} or a benign value); it must build
    try:
        build_network(prog)
    except XbarError as exc:
        one_line(exc)


TENSOR_MUTATIONS = {
    "levels dtype": ("conv1.levels", lambda t: t.to(torch.int64)),
    "levels shape": ("conv1.levels", lambda t: t[:, :-1]),
    "levels too high": ("conv1.levels", lambda t: torch.full_like(t, 255)),
    "adc shift": ("conv1.adc_shift", lambda t: t + 99),
    "w_scale nan": ("conv1.w_scale", lambda t: t * float("nan")),
    "w_scale shape": ("conv1.w_scale", lambda t: t[:-1]),
    "bias inf": ("conv1.bias", lambda t: t + float("inf")),
    "faults range": ("conv1.faults", None),
    "task mask code": ("task.0.mask.conv1", lambda t: t + 9),
    "task crossbars": ("task.0.crossbars.conv1", lambda t: t + 1000),
    "task levels": ("task.0.levels.conv1", lambda t: torch.full_like(t, 200)),
    "digital nan": ("digital.x", None),
    "missing levels": ("conv1.levels", "drop"),
}


@pytest.mark.parametrize("name", sorted(TENSOR_MUTATIONS))
def test_program_tensors(tmp_path, name):
    tensors, doc = _program_parts()
    key, fn = TENSOR_MUTATIONS[name]
    if fn == "drop":
        del tensors[key]
    elif name == "faults range":
        tensors[key] = torch.tensor([[0, 99, 0, 1]], dtype=torch.int64)
    elif name == "digital nan":
        tensors[key] = torch.tensor([float("nan")])
    else:
        tensors[key] = fn(tensors[key])
    refused(Program.load, _write(tmp_path / "p.safetensors", tensors, doc))


def test_program_model_arguments_checked_at_build(tmp_path):
    tensors, doc = _program_parts()
    for kwargs in ({"width": -4}, {"width": 10**7}, {"extra": 1}):
        doc["model"]["kwargs"] = {**doc["model"]["kwargs"], **kwargs}
        prog = Program.load(_write(tmp_path / "p.safetensors", tensors, doc))
        refused(build_network, prog)
        doc["model"]["kwargs"] = {k: v for k, v in doc["model"]["kwargs"].items() if k not in kwargs}


def test_not_a_program(tmp_path):
    (tmp_path / "junk.safetensors").write_bytes(b"\x00" * 64)
    refused(Program.load, tmp_path / "junk.safetensors")
    refused(Program.load, tmp_path / "missing.safetensors")
    save_file({"x": torch.zeros(1)}, str(tmp_path / "plain.safetensors"))
    refused(Program.load, tmp_path / "plain.safetensors")


# ------------------------------------------------------------------ model files
@SETTINGS
@given(key=st.sampled_from(["arch", "kwargs", "meta", "width", "in_size", "extra", "header"]), value=BAD_JSON)
def test_model_headers(tmp_path_factory, key, value):
    path = tmp_path_factory.mktemp("m") / "m.safetensors"
    model = build_model("mnist_cnn", seed=0, width=2, in_size=8)
    save_model(model, "mnist_cnn", {"width": 2, "in_size": 8}, path)
    with safe_open(str(path), "pt") as f:
        tensors, doc = {k: f.get_tensor(k) for k in f.keys()}, json.loads(f.metadata()[MODEL_KEY])
    if key == "header":
        doc = value
    elif key in ("arch", "kwargs", "meta"):
        doc[key] = value
    else:
        doc["kwargs"][key] = value
    save_file(tensors, str(path), metadata={MODEL_KEY: json.dumps(doc)})
    try:
        load_model(path)
    except XbarError as exc:
        one_line(exc)


def test_model_with_nan_weights(tmp_path):
    model = build_model("mnist_cnn", seed=0, width=2, in_size=8)
    with torch.no_grad():
        model.fc.weight[0, 0] = float("nan")
    save_model(model, "mnist_cnn", {"width": 2, "in_size": 8}, tmp_path / "m.safetensors")
    assert "NaN" in refused(load_model, tmp_path / "m.safetensors")


# ------------------------------------------------------------------ technology tables
@pytest.mark.parametrize("mutate", [
    lambda t: t.replace("source:", "sauce:", 1),
    lambda t: t + "\nunknown_section: {}\n",
    lambda t: "\x00" + t,
    lambda t: t.replace("by_bits:", "by_bits: {x: 1}\n    old_by_bits:", 1),
    lambda t: "[" * 5000,
    lambda t: "- a\n",
])
def test_technology_tables(tmp_path, mutate):
    text = Path("xbar_hw/energy/tables/isaac-32nm.yaml").read_text()
    p = tmp_path / "t.yaml"
    p.write_bytes(mutate(text).encode())
    refused(load_table, str(p))


# ------------------------------------------------------------------ data folders
def _png(path: Path, value: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("L", (4, 4), value).save(path)


@pytest.mark.parametrize("layout", ["one image per class", "one class", "no images", "not an image", "empty"])
def test_data_folders(tmp_path, layout):
    root = tmp_path / "data"
    root.mkdir()
    if layout == "one image per class":
        _png(root / "a" / "0.png", 0)
        _png(root / "b" / "0.png", 255)
    elif layout == "one class":
        for i in range(3):
            _png(root / "a" / f"{i}.png", i)
    elif layout == "no images":
        (root / "a").mkdir()
        (root / "b").mkdir()
    elif layout == "not an image":
        for c in "ab":
            _png(root / c / "0.png", 0)
            (root / c / "1.png").write_bytes(b"not a png")
    refused(image_folder, root)


@pytest.mark.parametrize("text", [
    "a: &a [1,1,1,1,1,1,1,1,1]\n" + "".join(f"{c}: &{c} [*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p}]\n"
                                            for p, c in zip("abcdefgh", "bcdefghi")) + "name: *i\n",
    "[" * 20000 + "]" * 20000,
    "name: [" + ", ".join(["x" * 50] * 15000) + "]\n",
    # a chain of merge keys as long as the size limit allows: PyYAML flattens each merge
    "a0: &a0 {x: 1}\n" + "".join(f"a{i}: &a{i} {{<<: *a{i - 1}}}\n" for i in range(1, 4800)),
    "a0: &a0 {x: 1}\n" + "".join(f"a{i}: &a{i} {{<<: *a{i - 1}}}\n" for i in range(1, 30000)),  # 0.9 MB of it
    "".join(" " * i + "a:\n" for i in range(500)),          # block mappings nested by indentation
    "- " * 60000 + "x\n",                                  # block sequences nested on one line
    "name: " + "x" * 100000 + "\n",                          # a name longer than a label
], ids=["alias bomb", "deep brackets", "long list", "merge chain", "long merge chain", "deep indentation", "deep dashes", "long name"])
def test_hostile_design_files_stay_small_and_fast(tmp_path, text):
    """In a process of its own: one line, exit 2, under 10 s and under 1 GB of memory."""
    p = tmp_path / "d.yaml"
    p.write_text(text)
    code = ("import resource, sys, time\nimport xbar_hw.cli\nfrom xbar_hw.launch import main\nt0 = time.monotonic()\n"
            "rc = main(['design', 'check', sys.argv[1]])\n"
            "print(time.monotonic() - t0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\nsys.exit(rc)")
    r = subprocess.run([sys.executable, "-c", code, str(p)], capture_output=True, text=True, timeout=120,
                       env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)})
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr, r.stderr
    seconds, max_rss_kib = r.stdout.split()[-2:]
    assert float(seconds) < 3  # the command itself, the packages already imported (each well under 1 s here)
    assert int(max_rss_kib) < 1 << 20, "over 1 GiB"
