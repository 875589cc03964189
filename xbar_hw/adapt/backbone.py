"""The backbone that tasks share: ``task_cnn`` trained on the base task (MNIST digits 0-4)
and mapped onto a design."""

from __future__ import annotations

from ..core.design import Design
from ..core.program import Program
from ..workload.models import build_model
from ..workload.tasks import BASE_TASK, load_task
from ..workload.train import accuracy, train
from ..xbar.convert import convert_to_program


def make_backbone(design: Design, epochs: int = 8, seed: int = 0, progress: bool = False,
                  arch: str = "task_cnn") -> Program:
    """Train ``arch`` on the base task and map it; the Program's meta records the base
    task, the input shape, the head and the float accuracy."""
    data = load_task(BASE_TASK, seed)
    kwargs = {"in_channels": data.in_channels, "num_classes": data.num_classes}
    model = train(build_model(arch, seed=seed, **kwargs), data, epochs=epochs, seed=seed, progress=progress).cpu()
    meta = {"base_task": BASE_TASK, "seed": seed, "epochs": epochs, "input_shape": list(data.x_train.shape[1:]),
            "head": "fc", "float_acc": accuracy(model, data.x_test, data.y_test)}
    return convert_to_program(model, design, data.x_train[:512], {"arch": arch, "kwargs": kwargs}, meta)
