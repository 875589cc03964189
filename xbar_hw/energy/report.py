"""The cost report of a Program and its tasks: Markdown, JSON and PNG plots.

Per adaptation method (the tasks of a Program grouped by the method that made them):
cells written per switch (a diff against the backbone), switch energy (cells x pulses per
write x pulse energy), inference energy, lifetime over a round-robin schedule of its
tasks; then the total energy of M inferences per task switch against Piggyback, and the M
and the pulse energy at which XMA's published ~4.3x and XBM's up-to-40% saving are met.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import numpy as np
import torch

from ..core.errors import XbarError
from ..core.io import atomic_dir, atomic_path, write_text
from ..core.program import Program
from ..core.switch import switch_diff
from .endurance import schedule_writes
from .model import design_report, program_report, switch_energy_pj, write_pulses
from .technology import technology

#: published claims the report locates (docs/sources.md [XMA] and [XBM])
CLAIMS = {"xma": ("energy ratio", 4.3), "xbm": ("saving", 0.40)}


def method_label(entry) -> str:
    m = entry.method
    if m == "xma2":
        return f"xma2@{entry.meta.get('config', {}).get('budget', 'b')}"
    return m


def m_for_ratio(s_ref: float, i_ref: float, s_x: float, i_x: float, ratio: float) -> float | None:
    """Inferences per switch M at which (s_ref + M i_ref) / (s_x + M i_x) = ratio (None: never)."""
    den = ratio * i_x - i_ref
    num = s_ref - ratio * s_x
    if den == 0:
        return None
    m = num / den
    return m if m > 0 else None


def build_report(program: Program, workloads: dict, tasks: list[str] | None = None, ms=(1, 10, 100, 1000, 10000, 100000)) -> dict:
    """``workloads``: task name -> images [B, C, H, W] that the task's inference runs on."""
    d = program.design
    tech = technology(d)
    tasks = tasks or list(program.tasks)
    per_task = {}
    for t in tasks:
        e = program.task(t)

        diff = switch_diff(program, None, t)
        inf = program_report(program, workloads[t], t)
        per_task[t] = {"method": method_label(e), "task": e.meta.get("task", t), "accuracy": e.meta.get("accuracy"),
                       "cells_written": diff.count, "pes_reprogrammed": len(diff.per_pe()),
                       "switch_energy_pj": switch_energy_pj(d, diff.count),
                       "inference_energy_pj": inf["energy_per_inference_pj"],
                       "cycles_per_inference": inf["cycles_per_inference"],
                       "energy_by_component_pj": inf["energy_by_component_pj"]}
    methods: dict[str, dict] = {}
    for t, r in per_task.items():
        methods.setdefault(r["method"], {"tasks": []})["tasks"].append(t)
    for m, v in methods.items():
        rs = [per_task[t] for t in v["tasks"]]
        v["cells_written"] = statistics.fmean(r["cells_written"] for r in rs)
        v["switch_energy_pj"] = statistics.fmean(r["switch_energy_pj"] for r in rs)
        v["inference_energy_pj"] = statistics.fmean(r["inference_energy_pj"] for r in rs)
        v["accuracy"] = statistics.fmean(r["accuracy"] for r in rs if r["accuracy"] is not None) if any(
            r["accuracy"] is not None for r in rs) else None
        v["total_energy_pj"] = {str(M): v["switch_energy_pj"] + M * v["inference_energy_pj"] for M in ms}
        if len(v["tasks"]) >= 2:
            v["lifetime"] = schedule_writes(program, v["tasks"])
        else:
            v["lifetime"] = schedule_writes(program, [None, v["tasks"][0]])
    pulses = write_pulses(d, tech)
    pulse_pj = tech.get("device", "write_pj_per_pulse")
    claims = {}
    ref = methods.get("piggyback")
    if ref is not None:
        for m, (kind, target) in CLAIMS.items():
            if m not in methods:
                continue
            x = methods[m]
            ratio = target if kind == "energy ratio" else 1.0 / (1.0 - target)
            M = m_for_ratio(ref["switch_energy_pj"], ref["inference_energy_pj"], x["switch_energy_pj"],
                            x["inference_energy_pj"], ratio)
            # the pulse energy at which the claim holds at M = 1000 inferences per switch
            cells_ref = ref["cells_written"] * pulses
            cells_x = x["cells_written"] * pulses
            M0 = 1000
            den = cells_ref - ratio * cells_x
            p = (ratio * M0 * x["inference_energy_pj"] - M0 * ref["inference_energy_pj"]) / den if den > 0 else None
            claims[m] = {"claim": f"{m} {'energy efficiency' if kind == 'energy ratio' else 'energy saving'} "
                                  f"{target:g}{'x' if kind == 'energy ratio' else ''} over Piggyback",
                         "ratio_needed": ratio, "inferences_per_switch": M, "at_pulse_pj": pulse_pj,
                         "pulse_pj_needed_at_M_1000": p if p is None or p > 0 else None,
                         "ratio_at_M": {str(Mv): (ref["switch_energy_pj"] + Mv * ref["inference_energy_pj"])
                                        / (x["switch_energy_pj"] + Mv * x["inference_energy_pj"]) for Mv in ms}}
    return {"design": design_report(d), "technology": tech.name, "pulses_per_write": pulses,
            "write_pj_per_pulse": pulse_pj, "tasks": per_task, "methods": methods, "claims": claims,
            "sources": tech.sources}


def write_report(doc: dict, out: Path) -> None:
    """The report folder (report.json, report.md, three PNGs), written whole into a
    temporary folder and renamed onto ``out``."""
    with atomic_dir(out) as tmp:
        write_text(tmp / "report.json", json.dumps(doc, indent=1, sort_keys=True) + "\n")
        write_text(tmp / "report.md", markdown(doc))
        plots(doc, tmp)


def markdown(doc: dict) -> str:
    d = doc["design"]
    lines = [f"# Cost report: design {d['design']}, technology {doc['technology']}", "",
             f"PE: {d['pe_power_mw']:.2f} mW peak, {d['pe_area_um2'] / 1e6:.4f} mm²; tile: {d['tile_power_mw']:.1f} mW, "
             f"ADC share {100 * d['adc_share']:.1f}%, {d['area_mm2']:.3f} mm²; {d['cycles_per_mvm']} cycles per MVM at "
             f"{d['clock_hz'] / 1e9:g} GHz.", "",
             f"Writes: {doc['pulses_per_write']:g} pulses per cell write at {doc['write_pj_per_pulse']:g} pJ per pulse.", "",
             "| method | tasks | accuracy | cells written / switch | switch energy (nJ) | inference energy (nJ) |"
             " max writes / cell / round | switches to endurance |", "|---|---|---|---|---|---|---|---|"]
    for m, v in doc["methods"].items():
        lt = v["lifetime"]
        acc = f"{100 * v['accuracy']:.1f}%" if v["accuracy"] is not None else "-"
        life = f"{lt['switches_to_endurance']:.3g}" if lt["switches_to_endurance"] != float("inf") else "unlimited"
        lines.append(f"| {m} | {len(v['tasks'])} | {acc} | {v['cells_written']:.0f} | {v['switch_energy_pj'] / 1e3:.2f} | "
                     f"{v['inference_energy_pj'] / 1e3:.2f} | {lt['max_writes_per_cell_per_round']} | {life} |")
    if doc["claims"]:
        lines += ["", "| claim | ratio needed | reached at M (inferences per switch) | pulse energy needed at M = 1000 |",
                  "|---|---|---|---|"]
    else:
        lines += ["", "The papers' claims (XMA's 4.3x and XBM's 40% energy against Piggyback) are not checked here: "
                  "this report holds no Piggyback entry to compare with."]
    for m, c in doc["claims"].items():
        M = f"{c['inferences_per_switch']:.3g}" if c["inferences_per_switch"] else "never (inference energies alone fall short)"
        p = f"{c['pulse_pj_needed_at_M_1000']:.3g} pJ" if c["pulse_pj_needed_at_M_1000"] else "none"
        lines.append(f"| {c['claim']} | {c['ratio_needed']:.3g} | M <= {M} | {p} |")
    lines += ["", "Plots: energy_breakdown.png, energy_vs_inferences.png, lifetime.png. Sources of every number: report.json `sources`."]
    return "\n".join(lines) + "\n"


def plots(doc: dict, out: Path) -> None:
    """The report's three PNGs (long only for the plotting calls)."""
    import matplotlib  # imported here: slow to import, and only the report draws

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def save(fig, name):
        with atomic_path(out / name) as tmp:
            fig.savefig(tmp, dpi=110, format="png")
        plt.close(fig)

    d = doc["design"]
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    items = sorted(d["tile_power_breakdown_mw"].items(), key=lambda kv: -kv[1])
    ax.barh([k for k, _ in items][::-1], [v for _, v in items][::-1], color="C0")
    ax.set_xlabel("tile power at peak rate (mW)")
    ax.set_title(f"{d['design']}: {d['tile_power_mw']:.0f} mW, ADC {100 * d['adc_share']:.0f}%")
    fig.tight_layout()
    save(fig, "energy_breakdown.png")

    # energy of one task switch plus M inferences, as Piggyback's over each method's: on a
    # log-log plot of the totals every method is one line; the ratio shows where they part
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    Ms = np.logspace(0, 5, 101)  # from one inference per switch
    pig = next((v for m, v in doc["methods"].items() if m.startswith("piggyback")), None)
    if pig is not None:
        base = pig["switch_energy_pj"] + Ms * pig["inference_energy_pj"]
        for i, (m, v) in enumerate(doc["methods"].items()):
            ax.plot(Ms, base / (v["switch_energy_pj"] + Ms * v["inference_energy_pj"]), label=m, color=f"C{i}")
        for c in doc["claims"].values():
            ax.axhline(c["ratio_needed"], ls=":", color="k", lw=0.8)
            ax.annotate(c["claim"], (Ms[0], c["ratio_needed"]), textcoords="offset points", xytext=(2, 3), fontsize=7)
        ax.set_ylabel("Piggyback energy / method energy\n(one switch + M inferences)")
        ax.set_title("energy against Piggyback's, a task switch shared over M inferences")
    else:  # no Piggyback entry to compare with: energy per inference, the switch shared over M
        for i, (m, v) in enumerate(doc["methods"].items()):
            ax.plot(Ms, (v["switch_energy_pj"] / Ms + v["inference_energy_pj"]) / 1e3, label=m, color=f"C{i}")
        ax.set_ylabel("energy per inference, switch included (nJ)")
        ax.set_title("energy per inference, a task switch shared over M inferences")
    ax.set_yscale("log")
    ax.set_xscale("log")
    ax.set_xlabel("inferences per task switch (M)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    save(fig, "energy_vs_inferences.png")

    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    names = list(doc["methods"])
    vals = [doc["methods"][m]["lifetime"]["switches_to_endurance"] for m in names]
    finite = [v for v in vals if v != float("inf")]
    top = max(finite) * 10 if finite else 1e12
    heights = [v if v != float("inf") else top for v in vals]
    ax.bar(names, heights, color=["C2" if v == float("inf") else "C1" for v in vals])
    ax.set_yscale("log")
    ax.set_ylim(1, top * 30)  # bars start at one switch, so every finite bar shows
    for i, v in enumerate(vals):
        ax.annotate("unlimited" if v == float("inf") else f"{v:.3g}", (i, heights[i]), ha="center",
                    textcoords="offset points", xytext=(0, 3), fontsize=8)
    ax.set_ylabel("task switches until the most-written cell\nreaches the rated endurance")
    ax.set_title("lifetime (bars at the top: no cell is ever written)")
    plt.setp(ax.get_xticklabels(), rotation=20)
    fig.tight_layout()
    save(fig, "lifetime.png")


def merge_programs(paths: list[str | Path], design=None) -> Program:
    """One Program holding the task entries of several Programs of the same backbone (the
    task key becomes ``<task>.<method label>``)."""

    base = None
    for p in paths:
        q = Program.load(p, design)
        if base is None:
            base = Program(q.design, q.layers, q.model, q.digital, q.meta, tasks={})
        else:
            for n, lp in q.layers.items():
                if n not in base.layers or not torch.equal(lp.levels, base.layers[n].levels):
                    raise XbarError(f"report: {p} holds another backbone (layer {n} differs); allowed: Programs of one backbone")
        for t, e in q.tasks.items():
            base.tasks[f"{e.meta.get('task', t)}.{method_label(e)}"] = e
    return base
