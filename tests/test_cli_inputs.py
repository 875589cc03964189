"""Every command-line value answered: generated bad values for every numeric flag end in one
line ``error: --flag: got ...; allowed: ...`` and status 2 before any work starts; output
paths are checked first; Ctrl-C and SIGTERM end with ``interrupted`` (130 / 143) and leave
nothing behind (no partial result, no temporary file)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xbar_hw.cli import main

ROOT = Path(__file__).resolve().parent.parent
LAUNCH = [sys.executable, "-m", "xbar_hw.launch"]

#: (command line before the flag, flag, lowest allowed, highest allowed, integer?)
FLAGS = [
    (["train", "-o", "{tmp}/m.safetensors"], "--epochs", 1, 10000, True),
    (["train", "-o", "{tmp}/m.safetensors"], "--width", 1, 1024, True),
    (["train", "-o", "{tmp}/m.safetensors"], "--lr", 0.0, 10.0, False),
    (["train", "-o", "{tmp}/m.safetensors"], "--seed", 0, 2**31 - 1, True),
    (["train", "-o", "{tmp}/m.safetensors"], "--image-size", 1, 1024, True),
    (["map", "--model", "m", "--design", "d", "-o", "{tmp}/p.safetensors"], "--calibration", 1, 10**7, True),
    (["prune", "--model", "m", "--design", "d", "-o", "{tmp}/m2.safetensors"], "--adc-bits", 1, 62, True),
    (["prune", "--model", "m", "--design", "d", "--adc-bits", "6", "-o", "{tmp}/m2.safetensors"], "--epochs", 1, 10000, True),
    (["prune", "--model", "m", "--design", "d", "--adc-bits", "6", "-o", "{tmp}/m2.safetensors"], "--lr", 0.0, 10.0, False),
    (["evaluate", "--program", "p"], "--limit", 1, 10**7, True),
    (["evaluate", "--program", "p"], "--chips", 1, 10000, True),
    (["evaluate", "--program", "p"], "--sa0", 0.0, 1.0, False),
    (["evaluate", "--program", "p"], "--sa1", 0.0, 1.0, False),
    (["evaluate", "--program", "p"], "--r-wire", 0.0, 1e9, False),
    (["evaluate", "--program", "p"], "--read-frequency", 1e3, 1e11, False),
    (["evaluate", "--program", "p"], "--variation", 0.0, 100.0, False),
    (["evaluate", "--program", "p"], "--chip-seed", 0, 2**31 - 1, True),
    (["irdrop", "--design", "d"], "--rows", 1, 1024, True),
    (["irdrop", "--design", "d"], "--cols", 1, 1024, True),
    (["irdrop", "--design", "d"], "--r-row", 0.0, 1e9, False),
    (["nia", "--model", "m", "--design", "d", "-o", "{tmp}/n.safetensors"], "--epochs", 1, 10000, True),
    (["backbone", "--design", "d", "-o", "{tmp}/b.safetensors"], "--epochs", 1, 10000, True),
    (["adapt", "--program", "p", "--task", "t", "--method", "xma"], "--budget", 0.0, 1.0, False),
    (["adapt", "--program", "p", "--task", "t", "--method", "xma"], "--eval-limit", 1, 10**7, True),
    (["energy", "designs/tiny.yaml"], "--images", 1, 100000, True),
    (["report", "--program", "p", "-o", "{tmp}/r"], "--images", 1, 100000, True),
    (["cosim", "--design", "d", "--program", "random"], "--vectors", 1, 10**6, True),
    (["cosim", "--design", "d", "--program", "random", "--vectors", "1"], "--backpressure", 0.0, 0.99, False),
    (["cosim", "--design", "d", "--program", "random", "--vectors", "1"], "--density", 0.0, 1.0, False),
    (["demo", "-o", "{tmp}/demo"], "--epochs", 1, 10000, True),
]


def _bad_values(lo, hi, is_int):
    outside = st.one_of(st.integers(max_value=int(lo) - 1) if is_int else st.floats(max_value=lo, exclude_max=True),
                        st.integers(min_value=int(hi) + 1) if is_int else st.floats(min_value=hi, exclude_min=True))
    junk = st.sampled_from(["nan", "inf", "-inf", "", "x", "1e", "0x10", "1,5", "--", "1 2"])
    values = st.one_of(outside.map(str), junk)
    if is_int:
        values = st.one_of(values, st.floats(allow_nan=False, allow_infinity=False).filter(
            lambda f: f != int(f) if abs(f) < 1e15 else True).map(repr))
    return values


def run_main(argv, capsys) -> tuple[int, str]:
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    err = capsys.readouterr().err
    return code, err


@settings(max_examples=240, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(case=st.sampled_from(FLAGS), data=st.data())
def test_numeric_flags_out_of_range(tmp_path_factory, capsys, case, data):
    prefix, flag, lo, hi, is_int = case
    tmp = tmp_path_factory.mktemp("o")
    value = data.draw(_bad_values(lo, hi, is_int))
    argv = [a.format(tmp=tmp) for a in prefix] + [f"{flag}={value}"]
    code, err = run_main(argv, capsys)
    assert code == 2, (argv, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {flag}") and "allowed:" in lines[0], (argv, err)
    assert "Traceback" not in err
    assert list(tmp.iterdir()) == []  # nothing written


@pytest.mark.parametrize("argv, words", [
    (["train", "-o", "{tmp}"], "a file path (not a folder)"),
    (["map", "--model", "m", "--design", "d", "-o", "{tmp}"], "a file path (not a folder)"),
    (["rtl", "designs/tiny.yaml", "-o", "{file}"], "a folder path (not an existing file)"),
    (["report", "--program", "p", "-o", "{file}"], "a folder path (not an existing file)"),
    (["demo", "-o", "{file}"], "a folder path (not an existing file)"),
    (["diff", "p", "--cells", "{tmp}"], "a file path (not a folder)"),
    (["train", "-o", "{file}/under/a/file.safetensors"], "a path in a writable folder"),
])
def test_outputs_checked_before_work(tmp_path, capsys, argv, words):
    (tmp_path / "f").write_text("x")
    argv = [a.format(tmp=tmp_path, file=tmp_path / "f") for a in argv]
    code, err = run_main(argv, capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and words in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f"]


def test_workload_of_another_shape_is_one_line(tmp_path, capsys):
    """program_v1 records mnist5k, but its network takes smaller images: `report` names the
    data and the shapes in one line instead of a torch traceback, and writes nothing."""
    code, err = run_main(["report", "--program", str(ROOT / "tests/data/program_v1.safetensors"), "--images", "4",
                          "-o", str(tmp_path / "r")], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "data: mnist5k images of shape [1, 28, 28] do not fit the Program's network" in err, err
    assert list(tmp_path.iterdir()) == []


def test_usage_errors_are_one_line(capsys):
    for argv in (["train"], ["nonsense"], ["energy"], ["design", "frob", "x"], []):
        code, err = run_main(argv, capsys)
        assert code == 2 and len(err.strip().splitlines()) == 1 and err.startswith("error: "), (argv, err)


def test_read_only_place():
    """As an unprivileged user (root writes anywhere), an output folder it cannot write."""
    if shutil.which("setpriv") is None or os.geteuid() != 0:
        pytest.skip("needs root and setpriv to run as another user")
    base = Path(tempfile.mkdtemp(prefix="xbar-ro-"))  # pytest's tmp_path is private to root
    try:
        locked = base / "locked"
        locked.mkdir()
        os.chmod(base, 0o755)
        os.chmod(locked, 0o755)
        cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *LAUNCH, "rtl", "designs/tiny.yaml",
               "-o", str(locked / "rtl")]
        r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120,
                           env={**os.environ, "PYTHONPATH": str(ROOT), "HOME": str(base)})
        assert r.returncode == 2 and r.stderr.strip() == (
            f"error: -o/--output: got {str(locked / 'rtl')!r}; allowed: a path in a writable folder"), r.stderr
        assert list(locked.iterdir()) == []
    finally:
        shutil.rmtree(base)


# ------------------------------------------------------------------ signals
def _interrupt(argv: list[str], sig: int, tmp: Path, wait_for: str | None, delay: float) -> subprocess.CompletedProcess:
    """Start ``xbar-hw argv`` in ``tmp``; once ``wait_for`` (a glob under tmp) exists, or after
    ``delay`` seconds, send ``sig``; return the finished process."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    p = subprocess.Popen([*LAUNCH, *argv], cwd=tmp, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    t0 = time.monotonic()
    while time.monotonic() - t0 < 60:
        if p.poll() is not None:
            break
        if wait_for is not None and list(tmp.glob(wait_for)) and time.monotonic() - t0 > delay:
            break
        if wait_for is None and time.monotonic() - t0 > delay:
            break
        time.sleep(0.05)
    p.send_signal(sig)
    out, err = p.communicate(timeout=120)
    return subprocess.CompletedProcess(p.args, p.returncode, out, err)


def _leftovers(tmp: Path) -> list[str]:
    return sorted(str(p.relative_to(tmp)) for p in tmp.rglob("*") if p.name.startswith(".") or p.suffix in (".tmp",))


COMMANDS = {
    # each one long enough on 2 cores to be interrupted mid-work
    # (signalled by time: the model file appears only as the run ends, and a signal that
    # arrives while the interpreter shuts down meets the default handler; 200 epochs take
    # minutes, the signal comes seconds into training)
    "train": (["train", "--data", "mnist5k", "--epochs", "200", "--quiet", "-o", "out/m.safetensors"], None),
    "rtl": (["rtl", str(ROOT / "designs/default.yaml"), "--stats", "-o", "out/rtl"], None),
    "map": (["map", "--model", "{model}", "--design", str(ROOT / "designs/default.yaml"), "-o", "out/p.safetensors"], None),
    "report": (["report", "--program", "{tasks}", "--images", "64", "-o", "out/report"], None),
    # a build folder that did not exist: signalled once the RTL is being generated into it
    "cosim": (["cosim", "--design", str(ROOT / "designs/default.yaml"), "--program", "random", "--vectors", "2",
               "--build-dir", "out/build"], "out/build"),
}


#: seconds before the signal where 4 s could come after the work: mapping the small model
#: takes about 4 s on an idle machine, and program_v1's workload (mnist5k images) does not
#: fit its network, which `report` refuses in one line a few seconds in
DELAYS = {"map": 2.5, "report": 2.0}


@pytest.fixture(scope="module")
def small_files(tmp_path_factory):
    """A small trained model for ``map`` and a Program with two task entries for ``report``."""
    d = tmp_path_factory.mktemp("files")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run([*LAUNCH, "train", "--data", "mnist5k", "--epochs", "1", "--width", "8", "--quiet",
                    "-o", str(d / "m.safetensors")], cwd=ROOT, env=env, check=True, capture_output=True)
    return {"model": str(d / "m.safetensors"), "tasks": str(ROOT / "tests/data/program_v1.safetensors")}


@pytest.mark.slow
@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_interrupted_runs_leave_nothing(tmp_path, small_files, command, sig, code):
    argv, wait_for = COMMANDS[command]
    argv = [a.format(**small_files) for a in argv]
    (tmp_path / "out").mkdir()
    r = _interrupt(argv, sig, tmp_path, wait_for, delay=DELAYS.get(command, 4.0))
    if r.returncode == 0:
        pytest.skip(f"{command} finished before the signal; nothing to check")  # never seen on 2 cores
    assert r.returncode == code, r.stderr[-2000:]
    assert r.stderr.strip().splitlines()[-1] == "interrupted", r.stderr[-2000:]
    assert "Traceback" not in r.stderr
    assert list((tmp_path / "out").iterdir()) == [], "a partial result was left"
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"])
def test_interrupt_while_starting(tmp_path, sig, code):
    """Even while torch and Amaranth import, an interrupt ends with one line."""
    r = _interrupt(["design", "show", str(ROOT / "designs/tiny.yaml")], sig, tmp_path, None, delay=0.3)
    assert r.returncode in (code, 0), r.stderr
    if r.returncode:
        assert r.stderr.strip() == "interrupted", r.stderr
