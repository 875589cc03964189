"""Float models and their Programs: train a zoo model on a data set, map a model onto a
design."""

from __future__ import annotations

import time

from torch import nn

from ..core.design import Design
from ..core.program import Program
from ..workload.circulant import circulant_blocks, make_circulant, parameter_count
from ..workload.data import Dataset
from ..workload.models import build_model, save_model
from ..workload.resolve import resolve_data
from ..workload.train import accuracy, train
from ..xbar import convert_to_program
from ..xbar.circulant import circulant_to_program

#: training samples that calibrate a mapping's scales
CALIBRATION = 512


def model_kwargs(arch: str, data: Dataset, width: int = 16) -> dict:
    """The constructor arguments of zoo model ``arch`` for ``data`` (``width``: channels of
    mnist_cnn's first convolution)."""
    kwargs = {"in_channels": data.in_channels, "num_classes": data.num_classes}
    if arch == "mnist_cnn":
        kwargs.update(in_size=data.in_size, width=width)
    return kwargs


def train_model(data_name: str, output, *, arch: str = "mnist_cnn", width: int = 16, epochs: int = 5,
                lr: float = 1e-3, seed: int = 0, image_size: int = 28, channels: int = 1,
                progress: bool = True, circulant: int | None = None) -> dict:
    """Train ``arch`` on ``data_name`` (a task, a data set or an image folder resized to
    ``image_size`` pixels and ``channels`` channels; split and training seeded by ``seed``)
    and write it to ``output``; ``circulant`` B makes every layer that B divides
    block-circulant (B x B blocks). Returns {"float_acc", "output", "seconds"} (wall time, s),
    and for a circulant model its "parameters" and "circulant_layers"."""
    data = resolve_data(data_name, seed=seed, image_size=image_size, channels=channels)
    kwargs = model_kwargs(arch, data, width)
    model = build_model(arch, seed=seed, **kwargs)
    extra = {}
    if circulant is not None:
        make_circulant(model, circulant)
        extra = {"circulant": circulant, "circulant_layers": sorted(circulant_blocks(model))}
    t0 = time.time()
    train(model, data, epochs=epochs, seed=seed, lr=lr, progress=progress)
    acc = accuracy(model.cpu(), data.x_test, data.y_test)
    meta = {"data": data_name, "seed": seed, "epochs": epochs, "test_acc": acc, "image_size": image_size,
            "channels": channels, **extra}
    save_model(model.cpu(), arch, kwargs, output, meta)
    out = {"float_acc": acc, "output": str(output), "seconds": round(time.time() - t0, 2)}
    return {**out, "parameters": parameter_count(model), **extra} if extra else out


def map_model(model: nn.Module, arch: str, kwargs: dict, design: Design, data: Dataset, *, data_name: str,
              seed: int = 0, calibration: int = CALIBRATION, source: str | None = None,
              adc_bits: str = "design") -> Program:
    """Map ``model`` (zoo ``arch`` built with ``kwargs``) onto ``design``, its scales
    calibrated on the first ``calibration`` training samples of ``data``; the Program's
    meta records ``data_name``, ``seed`` and the model file ``source`` (when given).
    ``adc_bits="lossless"`` records each crossbar's own lossless ADC bits (TinyADC)."""
    meta = {"data": data_name, "seed": seed, **({"model": source} if source is not None else {})}
    if circulant_blocks(model):
        return circulant_to_program(model, design, data.x_train[:calibration], {"arch": arch, "kwargs": kwargs}, meta,
                                    adc_bits=adc_bits)
    return convert_to_program(model, design, data.x_train[:calibration], {"arch": arch, "kwargs": kwargs}, meta,
                              adc_bits=adc_bits)
