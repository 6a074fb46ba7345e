"""``RunService/WatchRun``, served by the gateway from the run event source."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import grpc
from sluice.v1 import runs_pb2

from services.core.error_mapping import grpc_code
from services.core.errors import SluiceError
from services.gateway.backend import GatewayBackend
from services.gateway.events import RunEvent, finishes_run, follow, run_events
from services.gateway.grpc.forwarding import Context, abort_with, deadline

WATCH_RUN_PATH = "/sluice.v1.RunService/WatchRun"


class RunWatcher:
    """Streams a run's events from ``after_sequence``, ending after the event that finishes
    the run. When the feed closes first (the gateway or its event bus stops), the call ends
    UNAVAILABLE: watch again from the last sequence received."""

    def __init__(self, backend: GatewayBackend, *, stopping: asyncio.Event) -> None:
        self._backend = backend
        self._stopping = stopping

    def handler(self) -> grpc.RpcMethodHandler[Any, Any]:
        return grpc.unary_stream_rpc_method_handler(
            self.watch_run,
            request_deserializer=runs_pb2.WatchRunRequest.FromString,
            response_serializer=RunEvent.SerializeToString,
        )

    async def watch_run(self, request: runs_pb2.WatchRunRequest, context: Context) -> AsyncIterator[RunEvent]:
        try:
            # An unknown run fails now rather than streaming nothing forever.
            await self._backend.runs.GetRun(
                runs_pb2.GetRunRequest(run_id=request.run_id), timeout=deadline(context)
            )
        except grpc.aio.AioRpcError as error:
            await abort_with(context, error)
        last_sequence = request.after_sequence
        finished = False
        events = follow(
            run_events(self._backend.events, request.run_id, after_sequence=request.after_sequence),
            stopping=self._stopping,
        )
        try:
            async with contextlib.aclosing(events):
                async for event in events:
                    if event is not None:
                        last_sequence, finished = event.sequence, finishes_run(event)
                        yield event
        except SluiceError as error:
            await context.abort(grpc_code(error), error.message)
        if not finished:
            await context.abort(
                grpc.StatusCode.UNAVAILABLE,
                "the event feed closed before the run finished; "
                f"watch again with after_sequence={last_sequence}",
            )
