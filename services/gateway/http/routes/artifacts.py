"""``/apis/v2beta1/artifacts`` (a Sluice extension): ArtifactService over REST, the records
as JSON and the bytes streamed.

KFP's own `…/artifacts/{artifact_name}:read` (in `run_outputs`) returns a task's output in
one JSON document and so is size-limited; ``:download`` streams any size.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from fastapi import APIRouter, Response
from fastapi.responses import StreamingResponse
from sluice.v1 import artifacts_pb2
from starlette.background import BackgroundTask

from services.gateway.http import schemas
from services.gateway.http.context import API_PREFIX, Context
from services.gateway.http.protojson import proto_response
from services.gateway.http.routes.params import ArtifactListQuery
from services.gateway.http.streaming import started

router = APIRouter(prefix=API_PREFIX, tags=["ArtifactService"])

_MEDIA_TYPE = "application/octet-stream"
_UNSAFE_IN_QUOTES = re.compile(r"[^A-Za-z0-9._-]")


def _content_disposition(filename: str) -> str:
    """An attachment named ``filename``: plainly when it is a safe ASCII name, else
    percent-encoded (RFC 6266) with an ASCII stand-in for older clients."""
    quoted = quote(filename, safe="")
    if quoted == filename:
        return f'attachment; filename="{filename}"'
    return f"attachment; filename=\"{_UNSAFE_IN_QUOTES.sub('_', filename)}\"; filename*=utf-8''{quoted}"


@router.get(
    "/artifacts",
    operation_id="ArtifactService_ListArtifacts",
    response_model=schemas.ListArtifactsResponse,
    summary="List the artifacts of a run or of a task",
)
async def list_artifacts(params: ArtifactListQuery, context: Context) -> Response:
    page = await context.backend.artifacts.ListArtifacts(
        artifacts_pb2.ListArtifactsRequest(**params.model_dump())
    )
    return proto_response(page)


# Before `/artifacts/{artifact_id}`, which would take "ID:download" for an id.
@router.get(
    "/artifacts/{artifact_id}:download",
    operation_id="ArtifactService_Download",
    response_class=StreamingResponse,
    summary="Download an artifact's bytes",
    responses={
        200: {
            "description": "The artifact's bytes, streamed; `Content-Length` when its size is recorded.",
            "content": {_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}},
            "headers": {
                "Content-Disposition": {
                    "description": "`attachment`, with the artifact's name as the file name.",
                    "required": True,
                    "schema": {"type": "string"},
                }
            },
        },
        404: {"description": "No such artifact, or its bytes are missing.", "model": schemas.Error},
    },
)
async def download_artifact(artifact_id: str, context: Context) -> StreamingResponse:
    artifact = await context.backend.artifacts.GetArtifact(
        artifacts_pb2.GetArtifactRequest(artifact_id=artifact_id)
    )
    chunks = context.backend.download(artifacts_pb2.DownloadRequest(artifact_id=artifact_id))
    body = await started(chunks)
    headers = {"Content-Disposition": _content_disposition(artifact.name or artifact.artifact_id)}
    # 0 is also what a record says when its size is unknown.
    if artifact.size_bytes > 0:
        headers["Content-Length"] = str(artifact.size_bytes)
    return StreamingResponse(
        body,
        media_type=_MEDIA_TYPE,
        headers=headers,
        background=BackgroundTask(chunks.aclose),
    )


@router.get(
    "/artifacts/{artifact_id}",
    operation_id="ArtifactService_GetArtifact",
    response_model=schemas.Artifact,
    summary="Get an artifact's record",
)
async def get_artifact(artifact_id: str, context: Context) -> Response:
    artifact = await context.backend.artifacts.GetArtifact(
        artifacts_pb2.GetArtifactRequest(artifact_id=artifact_id)
    )
    return proto_response(artifact)
