"""Co-simulation of a ReBoc-mapped layer on the ReBoc PE (:class:`xbar_hw.rtl.reboc.RebocPe`:
the PE tile behind the rotating input registers) against the golden model, with its cycles
measured.

:func:`reboc_pe_cosim` puts the first PE of a block-circulant layer's ReBoc crossbars
(:class:`xbar_hw.xbar.circulant.RebocLayer`: Wr = the stacked, duplicated vectors, laid out
by ``map_layer``) into the tile through ``prog``/``cfg`` (the PE tile's own beats and
testbench, :mod:`.script`, :mod:`.xbar_pe_tb`), streams seeded random input vectors as the
tile buffer holds them (one ``x`` beat per ReBoc MVM) and checks:

- every output beat of every read sequence c against the golden PE
  (:func:`.golden_pe.golden_beats`) on the tile's inputs rotated by the golden model's
  ``input_index`` (what the rotators must have driven);
- those golden beats against the plain mapping's golden product of the layer
  (:func:`xbar_hw.xbar.circulant.layer_product`), scattered by ``output_index``, for every
  column block the PE holds whole: the ReBoc PE computes the layer's outputs bit for bit;
- the cycles, measured from the clock-edge numbers of the transfers, MVMs streamed back
  to back: the first ReBoc MVM (input beat through its last output beat, the PE idle
  before) against 1 + reads x ``cycles_per_mvm`` (the load cycle, then the b/D sequences as
  whole MVMs of the tile), and the interval between the last output beats of consecutive
  MVMs (the throughput) against reads x ``cycles_per_mvm``. The next input beat is taken
  as soon as the final sequence is in the tile, so a later MVM's latency counts its wait;
- the tile's ADC conversion counter against reads x ``adc_conversions`` per MVM.
"""

from __future__ import annotations

import tempfile
import time
from itertools import pairwise
from pathlib import Path

import torch

from ..core.check import need_at_least
from ..core.circulant import input_index, output_index
from ..core.cycles import adc_conversions, cycles_per_mvm
from ..core.design import Design
from ..core.io import fresh_folder
from ..core.mapping import layer_grid
from ..rtl.generate import generate_reboc_pe
from ..rtl.params import default_mask_code
from ..xbar.circulant import RebocLayer, layer_product
from .golden_pe import golden_beats
from .loads import TileLoad, as_design, fault_free_load
from .reboc import reboc_build_dir
from .runner import install_changed, run_testbench, simulator_paths
from .script import build_script, cfg_beats, prog_beats


def reboc_load(design: Design, rl: RebocLayer, x: torch.Tensor) -> TileLoad:
    """The first PE of ``rl``'s crossbars with inputs ``x`` [V, K] (signed form): slot n holds
    crossbar n (column block n // n_rb, row block n % n_rb) and that row block's inputs
    (rows past K: 0); logical columns past Wr's width, and empty slots, gated."""
    d = design
    N, R, L = d.pe.crossbars, d.crossbar.rows, d.logical_cols
    cols = int(rl.stored.shape[1])
    n_rb, _ = layer_grid(rl.lp.k_in, cols, d)
    used = min(N, rl.n_crossbars)
    zero = torch.zeros(R, d.crossbar.cols, dtype=torch.uint8)
    levels = [rl.levels[n].to(torch.uint8) if n < used else zero for n in range(N)]
    tile_x = torch.zeros(x.shape[0], N, R, dtype=torch.int64)
    codes = []
    for n in range(N):
        if n >= used:
            codes.append([0] * L)
            continue
        rb, cb = n % n_rb, n // n_rb
        r0, r1 = rb * R, min(rl.lp.k_in, rb * R + R)
        tile_x[:, n, : r1 - r0] = x[:, r0:r1]
        codes.append([default_mask_code(d) if cb * L + j < cols else 0 for j in range(L)])
    group = [n // n_rb if n < used else n for n in range(N)]
    return fault_free_load(d, levels, tile_x, shifts=[int(rl.lp.adc_shift[0])] * N, codes=codes, group=group,
                           groups=-(-used // n_rb))


def reboc_expected(rl: RebocLayer, load: TileLoad) -> torch.Tensor:
    """int64 [V, reads, groups, L]: the golden PE's beats of each read sequence c, on the
    tile's inputs gathered by ``input_index`` (row i*b + m gets x[i*b + (c - m) mod b])."""
    R = load.design.crossbar.rows
    out = []
    for c in range(rl.reads):
        idx = input_index(R, rl.b, c)
        shifted = TileLoad(**{**vars(load), "x": load.x[:, :, idx]})
        out.append(golden_beats(shifted))
    return torch.stack(out, dim=1)


def check_against_plain(rl: RebocLayer, load: TileLoad, x: torch.Tensor, expected: torch.Tensor) -> dict:
    """The golden beats against the plain mapping's product of the layer: logical column j
    of group g at sequence c is Wr column g*L + j, i.e. output ``output_index``[g*L + j].
    Only groups (column blocks) whose every row block is in the PE are compared."""
    d = load.design
    L, lp = d.logical_cols, rl.lp
    cols = int(rl.stored.shape[1])
    n_rb, _ = layer_grid(lp.k_in, cols, d)
    used = min(d.pe.crossbars, rl.n_crossbars)
    plain = layer_product(lp, x, d, "plain")  # [V, N]
    compared = mismatches = 0
    for g in range(load.groups):
        if (g + 1) * n_rb > used:
            continue
        for c in range(rl.reads):
            outs = output_index(lp.n_out, rl.b, rl.D, c)
            for j in range(L):
                if g * L + j < cols:
                    o = int(outs[g * L + j])
                    compared += x.shape[0]
                    mismatches += int((expected[:, c, g, j] != plain[:, o]).sum())
    return {"outputs_compared": compared, "mismatches": mismatches, "ok": compared > 0 and mismatches == 0}


def build_reboc_pe_rtl(design: Design, block: int, reads: int, row_blocks: int, build_dir: Path) -> dict:
    """The ReBoc PE's Verilog, the macro's model and the port map under ``<build_dir>/rtl``
    (each file replaced atomically, only when its text changes)."""
    out = Path(build_dir) / "rtl"
    with tempfile.TemporaryDirectory() as tmp:
        new = generate_reboc_pe(design, block, reads, row_blocks, tmp)
        install_changed(new, out, ("verilog", "macro", "ports"))
    return {"top": new["top"], **{k: out / new[k].name for k in ("verilog", "macro", "ports")}}


def _measure(mvm: dict, expected: torch.Tensor) -> dict:
    """Beats against the expected ones (sequence-major, group, ``last`` on the very last);
    cycles per ReBoc MVM and initiation intervals from the edge numbers."""
    V, reads, G, _ = expected.shape
    per, cur = [], []
    for beat in mvm["beats"]:
        cur.append(beat)
        if beat[2]:
            per.append(cur)
            cur = []
    mismatches, examples, cycles, ends = 0, [], [], []
    for v in range(V):
        got = per[v] if v < len(per) else []
        mismatches += abs(len(got) - reads * G)
        for k, beat in enumerate(got[: reads * G]):
            c, g = divmod(k, G)
            want = expected[v, c, g].tolist()
            if beat[1] != g or bool(beat[2]) != (k == reads * G - 1) or beat[3] != want:
                mismatches += 1
                if len(examples) < 5:
                    examples.append({"vector": v, "sequence": c, "group": g, "expected": want, "got": beat[1:]})
        if got and v < len(mvm["x_edges"]):
            cycles.append(got[-1][0] - mvm["x_edges"][v] + 1)
            ends.append(got[-1][0])
    return {"mismatches": mismatches, "mismatch_examples": examples,
            "latency_first": cycles[0] if cycles else None, "latency": cycles,
            "output_interval": sorted({b - a for a, b in pairwise(ends)}),
            "input_interval": [b - a for a, b in pairwise(mvm["x_edges"])]}


def reboc_pe_cosim(design: Design, lp, vectors: int = 4, seed: int = 0, sim: str = "icarus", build_dir=None) -> dict:
    """Co-simulate the first PE of block-circulant layer ``lp`` under the ReBoc mapping on
    :class:`~xbar_hw.rtl.reboc.RebocPe` (module docstring). Returns {"block", "D", "reads",
    "mismatches", "golden_vs_plain", "tile_cycles_per_mvm", "latency_first",
    "latency_expected", "output_interval", "interval_expected", "input_interval",
    "conversions", "conversions_expected", "ok", ...}."""
    t0 = time.perf_counter()
    d = as_design(design)
    need_at_least(vectors, "vectors", 2)
    need_at_least(seed, "seed", 0)
    rl = RebocLayer(lp, d)  # one line for a dense layer, a block that does not fit, TinyADC bits
    simulator_paths(sim)
    lo, hi = d.input_range
    gen = torch.Generator().manual_seed(seed)
    x = torch.randint(lo, hi + 1, (vectors, lp.k_in), generator=gen, dtype=torch.int64)
    x[0] = hi
    load = reboc_load(d, rl, x)
    expected = reboc_expected(rl, load)
    vs_plain = check_against_plain(rl, load, x, expected)
    tile = cycles_per_mvm(d, gated=load.gated(), groups=load.groups)
    prog, cfg = prog_beats(load), cfg_beats(load)
    script = build_script(load, prog, cfg, tile, reset_mid=False)
    max_cycles = 2 * (len(prog) + 2 * len(cfg) + (vectors + 2) * (rl.reads * tile + 4)) + 10_000
    stimulus = {"script": script, "max_cycles": max_cycles,
                "tb": {"backpressure": 0.0, "seed": int(seed), "event_driven": True}}
    # Input Tile Sharing: one rotator per row block the PE holds (slot n holds row block n % n_rb)
    row_blocks = min(d.pe.crossbars, layer_grid(lp.k_in, int(rl.stored.shape[1]), d)[0])
    what = f"reboc-pe-b{rl.b}-r{rl.reads}-rb{row_blocks}"
    build_dir = Path(build_dir) if build_dir is not None else reboc_build_dir(d, what)
    with fresh_folder(build_dir):
        rtl = build_reboc_pe_rtl(d, rl.b, rl.reads, row_blocks, build_dir)
        results = run_testbench(rtl, build_dir, sim, stimulus, seed)
    ops = {op["op"]: op for op in results.get("ops", []) if op["op"] == "mvm"}
    measured = _measure(ops["mvm"], expected) if "mvm" in ops else \
        {"mismatches": vectors * rl.reads * load.groups, "mismatch_examples": [], "latency_first": None,
         "latency": [], "output_interval": [], "input_interval": []}
    counters = [op for op in results.get("ops", []) if op["op"] == "counters"]
    conversions = counters[-1]["conversions"] - counters[-2]["conversions"] if len(counters) >= 2 else None
    conv_expected = vectors * rl.reads * adc_conversions(d, gated=load.gated())
    latency_expected, interval_expected = 1 + rl.reads * tile, rl.reads * tile
    ok = (measured["mismatches"] == 0 and not results.get("errors") and vs_plain["ok"]
          and measured["latency_first"] == latency_expected
          and measured["output_interval"] == [interval_expected] and conversions == conv_expected)
    return {
        "design": d.name, "layer": lp.name, "sim": sim, "vectors": vectors, "block": rl.b, "D": rl.D,
        "reads": rl.reads, "crossbars": min(d.pe.crossbars, rl.n_crossbars), "groups": load.groups,
        "rotators": row_blocks,
        **measured, "errors": results.get("errors", []), "golden_vs_plain": vs_plain,
        "tile_cycles_per_mvm": tile, "latency_expected": latency_expected, "interval_expected": interval_expected,
        "conversions": conversions, "conversions_expected": conv_expected,
        "sim_seconds": round(results["sim_seconds"], 3), "build": results["build"],
        "total_seconds": round(time.perf_counter() - t0, 3), "build_dir": str(build_dir), "ok": bool(ok),
    }
