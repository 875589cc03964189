"""Whole-network co-simulation: :func:`cosim_network` runs every PE of every mapped layer
of a Program (as a task sees it) on the generated tile, layer after layer, and compares the
final logits bit for bit with the golden model.

How: the mapped network (:func:`.netgolden.golden_network`: the task's masks, the profiled
stuck cells and their correction) runs on the host; a forward hook on each mapped layer
from ``from_layer`` on takes the layer's quantized input, cuts its crossbar inputs into
every PE of the layer (:func:`.loads.pe_load`), streams them through the tile in the
simulator, adds the PEs' output beats into the layer's integer sums P and returns the
layer's digital epilogue of them: what follows (ReLU, pooling, the next layer's
quantization) is the host's, exactly as in the golden model, so each layer's inputs are the
previous layer's co-simulated outputs. The golden network runs the same images on its own.

Per PE: every beat against :func:`.golden_pe.golden_beats` of the same load, cycles against
the cycle model, counters and the stream protocol (:func:`.compare.compare`); a mismatch
names the PE, tile position (crossbar) and logical column. Per layer: the PEs' golden beats
summed must equal the mapped layer's own P (the golden PE against the golden layer). The
cells are loaded by the macro model's backdoor (no ``prog`` writes); the simulator is
built once per distinct PE configuration (each slot's ADC bits) and reused by every PE of
every layer with that configuration.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

from ..core.check import need_at_least
from ..core.cycles import cycles_per_mvm
from ..core.design import Design
from ..core.errors import field_error
from ..core.io import fresh_folder
from ..core.switch import task_view
from ..rtl.macro import cell_image
from ..rtl.params import rtl_params
from ..workload.resolve import program_data
from ..xbar.layers import mapped_layers
from .compare import compare
from .cosim import check_macro_model, default_build_dir, stimulus_for
from .golden_pe import golden_beats
from .loads import TileLoad, check_program, layer_pes, pe_load
from .netgolden import golden_network, network_images
from .runner import build_rtl, run_testbench, simulator_paths

#: mismatch messages kept per PE
MESSAGES = 5


def check_network_arguments(design: Design, program, task, images, sim, from_layer, to_layer,
                            macro_model) -> tuple[str, str]:
    """One-line XbarErrors before anything runs; returns the first and the last
    co-simulated layer."""
    rtl_params(design)
    need_at_least(images, "images", 1)
    check_macro_model(macro_model)
    first = check_program(design, program, task, from_layer)  # the Program's design, the task, the layer
    names = list(task_view(program, task)[0].layers)
    last = names[-1] if to_layer is None else to_layer
    if last not in names or names.index(last) < names.index(first):
        raise field_error("to_layer", to_layer, f"one of the layers from {first} on: {', '.join(names[names.index(first):])}")
    simulator_paths(sim)
    return first, last


def rtl_products(load: TileLoad, mvm: dict | None) -> torch.Tensor:
    """The PE's output beats as int64 [V, groups, L] (a beat that never came: 0; the
    comparison counts it as a mismatch)."""
    out = torch.zeros(load.vectors, load.groups, load.design.logical_cols, dtype=torch.int64)
    if mvm is None:
        return out
    v = 0
    for _, g, last, p in mvm["beats"]:
        if v < load.vectors and 0 <= g < load.groups:
            out[v, g] = torch.tensor(p, dtype=torch.int64)
        v += bool(last)
    return out


class NetworkRun:
    """The state of one whole-network co-simulation: where builds go, the per-PE and
    per-layer records, the simulator builds of each PE configuration."""

    def __init__(self, design: Design, view, masks: dict, task: str | None, sim: str, build_dir: Path, seed: int,
                 macro_model):
        self.design, self.view, self.masks, self.task, self.sim = design, view, masks, task, sim
        self.build_dir, self.seed, self.macro_model = build_dir, seed, macro_model
        self.layers: list[dict] = []
        self.builds: dict[str, dict] = {}

    def config_dir(self, bits: list[int] | None) -> Path:
        """One build folder per distinct PE configuration (the slots' ADC bits)."""
        return self.build_dir if bits is None else self.build_dir / ("bits-" + "-".join(map(str, bits)))

    def run_pe(self, load: TileLoad) -> tuple[torch.Tensor, dict]:
        """One PE on the tile: (its output beats [V, groups, L], its record)."""
        d = self.design
        expected = golden_beats(load)
        exp_cycles = cycles_per_mvm(d, gated=load.gated(), n_faults=[len(f) for f in load.faults], groups=load.groups)
        stimulus, prog, cfg = stimulus_for(load, exp_cycles, False, 0.0, self.seed, True, backdoor=True)
        folder = self.config_dir(load.adc_bits)
        rtl = build_rtl(d, folder, adc_bits=load.adc_bits)
        if self.macro_model is not None:
            rtl["macro"] = Path(self.macro_model).resolve()
        images = [cell_image(lv.tolist(), d) for lv in load.stored]
        res = run_testbench(rtl, folder, self.sim, stimulus, self.seed, images)
        res["ports"] = str(rtl["ports"])
        rep = compare(load, expected, res, exp_cycles, prog, cfg, False, 0.0)
        self.builds.setdefault(str(folder), {**res["build"], "rtl_generated": rtl["generated"]})
        ok = (rep["mismatches"] == 0 and rep["cycles_match"] and rep["counters"]["ok"] and not rep["protocol_errors"]
              and rep.get("monitors", {}).get("ok", True))
        mvm = next((op for op in reversed(res.get("ops", [])) if op["op"] == "mvm"), None)
        record = {
            "pe": load.source["pe"], "crossbars": load.source["crossbars"], "vectors": load.vectors,
            "groups": load.groups, "beats": load.vectors * load.groups, "mismatches": rep["mismatches"],
            "mismatch_columns": [c["message"] for c in rep["mismatch_columns"][:MESSAGES]],
            "mismatch_where": [[c["group"], c["column"]] for c in rep["mismatch_columns"]],
            "cycles_per_mvm": rep["cycles_per_mvm"], "cycles_expected": exp_cycles, "cycles_match": rep["cycles_match"],
            "counters_ok": rep["counters"]["ok"], "protocol_errors": rep["protocol_errors"][:MESSAGES],
            "fault_entries": sum(len(f) for f in load.faults), "fault_overflow": load.overflow,
            "gated": sum(load.gated()[: load.used]),
            "sim_seconds": round(res["sim_seconds"], 3),
            "stream_seconds": None if mvm is None else round(mvm["seconds"], 3), "ok": bool(ok),
        }
        return rtl_products(load, mvm), record

    @torch.no_grad()
    def hook(self, module, inputs, output):
        """Forward hook of a mapped layer: its output from the co-simulated PEs."""
        d, lp = self.design, module.lp
        t0 = time.perf_counter()
        rows = module.input_rows(module.quantize_input(inputs[0])).to(torch.int64)  # x_u [M, K]
        n_rb, _ = lp.grid(d)
        L = d.logical_cols
        width = -(-lp.n_out // L) * L
        p_rtl = torch.zeros(rows.shape[0], width, dtype=torch.int64)
        p_gold = torch.zeros_like(p_rtl)
        pes = []
        for pe in range(layer_pes(d, lp)):
            load = pe_load(d, self.view, self.masks, lp.name, pe, rows, {"task": self.task})
            beats, record = self.run_pe(load)
            cb0 = load.source["crossbars"][0] // n_rb
            cols = slice(cb0 * L, (cb0 + load.groups) * L)
            p_rtl[:, cols] += beats.flatten(1)
            p_gold[:, cols] += golden_beats(load).flatten(1)
            pes.append(record)
        layer_p = module.crossbar_rows(rows.to(module.w_int.device)).round().to(torch.int64)
        golden_ok = torch.equal(p_gold[:, : lp.n_out], layer_p) and bool((p_gold[:, lp.n_out :] == 0).all())
        self.layers.append({
            "layer": lp.name, "kind": lp.kind, "pes": pes, "mvms": rows.shape[0] * len(pes),
            "mismatches": sum(p["mismatches"] for p in pes),
            "outputs_differ": int((p_rtl[:, : lp.n_out] != layer_p).sum()),
            "golden_pe_vs_layer": bool(golden_ok), "seconds": round(time.perf_counter() - t0, 3),
        })
        p = p_rtl[:, : lp.n_out].to(torch.float64)
        if output.dim() == 4:  # a convolution: positions of each image, NCHW out
            B, N, ho, wo = output.shape
            return module.epilogue(p.view(B, ho * wo, N), 2).transpose(1, 2).reshape(B, N, ho, wo)
        return module.epilogue(p, 1)


def cosim_network(design: Design, program, task: str | None = None, images: int = 1, sim: str = "icarus",
                  build_dir=None, *, seed: int = 0, from_layer: str | None = None, to_layer: str | None = None,
                  macro_model=None) -> dict:
    """Co-simulate every PE of every mapped layer of ``program`` under ``task`` on
    ``images`` test images of its data (module docstring). ``from_layer``: co-simulate from
    this layer on (the layers before it run on the host's golden model; default: the
    first); ``macro_model``: a Verilog file of the crossbar macro instead of the generated
    model; ``build_dir``: Verilog, simulator builds and run files (default: the design's
    folder under the system's temp folder, shared with :func:`.cosim.cosim`).

    Returns {"layers": [{"layer", "pes": [per PE: "pe", "mismatches", "cycles_per_mvm",
    "cycles_expected", ...], "mismatches", "golden_pe_vs_layer", ...}], "logits_match",
    "mismatches", "pes", "mvms", "builds", "seconds", "ok", ...}."""
    t0 = time.perf_counter()
    first, last = check_network_arguments(design, program, task, images, sim, from_layer, to_layer, macro_model)
    view, masks = task_view(program, task)
    data, data_name = program_data(program, task)
    x = network_images(data, images, seed)
    golden = golden_network(view, masks, design)
    net = golden_network(view, masks, design)
    names = list(view.layers)
    build_dir = Path(build_dir) if build_dir is not None else default_build_dir(design)
    run = NetworkRun(design, view, masks, task, sim, build_dir, seed, macro_model)
    handles = [m.register_forward_hook(run.hook) for m in mapped_layers(net)
               if names.index(first) <= names.index(m.lp.name) <= names.index(last)]
    with torch.no_grad():
        want = golden(x)
        with fresh_folder(build_dir):
            try:
                got = net(x)
            finally:
                for h in handles:
                    h.remove()
    pes = [p for layer in run.layers for p in layer["pes"]]
    match = torch.equal(got, want)
    ok = match and all(p["ok"] for p in pes) and all(layer["golden_pe_vs_layer"] for layer in run.layers)
    return {
        "design": design.name, "sim": sim, "task": task, "data": data_name, "images": images, "seed": int(seed),
        "from_layer": first, "to_layer": last, "layers": run.layers, "pes": len(pes), "mvms": sum(p["vectors"] for p in pes),
        "mismatches": sum(p["mismatches"] for p in pes),
        "cycles_match": all(p["cycles_match"] for p in pes),
        "logits_match": bool(match), "logits_max_abs_diff": float((got - want).abs().max()),
        "logits": got.tolist(), "predictions": got.argmax(1).tolist(), "golden_predictions": want.argmax(1).tolist(),
        "fault_table_entries": design.fault_table_entries,
        "fault_overflow": sum(sum(p["fault_overflow"].values()) for p in pes),
        "builds": run.builds, "macro_model": None if macro_model is None else str(macro_model),
        "sim_seconds": round(sum(p["sim_seconds"] for p in pes), 3),
        "seconds": round(time.perf_counter() - t0, 3), "build_dir": str(build_dir), "ok": bool(ok),
    }
