"""Design-space sweeps (``xbar_hw.sweep``): sweep files and their one-line errors, the table
(fsync'ed rows, a torn last line dropped on resume), Pareto fronts and the report; and, on
Ray, the test sweep ``sweeps/tiny.yaml`` (tiny design, 2 axes x 2 values x 2 chips): every
point in the table, the figures of two points equal to ``xbar-hw evaluate`` and ``xbar-hw
energy`` run by hand, resume after the driver is killed, a worker killed mid-task, and a
two-node cluster.

Every Ray instance these tests start runs in a private network namespace (loopback only):
the sweep command's local mode makes one itself; the two-node test starts its cluster in one
with ``unshare -n``. Ray's temporary folders go to a short TMPDIR that the tests remove, and
each Ray test checks that no process it started is left.
"""

from __future__ import annotations

import contextlib
import glob
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import pytest
import yaml

from xbar_hw.cli import main as cli_main
from xbar_hw.core.errors import XbarError
from xbar_hw.sweep import load_sweep, pareto, read_rows, summarize, sweep_from_dict, write_report
from xbar_hw.sweep.__main__ import main as sweep_main
from xbar_hw.sweep import work
from xbar_hw.sweep.blobs import dataset_to_bytes
from xbar_hw.sweep.engine import check_reachable
from xbar_hw.sweep.table import Table
from xbar_hw.workload.resolve import resolve_data

ROOT = Path(__file__).resolve().parent.parent
TINY = ROOT / "sweeps" / "tiny.yaml"
RAY = Path(sys.executable).with_name("ray")


def unshare(*more: str) -> list[str]:
    """``unshare -n`` (root) or ``unshare -rn`` (a user namespace too), then ``more``."""
    return ["unshare", "-n", *more] if os.geteuid() == 0 else ["unshare", "-rn", *more]


def can_unshare(*more: str) -> bool:
    try:
        return subprocess.run([*unshare(*more), "true"], capture_output=True).returncode == 0
    except OSError:
        return False


needs_netns = pytest.mark.skipif(not can_unshare(), reason="no private network namespace here (unshare -n / -rn)")
#: a PID namespace with its own /proc as well
PIDNS = ("-p", "-f", "--mount-proc")


def tiny_doc(**changes) -> dict:
    doc = yaml.safe_load(TINY.read_text())
    doc["base"] = str(ROOT / "designs" / "tiny.yaml")
    doc.update(changes)
    return doc


def write_sweep(tmp_path: Path, doc: dict, name: str = "sweep.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc))
    return path


def error_line(capsys, *argv) -> str:
    assert sweep_main(["sweep", *map(str, argv)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err, err
    return err


# ----------------------------------------------------------------------------- sweep files
def test_the_test_sweep_has_2_axes_x_2_values_and_distinct_keys():
    sweep = load_sweep(TINY)
    points = sweep.points()
    assert [p.axes for p in points] == [{"adc.bits": b, "nonideal.ir_drop.enabled": e} for b in (4, 6) for e in (False, True)]
    keys = {p.key for p in points} | {p.row_key(c) for p in points for c in range(sweep.chips)}
    assert len(keys) == 4 + 8
    assert all(p.design.nonideal.saf.sa1 == 0.0904 for p in points)  # `set` applies to every point
    # keys cover the whole configuration: same sweep, same keys; another workload, other keys
    assert [p.key for p in load_sweep(TINY).points()] == [p.key for p in points]
    other = sweep_from_dict(tiny_doc(workload={**tiny_doc()["workload"], "seed": 1}), ROOT)
    assert not {p.key for p in other.points()} & {p.key for p in points}


def test_random_sampling_is_seeded_and_block_axes_merge():
    doc = tiny_doc(axes={"crossbar": [{"rows": 16, "cols": 16}, {"rows": 32, "cols": 32}], "adc.bits": [4, 5, 6],
                         "nonideal.saf.sa1": {"low": 0.01, "high": 0.1, "log": True}},
                   sampling={"random": 5, "seed": 3})
    a, b = (sweep_from_dict(doc, ROOT).points() for _ in range(2))
    assert len(a) == 5 and [p.key for p in a] == [p.key for p in b]
    assert all(0.01 <= p.design.nonideal.saf.sa1 <= 0.1 for p in a)
    assert {p.design.crossbar.rows for p in a} <= {16, 32} and all(p.design.crossbar.cell_bits == 2 for p in a)
    grid = sweep_from_dict(tiny_doc(axes={"adc.bits": [4, 5, 6]}, sampling={"random": 2, "seed": 0}), ROOT).points()
    assert len(grid) == 2 and len({p.key for p in grid}) == 2


def test_a_combination_the_design_rules_refuse_is_a_failed_point_not_an_error():
    # adc.per_crossbar = 32 is a valid value, but above crossbar.cols = 16 of one column of the grid
    doc = tiny_doc(axes={"crossbar.cols": [16, 32], "adc.per_crossbar": [4, 32]})
    points = sweep_from_dict(doc, ROOT).points()
    bad = [p for p in points if p.error]
    assert [p.axes for p in bad] == [{"crossbar.cols": 16, "adc.per_crossbar": 32}]
    assert bad[0].error.startswith("adc.per_crossbar: got 32; allowed: at most crossbar.cols = 16")


@pytest.mark.parametrize("axes, expected", [
    ({"adc.bitz": [4]}, "error: axes: adc.bitz: unknown field 'bitz' of adc; allowed: bits, per_crossbar, shift"),
    ({"adcc.bits": [4]}, "error: axes: adcc.bits: unknown field 'adcc' of the design; allowed: name, crossbar,"),
    ({"adc.bits.x": [4]}, "error: axes: adc.bits.x: adc.bits is a value, not a block"),
    ({"adc.bits": ["four"]}, "error: axes: adc.bits: got 'four'; allowed: an integer in [1, 16]"),
    ({"adc.bits": [4, 99]}, "error: axes: adc.bits: got 99; allowed: an integer in [1, 16]"),
    ({"nonideal.saf.sa1": [0.1, "lots"]}, "error: axes: nonideal.saf.sa1: got 'lots'; allowed: a finite number in [0.0, 1.0]"),
    ({"nonideal.ir_drop.enabled": ["yes"]}, "error: axes: nonideal.ir_drop.enabled: got 'yes'; allowed: true or false"),
    ({"crossbar": [{"rowz": 8}]}, "error: axes: crossbar.rowz: unknown key; allowed: rows, cols, cell_bits"),
    ({"adc.bits": 4}, "error: axes.adc.bits: got 4; allowed: a non-empty list of values"),
])
def test_bad_axes_are_one_line_naming_the_field(tmp_path, capsys, axes, expected):
    path = write_sweep(tmp_path, tiny_doc(axes=axes))
    assert error_line(capsys, path, "-o", tmp_path / "out").startswith(expected)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("changes, expected", [
    ({"chips": 0}, "error: chips: got 0; allowed: an integer >= 1"),
    ({"workload": {"epochs": "many"}}, "error: workload.epochs: got 'many'; allowed: an integer in [0, 1000]"),
    ({"workload": {"model": "vgg"}}, "error: workload.model: got 'vgg'; allowed: one of mnist_cnn, task_cnn, resnet20"),
    ({"workload": {"lr": -1}}, "error: workload.lr: got -1.0; allowed: a finite number > 0.0"),
    ({"sampling": "sobol"}, "error: sampling: got 'sobol'; allowed: grid, or {random: N, seed: S}"),
    ({"axes": {"adc.bits": {"low": 2, "high": 6}}}, "error: axes.adc.bits: got {'high': 6, 'low': 2}; allowed: a list of values with sampling: grid"),
    ({"set": {"adc.bitz": 4}}, "error: set: adc.bitz: unknown field 'bitz' of adc"),
    ({"colour": "red"}, "error: colour: unknown key of the sweep; allowed: name, description, base, set, axes,"),
])
def test_bad_sweep_keys_are_one_line(tmp_path, capsys, changes, expected):
    path = write_sweep(tmp_path, tiny_doc(**changes))
    assert error_line(capsys, path, "-o", tmp_path / "out").startswith(expected)


def test_bad_files_and_options_are_one_line(tmp_path, capsys):
    assert error_line(capsys, tmp_path / "none.yaml", "-o", tmp_path).startswith("error: sweep: got ")
    (tmp_path / "bad.yaml").write_text("axes: [\n")
    assert "is not valid YAML" in error_line(capsys, tmp_path / "bad.yaml", "-o", tmp_path)
    path = write_sweep(tmp_path, tiny_doc())
    assert error_line(capsys, path, "-o", tmp_path / "o", "--workers", "0") == "error: --workers: got 0; allowed: an integer in [1, 1024]"
    base = tiny_doc(base=str(tmp_path / "missing.yaml"))
    assert error_line(capsys, write_sweep(tmp_path, base, "b.yaml"), "-o", tmp_path).startswith("error: design: got ")


def test_an_unreachable_address_is_one_line_and_quick(tmp_path, capsys):
    path = write_sweep(tmp_path, tiny_doc())
    with contextlib.closing(socket.socket()) as s:  # a loopback port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t0 = time.perf_counter()
    err = error_line(capsys, path, "-o", tmp_path / "out", "--address", f"127.0.0.1:{port}", "--connect-timeout", "2")
    assert time.perf_counter() - t0 < 5
    assert err.startswith(f"error: --address: cannot reach 127.0.0.1:{port} within 2 s (Connection refused); allowed: HOST:PORT")
    assert error_line(capsys, path, "-o", tmp_path / "out", "--address", "nowhere").startswith(
        "error: --address: got 'nowhere'; allowed: HOST:PORT")
    with pytest.raises(XbarError, match="cannot reach"):
        check_reachable("127.0.0.1:1", 1.0)
    assert not (tmp_path / "out").exists()


# ----------------------------------------------------------------------------- the table
def test_the_table_drops_a_torn_last_line_on_resume_and_refuses_to_overwrite(tmp_path):
    t = Table(tmp_path, resume=False)
    for i in range(3):
        t.append({"key": f"k{i}", "point_key": "p", "value": i, "nan": float("nan")})
    with pytest.raises(XbarError, match="in use by another sweep driver"):
        Table(tmp_path, resume=True)
    t.close()
    whole = (tmp_path / "results.jsonl").read_bytes()
    with open(tmp_path / "results.jsonl", "ab") as f:
        f.write(b'{"key": "k3", "poi')  # a driver killed in the middle of a write
    with pytest.raises(XbarError, match="already holds 3 rows; allowed: --resume"):
        Table(tmp_path, resume=False)
    t = Table(tmp_path, resume=True)
    assert t.dropped == len(b'{"key": "k3", "poi') and t.keys == {"k0", "k1", "k2"}
    assert (tmp_path / "results.jsonl").read_bytes() == whole
    t.append({"key": "k3", "point_key": "p"})
    t.close()
    rows, _ = read_rows(tmp_path / "results.jsonl")
    assert [r["key"] for r in rows] == ["k0", "k1", "k2", "k3"] and rows[0]["nan"] is None
    (tmp_path / "results.jsonl").write_bytes(b'{"key": "a"}\nnot json\n{"key": "b"}\n')
    with pytest.raises(XbarError, match="line 2 of .* is not a result row"):
        read_rows(tmp_path / "results.jsonl")


# ----------------------------------------------------------------------------- fronts and report
def test_pareto_front_keeps_exactly_the_undominated_points():
    pts = [{"e": 1.0, "a": 0.5}, {"e": 2.0, "a": 0.7}, {"e": 2.0, "a": 0.6}, {"e": 3.0, "a": 0.7}, {"e": 4.0, "a": 0.9},
           {"e": 0.5, "a": None}]
    assert pareto(pts, "e", "a") == [pts[0], pts[1], pts[4]]


def fake_rows(sweep, fail_point: int | None = None) -> list[dict]:
    rows = []
    for p in sweep.points():
        bits = p.design.adc.bits
        for c in range(sweep.chips):
            ok = p.index != fail_point
            rows.append({"key": p.row_key(c), "point_key": p.key, "point": p.index, "chip": c, "axes": p.axes,
                         "status": "ok" if ok else "failed", "error": None if ok else "chip 0: boom",
                         "chip_acc": 0.5 + 0.05 * bits - 0.1 * p.design.nonideal.ir_drop.enabled + 0.01 * c,
                         "energy_per_inference_pj": 1e5 * bits, "tile_area_mm2": 0.2 + 0.01 * bits, "adc_bits": bits,
                         "chip_area_mm2": 1.0,
                         "mapped_acc": 0.8})
    return rows


def test_report_from_a_table(tmp_path):
    sweep = load_sweep(TINY)
    with open(tmp_path / "results.jsonl", "w") as f:
        for r in fake_rows(sweep, fail_point=3):
            f.write(json.dumps(r) + "\n")
    summary = summarize(read_rows(tmp_path / "results.jsonl")[0])
    assert [s["chip_acc_mean"] for s in summary][:2] == pytest.approx([0.705, 0.605])
    folder = write_report(sweep, tmp_path)
    assert sorted(os.listdir(folder)) == ["pareto_adc_bits.png", "pareto_area.png", "pareto_chip_area.png",
                                          "pareto_energy.png", "report.json", "report.md", "sweep.yaml"]
    assert all((folder / f).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for f in os.listdir(folder) if f.endswith(".png"))
    md = (folder / "report.md").read_text()
    assert "## Points with errors" in md and "chip 0: boom" in md and "name: tiny" in md
    doc = json.loads((folder / "report.json").read_text())
    assert doc["fronts"]["energy_per_inference_nj"] == [0, 2]
    # the report's sweep.yaml is self-contained: it reads back into the same points
    again = sweep_from_dict(yaml.safe_load((folder / "sweep.yaml").read_text()), tmp_path)
    assert [p.key for p in again.points()] == [p.key for p in sweep.points()]
    write_report(sweep, tmp_path)  # replaces the folder
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".report")]


def test_report_only_through_the_command(tmp_path, capsys):
    sweep = load_sweep(TINY)
    (tmp_path / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in fake_rows(sweep)))
    assert sweep_main(["sweep", str(TINY), "-o", str(tmp_path), "--report-only"]) == 0
    assert (tmp_path / "report" / "report.md").is_file()
    assert error_line(capsys, TINY, "-o", tmp_path / "empty", "--report-only").startswith("error: report: ")


# ----------------------------------------------------------------------------- on Ray
@contextlib.contextmanager
def short_tmpdir():
    """A short TMPDIR for Ray's session folder (its socket paths must stay short), removed
    afterwards; yields the folder."""
    tmp = tempfile.mkdtemp(prefix="xs-", dir="/tmp")
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def env_for(tmp: str, **extra) -> dict:
    env = dict(os.environ, TMPDIR=tmp, **extra)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    return env


def processes_using(text: str) -> list[str]:
    """Command lines of live processes that mention ``text`` (our temporary folder)."""
    out = []
    for d in glob.glob("/proc/[0-9]*"):
        try:
            cmd = Path(d, "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmd:
            out.append(cmd[:120])
    return out


def sweep_run(out: Path, tmp: str, *extra, env_extra=None, timeout=240, sweep: Path = TINY) -> dict:
    cmd = [sys.executable, "-m", "xbar_hw.sweep", "sweep", str(sweep), "-o", str(out), "--json", "--quiet", *extra]
    r = subprocess.run(cmd, env=env_for(tmp, **(env_extra or {})), capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, r.stderr[-3000:]
    assert not processes_using(tmp)
    return json.loads(r.stdout[r.stdout.index("{"):])


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """The test sweep on a local Ray cluster of 2 workers (in its own network namespace)."""
    if not can_unshare():
        pytest.skip("no private network namespace here (unshare -n / -rn)")
    out = tmp_path_factory.mktemp("tiny") / "out"
    with short_tmpdir() as tmp:
        summary = sweep_run(out, tmp, "--workers", "2")
    rows, _ = read_rows(out / "results.jsonl")
    return out, summary, rows


@pytest.mark.slow
def test_the_test_sweep_has_every_point(tiny_run):
    out, summary, rows = tiny_run
    sweep = load_sweep(TINY)
    expected = {p.row_key(c) for p in sweep.points() for c in range(2)}
    assert len(rows) == 8 and {r["key"] for r in rows} == expected
    assert all(r["status"] == "ok" for r in rows), [r["error"] for r in rows]
    assert summary["computed"] == 8 and summary["failed"] == 0 and summary["complete"] and summary["workers"] == 2
    for r in rows:  # the metrics of evaluate and energy, the design's fingerprint, where it ran
        for k in ("float_acc", "quant_acc", "mapped_acc", "chip_acc", "energy_per_inference_pj", "tile_area_mm2",
                  "chip_area_mm2", "fingerprint", "node", "design", "axes"):
            assert r[k] is not None, k
    # the faults differ per chip: the two chips of a point differ somewhere
    assert any(len({r["chip_acc"] for r in rows if r["point"] == i}) == 2 for i in range(4))
    assert (out / "model.safetensors").is_file()
    assert {"report.md", "pareto_energy.png", "pareto_area.png", "pareto_adc_bits.png", "sweep.yaml"} <= set(
        os.listdir(out / "report"))


def cli_json(*argv) -> dict:
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert cli_main([*map(str, argv)]) == 0
    return json.loads(buf.getvalue())


@pytest.mark.slow
@pytest.mark.parametrize("point", [1, 2])  # adc.bits 4 with IR drop; adc.bits 6 without
def test_figures_equal_evaluate_and_energy_by_hand(tiny_run, tmp_path, point):
    out, _, rows = tiny_run
    mine = sorted((r for r in rows if r["point"] == point), key=lambda r: r["chip"])
    design = tmp_path / "point.yaml"
    design.write_text(yaml.safe_dump(mine[0]["design"]))
    model = out / "model.safetensors"
    ev = cli_json("evaluate", "--model", model, "--design", design, "--chips", 2, "--limit", 200, "--json", "--quiet")
    assert [r["chip_acc"] for r in mine] == ev["chip_accs"]
    for k in ("float_acc", "quant_acc", "mapped_acc", "crossbars", "pes"):
        assert mine[0][k] == ev[k], k
    program = tmp_path / "point.safetensors"
    cli_json("map", "--model", model, "--design", design, "-o", program, "--json")
    en = cli_json("energy", design, "--program", program, "--images", 8, "--json")
    assert mine[0]["energy_per_inference_pj"] == en["energy_per_inference_pj"]
    assert mine[0]["tile_area_mm2"] == en["area_mm2"]


def rows_in(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.is_file() else 0


@pytest.mark.slow
@needs_netns
def test_resume_after_killing_the_driver(tmp_path):
    out = tmp_path / "out"
    table = out / "results.jsonl"
    cmd = [sys.executable, "-m", "xbar_hw.sweep", "sweep", str(TINY), "-o", str(out), "--workers", "2", "--quiet"]
    with short_tmpdir() as tmp:
        p = subprocess.Popen(cmd, env=env_for(tmp), start_new_session=True, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        try:
            deadline = time.time() + 150
            while rows_in(table) < 1 and p.poll() is None and time.time() < deadline:
                time.sleep(0.05)
        finally:
            os.killpg(p.pid, signal.SIGKILL)  # the driver, its namespace's Ray and workers: one process group
            p.wait()
        done = rows_in(table)
        assert 1 <= done < 8, done
        for _ in range(40):
            if not processes_using(tmp):
                break
            time.sleep(0.25)
        assert not processes_using(tmp)
        before = table.read_bytes()
        with open(table, "ab") as f:
            f.write(b'{"key": "torn')  # and the kill tore the row being written
        summary = sweep_run(out, tmp, "--workers", "2", "--resume")
    after = table.read_bytes()
    rows, _ = read_rows(table)
    assert after.startswith(before)  # the finished rows are kept as they were
    assert summary["skipped"] == done and summary["computed"] == 8 - done
    assert summary["dropped_torn_bytes"] == len(b'{"key": "torn')
    assert len(rows) == 8 and len({r["key"] for r in rows}) == 8 and all(r["status"] == "ok" for r in rows)
    with short_tmpdir() as tmp:  # once complete, a resume computes nothing (and starts no Ray)
        again = sweep_run(out, tmp, "--resume")
    assert again["computed"] == 0 and again["skipped"] == 8 and table.read_bytes() == after


def pids_using(text: str, also: str = "") -> list[int]:
    """Pids of live processes whose command line mentions ``text`` (and ``also``)."""
    out = []
    for d in glob.glob("/proc/[0-9]*"):
        try:
            cmd = Path(d, "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if text in cmd and also in cmd:
            out.append(int(Path(d).name))
    return out


def start_and_wait_for_a_row(out: Path, tmp: str) -> subprocess.Popen:
    """The test sweep started (2 workers), once its first row is in the table."""
    cmd = [sys.executable, "-m", "xbar_hw.sweep", "sweep", str(TINY), "-o", str(out), "--workers", "2", "--quiet"]
    p = subprocess.Popen(cmd, env=env_for(tmp), start_new_session=True, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 150
    while rows_in(out / "results.jsonl") < 1 and p.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert p.poll() is None, p.communicate()[1][-3000:]
    return p


def ended_cleanly(p: subprocess.Popen, tmp: str) -> str:
    """The last line of the ended sweep's stderr, once nothing of it is left running and its
    Ray folder is gone."""
    try:
        _, err = p.communicate(timeout=120)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
    for _ in range(40):
        if not processes_using(tmp):
            break
        time.sleep(0.25)
    assert not processes_using(tmp)
    assert not glob.glob(os.path.join(tmp, "xbar-ray-*")), os.listdir(tmp)
    assert "Traceback" not in err, err[-3000:]
    return err.strip().splitlines()[-1]


@pytest.mark.slow
@needs_netns
def test_the_cluster_killed_under_the_sweep_is_one_line(tmp_path):
    """Ray's processes killed from outside (`ray stop`, the OOM killer: here its raylet, by
    SIGKILL): Ray's core ends the driver with status 1 and no unwinding; the sweep still ends
    with one line that says how to finish, and leaves no process and no Ray folder."""
    with short_tmpdir() as tmp:
        p = start_and_wait_for_a_row(tmp_path / "out", tmp)
        (raylet,) = pids_using(tmp, "raylet/raylet")
        os.kill(raylet, signal.SIGKILL)
        line = ended_cleanly(p, tmp)
        assert p.returncode == 1
        assert line.startswith("error: sweep: the local Ray cluster stopped under the sweep (driver exit status 1;")
        assert line.endswith("finish the sweep with --resume")


@pytest.mark.slow
@needs_netns
def test_sigterm_ends_the_sweep_with_one_line_and_ray_shut_down(tmp_path):
    """SIGTERM (not Ray's own handler, which exits with status 1 at once): Ray shut down, its
    folder removed, one line, status 143; the rows written so far stay."""
    out = tmp_path / "out"
    with short_tmpdir() as tmp:
        p = start_and_wait_for_a_row(out, tmp)
        p.send_signal(signal.SIGTERM)
        line = ended_cleanly(p, tmp)
    assert p.returncode == 143 and line == "error: terminated; finish the sweep with --resume"
    assert rows_in(out / "results.jsonl") >= 1


@pytest.mark.slow
@needs_netns
def test_a_worker_killed_mid_task_loses_no_point_and_a_failing_point_is_recorded(tmp_path):
    """One chip task kills its own worker (SIGKILL) on its first attempt; the points with a
    fault map that does not exist fail in their chip tasks. Ray retries the killed task, the
    failing chips become rows with their one-line error, and the table is complete."""
    out, marker = tmp_path / "out", tmp_path / "killed"
    doc = tiny_doc(axes={"adc.bits": [4, 6], "nonideal.saf.map": [None, str(tmp_path / "no-such-map.safetensors")]})
    path = write_sweep(tmp_path, doc)
    with short_tmpdir() as tmp:
        summary = sweep_run(out, tmp, "--workers", "2", sweep=path, env_extra={"XBAR_SWEEP_KILL_ONCE": str(marker)})
    killed = int(marker.read_text())
    assert not Path(f"/proc/{killed}").exists()
    rows, _ = read_rows(out / "results.jsonl")
    assert len(rows) == 8 and len({r["key"] for r in rows}) == 8 and summary["complete"]
    ok = [r for r in rows if r["status"] == "ok"]
    failed = [r for r in rows if r["status"] == "failed"]
    assert {r["axes"]["nonideal.saf.map"] for r in ok} == {None} and len(ok) == 4
    assert len(failed) == 4 and summary["failed"] == 4
    for r in failed:
        assert r["error"].startswith(f"chip {r['chip']}: ") and "no-such-map.safetensors" in r["error"]
        assert "\n" not in r["error"]
    assert killed not in {r.get("pid") for r in rows}
    assert "## Points with errors" in (out / "report" / "report.md").read_text()


TWO_NODES = r"""
import json, os, subprocess, sys
from xbar_hw.sweep.netns import interfaces, loopback_up
assert interfaces() == ["lo"], interfaces()
loopback_up()
ray, tmp, port = sys.argv[1], sys.argv[2], sys.argv[3]
run = lambda *a: subprocess.run([ray, *a], check=True, capture_output=True, text=True)
try:
    run("start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}", "--num-cpus=1", "--include-dashboard=false",
        f"--temp-dir={tmp}/ray", "--disable-usage-stats")
    run("start", f"--address=127.0.0.1:{port}", "--node-ip-address=127.0.0.1", "--num-cpus=1", "--disable-usage-stats")
    r = subprocess.run([sys.executable, "-m", "xbar_hw.sweep", *sys.argv[4:], "--address", f"127.0.0.1:{port}"],
                       capture_output=True, text=True)
    print(r.stdout)
    print(r.stderr[-3000:], file=sys.stderr)
    sys.exit(r.returncode)
finally:
    subprocess.run([ray, "stop", "--force"], capture_output=True)
"""


@pytest.mark.slow
@pytest.mark.skipif(not can_unshare(*PIDNS), reason="no private network and PID namespace here (unshare -n -p)")
def test_two_node_cluster_gives_the_local_figures(tiny_run, tmp_path):
    out = tmp_path / "out"
    # its own PID namespace too: `ray stop` then sees (and stops) only this test's two nodes,
    # not the local cluster of a sweep test running beside it (CI's two pytest workers), and
    # whatever is left dies with the namespace
    ns = unshare(*PIDNS)
    with short_tmpdir() as tmp:
        cmd = [*ns, sys.executable, "-c", TWO_NODES, str(RAY), tmp, "6390", "sweep", str(TINY), "-o", str(out), "--json",
               "--quiet"]
        r = subprocess.run(cmd, env=env_for(tmp, RAY_AUTH_MODE="disabled", RAY_USAGE_STATS_ENABLED="0"),
                           capture_output=True, text=True, timeout=240)
        assert r.returncode == 0, r.stderr[-3000:]
        assert not processes_using(tmp)
    summary = json.loads(r.stdout[r.stdout.index("{"):])
    rows, _ = read_rows(out / "results.jsonl")
    assert len(summary["nodes"]) == 2 and len({r["node"] for r in rows}) == 2  # both nodes ran chips
    local = {r["key"]: r["chip_acc"] for r in tiny_run[2]}
    assert {r["key"]: r["chip_acc"] for r in rows} == local


@pytest.mark.slow
def test_adapt_workload_equals_adapt_by_hand(tmp_path):
    """A workload with a method (no Ray: the worker functions themselves): the backbone is
    mapped once, adapted by XMA, and the figures equal ``xbar-hw map`` + ``xbar-hw adapt``."""
    doc = tiny_doc(axes={"adc.bits": [6]}, workload={"model": "mnist_cnn", "width": 8, "data": "mnist_0_4", "epochs": 1,
                                                       "lr": 3e-3, "limit": 200, "images": 4, "method": "xma",
                                                       "task": "split_mnist_5_9", "adapt_epochs": 1})
    sweep = sweep_from_dict(doc, ROOT)
    (p,) = sweep.points()
    wl = asdict(sweep.workload)
    data, task = (dataset_to_bytes(resolve_data(n, 0)) for n in ("mnist_0_4", "split_mnist_5_9"))
    model = work.train_model(wl, data, 1)
    program, m = work.map_design(model, data, task, p.design_dict, wl, {p.key: p.design_dict}, 1)
    chip = work.eval_chip(program, task, p.design_dict, wl, 0, "g", 1)
    assert 0.0 <= chip["chip_acc"] <= 1.0 and m["costs"][p.key]["energy_per_inference_pj"] > 0
    (tmp_path / "model.safetensors").write_bytes(model)
    design = tmp_path / "point.yaml"
    design.write_text(yaml.safe_dump(p.design_dict))
    cli_json("map", "--model", tmp_path / "model.safetensors", "--design", design, "--data", "mnist_0_4",
             "-o", tmp_path / "backbone.safetensors", "--json")
    ad = cli_json("adapt", "--program", tmp_path / "backbone.safetensors", "--task", "split_mnist_5_9", "--method", "xma",
                  "--epochs", 1, "--eval-limit", 200, "-o", tmp_path / "tasks.safetensors", "--json", "--quiet")
    assert m["adapt_accuracy"] == ad["accuracy"] and m["adapt_cells_written"] == ad["cells_written"]
    assert m["adapt_mask_bits"] == ad["mask_bits"]
