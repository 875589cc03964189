"""One place that turns a name into data: a built-in task of the suite, a shipped data set
(mnist5k, digits) or an image folder; and the data a Program (or one of its task entries)
runs on, from what its header recorded."""

from __future__ import annotations

from pathlib import Path

from ..core.errors import XbarError
from ..core.program import Program
from .data import Dataset, load_dataset
from .tasks import TASKS, load_task


def resolve_data(name: str, seed: int = 0, image_size: int = 28, channels: int = 1) -> Dataset:
    """A task of the suite by name (``xbar-hw adapt --list-tasks``), else a data set or an
    image folder (``image_size`` pixels a side, ``channels`` channels after resizing)."""
    if name in TASKS:
        return load_task(name, seed=seed)
    return load_dataset(name, seed=seed, image_size=image_size, channels=channels)


def program_data_name(program: Program, task: str | None = None, fallback: str | None = None) -> str | None:
    """The name of the data a Program's ``task`` runs on: the data its entry recorded (or
    the task's own name), else ``fallback``, else the Program's base task or mapping data."""
    names: list[str | None] = []
    if task is not None:
        meta = program.task(task).meta
        names += [meta.get("data"), meta.get("task"), program.task(task).name]
    names += [fallback, program.meta.get("base_task"), program.meta.get("data")]
    for name in names:
        if name and (name in TASKS or name in ("mnist5k", "digits") or Path(str(name)).is_dir()):
            return name
    return next((n for n in names if n), None)


def program_data(program: Program, task: str | None = None, fallback: str | None = None) -> tuple[Dataset, str]:
    """The data set (and its name) a Program's ``task`` runs on (see :func:`program_data_name`),
    with the seed, image size and channels the Program was made with."""
    name = program_data_name(program, task, fallback)
    if name is None:
        raise XbarError("program: its meta names no data set (data or base_task); allowed: a Program made by "
                        "xbar-hw map, backbone or adapt, or a data set named on the command line")
    meta = program.meta or {}
    return resolve_data(name, seed=int(meta.get("seed", 0)), image_size=int(meta.get("image_size") or 28),
                        channels=int(meta.get("channels") or 1)), name
