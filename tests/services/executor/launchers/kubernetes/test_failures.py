"""Reading pod statuses (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from services.executor.launchers.kubernetes.failures import (
    Ending,
    PodObservation,
    Trouble,
    ending_for_trouble,
    ending_of,
    observe,
    trouble_of,
    vanished_ending,
)
from tests.services.executor.launchers.kubernetes.fake_kubelet import container, finished, running, waiting

IMAGE = "ghcr.io/acme/train:7"


def pod(status: dict[str, Any], **metadata: Any) -> dict[str, Any]:
    return {"metadata": {"name": "p", **metadata}, "status": status}


def test_a_new_pod_has_no_status() -> None:
    observation = observe({"metadata": {"name": "p"}})

    assert observation == PodObservation()
    assert not observation.finished
    assert ending_of(observation) is None
    assert trouble_of(observation, image=IMAGE) is None


@pytest.mark.parametrize(
    ("status", "started"),
    [
        ({"phase": "Pending", "startTime": "2025-01-01T00:00:00Z"}, False),
        (waiting("ContainerCreating"), False),
        (running(), True),
        (finished(1), True),
    ],
    ids=["accepted", "waiting", "running", "terminated"],
)
def test_a_started_container_has_a_log_to_read(status: dict[str, Any], started: bool) -> None:
    assert observe(pod(status)).container_started == started


def test_the_main_container_is_found_among_others() -> None:
    status = finished(0)
    status["containerStatuses"].insert(0, container({"terminated": {"exitCode": 9}}, name="sidecar"))

    assert observe(pod(status)).exit_code == 0


@pytest.mark.parametrize(
    ("status", "ending"),
    [
        (finished(0), Ending(exit_code=0, reason="Completed")),
        (finished(2), Ending(exit_code=2, reason="Error")),
        (
            finished(137, reason="OOMKilled"),
            Ending(exit_code=137, reason="OOMKilled", message="out of memory: limit 1Gi"),
        ),
        (
            finished(137, pod_reason="DeadlineExceeded", phase="Failed"),
            Ending(
                exit_code=137,
                reason="DeadlineExceeded",
                message="the pod ran past its deadline: activeDeadlineSeconds",
                timed_out=True,
            ),
        ),
        (
            {"phase": "Failed", "reason": "Evicted", "message": "disk pressure"},
            Ending(
                exit_code=137, reason="Evicted", message="the pod was evicted: disk pressure", retryable=True
            ),
        ),
        (
            {"phase": "Failed", "reason": "NodeShutdown", "message": "node is shutting down"},
            Ending(
                exit_code=137,
                reason="NodeShutdown",
                message="the cluster stopped the pod (NodeShutdown: node is shutting down)",
                retryable=True,
            ),
        ),
        (
            {
                **finished(143),
                "conditions": [
                    {
                        "type": "DisruptionTarget",
                        "status": "True",
                        "reason": "PreemptionByScheduler",
                        "message": "x",
                    }
                ],
            },
            Ending(
                exit_code=143,
                reason="Disrupted",
                message="the cluster stopped the pod (PreemptionByScheduler: x)",
                retryable=True,
            ),
        ),
        (
            finished(128, reason="StartError", message='exec: "python3": executable file not found in $PATH'),
            Ending(
                exit_code=128,
                reason="StartError",
                message='the container could not start: exec: "python3": executable file not found in $PATH'
                " (the Kubernetes launcher starts the task through python3: the image needs it)",
            ),
        ),
        (
            finished(70, message="sluice runtime: cannot send the task's outputs"),
            Ending(
                exit_code=70,
                reason="RuntimeFailure",
                message="sluice runtime: cannot send the task's outputs",
            ),
        ),
        (
            {"phase": "Failed"},
            Ending(exit_code=137, reason="Failed", message="the pod failed without an exit code"),
        ),
    ],
    ids=[
        "succeeded",
        "error",
        "oom",
        "deadline",
        "evicted",
        "node-shutdown",
        "preempted",
        "no-python",
        "runtime",
        "bare-failure",
    ],
)
def test_endings(status: dict[str, Any], ending: Ending) -> None:
    assert ending_of(observe(pod(status)), memory_limit="1Gi") == ending


def test_out_of_memory_without_a_limit() -> None:
    ending = ending_of(observe(pod(finished(137, reason="OOMKilled"))))

    assert ending is not None
    assert ending.message == "out of memory: no memory limit set, the node ran out"


@pytest.mark.parametrize(
    ("status", "trouble"),
    [
        (
            waiting("ErrImagePull", "not found"),
            Trouble(reason="ImagePull", message=f"cannot pull image {IMAGE!r}: ErrImagePull: not found"),
        ),
        (
            waiting("ImagePullBackOff", "Back-off pulling image"),
            Trouble(
                reason="ImagePull",
                message=f"cannot pull image {IMAGE!r}: ImagePullBackOff: Back-off pulling image",
            ),
        ),
        (
            waiting("InvalidImageName"),
            Trouble(
                reason="ImagePull",
                message=f"cannot pull image {IMAGE!r}: InvalidImageName: InvalidImageName",
                fatal=True,
            ),
        ),
        (
            waiting("CreateContainerConfigError", 'configmap "x" not found'),
            Trouble(
                reason="Configuration", message='the container cannot be created: configmap "x" not found'
            ),
        ),
        (
            {**running(), "phase": "Unknown", "message": "node lost"},
            Trouble(reason="NodeLost", message="the pod's node stopped reporting: node lost"),
        ),
        (
            {
                "phase": "Pending",
                "conditions": [
                    {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "m"}
                ],
            },
            Trouble(reason="Unschedulable", message="the pod cannot be scheduled: m"),
        ),
        (waiting("ContainerCreating"), None),
        (running(), None),
        (finished(1), None),
    ],
)
def test_troubles(status: dict[str, Any], trouble: Trouble | None) -> None:
    assert trouble_of(observe(pod(status)), image=IMAGE) == trouble


def test_giving_up_on_trouble() -> None:
    pull = Trouble(reason="ImagePull", message="cannot pull image 'x'")
    assert ending_for_trouble(pull, waited_seconds=120.4) == Ending(
        exit_code=127, reason="ImagePull", message="cannot pull image 'x' (for 120s)"
    )
    fatal = Trouble(reason="ImagePull", message="invalid", fatal=True)
    assert ending_for_trouble(fatal, waited_seconds=0).message == "invalid"
    lost = ending_for_trouble(Trouble(reason="NodeLost", message="gone"), waited_seconds=60)
    assert (lost.exit_code, lost.retryable) == (137, True)


def test_a_vanished_pod() -> None:
    assert vanished_ending().retryable
    assert observe(pod({}, deletionTimestamp="2025-01-01T00:00:00Z")).deleting
