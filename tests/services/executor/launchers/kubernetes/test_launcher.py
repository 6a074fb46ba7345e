"""The launcher against the `kmock` Kubernetes emulator, the test playing the kubelet."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import sys
import threading
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import kmock
import pytest
from sluice.v1 import common_pb2

from services.core.errors import FailedPrecondition, Unavailable
from services.executor.attempt import attempt_dir_for, run_attempt
from services.executor.launchers.base import Launcher, LaunchRequest
from services.executor.launchers.kubernetes import (
    KubernetesLauncher,
    PodLaunchOutcome,
    PodTask,
    make_api_client,
    pod_task_of,
)
from services.executor.launchers.kubernetes.manifest import fallback_pod_name, pod_name
from services.executor.launchers.kubernetes.pod_runtime import EXIT_STAGING_FAILED, RUNTIME_FAILURE_PREFIX
from services.executor.task import TaskResources, TaskSpec
from tests.services.executor.components import read_dataset, write_dataset
from tests.services.executor.fakes import DirectoryStore
from tests.services.executor.kfp_ir import compile_component, make_dispatch
from tests.services.executor.launchers.kubernetes.conftest import NAMESPACE, launcher_config
from tests.services.executor.launchers.kubernetes.fake_kubelet import (
    FakeKubelet,
    can_isolate,
    eventually,
    finished,
    running,
    validate,
    waiting,
)

RUN, TASK = "run-0001", "task-0001"
KEY = f"{RUN}/{TASK}/1"
NAME = pod_name(RUN, TASK, 1)
IMAGE = "registry.example/team/trainer:1.2"

# What the task does in its pod: read a staged input, write an output artifact and an
# output parameter, leave a file in its working directory (which must not travel back).
TASK_SCRIPT = """
import os, pathlib, sys
root = pathlib.Path(sys.argv[1])
text = (root / 'staging/s3/bucket/in/data.txt').read_text()
(root / 'staging/s3/bucket/out/model.txt').write_text(text.upper())
(root / 'outputs/parameters/answer').write_text('42')
pathlib.Path('scratch.txt').write_text('stays in the pod')
print('cwd', os.getcwd())
print('tmp', os.environ['TMPDIR'])
print('token visible', any(name.startswith('SLUICE_RUNTIME_') for name in os.environ))
"""


def attempt_dir(tmp_path: Path) -> Path:
    return tmp_path / "work" / RUN / TASK / "1"


def request_for(tmp_path: Path, *argv: str, timeout_seconds: float | None = None) -> LaunchRequest:
    """An attempt laid out as `run_attempt` lays it out, one input staged."""
    root = attempt_dir(tmp_path)
    (root / "staging/s3/bucket/in").mkdir(parents=True)
    (root / "staging/s3/bucket/in/data.txt").write_text("hello")
    (root / "staging/s3/bucket/out").mkdir(parents=True)
    (root / "outputs/parameters").mkdir(parents=True)
    (root / "executor_input.json").write_text("{}")
    return LaunchRequest(
        key=KEY,
        argv=argv or ("true",),
        cwd=root / "work",
        log_path=root / "task.log",
        image=IMAGE,
        timeout_seconds=timeout_seconds,
        tmp_dir=root / "tmp",
    )


def task(**overrides: Any) -> PodTask:
    return PodTask(run_id=RUN, task_id=TASK, attempt=1, task_name="train", pipeline_name="demo", **overrides)


@contextlib.asynccontextmanager
async def launching(
    launcher: KubernetesLauncher, request: LaunchRequest, pod: PodTask | None = None
) -> AsyncIterator[asyncio.Task[Any]]:
    """The launch as a task; cancelled if the test leaves it running."""
    launched = asyncio.create_task(launcher.launch(replace(request, pod=pod or task())))
    try:
        yield launched
    finally:
        if not launched.done():
            launched.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await launched


def test_the_launcher_is_a_launcher(api_client: Any) -> None:
    launcher: Launcher = KubernetesLauncher(api_client, launcher_config())
    assert launcher is not None


@pytest.mark.parametrize("watch", [True, False], ids=["watch", "poll"])
async def test_the_pod_runs_the_task_and_its_files_travel_both_ways(
    api_client: Any, kubelet: FakeKubelet, tmp_path: Path, watch: bool
) -> None:
    request = request_for(tmp_path, sys.executable, "-c", TASK_SCRIPT, str(attempt_dir(tmp_path)))
    async with (
        KubernetesLauncher(api_client, launcher_config(watch=watch)) as launcher,
        launching(launcher, request) as launched,
    ):
        pod = await kubelet.pod()
        validate(pod)
        assert await kubelet.complete(pod) == 0
        outcome = await launched

    assert outcome == PodLaunchOutcome(exit_code=0, reason="Completed", pod_name=NAME)
    root = attempt_dir(tmp_path)
    assert (root / "staging/s3/bucket/out/model.txt").read_text() == "HELLO"
    assert (root / "outputs/parameters/answer").read_text() == "42"
    log = request.log_path.read_text()
    assert f"[sluice] kubernetes launcher: pod {NAMESPACE}/{NAME}, image {IMAGE!r}\n" in log
    assert f"cwd {root / 'work'}\ntmp {root / 'tmp'}\ntoken visible False\n" in log
    if can_isolate():
        # The pod's working directory lived in the pod only.
        assert not (root / "work" / "scratch.txt").exists()
    await kubelet.gone(NAME)


async def test_watch_events_wake_the_launch_long_before_the_next_read(
    api_client: Any, kubelet: FakeKubelet, tmp_path: Path
) -> None:
    config = launcher_config(poll_initial_seconds=30.0, poll_max_seconds=30.0)
    async with (
        KubernetesLauncher(api_client, config) as launcher,
        launching(launcher, request_for(tmp_path)) as launched,
    ):
        await kubelet.pod()
        await kubelet.patch(NAME, finished(4))
        outcome = await asyncio.wait_for(launched, 3)

    assert outcome.exit_code == 4


async def test_kfp_components_run_through_run_attempt_in_pods(
    launcher: KubernetesLauncher, kubelet: FakeKubelet, tmp_path: Path
) -> None:
    """`run_attempt` unchanged: artifacts staged by the executor, moved into and out of pods."""
    store = DirectoryStore(tmp_path / "store")
    # The images' python3 is the test's interpreter, which has kfp (KFP's pip install is a no-op).
    kubelet.path_prefix = str(Path(sys.executable).parent)

    async def run(component: Any, **kwargs: Any) -> Any:
        dispatch = make_dispatch(compile_component(component, tmp_path), **kwargs)
        attempt = asyncio.create_task(
            run_attempt(dispatch, launcher=launcher, stager=store, work_root=tmp_path / "work")
        )
        pod = await kubelet.pod()
        validate(pod)
        await kubelet.complete(pod)
        await kubelet.gone(pod["metadata"]["name"])
        return await attempt

    written = await run(
        write_dataset,
        task_id="write",
        parameters={"text": "from a pod"},
        output_uris={"data": "minio://bucket/run-1/write/data"},
    )
    assert written.state == common_pb2.SUCCEEDED, written.error.message
    assert (store.root / "bucket/run-1/write/data").read_text() == "from a pod"

    (ref,) = written.output_artifacts["data"].artifacts
    ref.metadata.update({"origin": "store"})
    read = await run(read_dataset, task_id="read", input_artifacts={"data": [ref]})

    assert read.state == common_pb2.SUCCEEDED, read.error.message
    assert read.output_parameters["Output"].string_value == "from a pod|1|store"
    log = (
        attempt_dir_for(tmp_path / "work", run_id="run-1", task_id="read", attempt=1) / "task.log"
    ).read_text()
    assert "[sluice] kubernetes launcher: pod" in log
    assert read.pod_name == pod_name("run-1", "read", 1)


async def test_the_task_error_names_the_pods_end_then_the_task_output(
    launcher: KubernetesLauncher, kubelet: FakeKubelet, tmp_path: Path
) -> None:
    dispatch = make_dispatch(
        compile_component(write_dataset, tmp_path),
        parameters={"text": "x"},
        output_uris={"data": "minio://bucket/run-1/data"},
    )
    dispatch.container.resources.memory_limit = 256 * 2**20
    attempt = asyncio.create_task(
        run_attempt(dispatch, launcher=launcher, stager=DirectoryStore(tmp_path), work_root=tmp_path / "work")
    )
    pod = await kubelet.pod()
    name = pod["metadata"]["name"]
    await kubelet.patch(name, running())
    kubelet.log(name).write(b"allocating...\n")
    await kubelet.patch(name, finished(137, reason="OOMKilled"))
    result = await attempt

    assert result.state == common_pb2.FAILED
    assert result.error.message == "out of memory: limit 256Mi; last lines of its log:\nallocating..."
    assert (result.exit_code, result.pod_name) == (137, name)


async def test_a_failing_task_reports_its_exit_code(
    launcher: KubernetesLauncher, kubelet: FakeKubelet, tmp_path: Path
) -> None:
    request = request_for(tmp_path, sys.executable, "-c", "import sys; print('bad input'); sys.exit(3)")
    async with launching(launcher, request) as launched:
        await kubelet.complete(await kubelet.pod())
        outcome = await launched

    assert outcome == PodLaunchOutcome(exit_code=3, reason="Error", pod_name=NAME)
    assert "bad input\n" in request.log_path.read_text()
    await kubelet.gone(NAME)


async def test_out_of_memory_names_the_limit(
    launcher: KubernetesLauncher, kubelet: FakeKubelet, tmp_path: Path
) -> None:
    request = request_for(tmp_path)
    pod_task = task(resources=TaskResources(memory_limit=256 * 2**20))
    async with launching(launcher, request, pod_task) as launched:
        pod = await kubelet.pod()
        assert pod["spec"]["containers"][0]["resources"] == {"limits": {"memory": "256Mi"}}
        await kubelet.patch(NAME, running())
        kubelet.log(NAME).write(b"allocating...\n")
        await kubelet.patch(NAME, finished(137, reason="OOMKilled"))
        outcome = await launched

    assert outcome == PodLaunchOutcome(
        exit_code=137, reason="OOMKilled", message="out of memory: limit 256Mi", pod_name=NAME
    )
    log = request.log_path.read_text()
    assert log.endswith("allocating...\n[sluice] out of memory: limit 256Mi\n")
    await kubelet.gone(NAME)


def log_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name.startswith("sluice-pod-log-")]


async def logged(request: LaunchRequest, text: str) -> None:
    """Return once the attempt's log ends with `text`."""

    async def ends_with() -> bool:
        return request.log_path.read_text().endswith(text)

    await eventually(ends_with)


async def test_the_log_reaches_the_attempt_log_while_the_pod_runs(
    launcher: KubernetesLauncher, kubelet: FakeKubelet, tmp_path: Path
) -> None:
    request = request_for(tmp_path)
    pod_log = kubelet.log(NAME)
    async with launching(launcher, request) as launched:
        await kubelet.pod()
        await kubelet.patch(NAME, running())
        pod_log.write(b"epoch 1\n")
        await logged(request, "epoch 1\n")
        pod_log.write(b"epoch 2 ")
        await logged(request, "epoch 2 ")
        assert not launched.done()
        pod_log.write(b"failed")
        await kubelet.patch(NAME, finished(3))
        outcome = await asyncio.wait_for(launched, 5)

    assert outcome == PodLaunchOutcome(exit_code=3, reason="Error", pod_name=NAME)
    # Once, with the newline the task did not write; the stream's end made a second read needless.
    assert request.log_path.read_text().endswith(f"{IMAGE!r}\nepoch 1\nepoch 2 failed\n")
    assert (pod_log.follows, pod_log.reads) == (1, 0)
    assert log_threads() == []


@pytest.mark.parametrize("failure", ["breaks-off", "refused", "never-ends"])
async def test_a_follow_that_fails_is_completed_by_one_read_without_duplicates(
    launcher: KubernetesLauncher, kubelet: FakeKubelet, tmp_path: Path, failure: str
) -> None:
    request = request_for(tmp_path)
    pod_log = kubelet.log(NAME)
    pod_log.refuse_follow = failure == "refused"
    pod_log.ends_with_container = failure != "never-ends"
    async with launching(launcher, request) as launched:
        await kubelet.pod()
        await kubelet.patch(NAME, running())
        pod_log.write(b"line 1\nline 2 par")
        if failure != "refused":
            await logged(request, "line 1\nline 2 par")
        if failure == "breaks-off":
            pod_log.break_off()
        pod_log.write(b"tial\nline 3\n")
        await kubelet.patch(NAME, finished(3))
        outcome = await asyncio.wait_for(launched, 5)

    assert outcome.exit_code == 3
    assert request.log_path.read_text().endswith(f"{IMAGE!r}\nline 1\nline 2 partial\nline 3\n")
    assert (pod_log.follows, pod_log.reads) == (0 if failure == "refused" else 1, 1)
    assert log_threads() == []


async def test_a_log_that_cannot_be_read_is_noted_on_a_line_of_its_own(
    launcher: KubernetesLauncher, kubelet: FakeKubelet, tmp_path: Path
) -> None:
    request = request_for(tmp_path)
    pod_log = kubelet.log(NAME)
    async with launching(launcher, request) as launched:
        await kubelet.pod()
        await kubelet.patch(NAME, running())
        pod_log.write(b"half a line")
        await logged(request, "half a line")
        pod_log.break_off()
        pod_log.lost = True
        await kubelet.patch(NAME, finished(3))
        outcome = await asyncio.wait_for(launched, 5)

    assert outcome.exit_code == 3
    assert request.log_path.read_text().endswith(
        "half a line\n[sluice] the pod's log is not available: 404 Not Found: the pod's log is gone\n"
    )


@pytest.mark.parametrize(
    ("reasons", "fatal"),
    [(["ErrImagePull", "ImagePullBackOff"], False), (["InvalidImageName"], True)],
    ids=["pull-backoff", "invalid-name"],
)
async def test_an_image_that_cannot_be_pulled_fails_the_attempt_naming_the_image(
    launcher: KubernetesLauncher, kubelet: FakeKubelet, tmp_path: Path, reasons: list[str], fatal: bool
) -> None:
    request = request_for(tmp_path)
    async with launching(launcher, request) as launched:
        await kubelet.pod()
        for reason in reasons:
            await kubelet.patch(NAME, waiting(reason, "manifest unknown"))
        outcome = await asyncio.wait_for(launched, 5)

    assert isinstance(outcome, PodLaunchOutcome)
    assert (outcome.exit_code, outcome.reason, outcome.retryable) == (127, "ImagePull", False)
    assert outcome.message.startswith(f"cannot pull image {IMAGE!r}: {reasons[-1]}: manifest unknown")
    assert fatal == ("(for" not in outcome.message)
    assert "[sluice] giving up on the pod: cannot pull image" in request.log_path.read_text()
    await kubelet.gone(NAME)


async def test_a_missing_secret_fails_after_the_grace_period(
    launcher: KubernetesLauncher, kubelet: FakeKubelet, tmp_path: Path
) -> None:
    async with launching(launcher, request_for(tmp_path)) as launched:
        await kubelet.pod()
        await kubelet.patch(NAME, waiting("CreateContainerConfigError", 'secret "db" not found'))
        outcome = await asyncio.wait_for(launched, 5)

    assert isinstance(outcome, PodLaunchOutcome)
    assert (outcome.exit_code, outcome.reason) == (127, "Configuration")
    assert outcome.message.startswith('the container cannot be created: secret "db" not found (for ')


async def test_an_evicted_pod_is_a_retryable_failure(
    launcher: KubernetesLauncher, kubelet: FakeKubelet, tmp_path: Path
) -> None:
    async with launching(launcher, request_for(tmp_path)) as launched:
        await kubelet.pod()
        await kubelet.patch(NAME, running())
        evicted = {
            "phase": "Failed",
            "reason": "Evicted",
            "message": "The node was low on resource: memory.",
            "startTime": "2025-01-01T00:00:00Z",
        }
        await kubelet.patch(NAME, evicted)
        outcome = await launched

    assert outcome == PodLaunchOutcome(
        exit_code=137,
        reason="Evicted",
        message="the pod was evicted: The node was low on resource: memory.",
        retryable=True,
        pod_name=NAME,
    )
    await kubelet.gone(NAME)


async def test_a_pod_past_its_deadline_timed_out(
    launcher: KubernetesLauncher, kubelet: FakeKubelet, tmp_path: Path
) -> None:
    async with launching(launcher, request_for(tmp_path, timeout_seconds=30)) as launched:
        pod = await kubelet.pod()
        assert pod["spec"]["activeDeadlineSeconds"] == 30
        await kubelet.patch(NAME, running())
        await kubelet.patch(
            NAME, finished(137, reason="Error", pod_reason="DeadlineExceeded", phase="Failed")
        )
        outcome = await launched

    assert isinstance(outcome, PodLaunchOutcome)
    assert (outcome.exit_code, outcome.timed_out, outcome.reason) == (137, True, "DeadlineExceeded")


async def test_the_executor_stops_a_pod_the_cluster_lets_run_past_its_timeout(
    launcher: KubernetesLauncher, kubelet: FakeKubelet, tmp_path: Path
) -> None:
    async with launching(launcher, request_for(tmp_path, timeout_seconds=0.2)) as launched:
        await kubelet.pod()
        await kubelet.patch(NAME, running())
        outcome = await asyncio.wait_for(launched, 5)

    assert isinstance(outcome, PodLaunchOutcome)
    assert (outcome.timed_out, outcome.canceled, outcome.reason) == (True, False, "DeadlineExceeded")
    await kubelet.gone(NAME)


async def test_cancel_deletes_the_pod(
    launcher: KubernetesLauncher, kubelet: FakeKubelet, tmp_path: Path
) -> None:
    request = request_for(tmp_path)
    async with launching(launcher, request) as launched:
        await kubelet.pod()
        await kubelet.patch(NAME, running())
        assert await launcher.cancel(KEY)
        outcome = await asyncio.wait_for(launched, 5)

    assert outcome == PodLaunchOutcome(exit_code=143, canceled=True, reason="Canceled", pod_name=NAME)
    assert "[sluice] canceled: deleting the pod\n" in request.log_path.read_text()
    await kubelet.gone(NAME)
    assert not await launcher.cancel(KEY)


async def test_cancel_stops_following_the_log_at_once(
    launcher: KubernetesLauncher, kubelet: FakeKubelet, tmp_path: Path
) -> None:
    request = request_for(tmp_path)
    pod_log = kubelet.log(NAME)
    async with launching(launcher, request) as launched:
        await kubelet.pod()
        await kubelet.patch(NAME, running())
        pod_log.write(b"working\n")
        await logged(request, "working\n")
        assert len(log_threads()) == 1
        assert await launcher.cancel(KEY)
        await asyncio.wait_for(launched, 5)

    assert log_threads() == []
    # The stream was stopped, not ended: one read made sure nothing was left out, adding nothing.
    assert request.log_path.read_text().count("working") == 1
    assert (pod_log.follows, pod_log.reads) == (1, 1)


async def test_cancelling_the_launch_deletes_the_pod(
    launcher: KubernetesLauncher, kubelet: FakeKubelet, tmp_path: Path
) -> None:
    request = request_for(tmp_path)
    launched = asyncio.create_task(launcher.launch(replace(request, pod=task())))
    await kubelet.pod()
    await kubelet.patch(NAME, running())
    kubelet.log(NAME).write(b"working\n")
    await logged(request, "working\n")
    launched.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(launched, 5)
    await kubelet.gone(NAME)
    assert log_threads() == []


async def test_a_pod_deleted_by_someone_else_is_a_retryable_failure(
    launcher: KubernetesLauncher, kubelet: FakeKubelet, tmp_path: Path
) -> None:
    async with launching(launcher, request_for(tmp_path)) as launched:
        await kubelet.pod()
        await kubelet.patch(NAME, running())
        await kubelet.delete(NAME)
        outcome = await asyncio.wait_for(launched, 5)

    assert isinstance(outcome, PodLaunchOutcome)
    assert (outcome.reason, outcome.retryable, outcome.exit_code) == ("Deleted", True, 137)


async def test_a_pod_no_node_takes_fails_after_the_schedule_timeout(
    api_client: Any, kubelet: FakeKubelet, tmp_path: Path
) -> None:
    config = launcher_config(schedule_timeout_seconds=0.3)
    async with (
        KubernetesLauncher(api_client, config) as launcher,
        launching(launcher, request_for(tmp_path)) as launched,
    ):
        await kubelet.pod()
        unschedulable = {
            "phase": "Pending",
            "conditions": [
                {
                    "type": "PodScheduled",
                    "status": "False",
                    "reason": "Unschedulable",
                    "message": "0/3 nodes are available: 3 Insufficient nvidia.com/gpu.",
                }
            ],
        }
        await kubelet.patch(NAME, unschedulable)
        outcome = await asyncio.wait_for(launched, 5)

    assert isinstance(outcome, PodLaunchOutcome)
    assert (outcome.exit_code, outcome.reason) == (127, "Unschedulable")
    assert "0/3 nodes are available: 3 Insufficient nvidia.com/gpu." in outcome.message
    await kubelet.gone(NAME)


async def test_a_lost_node_is_a_retryable_failure(
    launcher: KubernetesLauncher, kubelet: FakeKubelet, tmp_path: Path
) -> None:
    async with launching(launcher, request_for(tmp_path)) as launched:
        await kubelet.pod()
        await kubelet.patch(NAME, {**running(), "phase": "Unknown", "message": "node n1 is not ready"})
        outcome = await asyncio.wait_for(launched, 5)

    assert isinstance(outcome, PodLaunchOutcome)
    assert (outcome.reason, outcome.retryable) == ("NodeLost", True)
    assert "node n1 is not ready" in outcome.message


async def test_runtime_failures_are_explained(
    launcher: KubernetesLauncher, kubelet: FakeKubelet, tmp_path: Path
) -> None:
    message = RUNTIME_FAILURE_PREFIX + "cannot fetch the task's inputs from http://10.0.0.1:8790: timed out"
    async with launching(launcher, request_for(tmp_path)) as launched:
        await kubelet.pod()
        await kubelet.patch(NAME, finished(EXIT_STAGING_FAILED, message=message))
        outcome = await launched

    assert isinstance(outcome, PodLaunchOutcome)
    assert (outcome.exit_code, outcome.reason, outcome.message) == (
        EXIT_STAGING_FAILED,
        "RuntimeFailure",
        message,
    )


async def test_a_pod_that_succeeds_without_sending_outputs_fails(
    launcher: KubernetesLauncher, kubelet: FakeKubelet, tmp_path: Path
) -> None:
    async with launching(launcher, request_for(tmp_path)) as launched:
        await kubelet.pod()
        await kubelet.patch(NAME, finished(0))
        outcome = await launched

    assert isinstance(outcome, PodLaunchOutcome)
    assert (outcome.exit_code, outcome.reason) == (EXIT_STAGING_FAILED, "RuntimeFailure")
    assert outcome.message == "the pod succeeded but its outputs never reached the executor"


async def test_a_pod_left_by_an_earlier_run_of_the_attempt_is_replaced(
    launcher: KubernetesLauncher, kubelet: FakeKubelet, tmp_path: Path
) -> None:
    stale = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": NAME,
            "namespace": NAMESPACE,
            "annotations": {"sluice.dev/attempt-key": KEY},
            "labels": {"stale": "yes"},
        },
        "spec": {"containers": [{"name": "main", "image": "old"}]},
    }
    await asyncio.to_thread(kubelet.core.create_namespaced_pod, NAMESPACE, stale)
    request = request_for(tmp_path, sys.executable, "-c", "print('fresh')")
    async with launching(launcher, request) as launched:

        async def replaced() -> bool:
            pod = await kubelet.read(NAME)
            return pod is not None and "stale" not in pod["metadata"]["labels"]

        await eventually(replaced)
        await kubelet.complete(await kubelet.read(NAME) or {})
        outcome = await launched

    assert outcome == PodLaunchOutcome(exit_code=0, reason="Completed", pod_name=NAME)
    assert "left by an earlier run of this attempt" in request.log_path.read_text()


async def test_a_name_held_by_another_attempt_gets_a_second_name(
    launcher: KubernetesLauncher, kubelet: FakeKubelet, tmp_path: Path
) -> None:
    other = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": NAME,
            "namespace": NAMESPACE,
            "annotations": {"sluice.dev/attempt-key": "x/y/1"},
        },
        "spec": {"containers": [{"name": "main", "image": "other"}]},
    }
    await asyncio.to_thread(kubelet.core.create_namespaced_pod, NAMESPACE, other)
    second = fallback_pod_name(task())
    async with launching(launcher, request_for(tmp_path, sys.executable, "-c", "pass")) as launched:

        async def created() -> bool:
            return await kubelet.read(second) is not None

        await eventually(created)
        await kubelet.complete(await kubelet.read(second) or {})
        outcome = await launched

    assert isinstance(outcome, PodLaunchOutcome)
    assert (outcome.exit_code, outcome.pod_name) == (0, second)
    assert await kubelet.read(NAME) is not None  # the other attempt's pod is untouched


async def test_a_platform_config_that_cannot_be_honoured_fails_before_any_pod(
    launcher: KubernetesLauncher, kubelet: FakeKubelet, tmp_path: Path
) -> None:
    pod_task = task(platform={"initContainers": [{"name": "x", "image": "busybox"}]})
    outcome = await launcher.launch(replace(request_for(tmp_path), pod=pod_task))

    assert isinstance(outcome, PodLaunchOutcome)
    assert (outcome.exit_code, outcome.reason) == (127, "InvalidPod")
    assert "initContainers" in outcome.message
    assert await kubelet.pods() == []


async def test_a_pod_the_api_refuses_fails_the_attempt(
    launcher: KubernetesLauncher, emulator: kmock.KubernetesEmulator, tmp_path: Path
) -> None:
    refusal = {
        "kind": "Status",
        "code": 422,
        "reason": "Invalid",
        "message": 'Pod "x" is invalid: spec.volumes',
    }
    emulator[f"post /api/v1/namespaces/{NAMESPACE}/pods"] << 422 << json.dumps(refusal).encode()
    outcome = await launcher.launch(replace(request_for(tmp_path), pod=task()))

    assert isinstance(outcome, PodLaunchOutcome)
    assert (outcome.exit_code, outcome.reason) == (127, "Rejected")
    assert outcome.message.startswith("the Kubernetes API refused the pod: 422")


async def test_an_unreachable_api_is_unavailable(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    api = make_api_client(host=f"http://127.0.0.1:{port}")
    try:
        async with KubernetesLauncher(api, launcher_config(watch=False)) as launcher:
            with pytest.raises(Unavailable):
                await launcher.launch(replace(request_for(tmp_path), pod=task()))
    finally:
        api.close()


async def test_launches_need_a_started_launcher_and_distinct_keys(
    api_client: Any, launcher: KubernetesLauncher, kubelet: FakeKubelet, tmp_path: Path
) -> None:
    with pytest.raises(FailedPrecondition, match="not started"):
        await KubernetesLauncher(api_client, launcher_config()).launch(request_for(tmp_path / "a"))
    request = request_for(tmp_path)
    async with launching(launcher, request):
        await kubelet.pod()
        with pytest.raises(FailedPrecondition, match="already running"):
            await launcher.launch(request)


async def test_without_a_pod_task_the_ids_come_from_the_key(
    launcher: KubernetesLauncher, kubelet: FakeKubelet, tmp_path: Path
) -> None:
    request = request_for(tmp_path, sys.executable, "-c", "pass")
    launched = asyncio.create_task(launcher.launch(request))
    try:
        pod = await kubelet.pod()
        assert pod["metadata"]["labels"]["sluice.dev/task-id"] == TASK
        await kubelet.complete(pod)
        outcome = await launched
    finally:
        launched.cancel()
    assert outcome.exit_code == 0


def test_a_task_gives_the_pod_its_resources_platform_config_and_inputs() -> None:
    spec = TaskSpec(
        run_id="r",
        task_id="t",
        attempt=2,
        task_name="train",
        pipeline_name="p",
        run_display_name="",
        pipeline_root="",
        image="img",
        command=(),
        args=(),
        input_parameters={"n": 3},
        resources=TaskResources(cpu_limit=2, memory_limit=2**30, accelerator_count=1),
        platform={"nodeSelector": {"labels": {"pool": "gpu"}}},
    )

    assert pod_task_of(spec) == PodTask(
        run_id="r",
        task_id="t",
        attempt=2,
        task_name="train",
        pipeline_name="p",
        resources=TaskResources(cpu_limit=2, memory_limit=2**30, accelerator_count=1),
        platform={"nodeSelector": {"labels": {"pool": "gpu"}}},
        input_parameters={"n": 3},
    )
