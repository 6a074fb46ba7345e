"""What a run's tasks left behind: output artifacts (KFP's ReadArtifact) and logs (Sluice).

Both find the task in the run's details and read the bytes from the artifact service.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Annotated

import grpc
from fastapi import APIRouter, Query, Response
from fastapi.responses import JSONResponse, StreamingResponse
from sluice.v1 import artifacts_pb2, runs_pb2
from starlette.background import BackgroundTask

from services.core.errors import NotFound, TooLarge
from services.gateway.http import schemas
from services.gateway.http.context import API_PREFIX, AppContext, Context

router = APIRouter(prefix=API_PREFIX, tags=["RunService"])


async def _task(context: AppContext, run_id: str, task_id: str) -> runs_pb2.PipelineTaskDetail:
    run = await context.backend.runs.GetRun(runs_pb2.GetRunRequest(run_id=run_id))
    for task in run.run_details.task_details:
        if task.task_id == task_id:
            return task
    raise NotFound("task", task_id)


async def _read_all(
    call: grpc.aio.UnaryStreamCall[artifacts_pb2.DownloadRequest, artifacts_pb2.DownloadChunk], *, limit: int
) -> bytes:
    data = bytearray()
    async for chunk in call:
        data += chunk.data
        if len(data) > limit:
            call.cancel()
            raise TooLarge(f"the artifact exceeds the limit of {limit} bytes", limit_bytes=limit)
    return bytes(data)


@router.get(
    "/runs/{run_id}/nodes/{node_id}/artifacts/{artifact_name}:read",
    operation_id="RunService_ReadArtifact",
    response_model=schemas.ReadArtifactResponse,
    summary="Read an output artifact of a task (node_id is the task_id)",
)
async def read_artifact(run_id: str, node_id: str, artifact_name: str, context: Context) -> Response:
    task = await _task(context, run_id, node_id)
    outputs = task.outputs.get(artifact_name)
    if outputs is None or not outputs.artifact_ids:
        raise NotFound("artifact", f"{node_id}/{artifact_name}")
    # An output artifact list has one entry per artifact; KFP reads one.
    call = context.backend.artifacts.Download(
        artifacts_pb2.DownloadRequest(artifact_id=outputs.artifact_ids[0])
    )
    data = await _read_all(call, limit=context.config.max_artifact_read_bytes)
    return JSONResponse({"data": base64.b64encode(data).decode("ascii")})


def _log_uri(task: runs_pb2.PipelineTaskDetail, attempt: int | None) -> str:
    if attempt is None:
        return task.log_uri
    for each in task.attempts:
        if each.attempt == attempt:
            return each.log_uri
    return ""


async def _relay(
    first: artifacts_pb2.DownloadChunk | None, rest: AsyncIterator[artifacts_pb2.DownloadChunk]
) -> AsyncIterator[bytes]:
    if first is None:
        return
    yield first.data
    async for chunk in rest:
        yield chunk.data


@router.get(
    "/runs/{run_id}/tasks/{task_id}/logs",
    operation_id="RunService_ReadTaskLog",
    response_class=StreamingResponse,
    responses={
        200: {"description": "The task's log.", "content": {"text/plain": {"schema": {"type": "string"}}}},
        404: {"description": "No such run or task, or the task has no log.", "model": schemas.Error},
    },
)
async def read_task_log(
    run_id: str,
    task_id: str,
    context: Context,
    attempt: Annotated[int | None, Query(description="An attempt's log instead of the latest.")] = None,
) -> StreamingResponse:
    task = await _task(context, run_id, task_id)
    uri = _log_uri(task, attempt)
    if not uri:
        raise NotFound("log of task", task_id if attempt is None else f"{task_id} attempt {attempt}")
    call = context.backend.artifacts.Download(artifacts_pb2.DownloadRequest(uri=uri))
    chunks = aiter(call)
    # Read the first chunk before answering, so a missing log is a 404, not a cut stream.
    first = await anext(chunks, None)
    return StreamingResponse(
        _relay(first, chunks), media_type="text/plain; charset=utf-8", background=BackgroundTask(call.cancel)
    )
