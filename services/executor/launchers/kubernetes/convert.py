"""The executor's view of a task → the facts its pod needs: `TaskSpec` → `PodTask`."""

from __future__ import annotations

from services.executor.launchers.kubernetes.manifest import PodTask
from services.executor.task import TaskSpec


def pod_task_of(task: TaskSpec) -> PodTask:
    """The pod facts of a task attempt: ids, resources, platform config, input values."""
    return PodTask(
        run_id=task.run_id,
        task_id=task.task_id,
        attempt=task.attempt,
        task_name=task.task_name,
        pipeline_name=task.pipeline_name,
        resources=task.resources,
        platform=task.platform,
        input_parameters=task.input_parameters,
    )
