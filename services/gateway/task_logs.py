"""A task's log (a Sluice extension), for the HTTP route and the gRPC `ReadTaskLog`: read it
as stored, or follow it while the task runs.

The executor copies a running attempt's log to the artifact store as it grows, and the
store replaces it atomically; a log only grows. So following is reading on from the last
offset until the attempt has ended; the executor stores the final copy before it reports
the end. Following a task (no attempt given) moves on to each retry, with a line that
says so.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass

import grpc
from sluice.v1 import artifacts_pb2, runs_pb2

from services.core.errors import NotFound
from services.gateway.backend import GatewayBackend
from services.gateway.events import TERMINAL_STATES

# How often a followed log is looked at again; the executor copies it about every second.
FOLLOW_POLL_SECONDS = 0.5


async def task_of_run(backend: GatewayBackend, run_id: str, task_id: str) -> runs_pb2.PipelineTaskDetail:
    """The task's details; NotFound for an unknown run (from the scheduler) or task."""
    run = await backend.runs.GetRun(runs_pb2.GetRunRequest(run_id=run_id))
    for task in run.run_details.task_details:
        if task.task_id == task_id:
            return task
    raise NotFound("task", task_id)


@dataclass(frozen=True)
class LogTarget:
    """The attempt whose log is read, where its log is, and whether it can still grow."""

    attempt: int
    uri: str
    ended: bool


def log_target(task: runs_pb2.PipelineTaskDetail, attempt: int | None) -> LogTarget:
    """The given attempt, or the task's latest; an attempt ends with its task at the latest.
    NotFound for an attempt the task does not have."""
    task_ended = task.state in TERMINAL_STATES
    if attempt is None:
        latest = max(task.attempts, key=lambda each: each.attempt, default=None)
        if latest is None:
            return LogTarget(attempt=0, uri=task.log_uri, ended=task_ended)
        return LogTarget(attempt=latest.attempt, uri=latest.log_uri, ended=task_ended)
    for each in task.attempts:
        if each.attempt == attempt:
            ended = each.state in TERMINAL_STATES or task_ended
            return LogTarget(attempt=attempt, uri=each.log_uri, ended=ended)
    raise NotFound("log of task", f"{task.task_id} attempt {attempt}")


def stored_log_uri(task: runs_pb2.PipelineTaskDetail, attempt: int | None) -> str:
    """Where the log to read as stored is; NotFound when the task has none (yet)."""
    # Between attempts, the latest log there is: the previous attempt's.
    uri = log_target(task, attempt).uri or (task.log_uri if attempt is None else "")
    if not uri:
        which = task.task_id if attempt is None else f"{task.task_id} attempt {attempt}"
        raise NotFound("log of task", which)
    return uri


def read_stored(backend: GatewayBackend, uri: str, *, offset: int = 0) -> AsyncGenerator[bytes, None]:
    """The stored object's bytes from `offset` on; the backend's NOT_FOUND when it is missing."""
    return backend.download(artifacts_pb2.DownloadRequest(uri=uri, offset=offset))


async def _read_if_stored(backend: GatewayBackend, uri: str, offset: int) -> AsyncIterator[bytes]:
    try:
        async for data in read_stored(backend, uri, offset=offset):
            yield data
    except grpc.aio.AioRpcError as error:
        if error.code() != grpc.StatusCode.NOT_FOUND:
            raise


async def follow_log(
    backend: GatewayBackend,
    run_id: str,
    task: runs_pb2.PipelineTaskDetail,
    attempt: int | None,
    *,
    stopping: asyncio.Event,
    poll_seconds: float = FOLLOW_POLL_SECONDS,
) -> AsyncGenerator[bytes, None]:
    """The log as it grows until the attempt (or the task) ends, the run is deleted, or
    `stopping` is set."""
    reading: LogTarget | None = None
    offset = 0
    while True:
        # Whether the attempt had ended is read before its log: what follows is then all of it.
        target = log_target(task, attempt)
        if reading is not None and target.attempt != reading.attempt:
            yield f"\n[sluice] attempt {target.attempt}\n".encode()
            offset = 0
        reading = target
        if target.uri:
            async for data in _read_if_stored(backend, target.uri, offset):
                offset += len(data)
                yield data
        if target.ended or stopping.is_set():
            return
        await asyncio.sleep(poll_seconds)
        try:
            task = await task_of_run(backend, run_id, task.task_id)
        except NotFound:
            return
        except grpc.aio.AioRpcError as error:
            if error.code() == grpc.StatusCode.NOT_FOUND:
                return
            raise
