"""Multi-task adaptation of a programmed backbone: the task suite and the methods
(fine-tune, classifier-only, Piggyback, XBM, XMA, XMA²) behind one interface. A method's
result is a task entry of the Program (``xbar_hw.core.task_entry``); the cells a switch
writes are ``xbar_hw.core.switch``'s."""

from ..core.errors import field_error
from ..workload.tasks import BASE_TASK, TASKS, list_tasks, load_task
from .classifier import Classifier
from .finetune import FineTune
from .method import AdaptConfig, Method, fit
from .piggyback import Piggyback
from .xbm import XBM
from .xma import XMA
from .xma2 import XMA2

METHODS = {m.name: m for m in (FineTune, Classifier, Piggyback, XBM, XMA, XMA2)}


def get_method(name: str) -> Method:
    if name not in METHODS:
        raise field_error("method", name, ", ".join(METHODS))
    return METHODS[name]()


__all__ = [
    "AdaptConfig", "BASE_TASK", "METHODS", "Method", "TASKS", "fit", "get_method", "list_tasks", "load_task",
]
