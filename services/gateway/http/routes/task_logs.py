"""`GET /runs/{run_id}/tasks/{task_id}/logs` (a Sluice extension): a task's log as text,
whole or followed while it grows (see `services.gateway.task_logs`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse
from starlette.background import BackgroundTask

from services.gateway.http import schemas
from services.gateway.http.context import API_PREFIX, Context
from services.gateway.http.streaming import started
from services.gateway.task_logs import follow_log, log_target, read_stored, stored_log_uri, task_of_run

router = APIRouter(prefix=API_PREFIX, tags=["RunService"])

_MEDIA_TYPE = "text/plain; charset=utf-8"


@router.get(
    "/runs/{run_id}/tasks/{task_id}/logs",
    operation_id="RunService_ReadTaskLog",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "The task's log; with `follow`, streamed until the attempt ends.",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        },
        404: {"description": "No such run, task or attempt, or the task has no log.", "model": schemas.Error},
    },
)
async def read_task_log(
    run_id: str,
    task_id: str,
    context: Context,
    attempt: Annotated[int | None, Query(description="An attempt's log instead of the latest.")] = None,
    follow: Annotated[
        bool,
        Query(description="Keep the response open and send the log as it grows, until the attempt ends."),
    ] = False,
) -> StreamingResponse:
    task = await task_of_run(context.backend, run_id, task_id)
    if follow:
        log_target(task, attempt)  # an unknown attempt is a 404 before the stream starts
        stream = follow_log(context.backend, run_id, task, attempt, stopping=context.stopping)
        return StreamingResponse(stream, media_type=_MEDIA_TYPE, background=BackgroundTask(stream.aclose))
    stored = read_stored(context.backend, stored_log_uri(task, attempt))
    body = await started(stored)  # a missing log is a 404, not a cut stream
    return StreamingResponse(body, media_type=_MEDIA_TYPE, background=BackgroundTask(stored.aclose))
