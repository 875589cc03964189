"""What a sweep's workers compute, as plain functions of bytes and dicts (no Ray here, no
path on the driver's disk): train the model once, map it once per mapping of the design
(with the cost of every point that shares the mapping), evaluate each chip on its own.

The figures are those of the commands, computed the same way: ``quant_acc`` and
``mapped_acc`` as ``xbar-hw evaluate`` (the folded and the auto path of the mapped
network on the same test subset), ``chip_acc`` as ``evaluate --chips N`` (chip i of the
point's design: ``Chip(program, design, i)`` attached to the mapped network), the energy as
``xbar-hw energy DESIGN --program P`` (``program_report`` on ``images`` test images) and
the tile area as ``design_report``.
"""

from __future__ import annotations

import os
import signal
import socket
import time
from collections import OrderedDict

import torch
from threadpoolctl import threadpool_limits

from ..adapt import AdaptConfig, fit, get_method
from ..core.design import design_from_dict
from ..core.errors import XbarError
from ..core.switch import task_view
from ..energy import design_report, program_report
from ..workload.data import eval_subset
from ..workload.models import build_model
from ..workload.train import accuracy, train
from ..xbar.analog import Chip, attach_chip
from ..xbar.convert import build_network, convert_to_program
from ..xbar.layers import set_column_masks, set_path
from .blobs import dataset_from_bytes, model_from_bytes, model_to_bytes, program_from_bytes, program_to_bytes
from .spec import Workload

#: test facility: a path; the first chip task to create it kills its own worker process
#: (SIGKILL) mid-task, so that a test sees Ray retry the task on another worker
KILL_ONCE_ENV = "XBAR_SWEEP_KILL_ONCE"
DESIGN_KEYS = ("tile_power_mw", "pe_power_mw", "cycles_per_mvm", "energy_per_mvm_pj", "pe_area_um2")
PROGRAM_KEYS = ("energy_per_inference_pj", "cycles_per_inference", "latency_s", "chip_area_mm2", "tiles",
                "inferences_per_s")
ADAPT_KEYS = ("accuracy", "proxy_accuracy", "cells_written", "mask_bits", "head_cells", "train_seconds")
#: per worker process: IR-drop solves of recent Programs (chips of one Program share them)
IRDROP_CACHES: OrderedDict = OrderedDict()


def threads(n: int | None) -> None:
    """``n`` threads for torch and for BLAS (the IR-drop solves) in this worker process."""
    if n:
        torch.set_num_threads(n)
        threadpool_limits(n)


def where() -> dict:
    """The Ray node and process a task ran in (for the table; not part of any key)."""
    node = None
    try:
        import ray

        if ray.is_initialized():
            node = ray.get_runtime_context().get_node_id()
    except ImportError:
        pass
    return {"node": node, "host": socket.gethostname(), "pid": os.getpid()}


def train_model(workload: dict, data_blob: bytes, n_threads: int | None = None) -> bytes:
    """Train the workload's model on its data: the bytes of the model file ``xbar-hw
    train`` writes (its meta adds the float accuracy on the evaluated test subset)."""
    threads(n_threads)
    w = Workload(**workload)
    data = dataset_from_bytes(data_blob)
    kwargs = {"in_channels": data.in_channels, "num_classes": data.num_classes}
    if w.model == "mnist_cnn":
        kwargs.update(in_size=data.in_size, width=w.width)
    model = build_model(w.model, seed=w.seed, **kwargs)
    train(model, data, epochs=w.epochs, seed=w.seed, lr=w.lr, progress=False)
    model = model.cpu()
    x, y = eval_subset(data, w.limit or None)
    meta = {"data": w.data, "seed": w.seed, "epochs": w.epochs, "lr": w.lr, "test_acc": accuracy(model, data.x_test, data.y_test),
            "float_acc": accuracy(model, x, y), "image_size": 28, "channels": 1, "sweep_train_key": w.train_key()}
    return model_to_bytes(model, w.model, kwargs, meta)


def map_design(model_blob: bytes, data_blob: bytes, task_blob: bytes | None, design: dict, workload: dict,
               costs: dict[str, dict], n_threads: int | None = None) -> tuple[bytes, dict]:
    """Map the model onto ``design`` (``xbar-hw map``), evaluate the mapping (``evaluate``
    without chips; with a method, adapt it to the task first: ``xbar-hw adapt``) and cost
    every point of ``costs`` ({point key: design}) that shares this mapping. Returns the
    Program's bytes and the figures."""
    threads(n_threads)
    t0 = time.perf_counter()
    w = Workload(**workload)
    d = design_from_dict(design)
    model, doc = model_from_bytes(model_blob)
    data = dataset_from_bytes(data_blob)
    meta = {"data": w.data, "seed": w.seed}
    if w.adapts:
        meta.update(base_task=w.data, head="fc", input_shape=list(data.x_train.shape[1:]),
                    float_acc=doc["meta"].get("test_acc"))
    program = convert_to_program(model, d, data.x_train[: w.calibration], {"arch": doc["arch"], "kwargs": doc["kwargs"]},
                                 meta)
    x, y = eval_subset(data, w.limit or None)
    mapped = build_network(program)
    out = {"float_acc": doc["meta"].get("float_acc"), "n_test": len(x), **program.summary(),
           "quant_acc": accuracy(set_path(mapped, "folded"), x, y), "mapped_acc": accuracy(set_path(mapped, "auto"), x, y),
           "lossless": d.lossless}
    task = None
    if w.adapts:
        task = task_name(w)
        cfg = AdaptConfig(epochs=w.adapt_epochs, seed=w.seed, budget=w.budget, eval_limit=w.limit or None)
        entry = fit(program, dataset_from_bytes(task_blob), get_method(w.method), cfg, task)
        program.tasks[task] = entry
        out.update({f"adapt_{k}": entry.meta.get(k) for k in ADAPT_KEYS})
        out["adapt_pes_reprogrammed"] = len(entry.meta.get("pes_reprogrammed") or [])
    images = eval_subset(dataset_from_bytes(task_blob) if w.adapts else data, w.images)[0]
    out["costs"] = {key: point_costs(program, design_from_dict(dd), images, task) for key, dd in costs.items()}
    out["map_seconds"] = round(time.perf_counter() - t0, 3)
    out.pop("design", None)
    return program_to_bytes(program), out


def task_name(w: Workload) -> str:
    """The task entry's name (``xbar-hw adapt`` names it after the task)."""
    return w.task


def point_costs(program, design, images: torch.Tensor, task: str | None) -> dict:
    """Energy per inference and latency of ``program`` on ``design``'s cost side
    (``xbar-hw energy``), and the design's peak figures and tile area; a design the cost
    model cannot price (say, an ADC resolution its technology table lacks) gets its
    one-line reason as ``cost_error`` and keeps its accuracy."""
    try:
        return priced(program, design, images, task)
    except XbarError as exc:
        return {"cost_error": str(exc)}


def priced(program, design, images: torch.Tensor, task: str | None) -> dict:
    rep = design_report(design)
    prep = program_report(program.on_design(design), images, task)
    out = {k: rep[k] for k in DESIGN_KEYS}
    out.update({k: prep[k] for k in PROGRAM_KEYS})
    out["tile_area_mm2"] = rep["area_mm2"]
    out["adc_share_peak"] = rep["adc_share"]
    out["adc_share"] = prep["adc_share"]
    return out


def eval_chip(program_blob: bytes, data_blob: bytes, design: dict, workload: dict, chip: int, group: str,
              n_threads: int | None = None) -> dict:
    """Accuracy of chip ``chip`` of ``design`` running the Program (its task, with a
    method), on the workload's test subset: what ``xbar-hw evaluate --chips`` gives for
    that chip. ``group`` names the Program (chips of one Program share IR-drop solves)."""
    threads(n_threads)
    kill_once()
    t0 = time.perf_counter()
    w = Workload(**workload)
    d = design_from_dict(design)
    program = program_from_bytes(program_blob).on_design(d)
    data = dataset_from_bytes(data_blob)
    x, y = eval_subset(data, w.limit or None)
    view, masks = task_view(program, task_name(w) if w.adapts else None)
    mapped = build_network(view)
    if masks:
        set_column_masks(mapped, masks)
    cache = irdrop_cache(group)
    acc = accuracy(attach_chip(mapped, Chip(view, d, chip, cache)), x, y)
    return {"chip_acc": acc, "chip_seconds": round(time.perf_counter() - t0, 3), **where()}


def irdrop_cache(group: str, keep: int = 4) -> dict:
    if group in IRDROP_CACHES:
        IRDROP_CACHES.move_to_end(group)
    else:
        IRDROP_CACHES[group] = {}
        while len(IRDROP_CACHES) > keep:
            IRDROP_CACHES.popitem(last=False)
    return IRDROP_CACHES[group]


def kill_once() -> None:
    path = os.environ.get(KILL_ONCE_ENV)
    if not path:
        return
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return
    os.write(fd, f"{os.getpid()}\n".encode())
    os.close(fd)
    os.kill(os.getpid(), signal.SIGKILL)
