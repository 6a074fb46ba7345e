"""Running one task attempt end to end: stage, resolve, launch, collect, report.

Layout of an attempt's directory, `<work_root>/<run_id>/<task_id>/<attempt>/`::

    task.log               stdout+stderr of the task, after the launcher's own notes
    executor_input.json    the ExecutorInput the task was given
    outputs/               the ExecutorOutput file and output parameter files
    staging/<scheme>/…     local copies of artifacts with non-local URIs (`file` ones too
                           when `stage_local_artifacts`: a pod sees no other directory)
    work/                  the task's working directory
    tmp/                   the task's TMPDIR

Failures the task or its pipeline causes (a bad placeholder, a non-zero exit, a missing
output, an output path that cannot be created) end the attempt FAILED, so the pipeline's
retry policy applies; failures of Sluice's own dependencies (`SystemError_`, e.g. the
artifact store is unavailable) propagate, so the caller can redeliver the dispatch.

An attempt the infrastructure ended (`LaunchOutcome.retryable`: a pod evicted or
preempted, its node lost) also ends FAILED, with the code UNAVAILABLE: it uses up one of
the task's retries, as on KFP. Redelivering it instead would hide the failure, lose its log,
and loop without bound when the task itself causes the eviction (e.g. its disk use).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import shutil
from collections.abc import Callable, Coroutine, Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import grpc
from sluice.v1 import tasks_pb2

from services.core.error_mapping import grpc_code
from services.core.errors import FailedPrecondition, InvalidArgument, UserError
from services.executor.convert import result_from_outcome, task_from_dispatch
from services.executor.executor_input import (
    EXECUTOR_OUTPUT_FILE,
    RawOutputs,
    build_executor_input,
    output_parameter_file,
    parse_outputs,
)
from services.executor.launchers.base import Launcher, LaunchOutcome, LaunchRequest
from services.executor.launchers.kubernetes.convert import pod_task_of
from services.executor.placeholders import RuntimeNames, resolve_command
from services.executor.staging import ArtifactLocation, ArtifactStager, locate
from services.executor.task import AttemptOutcome, AttemptState, TaskSpec

LOG_FILE = "task.log"
EXECUTOR_INPUT_FILE = "executor_input.json"
_TAIL_LINES = 20
_TAIL_BYTES = 64 * 1024
_TAIL_CHARS = 4000


def attempt_dir_for(work_root: Path, *, run_id: str, task_id: str, attempt: int) -> Path:
    """`<work_root>/<run_id>/<task_id>/<attempt>`; raises InvalidArgument for unsafe ids."""
    for field, segment in (("run_id", run_id), ("task_id", task_id)):
        if not segment or segment in (".", "..") or "/" in segment or "\\" in segment or "\0" in segment:
            raise InvalidArgument(f"{field} {segment!r} cannot name a directory", field=field)
    return work_root / run_id / task_id / str(attempt)


async def run_attempt(
    dispatch: tasks_pb2.TaskDispatch,
    *,
    launcher: Launcher,
    stager: ArtifactStager,
    work_root: Path,
    log_uri_for: Callable[[Path], str] = Path.as_uri,
    stage_local_artifacts: bool = False,
) -> tasks_pb2.TaskResult:
    """Run one attempt of a dispatched task and say how it ended.

    `log_uri_for` turns the local log path into the `log_uri` reported (a `file://` URI
    by default). `stage_local_artifacts` stages `file://` artifacts through `stager` too,
    for a launcher whose tasks do not see this machine's files (the Kubernetes launcher).
    Raises `SystemError_` when a dependency fails (retry the dispatch) and
    FailedPrecondition when this attempt is already running (a duplicate delivery);
    cancelling the awaiting task stops the task's process and propagates.
    """
    try:
        task = task_from_dispatch(dispatch)
        attempt_dir = attempt_dir_for(
            work_root, run_id=task.run_id, task_id=task.task_id, attempt=task.attempt
        )
    except UserError as error:
        return result_from_outcome(dispatch, _failed(error, log_path=None), log_uri="")
    outcome = await execute_attempt(
        task,
        launcher=launcher,
        stager=stager,
        attempt_dir=attempt_dir,
        stage_local_artifacts=stage_local_artifacts,
    )
    return result_from_outcome(dispatch, outcome, log_uri=log_uri_for(Path(outcome.log_path)))


async def execute_attempt(
    task: TaskSpec,
    *,
    launcher: Launcher,
    stager: ArtifactStager,
    attempt_dir: Path,
    stage_local_artifacts: bool = False,
) -> AttemptOutcome:
    """Run `task` in `attempt_dir` (emptied first); see the module docstring and `run_attempt`.

    Raises FailedPrecondition, touching nothing, when the same attempt directory is in
    use by another call (a duplicate delivery), in this process or another.
    """
    with _exclusive(attempt_dir.with_name(f"{attempt_dir.name}.lock"), key=_key(task)):
        return await _execute(
            task,
            launcher=launcher,
            stager=stager,
            attempt_dir=attempt_dir,
            stage_local=stage_local_artifacts,
        )


async def _execute(
    task: TaskSpec, *, launcher: Launcher, stager: ArtifactStager, attempt_dir: Path, stage_local: bool
) -> AttemptOutcome:
    await asyncio.to_thread(_reset_dir, attempt_dir)
    log_path = attempt_dir / LOG_FILE
    try:
        prepared = await _prepare(task, stager=stager, attempt_dir=attempt_dir, stage_local=stage_local)
    except (UserError, OSError) as error:
        _append_note(log_path, f"cannot start the task: {_message(error)}")
        return _failed(error, log_path=log_path)
    launched = await launcher.launch(
        LaunchRequest(
            key=_key(task),
            argv=prepared.argv,
            cwd=attempt_dir / "work",
            log_path=log_path,
            env=task.env,
            image=task.image,
            timeout_seconds=task.timeout_seconds,
            tmp_dir=attempt_dir / "tmp",
            pod=pod_task_of(task),
        )
    )
    if launched.exit_code != 0 or launched.canceled or launched.timed_out:
        return _unsuccessful(task, launched, log_path=log_path)
    try:
        outputs = parse_outputs(task, await asyncio.to_thread(_read_raw_outputs, task, prepared.output_dir))
        await _all(_upload(stager, location, log_path) for location in prepared.outputs if location.staged)
    except (UserError, OSError) as error:
        _append_note(log_path, f"the task's outputs are unusable: {_message(error)}")
        return replace(
            _failed(error, log_path=log_path, exit_code=launched.exit_code), pod_name=launched.pod_name
        )
    return AttemptOutcome(
        state=AttemptState.SUCCEEDED,
        outputs=outputs,
        exit_code=launched.exit_code,
        log_path=str(log_path),
        pod_name=launched.pod_name,
    )


def _key(task: TaskSpec) -> str:
    return f"{task.run_id}/{task.task_id}/{task.attempt}"


@dataclass(frozen=True)
class _Prepared:
    argv: tuple[str, ...]
    outputs: tuple[ArtifactLocation, ...]
    output_dir: Path


async def _prepare(
    task: TaskSpec, *, stager: ArtifactStager, attempt_dir: Path, stage_local: bool
) -> _Prepared:
    staging_dir = attempt_dir / "staging"
    inputs = {
        artifact.uri: locate(artifact.uri, staging_dir=staging_dir, stage_local=stage_local)
        for artifacts in task.input_artifacts.values()
        for artifact in artifacts
    }
    outputs = tuple(
        locate(spec.uri, staging_dir=staging_dir, stage_local=stage_local)
        for spec in task.output_artifacts.values()
    )
    for location in outputs:
        location.local_path.parent.mkdir(parents=True, exist_ok=True)
    await _all(
        stager.download(location.uri, location.local_path) for location in inputs.values() if location.staged
    )
    output_dir = attempt_dir / "outputs"
    executor_input = build_executor_input(
        task,
        local_uris={location.uri: str(location.local_path) for location in (*inputs.values(), *outputs)},
        output_dir=output_dir,
    )
    (output_dir / "parameters").mkdir(parents=True)
    (attempt_dir / EXECUTOR_INPUT_FILE).write_text(json.dumps(executor_input, indent=2))
    names = RuntimeNames(
        pipeline_job_name=task.run_display_name or task.run_id,
        pipeline_job_resource_name=task.run_id,
        pipeline_job_uuid=task.run_id,
        pipeline_task_name=task.task_name,
        pipeline_task_uuid=task.task_id,
        pipeline_root=task.pipeline_root,
    )
    argv = resolve_command((*task.command, *task.args), executor_input=executor_input, names=names)
    if not argv:
        raise InvalidArgument("the task has no command", field="command")
    return _Prepared(argv=tuple(argv), outputs=outputs, output_dir=output_dir)


async def _all(coroutines: Iterable[Coroutine[Any, Any, object]]) -> None:
    """Run concurrently; on failure, raise the first error itself (not an ExceptionGroup)."""
    try:
        async with asyncio.TaskGroup() as group:
            for coroutine in coroutines:
                group.create_task(coroutine)
    except BaseExceptionGroup as errors:
        raise errors.exceptions[0] from None


async def _upload(stager: ArtifactStager, location: ArtifactLocation, log_path: Path) -> None:
    if not location.local_path.exists():
        # Metrics-like artifacts carry metadata only; there are no bytes to store.
        _append_note(log_path, f"nothing was written for output {location.uri}; no bytes uploaded")
        return
    await stager.upload(location.local_path, location.uri)


def _read_raw_outputs(task: TaskSpec, output_dir: Path) -> RawOutputs:
    executor_output = output_dir / EXECUTOR_OUTPUT_FILE
    files = {name: Path(output_parameter_file(output_dir, name)) for name in task.output_parameters}
    return RawOutputs(
        executor_output=executor_output.read_text() if executor_output.is_file() else None,
        parameter_files={name: path.read_text() for name, path in files.items() if path.is_file()},
    )


def _unsuccessful(task: TaskSpec, launched: LaunchOutcome, *, log_path: Path) -> AttemptOutcome:
    """The outcome of a launch that did not succeed: the launcher's reason first (an image
    that cannot be pulled, out of memory), then the last lines the task printed."""
    if launched.canceled:
        state, code, message = AttemptState.CANCELED, grpc.StatusCode.CANCELLED, "the task was canceled"
    elif launched.timed_out:
        state, code = AttemptState.FAILED, grpc.StatusCode.DEADLINE_EXCEEDED
        message = "the task timed out"
        if task.timeout_seconds:
            message += f" after {task.timeout_seconds:g}s"
        if launched.message:
            message += f": {launched.message}"
    elif launched.retryable:
        state, code = AttemptState.FAILED, grpc.StatusCode.UNAVAILABLE
        cause = launched.message or f"the task's process was stopped (exit code {launched.exit_code})"
        message = f"{cause}; the infrastructure ended this attempt, not the task"
    else:
        state, code = AttemptState.FAILED, grpc.StatusCode.UNKNOWN
        message = launched.message or f"the task exited with code {launched.exit_code}"
    tail = log_tail(log_path)
    if tail and state is AttemptState.FAILED:
        message += "; last lines of its log:\n" + tail
    return AttemptOutcome(
        state=state,
        error_code=code.value[0],
        error_message=message,
        exit_code=launched.exit_code,
        log_path=str(log_path),
        pod_name=launched.pod_name,
    )


def _failed(
    error: UserError | OSError, *, log_path: Path | None, exit_code: int | None = None
) -> AttemptOutcome:
    return AttemptOutcome(
        state=AttemptState.FAILED,
        error_code=grpc_code(error).value[0],
        error_message=_message(error),
        exit_code=exit_code,
        log_path="" if log_path is None else str(log_path),
    )


def _message(error: UserError | OSError) -> str:
    return error.message if isinstance(error, UserError) else f"{type(error).__name__}: {error}"


def log_tail(log_path: Path, *, lines: int = _TAIL_LINES, max_chars: int = _TAIL_CHARS) -> str:
    """The last lines the task printed (the launcher's own notes left out)."""
    try:
        with log_path.open("rb") as log:
            log.seek(max(0, log.seek(0, 2) - _TAIL_BYTES))
            text = log.read().decode(errors="replace")
    except FileNotFoundError:
        return ""
    printed = [line for line in text.splitlines() if not line.startswith("[sluice] ")]
    tail = "\n".join(printed[-lines:]).strip("\n")
    return tail if len(tail) <= max_chars else "..." + tail[-max_chars:]


def _append_note(log_path: Path, message: str) -> None:
    with log_path.open("a") as log:
        log.write(f"[sluice] {message}\n")


@contextlib.contextmanager
def _exclusive(lock_path: Path, *, key: str) -> Iterator[None]:
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise FailedPrecondition(f"attempt {key} is already running") from None
        yield


def _reset_dir(path: Path) -> None:
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
