"""``GET /apis/v2beta1/runs/{run_id}/events`` (Sluice): a run's events as server-sent events.

Each event is one ``data:`` line of RunEvent JSON with ``id:`` its stream sequence, so a
browser's EventSource resumes after a drop with ``Last-Event-ID``. The stream ends after
the event that finishes the run, or when the gateway shuts down (clients reconnect).
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Query
from fastapi.responses import StreamingResponse
from sluice.v1 import runs_pb2

from services.core.errors import InvalidArgument, SluiceError
from services.gateway.events import RunEvent, follow, run_events
from services.gateway.http import schemas
from services.gateway.http.context import API_PREFIX, Context
from services.gateway.http.protojson import to_json

logger = logging.getLogger(__name__)

router = APIRouter(prefix=API_PREFIX, tags=["RunService"])

_HEARTBEAT = b": heartbeat\n\n"


def _start_after(last_event_id: str | None, after_sequence: int) -> int:
    # A reconnecting EventSource sends Last-Event-ID; it wins over the first request's query.
    if last_event_id is None:
        return after_sequence
    if not last_event_id.strip().isdigit():
        raise InvalidArgument("Last-Event-ID must be a stream sequence number", field="Last-Event-ID")
    return int(last_event_id)


def _frame(event: RunEvent) -> bytes:
    data = json.dumps(to_json(event), separators=(",", ":"))
    return f"id: {event.sequence}\ndata: {data}\n\n".encode()


async def _frames(run_id: str, events: AsyncGenerator[RunEvent | None, None]) -> AsyncIterator[bytes]:
    async with contextlib.aclosing(events):
        try:
            async for event in events:
                yield _HEARTBEAT if event is None else _frame(event)
        except SluiceError as error:
            # The response has started: all we can do is end it; the client reconnects.
            logger.warning("event stream of run %s broke off: %s", run_id, error)


@router.get(
    "/runs/{run_id}/events",
    operation_id="RunService_StreamRunEvents",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "Server-sent events: `id:` the stream sequence, `data:` a RunEvent as JSON.",
            "content": {
                "text/event-stream": {"schema": {"$ref": f"#/components/schemas/{schemas.RunEvent.__name__}"}}
            },
        },
        404: {"description": "No such run.", "model": schemas.Error},
    },
)
async def stream_run_events(
    run_id: str,
    context: Context,
    last_event_id: Annotated[str | None, Header(description="Resume after this sequence.")] = None,
    after_sequence: Annotated[int, Query(ge=0, description="Start after this sequence (0: the start).")] = 0,
) -> StreamingResponse:
    start = _start_after(last_event_id, after_sequence)
    # An unknown run is a 404 now rather than a stream that never says anything.
    await context.backend.runs.GetRun(runs_pb2.GetRunRequest(run_id=run_id))
    events = follow(
        run_events(context.backend.events, run_id, after_sequence=start),
        stopping=context.stopping,
        heartbeat=context.config.sse_heartbeat_seconds,
    )
    return StreamingResponse(
        _frames(run_id, events),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
