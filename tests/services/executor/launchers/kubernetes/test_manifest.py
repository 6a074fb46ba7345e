"""The pod of an attempt, built without I/O; every manifest validated against Kubernetes' schemas."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import PurePosixPath
from typing import Any

import pytest

from services.core.errors import InvalidArgument
from services.core.pipeline.model import JsonValue
from services.executor.launchers.kubernetes.manifest import (
    PodPlan,
    PodTask,
    accelerator_resource,
    build_pod_manifest,
    cpu_quantity,
    fallback_pod_name,
    label_value,
    memory_quantity,
    pod_name,
)
from services.executor.task import TaskResources
from tests.services.executor.launchers.kubernetes.fake_kubelet import validate

DNS_1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
ROOT = PurePosixPath("/var/lib/sluice/work/run-1/task-1/1")
TASK = PodTask(
    run_id="9f0c2a7d41b84f6e", task_id="3d5e0c9ab1f2", attempt=1, task_name="train", pipeline_name="demo"
)
PLAN = PodPlan(
    name=pod_name(TASK.run_id, TASK.task_id, TASK.attempt),
    namespace="tasks",
    task=TASK,
    image="python:3.12-slim",
    argv=("python3", "-c", "print('hi')"),
    runtime_command=("python3", "-c", "runtime source"),
    attempt_dir=ROOT,
    cwd=ROOT / "work",
    tmp_dir=ROOT / "tmp",
    exchange_url="http://10.0.0.7:8790/v1/attempts/secret-token",
)


def build(plan: PodPlan = PLAN, **task_overrides: Any) -> dict[str, Any]:
    """Build, validate, return."""
    if task_overrides:
        plan = replace(plan, task=replace(plan.task, **task_overrides))
    manifest = build_pod_manifest(plan)
    validate(manifest)
    return manifest


def main_container(manifest: dict[str, Any]) -> dict[str, Any]:
    container: dict[str, Any] = manifest["spec"]["containers"][0]
    return container


def with_platform(
    platform: dict[str, JsonValue], inputs: dict[str, JsonValue] | None = None
) -> dict[str, Any]:
    return build(platform=platform, input_parameters=inputs or {})


def test_the_minimal_pod() -> None:
    manifest = build()

    assert manifest == {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "sluice-9f0c2a7d-3d5e0c9a-1",
            "namespace": "tasks",
            "labels": {
                "app.kubernetes.io/managed-by": "sluice",
                "sluice.dev/run-id": "9f0c2a7d41b84f6e",
                "sluice.dev/task-id": "3d5e0c9ab1f2",
                "sluice.dev/attempt": "1",
            },
            "annotations": {
                "sluice.dev/attempt-key": "9f0c2a7d41b84f6e/3d5e0c9ab1f2/1",
                "sluice.dev/run-id": "9f0c2a7d41b84f6e",
                "sluice.dev/task-id": "3d5e0c9ab1f2",
                "sluice.dev/task-name": "train",
                "sluice.dev/pipeline-name": "demo",
            },
        },
        "spec": {
            "restartPolicy": "Never",
            "containers": [
                {
                    "name": "main",
                    "image": "python:3.12-slim",
                    "command": ["python3", "-c", "runtime source"],
                    "args": ["python3", "-c", "print('hi')"],
                    "env": [
                        {"name": "SLUICE_RUNTIME_EXCHANGE_URL", "value": PLAN.exchange_url},
                        {"name": "SLUICE_RUNTIME_ATTEMPT_DIR", "value": str(ROOT)},
                        {"name": "SLUICE_RUNTIME_CWD", "value": str(ROOT / "work")},
                        {"name": "SLUICE_RUNTIME_TMPDIR", "value": str(ROOT / "tmp")},
                    ],
                    "volumeMounts": [{"name": "sluice-attempt", "mountPath": str(ROOT)}],
                }
            ],
            "volumes": [{"name": "sluice-attempt", "emptyDir": {}}],
        },
    }


@pytest.mark.parametrize(
    ("run_id", "task_id", "attempt"),
    [
        ("9f0c2a7d41b84f6e", "3d5e0c9ab1f2", 0),
        ("Run_With.Odd-Chars", "TASK/with/slashes", 12),
        ("", "---", 999999999),
        ("x" * 300, "y" * 300, 2**31 - 1),
    ],
)
def test_pod_names_are_dns_labels(run_id: str, task_id: str, attempt: int) -> None:
    task = PodTask(run_id=run_id, task_id=task_id, attempt=attempt)
    for name in (pod_name(run_id, task_id, attempt), fallback_pod_name(task)):
        assert len(name) <= 63
        assert DNS_1123_LABEL.match(name), name
        assert name.startswith("sluice-")
    assert fallback_pod_name(task) != pod_name(run_id, task_id, attempt)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("abc-123", "abc-123"),
        ("run/1 x", "run-1-x"),
        ("-edge-", "edge"),
        ("a" * 70 + "-", "a" * 63),
        ("", ""),
    ],
)
def test_label_values(text: str, expected: str) -> None:
    assert label_value(text) == expected
    assert LABEL_VALUE.match(label_value(text))


@pytest.mark.parametrize(
    ("cores", "quantity"),
    [(2, "2"), (0.5, "500m"), (0.1, "100m"), (1.25, "1250m"), (0.0001, "1m"), (4.0, "4")],
)
def test_cpu_quantities(cores: float, quantity: str) -> None:
    assert cpu_quantity(cores) == quantity


@pytest.mark.parametrize(
    ("size", "quantity"),
    [
        (512 * 2**20, "512Mi"),
        (2**30, "1Gi"),
        (1.5 * 2**30, "1536Mi"),
        (10**9, "1G"),
        (500 * 10**6, "500M"),
        (2**40, "1Ti"),
        (1000, "1k"),
        (1023, "1023"),
        (1536.4, "1537"),
    ],
)
def test_memory_quantities(size: float, quantity: str) -> None:
    assert memory_quantity(size) == quantity


@pytest.mark.parametrize(
    ("given", "resource"),
    [
        ("nvidia.com/gpu", "nvidia.com/gpu"),
        ("amd.com/gpu", "amd.com/gpu"),
        ("NVIDIA_TESLA_T4", "nvidia.com/gpu"),
        ("GPU", "nvidia.com/gpu"),
        ("", "nvidia.com/gpu"),
        ("AMD_MI300X", "amd.com/gpu"),
        ("TPU_V5_LITEPOD", "google.com/tpu"),
    ],
)
def test_accelerator_resources(given: str, resource: str) -> None:
    assert accelerator_resource(given) == resource


@pytest.mark.parametrize("given", ["QUANTUM_CHIP", "not a/resource!"])
def test_unknown_accelerators_are_refused(given: str) -> None:
    with pytest.raises(InvalidArgument, match="accelerator type"):
        accelerator_resource(given)


def test_resources_become_requests_and_limits() -> None:
    resources = TaskResources(
        cpu_limit=4,
        cpu_request=0.5,
        memory_limit=8 * 2**30,
        memory_request=2**30,
        accelerator_type="NVIDIA_TESLA_T4",
        accelerator_count=2,
    )
    container = main_container(build(resources=resources))

    assert container["resources"] == {
        "limits": {"cpu": "4", "memory": "8Gi", "nvidia.com/gpu": "2"},
        "requests": {"cpu": "500m", "memory": "1Gi"},
    }


@pytest.mark.parametrize(
    ("resources", "error"),
    [
        (TaskResources(cpu_limit=1, cpu_request=2), "cpu request exceeds"),
        (TaskResources(memory_limit=1, memory_request=2), "memory request exceeds"),
        (TaskResources(cpu_limit=-1), "cpu_limit must be a non-negative"),
        (TaskResources(memory_request=float("inf")), "memory_request must be a non-negative"),
    ],
)
def test_impossible_resources_are_refused(resources: TaskResources, error: str) -> None:
    with pytest.raises(InvalidArgument, match=error):
        build(resources=resources)


def test_task_env_comes_first_and_cannot_shadow_the_runtime() -> None:
    plan = replace(PLAN, env={"A": "1", "SLUICE_RUNTIME_EXCHANGE_URL": "http://evil"})
    env = main_container(build(plan))["env"]

    assert env[0] == {"name": "A", "value": "1"}
    assert [item["value"] for item in env if item["name"] == "SLUICE_RUNTIME_EXCHANGE_URL"] == [
        PLAN.exchange_url
    ]


def test_timeout_service_account_executor_and_pull_policy() -> None:
    plan = replace(
        PLAN,
        timeout_seconds=90.2,
        service_account="runner",
        executor_id="executor-7",
        image_pull_policy="IfNotPresent",
    )
    manifest = build(plan)

    assert manifest["spec"]["activeDeadlineSeconds"] == 91
    assert manifest["spec"]["serviceAccountName"] == "runner"
    assert manifest["metadata"]["labels"]["sluice.dev/executor"] == "executor-7"
    assert main_container(manifest)["imagePullPolicy"] == "IfNotPresent"


@pytest.mark.parametrize(
    ("timeout", "platform_deadline", "expected"),
    [(None, "600", 600), (30, "600", 30), (900, 600, 600), (None, None, None)],
)
def test_the_shorter_deadline_wins(
    timeout: float | None, platform_deadline: JsonValue, expected: int | None
) -> None:
    platform: dict[str, JsonValue] = (
        {} if platform_deadline is None else {"activeDeadlineSeconds": platform_deadline}
    )
    manifest = build(replace(PLAN, timeout_seconds=timeout), platform=platform)

    assert manifest["spec"].get("activeDeadlineSeconds") == expected


def test_pod_metadata_adds_labels_and_annotations_but_not_sluices_own() -> None:
    manifest = with_platform(
        {
            "podMetadata": {
                "labels": {"team": "ml", "sluice.dev/run-id": "forged"},
                "annotations": {"note": "hi", "sluice.dev/attempt-key": "forged"},
            }
        }
    )

    assert manifest["metadata"]["labels"]["team"] == "ml"
    assert manifest["metadata"]["labels"]["sluice.dev/run-id"] == TASK.run_id
    assert manifest["metadata"]["annotations"]["note"] == "hi"
    assert manifest["metadata"]["annotations"]["sluice.dev/attempt-key"] == TASK.key


def test_secrets_and_config_maps_as_env() -> None:
    container = main_container(
        with_platform(
            {
                "secretAsEnv": [
                    {"secretName": "db", "keyToEnv": [{"secretKey": "password", "envVar": "DB_PASSWORD"}]},
                    {
                        "secretNameParameter": {"runtimeValue": {"constant": "api"}},
                        "keyToEnv": [{"secretKey": "token", "envVar": "TOKEN"}],
                        "optional": True,
                    },
                ],
                "configMapAsEnv": [
                    {"configMapName": "settings", "keyToEnv": [{"configMapKey": "level", "envVar": "LEVEL"}]}
                ],
                "fieldPathAsEnv": [{"name": "NODE", "fieldPath": "spec.nodeName"}],
            }
        )
    )

    assert container["env"][:4] == [
        {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}},
        {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "api", "key": "token", "optional": True}}},
        {"name": "LEVEL", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "level"}}},
        {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
    ]


def test_volumes_of_every_kind() -> None:
    manifest = with_platform(
        {
            "secretAsVolume": [{"secretName": "certs", "mountPath": "/certs", "optional": False}],
            "configMapAsVolume": [{"configMapName": "conf", "mountPath": "/conf"}],
            "pvcMount": [
                {"constant": "datasets", "mountPath": "/data", "subPath": "imagenet"},
                {"componentInputParameter": "claim", "mountPath": "/claimed"},
            ],
            "emptyDirMounts": [
                {"volumeName": "scratch", "mountPath": "/scratch", "medium": "Memory", "sizeLimit": "1Gi"}
            ],
            "enabledSharedMemory": {"volumeName": "shm", "size": "2Gi"},
            "genericEphemeralVolume": [
                {
                    "volumeName": "eph",
                    "mountPath": "/eph",
                    "accessModes": ["ReadWriteOnce"],
                    "size": "5Gi",
                    "storageClassName": "fast",
                    "metadata": {"labels": {"kind": "cache"}},
                }
            ],
        },
        {"claim": "my-claim"},
    )

    assert manifest["spec"]["volumes"][1:] == [
        {"name": "secret-volume-0", "secret": {"secretName": "certs", "optional": False}},
        {"name": "configmap-volume-0", "configMap": {"name": "conf"}},
        {"name": "pvc-volume-0", "persistentVolumeClaim": {"claimName": "datasets"}},
        {"name": "pvc-volume-1", "persistentVolumeClaim": {"claimName": "my-claim"}},
        {"name": "scratch", "emptyDir": {"medium": "Memory", "sizeLimit": "1Gi"}},
        {"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": "2Gi"}},
        {
            "name": "eph",
            "ephemeral": {
                "volumeClaimTemplate": {
                    "metadata": {"labels": {"kind": "cache"}},
                    "spec": {
                        "accessModes": ["ReadWriteOnce"],
                        "resources": {"requests": {"storage": "5Gi"}},
                        "storageClassName": "fast",
                    },
                }
            },
        },
    ]
    assert main_container(manifest)["volumeMounts"][1:] == [
        {"name": "secret-volume-0", "mountPath": "/certs"},
        {"name": "configmap-volume-0", "mountPath": "/conf"},
        {"name": "pvc-volume-0", "mountPath": "/data", "subPath": "imagenet"},
        {"name": "pvc-volume-1", "mountPath": "/claimed"},
        {"name": "scratch", "mountPath": "/scratch"},
        {"name": "shm", "mountPath": "/dev/shm"},
        {"name": "eph", "mountPath": "/eph"},
    ]


def test_scheduling_options() -> None:
    spec = with_platform(
        {
            "nodeSelector": {"labels": {"pool": "gpu"}},
            "tolerations": [
                {
                    "key": "gpu",
                    "operator": "Equal",
                    "value": "yes",
                    "effect": "NoSchedule",
                    "tolerationSeconds": "30",
                },
                {"tolerationJson": {"runtimeValue": {"constant": {"key": "spot", "operator": "Exists"}}}},
            ],
            "nodeAffinity": [
                {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a", "b"]}]},
                {
                    "matchFields": [{"key": "metadata.name", "operator": "NotIn", "values": ["bad"]}],
                    "weight": 10.0,
                },
            ],
            "imagePullSecret": [{"secretName": "regcred"}],
        }
    )["spec"]

    assert spec["nodeSelector"] == {"pool": "gpu"}
    assert spec["tolerations"] == [
        {"key": "gpu", "operator": "Equal", "value": "yes", "effect": "NoSchedule", "tolerationSeconds": 30},
        {"key": "spot", "operator": "Exists"},
    ]
    assert spec["affinity"] == {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a", "b"]}]}
                ]
            },
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {
                    "weight": 10,
                    "preference": {
                        "matchFields": [{"key": "metadata.name", "operator": "NotIn", "values": ["bad"]}]
                    },
                }
            ],
        }
    }
    assert spec["imagePullSecrets"] == [{"name": "regcred"}]


def test_json_options_from_parameters_take_precedence() -> None:
    spec = with_platform(
        {
            "nodeSelector": {
                "labels": {"pool": "cpu"},
                "nodeSelectorJson": {"componentInputParameter": "selector"},
            },
            "nodeAffinity": [{"nodeAffinityJson": {"componentInputParameter": "affinity"}}],
        },
        {
            "pipelinechannel--selector": '{"pool": "gpu"}',
            "affinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [{"matchExpressions": [{"key": "z", "operator": "Exists"}]}]
                }
            },
        },
    )["spec"]

    assert spec["nodeSelector"] == {"pool": "gpu"}
    assert spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]


def test_security_context_and_pull_policy() -> None:
    container = main_container(
        with_platform(
            {
                "securityContext": {"runAsUser": "1000", "runAsGroup": 100, "runAsNonRoot": True},
                "imagePullPolicy": "Never",
            }
        )
    )

    assert container["securityContext"] == {"runAsUser": 1000, "runAsGroup": 100, "runAsNonRoot": True}
    assert container["imagePullPolicy"] == "Never"


def test_names_from_upstream_outputs() -> None:
    manifest = with_platform(
        {
            "pvcMount": [
                {
                    "pvcNameParameter": {
                        "taskOutputParameter": {"producerTask": "createpvc", "outputParameterKey": "name"}
                    },
                    "mountPath": "/data",
                }
            ]
        },
        {"pipelinechannel--createpvc-name": "pvc-123"},
    )

    assert manifest["spec"]["volumes"][1]["persistentVolumeClaim"] == {"claimName": "pvc-123"}


@pytest.mark.parametrize(
    ("platform", "inputs", "error"),
    [
        ({"initContainers": []}, {}, "not supported by Sluice's launcher: initContainers"),
        ({"podAffinity": [], "futureOption": 1}, {}, "futureOption, podAffinity"),
        (
            {"secretAsEnv": [{"secretNameParameter": {"componentInputParameter": "name"}, "keyToEnv": []}]},
            {},
            "pipeline parameter 'name', which this task was not given",
        ),
        ({"secretAsVolume": [{"mountPath": "/x"}]}, {}, r"secretAsVolume\[0\]: expected a non-empty string"),
        ({"imagePullPolicy": "Sometimes"}, {}, "not Always, Never or IfNotPresent"),
        ({"tolerations": {"key": "x"}}, {}, "tolerations must be a list"),
        ({"activeDeadlineSeconds": "soon"}, {}, "must be an integer"),
        ({"pvcMount": [{"mountPath": "/x"}]}, {}, "names no persistent volume claim"),
        (
            {"nodeSelector": {"nodeSelectorJson": {"runtimeValue": {"constant": "{not json"}}}},
            {},
            "is not JSON",
        ),
        (
            {"emptyDirMounts": [{"volumeName": "sluice-attempt", "mountPath": "/x"}]},
            {},
            "volume name 'sluice-attempt' twice",
        ),
        (
            {"configMapAsVolume": [{"configMapName": "a", "mountPath": str(ROOT)}]},
            {},
            "mount path",
        ),
    ],
)
def test_platform_options_that_cannot_be_honoured(
    platform: dict[str, JsonValue], inputs: dict[str, JsonValue], error: str
) -> None:
    with pytest.raises(InvalidArgument, match=error):
        build_pod_manifest(replace(PLAN, task=replace(TASK, platform=platform, input_parameters=inputs)))


@pytest.mark.parametrize("field", ["attempt_dir", "cwd", "tmp_dir"])
def test_paths_must_be_absolute(field: str) -> None:
    relative: dict[str, Any] = {field: PurePosixPath("relative/path")}
    with pytest.raises(InvalidArgument, match=f"{field} must be an absolute path"):
        build_pod_manifest(replace(PLAN, **relative))


def test_a_task_needs_an_image() -> None:
    with pytest.raises(InvalidArgument, match="no container image"):
        build_pod_manifest(replace(PLAN, image=""))


def test_launch_keys_give_ids() -> None:
    assert PodTask.from_key("run/task/3") == PodTask(run_id="run", task_id="task", attempt=3)
    with pytest.raises(InvalidArgument, match="run_id/task_id/attempt"):
        PodTask.from_key("run/task")
