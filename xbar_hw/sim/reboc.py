"""Co-simulation of ReBoc's input register (:class:`xbar_hw.rtl.reboc.SliceRotator`)
against the golden model's input order (:func:`xbar_hw.core.circulant.input_index`).

:func:`rotator_cosim` generates the register's Verilog for a design and block size, runs
the cocotb testbench :mod:`.xbar_reboc_tb` on it (:mod:`.runner`: Icarus or Verilator) and
checks the rows after every clock edge. The script, per vector: a load (with ``rotate``
high as well on every other vector: the load wins), then b rotations, each with the next
vector on ``x`` (ignored: only a load takes ``x``), so that every read sequence c = 0 .. b-1
and the wrap back to 0 are seen; a hold (neither load nor rotate) in the middle of every
third vector; at the end a synchronous reset in the middle of a sequence (rows back to 0,
over a load in the same cycle). Vector 0 is a ramp (row r holds r mod 2^b_x: every word of
a slice differs, so a wrong permutation cannot hide), vector 1 all ones, the rest random.

The expected rows come from :func:`expected_rows`, a step model written from
``input_index`` (row i*b + m at sequence c holds x[i*b + (c - m) mod b]), not from the
register's wiring.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import time
from pathlib import Path

import torch

from ..core.check import need_at_least
from ..core.circulant import input_index
from ..core.design import Design
from ..core.io import fresh_folder
from ..rtl.generate import generate_rotator, rotator_name
from ..rtl.reboc import check_block
from .loads import as_design
from .runner import REBOC_TB_MODULE, install_changed, run_testbench, simulator_paths


def rotator_vectors(design: Design, vectors: int, seed: int) -> torch.Tensor:
    """int64 [V, R] raw input words (b_x bits): a ramp, all ones, then seeded random words."""
    R, top = design.crossbar.rows, 1 << design.inputs.bits
    gen = torch.Generator().manual_seed(seed)
    x = torch.randint(0, top, (vectors, R), generator=gen, dtype=torch.int64)
    x[0] = torch.arange(R) % top
    if vectors > 1:
        x[1] = top - 1
    return x


def rotator_steps(block: int, vectors: int) -> list[list[int]]:
    """The script's steps [load, rotate, vector (-1: x unchanged), rst], one per clock cycle."""
    steps = []
    for i in range(vectors):
        steps.append([1, i % 2, i, 0])
        for c in range(1, block + 1):
            steps.append([0, 1, (i + 1) % vectors, 0])
            if i % 3 == 1 and c == block // 2:
                steps.append([0, 0, -1, 0])
    steps += [[1, 0, 0, 0], [0, 1, -1, 0], [1, 1, 1, 1], [0, 1, -1, 0], [1, 0, -1, 0]]
    return steps


def expected_rows(steps: list[list[int]], x: torch.Tensor, block: int) -> list[list[int]]:
    """The rows after each step: reset -> 0; load -> sequence 0 of the vector on ``x``;
    rotate -> the next sequence (mod b); otherwise held. Sequence c's rows are
    x[input_index(R, b, c)], the golden model's gather."""
    R = int(x.shape[1])
    order = [input_index(R, block, c) for c in range(block)]
    port, held, c, out = 0, None, 0, []
    for load, rotate, vector, rst in steps:
        if vector >= 0:
            port = vector
        if rst:
            held, c = None, 0
        elif load:
            held, c = port, 0
        elif rotate:
            c = (c + 1) % block
        out.append([0] * R if held is None else x[held][order[c]].tolist())
    return out


def reboc_build_dir(design: Design, what: str) -> Path:
    """A build folder per design and ``what`` (the top and its parameters) under the
    system's temp folder."""
    key = hashlib.sha256(json.dumps(design.to_dict(), sort_keys=True, default=str).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / "xbar_hw_cosim" / f"{what}-{design.name}-{key}"


def build_rotator_rtl(design: Design, block: int, build_dir: Path) -> dict:
    """The register's Verilog and port map under ``<build_dir>/rtl``, each file replaced
    (atomically) only when its text changes, so that the simulator build is reused."""
    out = Path(build_dir) / "rtl"
    with tempfile.TemporaryDirectory() as tmp:
        install_changed(generate_rotator(design, block, tmp), out, ("verilog", "ports"))
    name = rotator_name(design, block)
    return {"top": name, "verilog": out / f"{name}.v", "ports": out / f"{name}.ports.json", "macro": None}


def _edges_per_sequence(steps: list[list[int]], samples: list) -> list[int]:
    """Measured: the rising edges between two consecutive read sequences (a rotate step
    after a load or a rotate, neither reset nor held), every one of the run."""
    out = []
    for k in range(1, len(steps)):
        load, rotate, _, rst = steps[k]
        prev = steps[k - 1]
        if rotate and not load and not rst and not prev[3] and (prev[0] or prev[1]):
            out.append(samples[k][0] - samples[k - 1][0])
    return sorted(set(out))


def rotator_cosim(design: Design, block: int, vectors: int = 6, seed: int = 0, sim: str = "icarus",
                  build_dir=None) -> dict:
    """Co-simulate :class:`~xbar_hw.rtl.reboc.SliceRotator` (module docstring).

    Returns {"design", "block", "sim", "vectors", "steps", "mismatches" (count),
    "mismatch_examples" (up to 5: step, row, got, expected), "reset_ok", "sequences"
    (the read sequences seen), "edges_per_sequence" (measured), "sim_seconds", "ok"}.
    A bad block size or count is one line (XbarError) before anything runs."""
    t0 = time.perf_counter()
    design = as_design(design)
    need_at_least(vectors, "vectors", 2)
    need_at_least(seed, "seed", 0)
    check_block(design, block)
    simulator_paths(sim)
    x = rotator_vectors(design, vectors, seed)
    steps = rotator_steps(block, vectors)
    build_dir = Path(build_dir) if build_dir is not None else reboc_build_dir(design, f"rotator-b{block}")
    with fresh_folder(build_dir):
        rtl = build_rotator_rtl(design, block, build_dir)
        want = expected_rows(steps, x, block)
        results = run_testbench(rtl, build_dir, sim, {"vectors": x.tolist(), "steps": steps}, seed,
                                tb_module=REBOC_TB_MODULE)
    samples = results["samples"]
    bad = [(k, r, got[r], want[k][r]) for k, (_, got) in enumerate(samples) for r in range(len(got))
           if got[r] != want[k][r]]
    if len(samples) != len(steps):
        bad.append((len(samples), -1, "missing samples", len(steps)))
    reset_ok = results["reset_rows"] == [0] * design.crossbar.rows
    return {
        "design": design.name, "block": block, "sim": sim, "vectors": vectors, "steps": len(steps),
        "mismatches": len(bad),
        "mismatch_examples": [{"step": k, "row": r, "got": g, "expected": e} for k, r, g, e in bad[:5]],
        "reset_ok": reset_ok, "sequences": list(range(block)),
        "edges_per_sequence": _edges_per_sequence(steps, samples),
        "sim_seconds": round(results["sim_seconds"], 3), "total_seconds": round(time.perf_counter() - t0, 3),
        "build": results["build"], "build_dir": str(build_dir),
        "ok": not bad and reset_ok,
    }
