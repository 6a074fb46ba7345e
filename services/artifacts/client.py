"""The artifact service's client, for the executor, the gateway and the SDK.

Every method raises Sluice errors (`services.core.errors`) translated back from the gRPC
status, with the `grpc.aio.AioRpcError` as their cause.
"""

from __future__ import annotations

import builtins
import contextlib
import os
import uuid
from collections.abc import AsyncGenerator, AsyncIterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import grpc
from sluice.v1 import artifacts_pb2, artifacts_pb2_grpc

from services.artifacts.backends.base import DEFAULT_CHUNK_SIZE, ObjectInfo
from services.artifacts.convert import artifact_from_proto, artifact_to_proto
from services.artifacts.threads import close_file, in_thread
from services.core.error_mapping import error_from_grpc
from services.core.store.records import ArtifactRecord


@dataclass(frozen=True)
class ArtifactPage:
    """One page of `ArtifactClient.list`."""

    artifacts: list[ArtifactRecord]
    """The artifacts, oldest first."""
    next_page_token: str
    """Pass it back for the next page; empty on the last page."""


@contextlib.contextmanager
def _sluice_errors() -> Iterator[None]:
    try:
        yield
    except grpc.aio.AioRpcError as error:
        raise error_from_grpc(error.code(), error.details() or "") from error


class ArtifactClient:
    """Calls the artifact service over a `grpc.aio` channel, which stays the caller's to close."""

    def __init__(self, channel: grpc.aio.Channel, *, chunk_size: int = DEFAULT_CHUNK_SIZE) -> None:
        """`chunk_size` is the size of the messages an upload sends; keep it well under the
        server's gRPC message limit (4 MiB unless configured otherwise)."""
        self._stub = artifacts_pb2_grpc.ArtifactServiceStub(channel)
        self._chunk_size = chunk_size

    # --- records ----------------------------------------------------------------------
    async def register(self, artifacts: Sequence[ArtifactRecord]) -> builtins.list[ArtifactRecord]:
        """Insert or replace artifact records; returns them as stored, with `artifact_id` (a
        new one where it was empty), `created_at` and, for local files, `size_bytes`."""
        request = artifacts_pb2.RegisterArtifactsRequest(artifacts=[artifact_to_proto(a) for a in artifacts])
        with _sluice_errors():
            response = await self._stub.RegisterArtifacts(request)
        return [artifact_from_proto(message) for message in response.artifacts]

    async def get(self, artifact_id: str) -> ArtifactRecord:
        """Raises NotFound."""
        with _sluice_errors():
            message = await self._stub.GetArtifact(artifacts_pb2.GetArtifactRequest(artifact_id=artifact_id))
        return artifact_from_proto(message)

    async def list(
        self, *, run_id: str = "", task_id: str = "", page_size: int = 0, page_token: str = ""
    ) -> ArtifactPage:
        """One page of the artifacts of a run and/or task (page_size 0: the server's default)."""
        request = artifacts_pb2.ListArtifactsRequest(
            run_id=run_id, task_id=task_id, page_size=page_size, page_token=page_token
        )
        with _sluice_errors():
            response = await self._stub.ListArtifacts(request)
        return ArtifactPage(
            artifacts=[artifact_from_proto(message) for message in response.artifacts],
            next_page_token=response.next_page_token,
        )

    # --- bytes ------------------------------------------------------------------------
    async def stat(self, uri: str) -> ObjectInfo | None:
        """The stored object's info, or None when there is none at `uri`."""
        with _sluice_errors():
            result = await self._stub.StatObject(artifacts_pb2.StatObjectRequest(uri=uri))
        return ObjectInfo(uri=result.uri, size_bytes=result.size_bytes) if result.exists else None

    async def upload(self, uri: str, chunks: AsyncIterable[bytes]) -> int:
        """Store the bytes of `chunks` at `uri` (all or nothing); returns the object's size."""

        async def messages() -> AsyncGenerator[artifacts_pb2.UploadChunk, None]:
            yield artifacts_pb2.UploadChunk(uri=uri)
            async for chunk in chunks:
                yield artifacts_pb2.UploadChunk(data=chunk)

        with _sluice_errors():
            result = await self._stub.Upload(messages())
        return result.size_bytes

    async def upload_bytes(self, data: bytes, uri: str) -> int:
        return await self.upload(uri, _slices(data, self._chunk_size))

    async def upload_file(self, path: Path | str, uri: str) -> int:
        """Stream a local file to `uri`. Raises FileNotFoundError before calling the service."""
        file = await in_thread(_open_for_read, Path(path), abandon=close_file)
        try:
            return await self.upload(uri, _read_chunks(file, self._chunk_size))
        finally:
            file.close()

    async def download(self, uri_or_id: str, *, offset: int = 0) -> AsyncGenerator[bytes, None]:
        """The bytes of the object at a URI, or of an artifact given its id, from `offset` on.
        Close the generator (`contextlib.aclosing`) when stopping early: that cancels the call."""
        if "://" in uri_or_id:
            request = artifacts_pb2.DownloadRequest(uri=uri_or_id, offset=offset)
        else:
            request = artifacts_pb2.DownloadRequest(artifact_id=uri_or_id, offset=offset)
        call = self._stub.Download(request)
        try:
            with _sluice_errors():
                async for message in call:
                    yield message.data
        finally:
            call.cancel()

    async def download_file(self, uri_or_id: str, dest: Path | str) -> int:
        """Write the object to `dest` (atomically, creating its directory); returns its size."""
        dest = Path(dest)
        await in_thread(_make_parent, dest)
        temp = dest.parent / f".sluice-{uuid.uuid4().hex}.part"
        file = await in_thread(_create, temp, abandon=close_file)
        size = 0
        try:
            async with contextlib.aclosing(self.download(uri_or_id)) as chunks:
                async for chunk in chunks:
                    await in_thread(file.write, chunk)
                    size += len(chunk)
            file.close()
            await in_thread(os.replace, temp, dest)
        except BaseException:
            file.close()
            temp.unlink(missing_ok=True)
            raise
        return size


async def _slices(data: bytes, size: int) -> AsyncGenerator[bytes, None]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def _read_chunks(file: BinaryIO, size: int) -> AsyncGenerator[bytes, None]:
    while chunk := await in_thread(file.read, size):
        yield chunk


def _open_for_read(path: Path) -> BinaryIO:
    return path.open("rb")


def _create(path: Path) -> BinaryIO:
    return path.open("xb")


def _make_parent(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
