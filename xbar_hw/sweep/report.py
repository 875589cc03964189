"""The sweep's report: one line per point (its chips' accuracy, mean and standard
deviation, with its cost), the Pareto fronts of accuracy against energy per inference,
tile area, chip area (the tiles a Program needs) and ADC bits (PNGs and Markdown tables), and the sweep's own self-contained
description so that it can be rerun. The folder is written to a temporary folder beside
it and renamed into place."""

from __future__ import annotations

import json
import shutil
import statistics
import tempfile
from pathlib import Path

import yaml

from ..core.errors import XbarError
from ..core.io import write_text
from .spec import Sweep
from .table import read_rows

#: (file stem, cost key in the point summary, axis label, title)
FRONTS = (
    ("pareto_energy", "energy_per_inference_nj", "energy per inference (nJ)", "accuracy vs energy per inference"),
    ("pareto_area", "tile_area_mm2", "tile area (mm2)", "accuracy vs tile area"),
    ("pareto_chip_area", "chip_area_mm2", "chip area: whole tiles the Program needs (mm2)", "accuracy vs chip area"),
    ("pareto_adc_bits", "adc_bits", "ADC bits", "accuracy vs ADC bits"),
)
POINT_KEYS = ("mapped_acc", "quant_acc", "float_acc", "tile_area_mm2", "chip_area_mm2", "adc_bits", "crossbars",
              "pes", "latency_s", "fingerprint", "adapt_accuracy", "adapt_cells_written")


def summarize(rows: list[dict], point_keys: list[str] | None = None) -> list[dict]:
    """One entry per point (in ``point_keys`` order when given): its axes, how many chips
    finished and failed, the chips' accuracy (mean, sample std) and its costs."""
    by_point: dict[str, list[dict]] = {}
    for r in rows:
        by_point.setdefault(r["point_key"], []).append(r)
    order = point_keys if point_keys is not None else sorted(by_point, key=lambda k: by_point[k][0]["point"])
    out = []
    for key in order:
        rs = sorted(by_point.get(key, []), key=lambda r: r["chip"])
        if not rs:
            continue
        ok = [r for r in rs if r["status"] == "ok"]
        accs = [r["chip_acc"] for r in ok]
        s = {"point": rs[0]["point"], "point_key": key, "axes": rs[0]["axes"], "chips_ok": len(ok),
             "chips_failed": len(rs) - len(ok),
             "errors": sorted({e for r in rs for e in (r.get("error"), r.get("cost_error")) if e}),
             "chip_acc_mean": statistics.fmean(accs) if accs else None,
             "chip_acc_std": statistics.stdev(accs) if len(accs) > 1 else 0.0 if accs else None}
        first = ok[0] if ok else rs[0]
        s.update({k: first.get(k) for k in POINT_KEYS})
        e = first.get("energy_per_inference_pj")
        s["energy_per_inference_nj"] = e / 1e3 if e is not None else None
        out.append(s)
    return out


def pareto(points: list[dict], cost: str, value: str = "chip_acc_mean") -> list[dict]:
    """The points no other point beats: none has a cost as low and an accuracy as high, one
    of them strictly. Sorted by cost."""
    pts = [p for p in points if p.get(cost) is not None and p.get(value) is not None]
    pts.sort(key=lambda p: (p[cost], -p[value]))
    front, best = [], None
    for p in pts:
        if best is None or p[value] > best:
            front.append(p)
            best = p[value]
    return front


def label(axes: dict) -> str:
    def short(v):
        if isinstance(v, dict):
            return ",".join(f"{k}={short(x)}" for k, x in v.items())
        return f"{v:g}" if isinstance(v, float) else str(v)

    return " ".join(f"{'.'.join(k.split('.')[-2:])}={short(v)}" for k, v in axes.items())


def fmt(v, digits: int = 4) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.{digits}g}"
    if isinstance(v, dict):
        return label(v)
    return str(v)


def table_md(points: list[dict], axes: list[str]) -> str:
    head = ["point", *axes, "chip acc (mean +- std)", "chips", "mapped acc", "energy/inference (nJ)",
            "tile area (mm2)", "chip area (mm2)", "ADC bits"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for p in points:
        acc = "-" if p["chip_acc_mean"] is None else f"{p['chip_acc_mean']:.4f} +- {p['chip_acc_std']:.4f}"
        cells = [str(p["point"]), *(fmt(p["axes"].get(a)) for a in axes), acc, f"{p['chips_ok']}",
                 fmt(p["mapped_acc"]), fmt(p["energy_per_inference_nj"]), fmt(p["tile_area_mm2"]), fmt(p["chip_area_mm2"]),
                 fmt(p["adc_bits"])]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(points: list[dict], front: list[dict], cost: str, xlabel: str, title: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pts = [p for p in points if p.get(cost) is not None and p.get("chip_acc_mean") is not None]
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    ax.errorbar([p[cost] for p in pts], [p["chip_acc_mean"] for p in pts], yerr=[p["chip_acc_std"] for p in pts],
                fmt="o", color="0.65", ms=4, capsize=2, label="points (mean +- std over chips)")
    ax.step([p[cost] for p in front], [p["chip_acc_mean"] for p in front], where="post", color="C3", lw=1.5)
    ax.plot([p[cost] for p in front], [p["chip_acc_mean"] for p in front], "o", color="C3", ms=6, label="Pareto front")
    for i, p in enumerate(front):  # point numbers (the tables give their axes), alternately below and above
        ax.annotate(str(p["point"]), (p[cost], p["chip_acc_mean"]), fontsize=7, color="C3",
                    xytext=(4, -10 if i % 2 else 4), textcoords="offset points")
    xs = [p[cost] for p in pts]
    if xs and min(xs) > 0 and max(xs) / min(xs) > 20:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("accuracy on chips (numbers: points)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def markdown(sweep: Sweep, points: list[dict], fronts: dict, n_rows: int) -> str:
    """Long because it writes the report's sections one after the other."""
    axes = list(sweep.axes)
    failed = [p for p in points if p["errors"]]
    w = sweep.workload
    what = f"{w.model} trained {w.epochs} epoch(s) on {w.data}"
    if w.adapts:
        what += f", adapted to {w.task} by {w.method} ({w.adapt_epochs} epoch(s))"
    out = [f"# Sweep `{sweep.name}`: Pareto report", ""]
    if sweep.description:
        out += [sweep.description.strip(), ""]
    out += [f"{len(points)} points x {sweep.chips} chip(s) = {n_rows} rows ({sum(p['chips_failed'] for p in points)} "
            f"failed); base design `{sweep.base.name}`; axes {', '.join(f'`{a}`' for a in axes)}; workload: {what}; "
            f"accuracy on {'all' if not w.limit else w.limit} test samples; energy on {w.images} images.", "",
            "Accuracy is the mean over a point's chips (chip i of a design draws its faults, variation and noise "
            "from (nonideal.seed, i)); *mapped acc* is the same design through the ideal crossbars (no "
            "non-ideal effect). Energy per inference and chip area (whole tiles) are the Program's, tile area the "
            "design's. A point is on a front when no other point has a cost as low and an accuracy as high, one "
            "of them strictly.", ""]
    for stem, cost, xlabel, title in FRONTS:
        out += [f"## Front: {title}", "", f"![{title}]({stem}.png)", "", table_md(fronts[cost], axes), ""]
    out += ["## All points", "", table_md(points, axes), ""]
    if failed:
        out += ["## Points with errors (failed chips, or costs the cost model could not give)", ""]
        out += [f"- point {p['point']} ({label(p['axes'])}): {'; '.join(p['errors'])}" for p in failed]
        out += [""]
    out += ["## Rerun", "", "This folder's `sweep.yaml` is the sweep with its base design written out:", "",
            "```sh", "xbar-hw sweep sweep.yaml -o OUT            # a local Ray cluster (loopback only)",
            "xbar-hw sweep sweep.yaml -o OUT --address HOST:6379   # a running Ray cluster", "```", "",
            "The sweep file as it was written:", "", "```yaml", sweep.text.strip() or yaml.safe_dump(sweep.to_dict()),
            "```", ""]
    return "\n".join(out)


def write_report(sweep: Sweep, out: Path) -> Path:
    """Write ``out/report/`` from ``out``'s table for the points of ``sweep``: report.md,
    report.json, the three front PNGs and sweep.yaml. Returns the folder."""
    rows, _ = read_rows(out / "results.jsonl")
    keys = [p.key for p in sweep.points()]
    points = summarize([r for r in rows if r.get("point_key") in set(keys)], keys)
    if not points:
        raise XbarError(f"report: {out / 'results.jsonl'} holds no row of this sweep; allowed: a folder the sweep ran in")
    fronts = {cost: pareto(points, cost) for _, cost, _, _ in FRONTS}
    final = out / "report"
    tmp = Path(tempfile.mkdtemp(prefix=".report-", dir=out))
    try:
        for stem, cost, xlabel, title in FRONTS:
            plot(points, fronts[cost], cost, xlabel, title, tmp / f"{stem}.png")
        n_rows = sum(p["chips_ok"] + p["chips_failed"] for p in points)
        write_text(tmp / "report.md", markdown(sweep, points, fronts, n_rows))
        doc = {"sweep": sweep.to_dict(), "points": points, "fronts": {c: [p["point"] for p in f] for c, f in fronts.items()}}
        write_text(tmp / "report.json", json.dumps(doc, indent=1, sort_keys=True, default=str) + "\n")
        write_text(tmp / "sweep.yaml", yaml.safe_dump(sweep.to_dict(), sort_keys=False))
        old = None
        if final.exists():
            old = Path(tempfile.mkdtemp(prefix=".report-old-", dir=out))
            final.rename(old / "report")
        tmp.rename(final)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return final
