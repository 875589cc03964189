"""Multi-task adaptation of a programmed backbone (XMA², XMA, XBM, Piggyback): the task suite."""

from .tasks import BASE_TASK, TASKS, list_tasks, load_task

__all__ = ["BASE_TASK", "TASKS", "list_tasks", "load_task"]
