"""Multi-task adaptation of a programmed backbone: the task suite, the methods (fine-tune,
classifier-only, Piggyback, XBM, XMA, XMA²) behind one interface, task entries of a
Program and the cells a task switch writes."""

from .classifier import Classifier
from .entry import CellDiff, TaskEntry, build_task, diff_programs, switch_diff, task_view
from .finetune import FineTune
from .method import AdaptConfig, Method, fit
from .piggyback import Piggyback
from .tasks import BASE_TASK, TASKS, list_tasks, load_task
from .xbm import XBM
from .xma import XMA
from .xma2 import XMA2

METHODS = {m.name: m for m in (FineTune, Classifier, Piggyback, XBM, XMA, XMA2)}


def get_method(name: str) -> Method:
    from ..errors import field_error

    if name not in METHODS:
        raise field_error("method", name, ", ".join(METHODS))
    return METHODS[name]()


__all__ = [
    "AdaptConfig", "BASE_TASK", "CellDiff", "METHODS", "Method", "TASKS", "TaskEntry", "build_task",
    "diff_programs", "fit", "get_method", "list_tasks", "load_task", "switch_diff", "task_view",
]
