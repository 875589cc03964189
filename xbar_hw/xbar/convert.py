"""Whole networks: float model -> quantized -> crossbars -> Program -> mapped module.

Steps of :func:`convert`:
1. fold every BatchNorm2d into the Conv2d before it (torch.fx);
2. calibrate activation scales: the largest input magnitude each mapped layer sees on the
   calibration data (unsigned designs clip negative inputs at 0);
3. quantize weights per output channel, symmetric: w_scale[n] = max|W[:, n]| / (2^(b_w-1)-1);
4. unfold each Conv2d (groups = 1) to W[K = C_in*kh*kw, N] and map it to crossbars;
5. with ``adc.shift: calibrated``, pick per crossbar the smallest shift that does not clip
   the column sums seen on the calibration data;
6. with ``adc_bits="lossless"`` (TinyADC), give each crossbar whose levels allow it the
   fewest ADC bits that are exact at shift 0 (:func:`xbar_hw.core.adcbits.assign_adc_bits`).
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import fx, nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from ..core.adcbits import assign_adc_bits
from ..core.design import Design
from ..core.errors import XbarError
from ..core.layer import LayerProgram
from ..core.mapping import map_layer
from ..core.program import Program
from ..core.switch import task_view
from ..core.task_entry import TaskEntry
from ..workload.models import build_model
from .golden import input_digits
from .layers import (
    MappedConv2d,
    MappedLayer,
    MappedLinear,
    mapped_layers,
    set_column_masks,
)
from .observe import observe_inputs


def fold_batchnorm(model: nn.Module) -> fx.GraphModule:
    """Trace the model and fold each BatchNorm2d that follows a Conv2d into that conv."""
    model = model.eval()
    try:
        gm = fx.symbolic_trace(model)
    except Exception as exc:  # tracing failures come from the user's model code
        raise XbarError(f"model: torch.fx cannot trace {type(model).__name__} ({exc}); allowed: an fx-traceable model") from None
    modules = dict(gm.named_modules())
    for node in list(gm.graph.nodes):
        if node.op != "call_module" or not isinstance(modules.get(node.target), nn.BatchNorm2d):
            continue
        src = node.args[0]
        if not (isinstance(src, fx.Node) and src.op == "call_module" and isinstance(modules.get(src.target), nn.Conv2d)):
            continue
        if len(src.users) != 1:
            continue
        fused = fuse_conv_bn_eval(modules[src.target], modules[node.target])
        gm.set_submodule(src.target, fused)
        node.replace_all_uses_with(src)
        gm.graph.erase_node(node)
        gm.delete_submodule(node.target)
    gm.graph.lint()
    gm.recompile()
    return gm


def _mappable(gm: nn.Module) -> dict[str, nn.Module]:
    out = {}
    for name, m in gm.named_modules():
        if isinstance(m, nn.Linear):
            out[name] = m
        elif isinstance(m, nn.Conv2d):
            if m.groups != 1:
                raise XbarError(f"model: layer {name} has groups={m.groups}; allowed: groups=1")
            if m.padding_mode != "zeros" or isinstance(m.padding, str):
                raise XbarError(f"model: layer {name} has padding {m.padding!r} ({m.padding_mode}); allowed: integer zero padding")
            out[name] = m
    return out


@torch.no_grad()
def calibrate_inputs(gm: nn.Module, layers: dict[str, nn.Module], data: torch.Tensor, batch: int = 256) -> dict[str, float]:
    """Largest |input| each layer sees on ``data``."""
    peak = {n: 0.0 for n in layers}
    names = {id(m): n for n, m in layers.items()}

    def see(mod: nn.Module, x: torch.Tensor) -> None:
        n = names[id(mod)]
        peak[n] = max(peak[n], float(x.abs().max()))

    observe_inputs(gm, layers.values(), see, data, batch)
    return peak


def quantize_weights(m: nn.Module, design: Design) -> tuple[torch.Tensor, torch.Tensor]:
    """A Linear / Conv2d's weights as the mapper quantizes them, per output channel and
    symmetric: (int64 W[K, N] with K in unfold order (c_in, kh, kw), float64 scale [N]),
    w_int = clamp(round(W / s), -w_max, w_max), s = max|W[:, n]| / w_max."""
    w = m.weight.detach().to(torch.float64)
    w2 = w.reshape(w.shape[0], -1).t()
    wmax = design.weight_max
    w_scale = (w2.abs().amax(0) / wmax).clamp(min=1e-12)
    return torch.clamp(torch.round(w2 / w_scale), -wmax, wmax).to(torch.int64), w_scale


def quantize_layer(name: str, m: nn.Module, x_peak: float, design: Design, first_pe: int) -> LayerProgram:
    w_int, w_scale = quantize_weights(m, design)
    n_out = w_int.shape[1]
    lo, hi = design.input_range
    x_scale = max(x_peak, 1e-8) / max(hi, -lo)
    levels = map_layer(w_int, design)
    conv = None
    if isinstance(m, nn.Conv2d):
        conv = {
            "in_channels": m.in_channels,
            "kernel_size": list(m.kernel_size),
            "stride": list(m.stride),
            "padding": list(m.padding),
            "dilation": list(m.dilation),
        }
    return LayerProgram(
        name=name,
        kind="conv" if conv else "linear",
        k_in=w_int.shape[0],
        n_out=n_out,
        levels=levels,
        adc_shift=torch.full((levels.shape[0],), design.adc_shift, dtype=torch.int64),
        w_scale=w_scale.to(torch.float32),
        x_scale=float(x_scale),
        bias=m.bias.detach().to(torch.float32) if m.bias is not None else None,
        conv=conv,
        first_pe=first_pe,
    )


def convert_to_program(
    model: nn.Module, design: Design, calibration: torch.Tensor, arch: dict | None = None, meta: dict | None = None,
    adc_bits: str = "design",
) -> Program:
    """Quantize and map ``model`` (a float network) into a Program for ``design``.
    ``adc_bits``: ``design`` (every crossbar at ``adc.bits``) or ``lossless`` (each crossbar
    records its own bits, step 6 of the module docstring)."""
    if adc_bits not in ("design", "lossless"):
        raise XbarError(f"adc_bits: got {adc_bits!r}; allowed: 'design' or 'lossless'")
    gm = fold_batchnorm(copy.deepcopy(model).cpu())
    layers = _mappable(gm)
    if not layers:
        raise XbarError("model: no Conv2d or Linear layer to map")
    peaks = calibrate_inputs(gm, layers, calibration.cpu())
    programs, pe = {}, 0
    for name, m in layers.items():
        lp = quantize_layer(name, m, peaks[name], design, pe)
        pe += lp.n_pes(design)
        programs[name] = lp
    mapped_names = {f"{n}.{p}" for n in layers for p, _ in layers[n].named_parameters(recurse=False)}
    digital = {k: v.detach().clone() for k, v in gm.state_dict().items() if k not in mapped_names}
    program = Program(design, programs, arch, digital, dict(meta or {}), source=copy.deepcopy(model).cpu())
    if design.adc.shift == "calibrated":
        calibrate_adc_shifts(program, gm, calibration)
    if adc_bits == "lossless":
        for lp in programs.values():
            lp.adc_bits, lp.adc_shift = assign_adc_bits(lp.levels, lp.adc_shift, design)
    return program


def build_network(program: Program, model: nn.Module | None = None, device=None) -> nn.Module:
    """The mapped network of a Program: the architecture with every mapped layer on
    crossbars. ``model`` supplies the structure when the Program's architecture is not in
    the zoo (the session that mapped it keeps it as ``program.source``)."""
    if model is None and program.source is not None:
        model = program.source
    if model is None:
        if program.model is None:
            raise XbarError("program: names no zoo architecture; pass the model whose structure it maps")
        model = build_model(program.model["arch"], **program.model.get("kwargs", {}))
    gm = fold_batchnorm(copy.deepcopy(model).cpu())
    layers = _mappable(gm)
    if set(layers) != set(program.layers):
        raise XbarError(
            f"program: maps layers {sorted(program.layers)}, the model has {sorted(layers)}; allowed: the same layers"
        )
    for name, lp in program.layers.items():
        cls = MappedConv2d if lp.kind == "conv" else MappedLinear
        gm.set_submodule(name, cls(lp, program.design, device))
    missing = gm.load_state_dict(program.digital, strict=False)
    if missing.unexpected_keys:
        raise XbarError(f"program: digital state {missing.unexpected_keys} does not fit the model")
    gm.program = program
    return gm.to(device or "cpu").eval()


def build_task(program: Program, task: str | TaskEntry | None, device=None) -> nn.Module:
    """The mapped network of ``program`` running ``task`` (masks loaded, reprogrammed
    crossbars and head in place); ``None`` is the backbone's own task."""
    view, masks = task_view(program, task)
    return set_column_masks(build_network(view, device=device), masks or None)


def convert(model: nn.Module, design: Design, calibration: torch.Tensor, arch: dict | None = None) -> nn.Module:
    """The mapped module of ``model`` on ``design`` (its Program is ``.program``)."""
    return build_network(convert_to_program(model, design, calibration, arch))


@torch.no_grad()
def calibrate_adc_shifts(program: Program, gm: nn.Module, calibration: torch.Tensor, batch: int = 32,
                         samples: int = 128) -> None:
    """Per crossbar: the smallest shift a with (S_peak + h) >> a <= 2^b_a - 1, where S_peak
    is the largest column sum seen on ``samples`` calibration inputs. Layers are calibrated
    in order, each with the shifts already chosen upstream, so that the peaks are those of
    the final mapped network."""
    design = program.design
    mapped = build_network(program, gm)
    data = calibration[:samples]
    for layer in mapped_layers(mapped):
        peak = [None]

        def see(mod: MappedLayer, x: torch.Tensor) -> None:
            eng = mod.engine
            digits = input_digits(mod.input_rows(mod.quantize_input(x)), design, eng.dtype)
            per = [torch.matmul(digits[..., r0:r1], eng.planes_t[r0:r1]).flatten(0, -2).amax(0)
                   for r0, r1 in eng.row_blocks]
            smax = torch.stack(per)  # [n_rb, N*2s]: peak of each used column of each row block
            width = design.logical_cols * design.cols_per_logical
            smax = F.pad(smax, (0, eng.n_cb * width - smax.shape[1])).view(eng.n_rb, eng.n_cb, width)
            smax = smax.amax(-1).t().reshape(-1)  # crossbar order cb * n_rb + rb
            peak[0] = smax if peak[0] is None else torch.maximum(peak[0], smax)

        observe_inputs(mapped, [layer], see, data, batch, stop=True)
        layer.lp.adc_shift = smallest_unclipped_shift(peak[0].to(torch.int64), design.adc_max)
        layer.reset_engine()


def smallest_unclipped_shift(s_peak: torch.Tensor, qmax: int) -> torch.Tensor:
    """Elementwise smallest a >= 0 with (s_peak + h(a)) >> a <= qmax, h(a) = 2^(a-1) (0 at a = 0)."""
    a = torch.zeros_like(s_peak)
    while True:
        h = torch.where(a > 0, 1 << (a - 1).clamp(min=0), torch.zeros_like(a))
        over = ((s_peak + h) >> a) > qmax
        if not bool(over.any()):
            return a
        a = a + over.to(torch.int64)
