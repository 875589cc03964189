"""What the testbench saw against what the host expects: every output beat against the
golden model, with examples of mismatches; cycles per MVM, measured from the clock-edge
numbers of the transfers (input beat through last output beat, minus the cycles the output
was stalled), against :func:`xbar_hw.core.cycles.cycles_per_mvm`; the tile's event
counters against the cell writes and :func:`xbar_hw.core.cycles.adc_conversions`; the
reset in the middle of an MVM; the monitors' record of the input ports. Also the golden
model's cross-check against the mapped layer itself, and what a load exercises
(:func:`coverage`)."""

from __future__ import annotations

import json
from itertools import pairwise
from pathlib import Path

import torch

from ..core.cycles import adc_conversions
from ..xbar.golden import input_digits
from .loads import TileLoad
from .xbar_layout import port_layouts

#: beats of a mismatch report kept in the result
EXAMPLES = 5


def _per_mvm(beats: list) -> list[list]:
    """Output beats [edge, group, last, p] split into MVMs at each ``last``."""
    per, cur = [], []
    for b in beats:
        cur.append(b)
        if b[2]:
            per.append(cur)
            cur = []
    if cur:
        per.append(cur)
    return per


def beat_report(load: TileLoad, expected: torch.Tensor, mvm: dict | None, expected_cycles: int,
                backpressure: float, errors: list[str]) -> dict:
    """Mismatching beats (and the first :data:`EXAMPLES` of them), cycles per MVM, the
    initiation interval and the stalls of the ``mvm`` op's results; protocol errors go to
    ``errors``."""
    V, G = load.vectors, load.groups
    mismatches, examples, cycles, ii, stall_total = 0, [], [], [], 0
    columns: dict[tuple[int, int], dict] = {}
    if mvm is None:
        errors.append("no MVM result (the script did not finish)")
        mismatches = V * G
    else:
        stalls, x_edges = sorted(mvm["stalls"]), mvm["x_edges"]
        stall_total = len(stalls)
        per = _per_mvm(mvm["beats"])
        if len(per) != V or len(x_edges) != V:
            errors.append(f"got {len(per)} MVM results for {len(x_edges)} inputs; expected {V}")
        exp = expected.tolist()
        for i in range(V):
            got = per[i] if i < len(per) else []
            for g in range(G):
                beat = got[g] if g < len(got) else None
                ok = beat is not None and beat[1] == g and bool(beat[2]) == (g == G - 1) and beat[3] == exp[i][g]
                if not ok:
                    if beat is not None and beat[1] == g:
                        _column_mismatches(columns, i, g, exp[i][g], beat[3])
                    mismatches += 1
                    if len(examples) < EXAMPLES:
                        examples.append({"vector": i, "group": g, "expected": exp[i][g],
                                         "got": None if beat is None else {"group": beat[1], "last": beat[2], "p": beat[3]}})
            mismatches += max(0, len(got) - G)
            if got and i < len(x_edges):
                lo, hi = x_edges[i], got[-1][0]
                cycles.append(hi - lo + 1 - sum(1 for e in stalls if lo < e <= hi))
        ii = [b - a for a, b in pairwise(x_edges)]
    return {
        "mismatches": mismatches,
        "mismatch_examples": examples,
        "mismatch_columns": column_report(load, columns),
        "cycles_per_mvm": max(cycles) if cycles else None,
        "cycles_per_mvm_measured": sorted(set(cycles)),
        "cycles_expected": expected_cycles,
        "cycles_match": bool(cycles) and len(cycles) == V and all(c == expected_cycles for c in cycles),
        "initiation_interval": sorted(set(ii)) if backpressure == 0 else None,
        "stall_cycles": stall_total,
    }


def _column_mismatches(columns: dict, vector: int, group: int, expected: list, got: list) -> None:
    """Record the logical columns of one output beat that differ."""
    for j, (e, v) in enumerate(zip(expected, got)):
        if e != v:
            rec = columns.setdefault((group, j), {"vectors": 0, "first": {"vector": vector, "expected": e, "got": v}})
            rec["vectors"] += 1


def column_report(load: TileLoad, columns: dict) -> list[dict]:
    """Where the mismatching outputs come from: per output group and logical column, the
    PE, the crossbars that sum into it (tile positions), its physical columns, how many
    vectors differ and the first of them, as one message each."""
    d, out = load.design, []
    pe = load.source.get("pe", 0)
    for (g, j), rec in sorted(columns.items()):
        xbars = [n for n in range(d.pe.crossbars) if load.group[n] == g]
        phys = [j * d.cols_per_logical, (j + 1) * d.cols_per_logical - 1]
        f = rec["first"]
        where = f"crossbar {xbars[0]}" if len(xbars) == 1 else f"crossbars {', '.join(map(str, xbars))} (output group {g})"
        msg = (f"PE {pe} {where} logical column {j} (physical columns {phys[0]}-{phys[1]}): {rec['vectors']} of "
               f"{load.vectors} vectors differ; vector {f['vector']}: expected {f['expected']}, got {f['got']}")
        out.append({"pe": pe, "group": g, "crossbars": xbars, "column": j, "physical_columns": phys, **rec,
                    "message": msg})
    return out


def counter_report(load: TileLoad, counters: list[dict], prog: list, reset_mid: bool) -> dict:
    """The tile's counters: cell writes (and changes) since reset per crossbar, ADC
    conversions of the streamed MVMs; right after a mid-MVM reset, every counter at 0."""
    d = load.design
    per_xbar = [0] * d.pe.crossbars
    for b in prog:
        per_xbar[b[0]] += 1
    conv_exp = load.vectors * adc_conversions(d, gated=load.gated())
    cnt = {"writes": counters[0]["writes"] if counters else None, "writes_expected": per_xbar,
           "conversions": counters[-1]["conversions"] if counters else None, "conversions_expected": conv_exp}
    ok = bool(counters) and counters[0]["writes"] == per_xbar and counters[0]["changes"] == per_xbar \
        and counters[-1]["conversions"] == conv_exp
    if reset_mid and len(counters) >= 2:
        ok &= counters[1]["writes"] == [0] * d.pe.crossbars and counters[1]["conversions"] == 0
    cnt["ok"] = bool(ok)
    return cnt


def reset_report(op: dict | None) -> dict:
    """The mid-MVM reset: the tile was busy, is idle and ready right after it, and no beat
    of the dropped MVM came out."""
    if op is None:
        return {"ok": False}
    after = op["after_reset"]
    ok = op["busy_before"] and not after["busy"] and after["x_ready"] and not after["p_valid"] and not op["leaked"]
    return {"busy_before": op["busy_before"], "after_reset": after, "leaked_beats": len(op["leaked"]),
            "cycles_after_input": op["reset_edge"] - op["x_edge"], "ok": bool(ok)}


def monitor_report(load: TileLoad, results: dict, mvm: dict | None, prog: list, cfg: list, reset_mid: bool) -> dict:
    """The monitors' view of the input ports: what transferred, in order (the x beats bit
    for bit, at the edges the driver saw), and how many prog and cfg beats."""
    mon = results["monitors"]
    lay = port_layouts(json.loads(Path(results["ports"]).read_text())) if "ports" in results else None
    sent_x = ([load.x[0].tolist()] if reset_mid else []) + load.x.tolist()
    x_ok = len(mon.get("x", [])) == len(sent_x)
    if x_ok and lay is not None:
        x_ok = [raw for _, raw in mon["x"]] == [lay["x__payload"].pack(v) for v in sent_x]
    edges_ok = mvm is None or [e for e, _ in mon.get("x", [])][-load.vectors:] == mvm["x_edges"]
    counts_ok = len(mon.get("prog", [])) == len(prog) and len(mon.get("cfg", [])) == len(cfg) * (2 if reset_mid else 1)
    return {"prog": len(mon.get("prog", [])), "cfg": len(mon.get("cfg", [])), "x": len(mon.get("x", [])),
            "ok": bool(x_ok and edges_ok and counts_ok)}


def compare(load: TileLoad, expected: torch.Tensor, results: dict, expected_cycles: int, prog: list, cfg: list,
            reset_mid: bool, backpressure: float) -> dict:
    """Every output beat against the golden model; cycles; counters; the reset; the
    monitors; the protocol errors of the testbench and of the comparison."""
    errors = list(results.get("errors", []))
    by: dict[str, list] = {}
    for op in results.get("ops", []):
        by.setdefault(op["op"], []).append(op)
    mvm = by.get("mvm", [None])[-1]
    report = beat_report(load, expected, mvm, expected_cycles, backpressure, errors)
    report["counters"] = counter_report(load, by.get("counters", []), prog, reset_mid)
    if reset_mid:
        report["reset"] = reset_report(by.get("reset", [None])[-1])
    if results.get("monitors"):
        report["monitors"] = monitor_report(load, results, mvm, prog, cfg, reset_mid)
    report["protocol_errors"] = errors
    return report


# --------------------------------------------------------------------------- golden model checks


def check_against_layer(load: TileLoad, expected: torch.Tensor, ctx: dict) -> dict:
    """Cross-check of the per-crossbar golden model against the mapped layer itself
    (``ctx["module"]``, under the task's masks): for every output group that holds all row
    blocks of its column block (and no stuck cell), the beat must equal the layer's own
    crossbar-path P for those outputs."""
    if load.stuck:
        return {"groups_checked": 0, "ok": True, "skipped": "stuck cells (the layer path has no chip)"}
    L = load.design.logical_cols
    n_rb, _ = load.source["grid"]
    m = ctx["module"]
    with torch.no_grad():
        p = m.crossbar_rows(ctx["x_u"].to(m.w_int.device)).round().to(torch.int64)  # [V, N_out]
    checked, ok = 0, True
    for g in range(load.groups):
        if (g + 1) * n_rb > load.used:
            continue  # a partial column block: no layer output to compare with
        cols = min(L, m.lp.n_out - g * L)
        ok &= torch.equal(expected[:, g, :cols], p[:, g * L : g * L + cols])
        ok &= bool((expected[:, g, cols:] == 0).all())
        checked += 1
    return {"groups_checked": checked, "ok": bool(ok)}


def _adc_counts(load: TileLoad) -> tuple[int, int, int]:
    """(conversions, clipped, rounding ties) of the load's ADC conversions."""
    d = load.design
    two_s = d.cols_per_logical
    ties = clipped = conversions = 0
    for n in range(load.used):
        active = [j * two_s + k for j, c in enumerate(load.codes[n]) if c for k in range(two_s)]
        if not active:
            continue
        digits = input_digits(load.x[:, n, :] + d.input_offset, d, torch.float64)  # [T, V, R]
        S = (digits @ load.stored[n][:, active].to(torch.float64)).to(torch.int64)
        a = load.shifts[n]
        h = (1 << (a - 1)) if a else 0
        conversions += S.numel()
        top = d.adc_max if load.adc_bits is None else (1 << load.adc_bits[n]) - 1  # the slot's own ADC
        clipped += int((((S + h) >> a) > top).sum())
        if a:
            ties += int(((S & ((1 << a) - 1)) == h).sum())
    return conversions, clipped, ties


def coverage(load: TileLoad) -> dict:
    """What this load exercises: mask codes, gated columns, ADC conversions that clip or
    hit a rounding tie (S + h a multiple of 2^a with a > 0), all-max crossbars and inputs,
    faults on the first and last rows and columns."""
    d = load.design
    R, used_cols = d.crossbar.rows, d.logical_cols * d.cols_per_logical
    conversions, clipped, ties = _adc_counts(load)
    lo, hi = d.input_range
    rows = {r for _, r, _, _ in load.stuck}
    cols = {c for _, _, c, _ in load.stuck}
    kinds = load.source.get("levels", [None] * load.used)
    x = load.x[:, : load.used]
    return {
        "mask_codes": sorted({c for n in range(load.used) for c in load.codes[n]}),
        "gated_columns": sum(load.gated()[: load.used]),
        "conversions": conversions,
        "adc_clipped": clipped,
        "adc_ties": ties,
        "shifts": sorted(set(load.shifts[: load.used])),
        "max_level_crossbars": [n for n in range(load.used) if kinds[n] in ("max+", "max-")],
        "all_max_inputs": int((x == hi).flatten(1).all(1).sum()),
        "all_min_inputs": int((x == lo).flatten(1).all(1).sum()),
        "stuck_cells": len(load.stuck),
        "fault_entries": sum(len(f) for f in load.faults),
        "faults_first_row": 0 in rows, "faults_last_row": R - 1 in rows,
        "faults_first_col": 0 in cols, "faults_last_col": used_cols - 1 in cols,
    }
