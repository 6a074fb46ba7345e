"""End to end: components compiled by the real `kfp` compiler, run by `run_attempt`."""

import asyncio
import json
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import json_format
from sluice.v1 import common_pb2, tasks_pb2

from services.core.errors import FailedPrecondition, Unavailable
from services.executor.attempt import attempt_dir_for, log_tail, run_attempt
from services.executor.launchers.base import Launcher, LaunchOutcome, LaunchRequest
from services.executor.launchers.kubernetes import PodTask
from services.executor.launchers.local import LocalLauncher
from services.executor.staging import LocalFileStager
from services.executor.task import TaskResources
from tests.services.executor.components import (
    add,
    describe,
    explode,
    forget,
    greet,
    nap,
    read_dataset,
    write_dataset,
    write_model_dir,
)
from tests.services.executor.fakes import DirectoryStore
from tests.services.executor.kfp_ir import compile_component, make_dispatch, to_value
from tests.services.executor.waiting import wait_until


@pytest.fixture
def launcher() -> LocalLauncher:
    return LocalLauncher(grace_seconds=2)


def log_text(result: tasks_pb2.TaskResult) -> str:
    return Path(result.log_uri.removeprefix("file://")).read_text()


def outputs_of(result: tasks_pb2.TaskResult) -> dict[str, Any]:
    return {name: json_format.MessageToDict(value) for name, value in result.output_parameters.items()}


async def run(
    component: Any,
    tmp_path: Path,
    launcher: Launcher,
    stager: Any = None,
    *,
    stage_local: bool = False,
    **kwargs: Any,
) -> tasks_pb2.TaskResult:
    dispatch = make_dispatch(compile_component(component, tmp_path), **kwargs)
    return await run_attempt(
        dispatch,
        launcher=launcher,
        stager=stager or LocalFileStager(),
        work_root=tmp_path / "work",
        stage_local_artifacts=stage_local,
    )


async def test_python_component_returning_an_int(tmp_path: Path, launcher: LocalLauncher) -> None:
    result = await run(add, tmp_path, launcher, parameters={"a": 2, "b": 40})

    assert result.state == common_pb2.SUCCEEDED, result.error.message
    assert outputs_of(result) == {"Output": 42}
    assert (result.run_id, result.task_id, result.attempt, result.exit_code) == ("run-1", "task-1", 1, 0)
    attempt_dir = attempt_dir_for(tmp_path / "work", run_id="run-1", task_id="task-1", attempt=1)
    assert result.log_uri == (attempt_dir / "task.log").as_uri()
    first, second = log_text(result).splitlines()[:2]
    assert first == "[sluice] local launcher: running on the host; image 'python:3.11' is not used"
    assert second.startswith("[sluice] pip install skipped, already satisfied here: kfp==")


async def test_named_tuple_of_every_parameter_type(tmp_path: Path, launcher: LocalLauncher) -> None:
    result = await run(
        describe,
        tmp_path,
        launcher,
        parameters={"xs": [1, 4], "d": {"a": 1}, "f": 1.5, "flag": True, "name": "alice"},
    )

    assert result.state == common_pb2.SUCCEEDED, result.error.message
    assert outputs_of(result) == {
        "s": "ALICE",
        "i": 5,
        "f": 3.0,
        "b": False,
        "l": [1, 4, 1],
        "d": {"a": 1, "n": 2},
    }
    attempt_dir = attempt_dir_for(tmp_path / "work", run_id="run-1", task_id="task-1", attempt=1)
    sent = json.loads((attempt_dir / "executor_input.json").read_text())["inputs"]["parameterValues"]
    assert sent == {"xs": [1, 4], "d": {"a": 1}, "f": 1.5, "flag": True, "name": "alice"}
    assert all(type(x) is int for x in sent["xs"])


async def test_dataset_written_then_read_in_place(tmp_path: Path, launcher: LocalLauncher) -> None:
    dataset = tmp_path / "root" / "the-pipeline" / "run-1" / "write" / "data"
    written = await run(
        write_dataset,
        tmp_path,
        launcher,
        task_id="write",
        parameters={"text": "hello"},
        output_uris={"data": dataset.as_uri()},
    )

    assert written.state == common_pb2.SUCCEEDED, written.error.message
    assert dataset.read_text() == "hello"
    (ref,) = written.output_artifacts["data"].artifacts
    assert (ref.name, ref.uri, ref.schema_title, ref.schema_version) == (
        "data",
        dataset.as_uri(),
        "system.Dataset",
        "0.0.1",
    )
    assert json_format.MessageToDict(ref.metadata) == {"rows": 1}

    ref.metadata.update({"origin": "test"})
    read = await run(read_dataset, tmp_path, launcher, task_id="read", input_artifacts={"data": [ref]})

    assert read.state == common_pb2.SUCCEEDED, read.error.message
    assert outputs_of(read) == {"Output": "hello|1|test"}


async def test_artifacts_with_remote_uris_are_staged(tmp_path: Path, launcher: LocalLauncher) -> None:
    store = DirectoryStore(tmp_path / "store")
    written = await run(
        write_dataset,
        tmp_path,
        launcher,
        store,
        task_id="write",
        parameters={"text": "remote"},
        output_uris={"data": "minio://bucket/run-1/write/data"},
    )
    assert written.state == common_pb2.SUCCEEDED, written.error.message
    assert store.uploads == ["minio://bucket/run-1/write/data"]
    assert (store.root / "bucket/run-1/write/data").read_text() == "remote"
    staged = attempt_dir_for(tmp_path / "work", run_id="run-1", task_id="write", attempt=1) / "staging"
    assert (staged / "minio/bucket/run-1/write/data").read_text() == "remote"

    (ref,) = written.output_artifacts["data"].artifacts
    assert ref.uri == "minio://bucket/run-1/write/data"
    ref.metadata.update({"origin": "store"})
    read = await run(read_dataset, tmp_path, launcher, store, task_id="read", input_artifacts={"data": [ref]})

    assert read.state == common_pb2.SUCCEEDED, read.error.message
    assert store.downloads == ["minio://bucket/run-1/write/data"]
    assert outputs_of(read) == {"Output": "remote|1|store"}


class RecordingFileStager(LocalFileStager):
    def __init__(self) -> None:
        self.downloads: list[str] = []
        self.uploads: list[str] = []

    async def download(self, uri: str, dest_path: Path) -> None:
        self.downloads.append(uri)
        await super().download(uri, dest_path)

    async def upload(self, src_path: Path, uri: str) -> int:
        self.uploads.append(uri)
        return await super().upload(src_path, uri)


async def test_local_artifacts_are_staged_for_a_task_that_cannot_see_them(
    tmp_path: Path, launcher: LocalLauncher
) -> None:
    """What the Kubernetes launcher needs: a pod sees only its attempt directory."""
    stager = RecordingFileStager()
    dataset = tmp_path / "root" / "data"
    written = await run(
        write_dataset,
        tmp_path,
        launcher,
        stager,
        stage_local=True,
        task_id="write",
        parameters={"text": "hello"},
        output_uris={"data": dataset.as_uri()},
    )

    assert written.state == common_pb2.SUCCEEDED, written.error.message
    assert stager.uploads == [dataset.as_uri()]
    assert dataset.read_text() == "hello"
    # The task wrote inside its attempt directory, and nowhere else.
    write_dir = attempt_dir_for(tmp_path / "work", run_id="run-1", task_id="write", attempt=1)
    staged = (write_dir / "staging" / "file").joinpath(*dataset.parts[1:])
    executor_input = json.loads((write_dir / "executor_input.json").read_text())
    (output,) = executor_input["outputs"]["artifacts"]["data"]["artifacts"]
    assert output["uri"] == str(staged)
    assert staged.read_text() == "hello"

    (ref,) = written.output_artifacts["data"].artifacts
    ref.metadata.update({"origin": "staged"})
    read = await run(
        read_dataset,
        tmp_path,
        launcher,
        stager,
        stage_local=True,
        task_id="read",
        input_artifacts={"data": [ref]},
    )

    assert read.state == common_pb2.SUCCEEDED, read.error.message
    assert stager.downloads == [dataset.as_uri()]
    assert outputs_of(read) == {"Output": "hello|1|staged"}


async def test_local_artifacts_are_used_in_place_by_default(tmp_path: Path, launcher: LocalLauncher) -> None:
    stager = RecordingFileStager()
    dataset = tmp_path / "root" / "data"
    written = await run(
        write_dataset,
        tmp_path,
        launcher,
        stager,
        parameters={"text": "in place"},
        output_uris={"data": dataset.as_uri()},
    )

    assert written.state == common_pb2.SUCCEEDED, written.error.message
    assert dataset.read_text() == "in place"
    assert stager.uploads == stager.downloads == []


async def test_output_artifact_written_as_a_directory(tmp_path: Path, launcher: LocalLauncher) -> None:
    store = DirectoryStore(tmp_path / "store")
    result = await run(
        write_model_dir, tmp_path, launcher, store, output_uris={"model": "s3://models/run-1/model"}
    )

    assert result.state == common_pb2.SUCCEEDED, result.error.message
    assert (store.root / "models/run-1/model/weights.txt").read_text() == "w"
    assert (store.root / "models/run-1/model/sub/config.txt").read_text() == "c"


async def test_missing_input_artifact_fails_the_task(tmp_path: Path, launcher: LocalLauncher) -> None:
    store = DirectoryStore(tmp_path / "store")
    ref = tasks_pb2.ArtifactRef(name="data", uri="minio://bucket/nothing", schema_title="system.Dataset")
    result = await run(read_dataset, tmp_path, launcher, store, input_artifacts={"data": [ref]})

    assert result.state == common_pb2.FAILED
    assert result.error.code == grpc.StatusCode.NOT_FOUND.value[0]
    assert "minio://bucket/nothing" in result.error.message


@pytest.mark.parametrize(
    ("suffix", "expected"), [("?", "hello bob x3? @the-task"), (None, "hello bob x3. @the-task")]
)
async def test_container_component_with_structured_placeholders(
    tmp_path: Path, launcher: LocalLauncher, suffix: str | None, expected: str
) -> None:
    parameters: dict[str, Any] = {"name": "bob", "count": 3}
    if suffix is not None:
        parameters["suffix"] = suffix
    result = await run(greet, tmp_path, launcher, parameters=parameters)

    assert result.state == common_pb2.SUCCEEDED, result.error.message
    assert outputs_of(result) == {"greeting": expected}


async def test_failing_component_reports_the_exception(tmp_path: Path, launcher: LocalLauncher) -> None:
    result = await run(explode, tmp_path, launcher, parameters={"message": "kaput"})

    assert result.state == common_pb2.FAILED
    assert result.exit_code == 1
    assert result.error.code == grpc.StatusCode.UNKNOWN.value[0]
    assert result.error.message.startswith("the task exited with code 1; last lines of its log:\n")
    assert result.error.message.endswith("ValueError: boom: kaput")
    assert not result.output_parameters


async def test_missing_output_parameter_fails_naming_it(tmp_path: Path, launcher: LocalLauncher) -> None:
    result = await run(forget, tmp_path, launcher)

    assert result.state == common_pb2.FAILED
    assert result.error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert result.error.message == "the task did not produce output parameter(s) 'answer'"
    assert log_text(result).endswith(
        "[sluice] the task's outputs are unusable: the task did not produce output parameter(s) 'answer'\n"
    )


async def test_timeout_fails_the_task(tmp_path: Path, launcher: LocalLauncher) -> None:
    result = await run(nap, tmp_path, launcher, parameters={"seconds": 30}, timeout_seconds=0.3)

    assert result.state == common_pb2.FAILED
    assert result.error.code == grpc.StatusCode.DEADLINE_EXCEEDED.value[0]
    assert result.error.message == "the task timed out after 0.3s"
    assert result.exit_code == 128 + 15


async def test_unknown_placeholder_fails_before_launch(tmp_path: Path, launcher: LocalLauncher) -> None:
    dispatch = make_dispatch(compile_component(add, tmp_path), parameters={"a": 1, "b": 2})
    dispatch.container.args.append(to_value("--x={{$.inputs.parameters['a'].json_escape[0]}}"))
    result = await run_attempt(
        dispatch, launcher=launcher, stager=LocalFileStager(), work_root=tmp_path / "work"
    )

    assert result.state == common_pb2.FAILED
    assert result.error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert result.error.message == "unknown placeholder '{{$.inputs.parameters['a'].json_escape[0]}}'"
    assert log_text(result) == f"[sluice] cannot start the task: {result.error.message}\n"
    assert log_tail(Path(result.log_uri.removeprefix("file://"))) == ""


async def test_unsafe_ids_fail_without_touching_the_disk(tmp_path: Path, launcher: LocalLauncher) -> None:
    dispatch = make_dispatch(compile_component(add, tmp_path), parameters={"a": 1, "b": 2}, task_id="..")
    result = await run_attempt(
        dispatch, launcher=launcher, stager=LocalFileStager(), work_root=tmp_path / "work"
    )

    assert result.state == common_pb2.FAILED
    assert result.error.message == "task_id '..' cannot name a directory"
    assert result.log_uri == ""
    assert not (tmp_path / "work").exists()


async def test_a_redelivered_attempt_starts_from_a_clean_directory(
    tmp_path: Path, launcher: LocalLauncher
) -> None:
    first = await run(add, tmp_path, launcher, parameters={"a": 1, "b": 1})
    second = await run(add, tmp_path, launcher, parameters={"a": 2, "b": 2})

    assert outputs_of(second) == {"Output": 4}
    assert first.log_uri == second.log_uri
    assert log_text(second).count("local launcher") == 1


async def test_an_output_path_that_cannot_be_created_fails_the_task(
    tmp_path: Path, launcher: LocalLauncher
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = await run(
        write_dataset,
        tmp_path,
        launcher,
        parameters={"text": "x"},
        output_uris={"data": (blocker / "data").as_uri()},
    )

    assert result.state == common_pb2.FAILED
    assert result.error.code == grpc.StatusCode.INTERNAL.value[0]
    assert result.error.message.startswith("FileExistsError: ")
    assert log_text(result).startswith("[sluice] cannot start the task: FileExistsError: ")


class UnavailableStore(DirectoryStore):
    async def download(self, uri: str, dest_path: Path) -> None:
        raise Unavailable(f"artifact store unreachable for {uri}")


async def test_an_unavailable_store_propagates_for_redelivery(
    tmp_path: Path, launcher: LocalLauncher
) -> None:
    ref = tasks_pb2.ArtifactRef(name="data", uri="minio://bucket/data", schema_title="system.Dataset")

    with pytest.raises(Unavailable, match="artifact store unreachable for minio://bucket/data"):
        await run(
            read_dataset, tmp_path, launcher, UnavailableStore(tmp_path), input_artifacts={"data": [ref]}
        )


async def test_a_duplicate_delivery_does_not_disturb_the_running_attempt(
    tmp_path: Path, launcher: LocalLauncher
) -> None:
    first = asyncio.create_task(run(nap, tmp_path, launcher, parameters={"seconds": 30}))
    attempt_dir = attempt_dir_for(tmp_path / "work", run_id="run-1", task_id="task-1", attempt=1)
    await wait_until((attempt_dir / "work").exists)

    with pytest.raises(FailedPrecondition, match=r"^attempt run-1/task-1/1 is already running$"):
        await run(nap, tmp_path, LocalLauncher(), parameters={"seconds": 30})

    assert await launcher.cancel("run-1/task-1/1")
    result = await first
    assert result.state == common_pb2.CANCELED
    assert result.error.message == "the task was canceled"


class ScriptedLauncher:
    """Prints `printed` into the task's log and ends as told, recording the requests."""

    def __init__(self, outcome: LaunchOutcome, printed: str = "") -> None:
        self.outcome = outcome
        self.printed = printed
        self.requests: list[LaunchRequest] = []

    async def launch(self, request: LaunchRequest) -> LaunchOutcome:
        self.requests.append(request)
        with request.log_path.open("a") as log:
            log.write("[sluice] a note of the launcher\n" + self.printed)
        return self.outcome

    async def cancel(self, key: str) -> bool:
        return False


async def test_the_launchers_reason_comes_before_the_tail_of_the_log(tmp_path: Path) -> None:
    launcher = ScriptedLauncher(
        LaunchOutcome(exit_code=137, message="out of memory: limit 256Mi", pod_name="pod-1"),
        printed="allocating...\n",
    )

    result = await run(add, tmp_path, launcher, parameters={"a": 1, "b": 2})

    assert result.state == common_pb2.FAILED
    assert result.error.code == grpc.StatusCode.UNKNOWN.value[0]
    assert result.error.message == "out of memory: limit 256Mi; last lines of its log:\nallocating..."
    assert (result.exit_code, result.pod_name) == (137, "pod-1")


async def test_without_a_reason_the_exit_code_is_the_message(tmp_path: Path) -> None:
    launcher = ScriptedLauncher(LaunchOutcome(exit_code=3), printed="bad input\n")

    result = await run(add, tmp_path, launcher, parameters={"a": 1, "b": 2})

    assert result.error.message == "the task exited with code 3; last lines of its log:\nbad input"
    assert result.pod_name == ""


async def test_an_attempt_the_infrastructure_ended_fails_as_unavailable(tmp_path: Path) -> None:
    """It uses up one of the task's retries (see the `attempt` module docstring)."""
    launcher = ScriptedLauncher(
        LaunchOutcome(
            exit_code=137,
            message="the pod was evicted: The node was low on resource: memory.",
            retryable=True,
            pod_name="pod-1",
        ),
        printed="training epoch 3\n",
    )

    result = await run(add, tmp_path, launcher, parameters={"a": 1, "b": 2})

    assert result.state == common_pb2.FAILED
    assert result.error.code == grpc.StatusCode.UNAVAILABLE.value[0]
    assert result.error.message == (
        "the pod was evicted: The node was low on resource: memory.; the infrastructure ended this "
        "attempt, not the task; last lines of its log:\ntraining epoch 3"
    )


@pytest.mark.parametrize(
    ("task_timeout", "expected"),
    [
        (5.0, "the task timed out after 5s: the pod ran past its deadline"),
        (0.0, "the task timed out: the pod ran past its deadline"),
    ],
)
async def test_a_timeout_carries_the_launchers_reason(
    tmp_path: Path, task_timeout: float, expected: str
) -> None:
    launcher = ScriptedLauncher(
        LaunchOutcome(exit_code=137, timed_out=True, message="the pod ran past its deadline")
    )

    result = await run(add, tmp_path, launcher, parameters={"a": 1, "b": 2}, timeout_seconds=task_timeout)

    assert result.error.code == grpc.StatusCode.DEADLINE_EXCEEDED.value[0]
    assert result.error.message == expected


async def test_the_launch_request_carries_the_pod_facts(tmp_path: Path) -> None:
    launcher = ScriptedLauncher(LaunchOutcome(exit_code=1))
    dispatch = make_dispatch(compile_component(add, tmp_path), parameters={"a": 1, "b": 2})
    dispatch.container.resources.cpu_limit = 2
    dispatch.platform.update({"nodeSelector": {"labels": {"pool": "gpu"}}})

    await run_attempt(dispatch, launcher=launcher, stager=LocalFileStager(), work_root=tmp_path / "work")

    (request,) = launcher.requests
    assert request.pod == PodTask(
        run_id="run-1",
        task_id="task-1",
        attempt=1,
        task_name="the-task",
        pipeline_name="the-pipeline",
        resources=TaskResources(cpu_limit=2),
        platform={"nodeSelector": {"labels": {"pool": "gpu"}}},
        input_parameters={"a": 1, "b": 2},
    )
