"""The gRPC face of the artifact service: validate, call the backend or the records, translate.

Sluice errors become gRPC statuses carrying their message (`_StatusOnError`); anything else
is left to grpc, which logs it and answers UNKNOWN.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

import grpc
from sluice.v1 import artifacts_pb2, artifacts_pb2_grpc

from services.artifacts.backends.base import DEFAULT_CHUNK_SIZE, ArtifactBackend
from services.artifacts.convert import artifact_from_proto, artifact_to_proto
from services.artifacts.keys import parse_uri
from services.artifacts.records import ArtifactRecords
from services.core.error_mapping import grpc_code
from services.core.errors import FailedPrecondition, InvalidArgument, SluiceError
from services.core.store.query import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, ListQuery
from services.core.store.records import ArtifactRecord

logger = logging.getLogger(__name__)

# KFP's base artifact type, for records registered without one.
DEFAULT_SCHEMA_TITLE = "system.Artifact"

_Context = grpc.aio.ServicerContext[Any, Any]


def _utcnow() -> datetime:
    return datetime.now(UTC)


class _StatusOnError:
    """Ends the RPC with the gRPC status of a Sluice error raised inside the block."""

    def __init__(self, context: _Context) -> None:
        self._context = context

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        if isinstance(error, SluiceError):
            logger.debug("artifact rpc failed: %s", error.message)
            await self._context.abort(grpc_code(error), error.message)


class ArtifactServicer(artifacts_pb2_grpc.ArtifactServiceServicer):
    def __init__(
        self,
        *,
        backend: ArtifactBackend,
        records: ArtifactRecords,
        max_upload_bytes: int | None = None,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        """`max_upload_bytes` bounds one uploaded object (None: no limit); `chunk_size` is the
        largest message a download sends; `clock` stamps `created_at` on new records."""
        self._backend = backend
        self._records = records
        self._max_upload_bytes = max_upload_bytes
        self._chunk_size = chunk_size
        self._clock = clock

    # --- records ----------------------------------------------------------------------
    async def RegisterArtifacts(
        self, request: artifacts_pb2.RegisterArtifactsRequest, context: _Context
    ) -> artifacts_pb2.RegisterArtifactsResponse:
        async with _StatusOnError(context):
            now = self._clock()
            records = [await self._new_record(message, now) for message in request.artifacts]
            await self._records.put_artifacts(records)
        return artifacts_pb2.RegisterArtifactsResponse(artifacts=[artifact_to_proto(r) for r in records])

    async def GetArtifact(
        self, request: artifacts_pb2.GetArtifactRequest, context: _Context
    ) -> artifacts_pb2.Artifact:
        async with _StatusOnError(context):
            if not request.artifact_id:
                raise InvalidArgument("artifact_id is required", field="artifact_id")
            record = await self._records.get_artifact(request.artifact_id)
        return artifact_to_proto(record)

    async def ListArtifacts(
        self, request: artifacts_pb2.ListArtifactsRequest, context: _Context
    ) -> artifacts_pb2.ListArtifactsResponse:
        async with _StatusOnError(context):
            if request.page_size < 0:
                raise InvalidArgument(
                    f"page_size must not be negative, got {request.page_size}", field="page_size"
                )
            page_size = min(request.page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
            page = await self._records.list_artifacts(
                run_id=request.run_id,
                task_id=request.task_id,
                query=ListQuery(page_size=page_size, page_token=request.page_token),
            )
        return artifacts_pb2.ListArtifactsResponse(
            artifacts=[artifact_to_proto(r) for r in page.items], next_page_token=page.next_page_token
        )

    # --- bytes ------------------------------------------------------------------------
    async def Upload(
        self, request_iterator: AsyncIterator[artifacts_pb2.UploadChunk], context: _Context
    ) -> artifacts_pb2.UploadResult:
        async with _StatusOnError(context):
            messages = aiter(request_iterator)
            first = await anext(messages, None)
            if first is None or not first.uri:
                raise InvalidArgument("the first upload message must carry the object's uri", field="uri")
            key = self._backend.key_for(first.uri)
            async with contextlib.aclosing(_upload_data(first, messages)) as data:
                size = await self._backend.put(key, data, max_bytes=self._max_upload_bytes)
            uri = self._backend.uri_for(key)
            logger.info("stored %s (%d bytes)", uri, size)
        return artifacts_pb2.UploadResult(uri=uri, size_bytes=size)

    async def Download(
        self, request: artifacts_pb2.DownloadRequest, context: _Context
    ) -> AsyncIterator[artifacts_pb2.DownloadChunk]:
        async with _StatusOnError(context):
            key = await self._download_key(request)
            chunks = self._backend.get(key, offset=request.offset, chunk_size=self._chunk_size)
            async with contextlib.aclosing(chunks):
                async for data in chunks:
                    yield artifacts_pb2.DownloadChunk(data=data)

    async def StatObject(
        self, request: artifacts_pb2.StatObjectRequest, context: _Context
    ) -> artifacts_pb2.ObjectStat:
        async with _StatusOnError(context):
            key = self._backend.key_for(request.uri)
            info = await self._backend.stat(key)
        if info is None:
            return artifacts_pb2.ObjectStat(uri=self._backend.uri_for(key), exists=False)
        return artifacts_pb2.ObjectStat(uri=info.uri, exists=True, size_bytes=info.size_bytes)

    # --- helpers ----------------------------------------------------------------------
    async def _new_record(self, message: artifacts_pb2.Artifact, now: datetime) -> ArtifactRecord:
        if not message.uri:
            raise InvalidArgument(f"artifact {message.name!r} has no uri", field="uri")
        parse_uri(message.uri)
        record = artifact_from_proto(message, default_created_at=now)
        record.artifact_id = record.artifact_id or uuid.uuid4().hex
        record.schema_title = record.schema_title or DEFAULT_SCHEMA_TITLE
        if record.size_bytes == 0:
            record.size_bytes = await self._local_size(record.uri)
        return record

    async def _local_size(self, uri: str) -> int:
        """The size of a file a local executor wrote in place (it never uploads, so it does
        not know to report it); 0 when the object is not a local file of this store."""
        try:
            key = self._backend.key_for(uri)
            if self._backend.local_path(key) is None:
                return 0
        except InvalidArgument:
            return 0
        info = await self._backend.stat(key)
        return 0 if info is None else info.size_bytes

    async def _download_key(self, request: artifacts_pb2.DownloadRequest) -> str:
        if bool(request.artifact_id) == bool(request.uri):
            raise InvalidArgument("a download names exactly one of artifact_id and uri")
        if request.uri:
            return self._backend.key_for(request.uri)
        record = await self._records.get_artifact(request.artifact_id)
        try:
            return self._backend.key_for(record.uri)
        except InvalidArgument:
            raise FailedPrecondition(
                f"artifact {request.artifact_id!r} is stored outside this artifact store: {record.uri}"
            ) from None


async def _upload_data(
    first: artifacts_pb2.UploadChunk, rest: AsyncIterator[artifacts_pb2.UploadChunk]
) -> AsyncGenerator[bytes, None]:
    if first.data:
        yield first.data
    async for message in rest:
        if message.uri and message.uri != first.uri:
            raise InvalidArgument(
                f"one upload names two objects: {first.uri!r} and {message.uri!r}", field="uri"
            )
        yield message.data


def add_artifact_servicer(server: grpc.aio.Server, servicer: ArtifactServicer) -> None:
    """Serve `servicer` on a `grpc.aio` server that may host other services too."""
    artifacts_pb2_grpc.add_ArtifactServiceServicer_to_server(servicer, server)
