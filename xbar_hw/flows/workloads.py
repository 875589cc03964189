"""The data a command runs on: the data set a model or Program was made on, and the test
images of a Program's task that a cost estimate runs."""

from __future__ import annotations

import torch

from ..core.program import Program
from ..workload.data import Dataset, eval_subset
from ..workload.resolve import program_data_name, resolve_data
from ..xbar import build_network, set_path
from .evaluate import check_fits

#: the data set of a model or Program whose header names none
DEFAULT_DATA = "mnist5k"
#: the seed of a cost workload's data split: fixed, so every estimate runs the same images
WORKLOAD_SEED = 0


def made_on(meta: dict, data: str | None = None) -> str:
    """``data`` if given, else the data set a model's or Program's ``meta`` records, else
    :data:`DEFAULT_DATA`."""
    return data or meta.get("data", DEFAULT_DATA)


def task_workload(program: Program, task: str | None = None, data: str | None = None,
                  images: int = 16) -> torch.Tensor:
    """``images`` test images of a Program's ``task`` (a fixed subset of the test split,
    split seed :data:`WORKLOAD_SEED`): the data the task's entry records, else ``data``,
    else the Program's base task or mapping data, else :data:`DEFAULT_DATA`."""
    name = program_data_name(program, task, data) or DEFAULT_DATA
    x = eval_subset(resolve_data(name, seed=WORKLOAD_SEED), images)[0]
    check_fits(set_path(build_network(program), "folded"), x, name)
    return x


def data_made_on(meta: dict, data: str | None = None, *, seed: int = 0, image_size: int = 28,
                 channels: int = 1) -> tuple[Dataset, str]:
    """The data set (and its name, see :func:`made_on`) a model or Program with header
    ``meta`` runs on: its split seeded by ``seed``, an image folder resized to
    ``image_size`` pixels and ``channels`` channels."""
    name = made_on(meta, data)
    return resolve_data(name, seed=seed, image_size=image_size, channels=channels), name
