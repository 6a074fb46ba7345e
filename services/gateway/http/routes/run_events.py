"""``GET /apis/v2beta1/runs/{run_id}/events`` (Sluice): a run's events as server-sent events.

Each event is one ``data:`` line of RunEvent JSON with ``id:`` its stream sequence, so a
browser's EventSource resumes after a drop with ``Last-Event-ID``. The stream ends after
the event that finishes the run, or when the gateway shuts down (clients reconnect).

A run that had finished when the request came has no more events to wait for: its
stream ends once the stored ones are replayed, and when none is left after the requested
point the answer is 204 No Content, which tells an EventSource to stop reconnecting.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Query, Response
from fastapi.responses import StreamingResponse
from sluice.v1 import runs_pb2

from services.core.errors import InvalidArgument, SluiceError
from services.gateway.events import TERMINAL_STATES, RunEvent, follow, run_events
from services.gateway.http import schemas
from services.gateway.http.context import API_PREFIX, Context
from services.gateway.http.protojson import to_json

logger = logging.getLogger(__name__)

router = APIRouter(prefix=API_PREFIX, tags=["RunService"])

_HEARTBEAT = b": heartbeat\n\n"
# Quiet this long, the replay of a finished run's stored events is over.
_REPLAYED_SECONDS = 1.0
# Stream sequences are unsigned 64-bit; JetStream starts a replay at the next one.
_MAX_SEQUENCE = 2**63 - 2

# One server-sent event, as OpenAPI describes a stream's items (comments are not events).
_SSE_EVENT = {
    "type": "object",
    "properties": {
        "id": {"type": "string", "pattern": "^[0-9]+$", "description": "The event's stream sequence."},
        "data": {
            "type": "string",
            "contentMediaType": "application/json",
            "contentSchema": {"$ref": f"#/components/schemas/{schemas.RunEvent.__name__}"},
        },
    },
    "required": ["id", "data"],
}


def _start_after(last_event_id: str | None, after_sequence: int) -> int:
    # A reconnecting EventSource sends Last-Event-ID; it wins over the first request's query.
    if last_event_id is None:
        return after_sequence
    text = last_event_id.strip()
    if not text.isascii() or not text.isdigit() or int(text) > _MAX_SEQUENCE:
        raise InvalidArgument("Last-Event-ID must be a stream sequence number", field="Last-Event-ID")
    return int(text)


def _frame(event: RunEvent) -> bytes:
    data = json.dumps(to_json(event), separators=(",", ":"))
    return f"id: {event.sequence}\ndata: {data}\n\n".encode()


async def _frames(
    run_id: str,
    events: AsyncGenerator[RunEvent | None, None],
    *,
    first: RunEvent | None = None,
    end_when_quiet: bool = False,
) -> AsyncIterator[bytes]:
    """The SSE frames of ``events`` (after ``first``, if given); with ``end_when_quiet``
    the first quiet spell ends the stream instead of sending a heartbeat."""
    async with contextlib.aclosing(events):
        if first is not None:
            yield _frame(first)
        try:
            async for event in events:
                if event is None and end_when_quiet:
                    return
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
            "content": {"text/event-stream": {"schema": _SSE_EVENT}},
        },
        204: {"description": "The run has finished and has no event after the requested point."},
        404: {"description": "No such run.", "model": schemas.Error},
    },
)
async def stream_run_events(
    run_id: str,
    context: Context,
    last_event_id: Annotated[str | None, Header(description="Resume after this sequence.")] = None,
    after_sequence: Annotated[
        int, Query(ge=0, le=_MAX_SEQUENCE, description="Start after this sequence (0: the start).")
    ] = 0,
) -> Response:
    start = _start_after(last_event_id, after_sequence)
    # An unknown run is a 404 now rather than a stream that never says anything.
    run = await context.backend.runs.GetRun(runs_pb2.GetRunRequest(run_id=run_id))
    finished = run.state in TERMINAL_STATES
    events = follow(
        run_events(context.backend.events, run_id, after_sequence=start),
        stopping=context.stopping,
        heartbeat=_REPLAYED_SECONDS if finished else context.config.sse_heartbeat_seconds,
    )
    first = None
    if finished:
        # Wait for the first event before answering: a finished run may have none left.
        first = await anext(events, None)
        if first is None:
            await events.aclose()
            return Response(status_code=204)
    return StreamingResponse(
        _frames(run_id, events, first=first, end_when_quiet=finished),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
