"""The ``xbar-hw`` command line: user errors give one line ``error: ...`` and status 2.

Most cases run in-process through ``xbar_hw.cli.main``; a few run the installed console
script (and ``python -m xbar_hw.cli``) as a subprocess to prove that no traceback reaches
the user. The library functions the commands call are tested in test_flows.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import xbar_hw
from xbar_hw import cli
from xbar_hw.workload.models import build_model, save_model

ROOT = Path(__file__).resolve().parent.parent
DESIGNS = ROOT / "designs"
TINY = str(DESIGNS / "tiny.yaml")
DEFAULT = str(DESIGNS / "default.yaml")
SCRIPT = Path(sys.executable).parent / "xbar-hw"
if not SCRIPT.exists():  # fall back to the project's virtual environment
    SCRIPT = ROOT / ".venv" / "bin" / "xbar-hw"

# mnist_cnn sized for the 8x8 UCI digits; random init, nothing trained
KWARGS = {"in_channels": 1, "num_classes": 10, "in_size": 8, "width": 4}


def run(capsys, *argv):
    """Run the CLI in-process; returns (exit status, stdout, stderr)."""
    capsys.readouterr()  # drop anything printed before
    rc = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def assert_user_error(rc, err, *parts):
    """Status 2 and exactly one stderr line ``error: ...`` containing ``parts``."""
    assert rc == 2, f"exit status {rc}, stderr {err!r}"
    lines = err.splitlines()
    assert len(lines) == 1, f"stderr is not one line: {err!r}"
    assert lines[0].startswith("error: "), lines[0]
    assert "Traceback" not in err
    for p in parts:
        assert str(p) in lines[0], f"{p!r} not in {lines[0]!r}"
    return lines[0]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A random mnist_cnn model file and a Program mapped for designs/tiny.yaml."""
    d = tmp_path_factory.mktemp("cli_files")
    torch.manual_seed(0)
    model = build_model("mnist_cnn", **KWARGS)
    save_model(model, "mnist_cnn", KWARGS, d / "m.safetensors", {"data": "digits"})
    design = xbar_hw.load_design(TINY)
    program = xbar_hw.convert_to_program(
        model, design, torch.rand(32, 1, 8, 8), {"arch": "mnist_cnn", "kwargs": KWARGS}, {"data": "digits"}
    )
    program.save(d / "p.safetensors")
    garbage = d / "garbage.safetensors"
    garbage.write_bytes(b"this is not a safetensors file \x00\x01\x02\xff" * 7)
    return {"model": d / "m.safetensors", "program": d / "p.safetensors", "garbage": garbage}


# ----------------------------------------------------------------------------- design


def test_design_show_json(capsys):
    rc, out, err = run(capsys, "design", "show", TINY, "--json")
    assert rc == 0, err
    doc = json.loads(out)
    assert "derived" in doc
    der = doc["derived"]
    # tiny: R=C=16, b_c=2, b_w=4, b_x=4, v=1, b_a=5 -> s=2, L=16//4=4, T=4,
    # S_max=16*1*3=48, bitlen(48)=6, a0=6-5=1, not lossless
    assert der["slices_per_polarity"] == 2
    assert der["logical_cols_per_crossbar"] == 4
    assert der["read_cycles"] == 4
    assert der["s_max"] == 48
    assert der["adc_shift_a0"] == 1
    assert der["lossless"] is False
    assert doc["design"]["name"] == "tiny"
    assert doc["design"]["crossbar"] == {"rows": 16, "cols": 16, "cell_bits": 2}


def test_design_show_text_and_check_ok(capsys):
    rc, out, err = run(capsys, "design", "show", DEFAULT)
    assert rc == 0 and "default" in out and "s_max" in out and "384" in out
    rc, out, err = run(capsys, "design", "check", DEFAULT)
    assert rc == 0 and out.startswith("ok") and err == ""


@pytest.mark.parametrize(
    "text, parts",
    [
        ("crossbar: {rows: 16, cols: 16, cell_bits: 9}\n", ["crossbar.cell_bits", "9"]),
        ("crossbar: {rows: 16, cols: 16\n", ["YAML"]),
        ("- just\n- a list\n", ["mapping"]),
        ("colour: red\n", ["colour"]),
    ],
    ids=["out-of-range", "syntax", "not-a-mapping", "unknown-key"],
)
@pytest.mark.parametrize("action", ["check", "show"])
def test_design_bad_file(capsys, tmp_path, text, parts, action):
    p = tmp_path / "bad.yaml"
    p.write_text(text)
    rc, out, err = run(capsys, "design", action, p)
    assert_user_error(rc, err, *parts)
    assert out == ""


def test_design_missing_file(capsys, tmp_path):
    rc, out, err = run(capsys, "design", "check", tmp_path / "nope.yaml")
    assert_user_error(rc, err, "nope.yaml")


# ----------------------------------------------------------------------------- evaluate / map errors


@pytest.mark.parametrize(
    "extra",
    [[], ["--design", TINY], ["--data", "digits"]],
    ids=["nothing", "design-only", "data-only"],
)
def test_evaluate_needs_program_or_model(capsys, extra):
    rc, out, err = run(capsys, "evaluate", *extra)
    assert_user_error(rc, err, "--program", "--model")


def test_evaluate_model_without_design(capsys, files):
    rc, out, err = run(capsys, "evaluate", "--model", files["model"])
    assert_user_error(rc, err, "--design")


def test_map_missing_model(capsys, tmp_path):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    missing = tmp_path / "no_such_model.safetensors"
    rc, out, err = run(capsys, "map", "--model", missing, "--design", TINY, "-o", out_dir / "p.safetensors")
    assert_user_error(rc, err, "no_such_model.safetensors")
    assert os.listdir(out_dir) == []


def test_evaluate_missing_program(capsys, tmp_path):
    rc, out, err = run(capsys, "evaluate", "--program", tmp_path / "no_such_program.safetensors")
    assert_user_error(rc, err, "no_such_program.safetensors")


@pytest.mark.parametrize("kind,needles", [
    ("garbage", ("garbage.safetensors", "safetensors")),  # not a safetensors file
    ("program", ("model", "p.safetensors")),  # a safetensors file of the wrong kind
])
def test_map_bad_model_file_leaves_nothing(capsys, tmp_path, files, kind, needles):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    rc, out, err = run(capsys, "map", "--model", files[kind], "--design", TINY, "-o", out_dir / "p.safetensors")
    assert_user_error(rc, err, *needles)
    assert os.listdir(out_dir) == []


@pytest.mark.parametrize("flag", ["--program", "--model"])
def test_evaluate_garbage_file(capsys, files, flag):
    extra = ["--design", TINY] if flag == "--model" else []
    rc, out, err = run(capsys, "evaluate", flag, files["garbage"], *extra)
    assert_user_error(rc, err, "garbage.safetensors", "safetensors")




def test_evaluate_model_given_as_program(capsys, files):
    rc, out, err = run(capsys, "evaluate", "--program", files["model"])
    assert_user_error(rc, err, "program", "m.safetensors")


def test_program_for_another_design(capsys, files):
    rc, out, err = run(capsys, "evaluate", "--program", files["program"], "--design", DEFAULT)
    line = assert_user_error(rc, err, "design")
    assert "tiny" in line and "default" in line


def test_program_for_same_design_is_accepted_by_the_check(files):
    # the Program mapped for tiny loads under tiny, and is refused under default
    p = xbar_hw.Program.load(files["program"], xbar_hw.load_design(TINY))
    assert p.design.name == "tiny"
    with pytest.raises(xbar_hw.XbarError):
        xbar_hw.Program.load(files["program"], xbar_hw.load_design(DEFAULT))


# ----------------------------------------------------------------------------- missing data folder


def test_train_missing_data_folder(capsys, tmp_path):
    out_file = tmp_path / "m.safetensors"
    rc, out, err = run(capsys, "train", "--data", "/nonexistent", "--epochs", "1", "-o", out_file, "--quiet")
    assert_user_error(rc, err, "/nonexistent")
    assert os.listdir(tmp_path) == []


def test_map_missing_data_folder(capsys, tmp_path, files):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    rc, out, err = run(capsys, "map", "--model", files["model"], "--design", TINY, "--data", "/nonexistent",
                       "-o", out_dir / "p.safetensors")
    assert_user_error(rc, err, "/nonexistent")
    assert os.listdir(out_dir) == []


def test_evaluate_missing_data_folder(capsys, files):
    rc, out, err = run(capsys, "evaluate", "--program", files["program"], "--data", "/nonexistent", "--quiet")
    assert_user_error(rc, err, "/nonexistent")


def test_map_bad_design_leaves_nothing(capsys, tmp_path, files):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    bad = tmp_path / "bad.yaml"
    bad.write_text("crossbar: {cell_bits: 0}\n")
    rc, out, err = run(capsys, "map", "--model", files["model"], "--design", bad, "-o", out_dir / "p.safetensors")
    assert_user_error(rc, err, "crossbar.cell_bits")
    assert os.listdir(out_dir) == []


# ----------------------------------------------------------------------------- atomic output


def test_failed_write_leaves_no_file_and_keeps_the_old_one(capsys, tmp_path, files, monkeypatch):
    """A write that dies half-way leaves neither a partial output nor a temporary file,
    and an existing output file keeps its old contents."""
    import xbar_hw.core.io as xio

    out_dir = tmp_path / "out"
    out_dir.mkdir()
    target = out_dir / "p.safetensors"
    target.write_bytes(b"OLD")

    def dying_save_file(tensors, filename, metadata=None):
        Path(filename).write_bytes(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(xio, "save_file", dying_save_file)
    try:
        cli.main(["map", "--model", str(files["model"]), "--design", TINY, "--data", "digits",
                  "--calibration", "16", "-o", str(target)])
    except OSError:
        pass
    capsys.readouterr()
    assert sorted(os.listdir(out_dir)) == ["p.safetensors"]
    assert target.read_bytes() == b"OLD"


def test_map_output_is_a_directory(capsys, tmp_path, files):
    """``-o`` naming an existing folder is a user error: one line, status 2, nothing left."""
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    rc, out, err = run(capsys, "map", "--model", files["model"], "--design", TINY, "--data", "digits",
                       "--calibration", "16", "-o", out_dir)
    assert_user_error(rc, err, str(out_dir))
    assert os.listdir(out_dir) == []
    assert sorted(os.listdir(tmp_path)) == ["out"]


def test_map_writes_a_loadable_program(capsys, tmp_path, files):
    out_dir = tmp_path / "out"
    rc, out, err = run(capsys, "map", "--model", files["model"], "--design", TINY, "--data", "digits",
                       "--calibration", "16", "-o", out_dir / "p.safetensors", "--json")
    assert rc == 0, err
    doc = json.loads(out)
    assert doc["design"] == "tiny"
    assert os.listdir(out_dir) == ["p.safetensors"]  # no temporary file left beside it
    p = xbar_hw.Program.load(out_dir / "p.safetensors", xbar_hw.load_design(TINY))
    assert p.design.name == "tiny"


# ----------------------------------------------------------------------------- subprocess: no traceback


def run_script(*argv, cwd=ROOT):
    return subprocess.run([str(SCRIPT), *map(str, argv)], cwd=cwd, capture_output=True, text=True, timeout=120)


def assert_script_user_error(proc, *parts):
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ")
    assert proc.stderr == lines[0] + "\n"
    for p in parts:
        assert str(p) in lines[0]


def test_script_design_check_bad_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("inputs: {bits: 4, dac_bits: 5}\n")
    proc = run_script("design", "check", bad)
    assert_script_user_error(proc, "inputs.dac_bits", "5")
    assert proc.stdout == ""


def test_module_entry_point_bad_file(tmp_path):
    """``python -m xbar_hw.cli`` is the same command as the console script."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("inputs: {bits: 4, dac_bits: 5}\n")
    proc = subprocess.run([sys.executable, "-m", "xbar_hw.cli", "design", "check", str(bad)], check=False, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert_script_user_error(proc, "inputs.dac_bits", "5")
    proc = subprocess.run([sys.executable, "-m", "xbar_hw.cli", "design", "check", "designs/tiny.yaml"], check=False,
                          cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.startswith("ok: ")


def test_script_map_garbage_model(tmp_path, files):
    proc = run_script("map", "--model", files["garbage"], "--design", "designs/tiny.yaml", "-o", tmp_path / "p.safetensors")
    assert_script_user_error(proc, "garbage.safetensors")
    assert os.listdir(tmp_path) == []


def test_script_program_for_another_design(files):
    proc = run_script("evaluate", "--program", files["program"], "--design", "designs/default.yaml")
    assert_script_user_error(proc, "tiny", "default")


# ----------------------------------------------------------------------------- happy path


@pytest.mark.slow
def test_train_map_evaluate(capsys, tmp_path):
    m = tmp_path / "m.safetensors"
    p = tmp_path / "p.safetensors"
    rc, out, err = run(capsys, "train", "--data", "digits", "--epochs", "2", "-o", m, "--quiet")
    assert rc == 0, err
    assert m.is_file()
    rc, out, err = run(capsys, "map", "--model", m, "--design", TINY, "-o", p)
    assert rc == 0, err
    assert p.is_file()
    assert sorted(os.listdir(tmp_path)) == ["m.safetensors", "p.safetensors"]
    rc, out, err = run(capsys, "evaluate", "--program", p, "--model", m, "--json")
    assert rc == 0, err
    doc = json.loads(out)
    for key in ("float_acc", "quant_acc", "mapped_acc"):
        assert isinstance(doc[key], float), (key, doc[key])
        assert 0.0 <= doc[key] <= 1.0, (key, doc[key])
    assert doc["design"] == "tiny"
    # digits with the default 0.2 test fraction: 359 or 360 test samples (1797 * 0.2 = 359.4)
    assert doc["n_test"] in (359, 360)


@pytest.mark.slow
def test_demo_end_to_end(tmp_path):
    """The README's main command, shortened to one epoch: every artefact and the JSON keys."""
    out = tmp_path / "demo"
    assert cli.main(["demo", "--design", "designs/tiny.yaml", "-o", str(out), "--epochs", "1", "--quiet"]) == 0
    doc = json.loads((out / "evaluate.json").read_text())
    for key in ("float_acc", "quant_acc", "mapped_acc"):
        assert 0.5 < doc[key] <= 1.0, (key, doc[key])
    assert doc["design"] == "tiny" and doc["crossbars"] > 0
    assert sorted(p.name for p in out.iterdir()) == ["adapt.json", "backbone.safetensors", "cosim", "evaluate.json",
                                                     "model.safetensors", "program.safetensors", "pruned.safetensors",
                                                     "report", "tasks.safetensors", "tinyadc.json"]
    tiny = json.loads((out / "tinyadc.json").read_text())  # tiny design: 5-bit ADCs, pruned for 3
    assert tiny["adc_bits"] == 3 and all(b <= 3 for b in tiny["lossless_bits"].values())
    assert tiny["adc_power_mw"] < tiny["design_adc_power_mw"]
    assert list((out / "cosim" / "rtl").glob("*.v"))
    if (out / "cosim" / "cosim.json").exists():  # Icarus installed
        cos = json.loads((out / "cosim" / "cosim.json").read_text())
        assert cos["mismatches"] == 0 and cos["cycles_match"] and cos["task"] == "split_mnist_5_9.xma"
        assert cos["logits_match"] and cos["ok"] and [layer["layer"] for layer in cos["layers"]] == ["fc"]
        assert cos["mvms"] == 4 * cos["pes"]  # the whole head: every PE, one MVM per image
    rep = json.loads((out / "report" / "report.json").read_text())
    assert set(rep["methods"]) == {"xma", "xma2@0.1"} and rep["methods"]["xma"]["cells_written"] == 0
    adapt = json.loads((out / "adapt.json").read_text())
    assert adapt["xma"]["cells_written"] == 0 and adapt["xma"]["method"] == "xma"
    assert len(adapt["xma2"]["pes_reprogrammed"]) <= int(0.1 * adapt["backbone"]["backbone_pes"])
    from xbar_hw.core.program import Program

    assert sorted(Program.load(out / "tasks.safetensors").tasks) == ["split_mnist_5_9.xma", "split_mnist_5_9.xma2"]
