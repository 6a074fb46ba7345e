"""What a run's tasks left behind: output artifacts (KFP's ReadArtifact). Task logs are in
`task_logs`."""

from __future__ import annotations

import base64
import contextlib
from collections.abc import AsyncGenerator

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from sluice.v1 import artifacts_pb2

from services.core.errors import NotFound, TooLarge
from services.gateway.http import schemas
from services.gateway.http.context import API_PREFIX, Context
from services.gateway.task_logs import task_of_run

router = APIRouter(prefix=API_PREFIX, tags=["RunService"])


async def _read_all(chunks: AsyncGenerator[bytes, None], *, limit: int) -> bytes:
    data = bytearray()
    async with contextlib.aclosing(chunks):  # closing early cancels the download
        async for chunk in chunks:
            data += chunk
            if len(data) > limit:
                raise TooLarge(f"the artifact exceeds the limit of {limit} bytes", limit_bytes=limit)
    return bytes(data)


@router.get(
    "/runs/{run_id}/nodes/{node_id}/artifacts/{artifact_name}:read",
    operation_id="RunService_ReadArtifact",
    response_model=schemas.ReadArtifactResponse,
    summary="Read an output artifact of a task (node_id is the task_id)",
)
async def read_artifact(run_id: str, node_id: str, artifact_name: str, context: Context) -> Response:
    task = await task_of_run(context.backend, run_id, node_id)
    outputs = task.outputs.get(artifact_name)
    if outputs is None or not outputs.artifact_ids:
        raise NotFound("artifact", f"{node_id}/{artifact_name}")
    # An output artifact list has one entry per artifact; KFP reads one.
    chunks = context.backend.download(artifacts_pb2.DownloadRequest(artifact_id=outputs.artifact_ids[0]))
    data = await _read_all(chunks, limit=context.config.max_artifact_read_bytes)
    return JSONResponse({"data": base64.b64encode(data).decode("ascii")})
