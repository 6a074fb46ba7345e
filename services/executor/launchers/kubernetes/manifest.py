"""The Pod of one task attempt, built as a plain manifest (pure: no I/O, no client objects).

The pod runs one container, `main`, whose command is Sluice's task runtime (see
`pod_runtime`) and whose args are the task's resolved command. The attempt directory of
the executor is mounted as an `emptyDir` at the *same absolute path* inside the pod, so the
paths the ExecutorInput and the resolved command name are valid there unchanged; the
runtime fills that directory from the executor before the task runs and sends back what
the task wrote after it.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from services.core.errors import InvalidArgument
from services.core.pipeline.model import JsonValue
from services.executor.launchers.kubernetes.platform import PlatformParts, platform_parts
from services.executor.launchers.kubernetes.pod_runtime import (
    ATTEMPT_DIR_ENV,
    CWD_ENV,
    EXCHANGE_URL_ENV,
    RUNTIME_ENV_PREFIX,
    TMPDIR_ENV,
)
from services.executor.task import TaskResources

MAIN_CONTAINER = "main"
ATTEMPT_VOLUME = "sluice-attempt"
LABEL_PREFIX = "sluice.dev/"
RUN_ID_LABEL = "sluice.dev/run-id"
TASK_ID_LABEL = "sluice.dev/task-id"
ATTEMPT_LABEL = "sluice.dev/attempt"
EXECUTOR_LABEL = "sluice.dev/executor"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
ATTEMPT_KEY_ANNOTATION = "sluice.dev/attempt-key"


_MAX_NAME = 63
_LABEL_VALUE_INVALID = re.compile(r"[^A-Za-z0-9._-]")
_RESOURCE_NAME = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_BINARY_UNITS = (("Ti", 1024**4), ("Gi", 1024**3), ("Mi", 1024**2), ("Ki", 1024))
_DECIMAL_UNITS = (("T", 10**12), ("G", 10**9), ("M", 10**6), ("k", 10**3))


@dataclass(frozen=True)
class PodTask:
    """The facts about a task attempt that a pod needs and a `LaunchRequest` does not carry."""

    run_id: str
    """The run's id."""
    task_id: str
    """The task execution's id."""
    attempt: int
    """The attempt number."""
    task_name: str = ""
    """The task's name in the pipeline."""
    pipeline_name: str = ""
    """The pipeline's name."""
    resources: TaskResources = field(default_factory=TaskResources)
    """CPU, memory and accelerators."""
    platform: Mapping[str, JsonValue] = field(default_factory=dict)
    """The task's Kubernetes executor config from the PlatformSpec (kfp-kubernetes field names)."""
    input_parameters: Mapping[str, JsonValue] = field(default_factory=dict)
    """The task's input parameter values: platform options may name them (`componentInputParameter`)."""

    @property
    def key(self) -> str:
        """`run_id/task_id/attempt`, as `LaunchRequest.key` spells it."""
        return f"{self.run_id}/{self.task_id}/{self.attempt}"

    @classmethod
    def from_key(cls, key: str) -> PodTask:
        """The ids of a `run_id/task_id/attempt` launch key; raises InvalidArgument otherwise."""
        run_id, _, rest = key.partition("/")
        task_id, _, attempt = rest.partition("/")
        if not run_id or not task_id or not attempt.isdigit():
            raise InvalidArgument(f"launch key {key!r} is not run_id/task_id/attempt", field="key")
        return cls(run_id=run_id, task_id=task_id, attempt=int(attempt))


@dataclass(frozen=True)
class PodPlan:
    """Everything `build_pod_manifest` turns into a Pod."""

    name: str
    """The pod's name (see `pod_name`)."""
    namespace: str
    """The namespace the pod is created in."""
    task: PodTask
    """Ids, resources and platform config of the attempt."""
    image: str
    """The task's container image."""
    argv: tuple[str, ...]
    """The task's resolved command and args."""
    runtime_command: tuple[str, ...]
    """The container command that runs the pod runtime, which then runs `argv`."""
    attempt_dir: PurePosixPath
    """The executor's attempt directory, mounted at the same path in the pod."""
    cwd: PurePosixPath
    """The task's working directory (inside `attempt_dir`)."""
    tmp_dir: PurePosixPath
    """The task's TMPDIR (inside `attempt_dir`)."""
    exchange_url: str
    """Where the runtime fetches inputs and sends outputs (carries the attempt's secret token)."""
    env: Mapping[str, str] = field(default_factory=dict)
    """The task's environment variables."""
    timeout_seconds: float | None = None
    """The task's timeout: the pod's `activeDeadlineSeconds`."""
    service_account: str = ""
    """The pod's service account; the namespace default when empty."""
    executor_id: str = ""
    """The executor that owns the pod (a label its watch selects on)."""
    image_pull_policy: str = ""
    """The default image pull policy; the platform config's wins."""


def pod_name(run_id: str, task_id: str, attempt: int) -> str:
    """`sluice-<run8>-<task8>-<attempt>`: a DNS-1123 label of at most 63 characters."""
    return f"sluice-{_slug(run_id)}-{_slug(task_id)}-{attempt}"


def fallback_pod_name(task: PodTask) -> str:
    """A second name for the attempt when another attempt's pod holds `pod_name` (a prefix clash)."""
    digest = hashlib.sha256(task.key.encode()).hexdigest()[:8]
    return f"{pod_name(task.run_id, task.task_id, task.attempt)}-{digest}"


def _slug(identifier: str) -> str:
    return re.sub(r"[^a-z0-9]", "", identifier.lower())[:8] or "x"


def label_value(text: str) -> str:
    """`text` made a valid label value: invalid characters become `-`, at most 63 characters."""
    return _LABEL_VALUE_INVALID.sub("-", text)[:_MAX_NAME].strip("-_.")


def cpu_quantity(cores: float) -> str:
    """Cores as a Kubernetes quantity: `2`, `500m` (rounded up to whole millicores)."""
    millicores = max(1, math.ceil(round(cores * 1000, 6)))
    return str(millicores // 1000) if millicores % 1000 == 0 else f"{millicores}m"


def memory_quantity(size: float) -> str:
    """Bytes as a Kubernetes quantity in the largest exact unit: `512Mi`, `1G`, `1000`."""
    count = math.ceil(size)
    for suffix, unit in (*_BINARY_UNITS, *_DECIMAL_UNITS):
        if count >= unit and count % unit == 0:
            return f"{count // unit}{suffix}"
    return str(count)


def accelerator_resource(accelerator_type: str) -> str:
    """The extended resource an accelerator type asks for.

    A Kubernetes resource name (`nvidia.com/gpu`, `amd.com/gpu`) is used as it is; vendor
    names as Vertex spells them map to the usual device plugins' resources."""
    name = accelerator_type.strip()
    if "/" in name:
        if not _RESOURCE_NAME.match(name):
            raise InvalidArgument(f"accelerator type {name!r} is not a resource name", field="accelerator")
        return name
    upper = name.upper()
    if not upper or upper == "GPU" or upper.startswith("NVIDIA"):
        return "nvidia.com/gpu"
    if upper.startswith("AMD"):
        return "amd.com/gpu"
    if upper.startswith("TPU"):
        return "google.com/tpu"
    raise InvalidArgument(
        f"unknown accelerator type {name!r}; give a Kubernetes resource name such as nvidia.com/gpu",
        field="accelerator",
    )


def resource_requirements(resources: TaskResources) -> dict[str, dict[str, str]]:
    """The container's `resources`: requests and limits as quantities."""
    for name, value in (
        ("cpu_limit", resources.cpu_limit),
        ("cpu_request", resources.cpu_request),
        ("memory_limit", resources.memory_limit),
        ("memory_request", resources.memory_request),
        ("accelerator_count", resources.accelerator_count),
    ):
        if value < 0 or not math.isfinite(value):
            raise InvalidArgument(f"{name} must be a non-negative number, not {value}", field=name)
    for kind, request, limit in (
        ("cpu", resources.cpu_request, resources.cpu_limit),
        ("memory", resources.memory_request, resources.memory_limit),
    ):
        if request and limit and request > limit:
            raise InvalidArgument(f"the {kind} request exceeds the {kind} limit", field=f"{kind}_request")
    limits: dict[str, str] = {}
    requests: dict[str, str] = {}
    if resources.cpu_limit:
        limits["cpu"] = cpu_quantity(resources.cpu_limit)
    if resources.memory_limit:
        limits["memory"] = memory_quantity(resources.memory_limit)
    if resources.cpu_request:
        requests["cpu"] = cpu_quantity(resources.cpu_request)
    if resources.memory_request:
        requests["memory"] = memory_quantity(resources.memory_request)
    if resources.accelerator_count:
        # Extended resources cannot be overcommitted: the limit is the request.
        limits[accelerator_resource(resources.accelerator_type)] = str(resources.accelerator_count)
    requirements: dict[str, dict[str, str]] = {}
    if limits:
        requirements["limits"] = limits
    if requests:
        requirements["requests"] = requests
    return requirements


def build_pod_manifest(plan: PodPlan) -> dict[str, Any]:
    """The Pod for `plan`, as the JSON the API takes.

    Raises InvalidArgument for a plan that cannot become a valid pod: relative paths, bad
    resources, platform options that name unknown parameters or are not supported.
    """
    for name, path in (("attempt_dir", plan.attempt_dir), ("cwd", plan.cwd), ("tmp_dir", plan.tmp_dir)):
        if not path.is_absolute():
            raise InvalidArgument(f"{name} must be an absolute path, not {str(path)!r}", field=name)
    if not plan.image:
        raise InvalidArgument("the task has no container image", field="image")
    parts = platform_parts(plan.task.platform, plan.task.input_parameters)
    container: dict[str, Any] = {
        "name": MAIN_CONTAINER,
        "image": plan.image,
        "command": list(plan.runtime_command),
        "args": list(plan.argv),
        "env": _env(plan, parts),
        "volumeMounts": [
            {"name": ATTEMPT_VOLUME, "mountPath": str(plan.attempt_dir)},
            *parts.volume_mounts,
        ],
    }
    resources = resource_requirements(plan.task.resources)
    if resources:
        container["resources"] = resources
    pull_policy = parts.image_pull_policy or plan.image_pull_policy
    if pull_policy:
        container["imagePullPolicy"] = pull_policy
    if parts.security_context:
        container["securityContext"] = dict(parts.security_context)
    spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "containers": [container],
        "volumes": [{"name": ATTEMPT_VOLUME, "emptyDir": {}}, *parts.volumes],
    }
    _check_unique("volume name", [volume["name"] for volume in spec["volumes"]])
    _check_unique("mount path", [mount["mountPath"] for mount in container["volumeMounts"]])
    deadline = _deadline(plan.timeout_seconds, parts.active_deadline_seconds)
    if deadline is not None:
        spec["activeDeadlineSeconds"] = deadline
    if plan.service_account:
        spec["serviceAccountName"] = plan.service_account
    if parts.node_selector:
        spec["nodeSelector"] = dict(parts.node_selector)
    if parts.tolerations:
        spec["tolerations"] = list(parts.tolerations)
    if parts.affinity:
        spec["affinity"] = dict(parts.affinity)
    if parts.image_pull_secrets:
        spec["imagePullSecrets"] = [{"name": name} for name in parts.image_pull_secrets]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": plan.name,
            "namespace": plan.namespace,
            "labels": _labels(plan, parts),
            "annotations": _annotations(plan, parts),
        },
        "spec": spec,
    }


def _env(plan: PodPlan, parts: PlatformParts) -> list[dict[str, Any]]:
    runtime = {
        EXCHANGE_URL_ENV: plan.exchange_url,
        ATTEMPT_DIR_ENV: str(plan.attempt_dir),
        CWD_ENV: str(plan.cwd),
        TMPDIR_ENV: str(plan.tmp_dir),
    }
    # Later entries win in Kubernetes: the platform's secrets override the task's values,
    # and nobody overrides the runtime's own variables.
    env: list[dict[str, Any]] = [
        {"name": name, "value": value}
        for name, value in plan.env.items()
        if not name.startswith(RUNTIME_ENV_PREFIX)
    ]
    env.extend(item for item in parts.env if not str(item["name"]).startswith(RUNTIME_ENV_PREFIX))
    env.extend({"name": name, "value": value} for name, value in runtime.items())
    return env


def _labels(plan: PodPlan, parts: PlatformParts) -> dict[str, str]:
    labels = {key: value for key, value in parts.labels.items() if not key.startswith(LABEL_PREFIX)}
    labels[MANAGED_BY_LABEL] = "sluice"
    labels[RUN_ID_LABEL] = label_value(plan.task.run_id)
    labels[TASK_ID_LABEL] = label_value(plan.task.task_id)
    labels[ATTEMPT_LABEL] = str(plan.task.attempt)
    if plan.executor_id:
        labels[EXECUTOR_LABEL] = label_value(plan.executor_id)
    return labels


def _annotations(plan: PodPlan, parts: PlatformParts) -> dict[str, str]:
    annotations = {key: value for key, value in parts.annotations.items() if not key.startswith(LABEL_PREFIX)}
    # Labels are cut to 63 characters; the annotations keep the full ids.
    annotations[ATTEMPT_KEY_ANNOTATION] = plan.task.key
    annotations[RUN_ID_LABEL] = plan.task.run_id
    annotations[TASK_ID_LABEL] = plan.task.task_id
    if plan.task.task_name:
        annotations["sluice.dev/task-name"] = plan.task.task_name
    if plan.task.pipeline_name:
        annotations["sluice.dev/pipeline-name"] = plan.task.pipeline_name
    return annotations


def _check_unique(what: str, values: list[str]) -> None:
    duplicates = sorted({value for value in values if values.count(value) > 1})
    if duplicates:
        raise InvalidArgument(f"the pod would have the {what} {duplicates[0]!r} twice", field="platform")


def _deadline(timeout_seconds: float | None, platform_deadline: int | None) -> int | None:
    candidates = [platform_deadline] if platform_deadline else []
    if timeout_seconds is not None and timeout_seconds > 0 and math.isfinite(timeout_seconds):
        candidates.append(max(1, math.ceil(timeout_seconds)))
    return min(candidates) if candidates else None
