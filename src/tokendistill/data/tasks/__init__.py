"""The task registry, filled on import: the four benchmarks, the user ``jsonl`` task and synthetic tasks."""

# Importing a task module registers its tasks (``@register_task``).
from tokendistill.data import synthetic  # noqa: F401
from tokendistill.data.tasks import cqa, nli, svamp, user  # noqa: F401
from tokendistill.data.tasks.base import SPLITS, Task, get_task, register_task, task_class, task_names

__all__ = ["SPLITS", "Task", "get_task", "register_task", "task_class", "task_names"]
