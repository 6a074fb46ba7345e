"""The protobuf edge of the Kubernetes launcher: `TaskDispatch` → `PodTask`."""

from __future__ import annotations

from sluice.v1 import tasks_pb2

from services.core.protovalues import from_struct, from_values_map
from services.executor.launchers.kubernetes.manifest import PodResources, PodTask


def pod_task_from_dispatch(dispatch: tasks_pb2.TaskDispatch) -> PodTask:
    """The pod facts of a dispatch: ids, resources, platform config, input values."""
    resources = dispatch.container.resources
    return PodTask(
        run_id=dispatch.run_id,
        task_id=dispatch.task_id,
        attempt=dispatch.attempt,
        task_name=dispatch.task_name,
        pipeline_name=dispatch.pipeline_name,
        resources=PodResources(
            cpu_limit=resources.cpu_limit,
            cpu_request=resources.cpu_request,
            memory_limit=resources.memory_limit,
            memory_request=resources.memory_request,
            accelerator_type=resources.accelerator_type,
            accelerator_count=resources.accelerator_count,
        ),
        platform=from_struct(dispatch.platform),
        input_parameters=from_values_map(dispatch.input_parameters),
    )
