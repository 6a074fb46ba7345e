"""``RunService/ReadTaskLog``, served by the gateway from the artifact store (see
`services.gateway.task_logs`)."""

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
from services.gateway.grpc.forwarding import Context, abort_with
from services.gateway.task_logs import follow_log, log_target, read_stored, stored_log_uri, task_of_run

READ_TASK_LOG_PATH = "/sluice.v1.RunService/ReadTaskLog"


class TaskLogReader:
    """Streams a task's log as stored, or, with ``follow``, as it grows until the attempt ends."""

    def __init__(self, backend: GatewayBackend, *, stopping: asyncio.Event) -> None:
        self._backend = backend
        self._stopping = stopping

    def handler(self) -> grpc.RpcMethodHandler[Any, Any]:
        return grpc.unary_stream_rpc_method_handler(
            self.read_task_log,
            request_deserializer=runs_pb2.ReadTaskLogRequest.FromString,
            response_serializer=runs_pb2.LogChunk.SerializeToString,
        )

    async def read_task_log(
        self, request: runs_pb2.ReadTaskLogRequest, context: Context
    ) -> AsyncIterator[runs_pb2.LogChunk]:
        attempt = request.attempt or None
        try:
            task = await task_of_run(self._backend, request.run_id, request.task_id)
            if request.follow:
                log_target(task, attempt)  # an unknown attempt fails before the stream starts
                chunks = follow_log(self._backend, request.run_id, task, attempt, stopping=self._stopping)
            else:
                chunks = read_stored(self._backend, stored_log_uri(task, attempt))
            async with contextlib.aclosing(chunks):
                async for data in chunks:
                    yield runs_pb2.LogChunk(data=data)
        except grpc.aio.AioRpcError as error:
            await abort_with(context, error)
        except SluiceError as error:
            await context.abort(grpc_code(error), error.message)
