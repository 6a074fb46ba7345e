"""The artifact service end to end: a real `grpc.aio` server on a free loopback port, the
local backend in a temporary directory, and the client the executor and gateway use."""

from __future__ import annotations

import contextlib
import random
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import grpc
import pytest
from sluice.v1 import artifacts_pb2, artifacts_pb2_grpc

from services.artifacts import ArtifactClient, ArtifactRecords, ArtifactService, LocalBackend
from services.core.errors import FailedPrecondition, InvalidArgument, NotFound, TooLarge
from services.core.store.records import ArtifactRecord

MiB = 1024 * 1024


def _record(uri: str, **fields: str) -> ArtifactRecord:
    return ArtifactRecord(
        artifact_id=fields.get("artifact_id", ""),
        name=fields.get("name", "model"),
        uri=uri,
        schema_title=fields.get("schema_title", "system.Model"),
        created_at=datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC),
        run_id=fields.get("run_id", "run-1"),
        task_id=fields.get("task_id", "task-1"),
        output_key=fields.get("output_key", "model"),
        metadata={"framework": "sklearn", "accuracy": 0.93},
    )


def _files(directory: Path) -> list[Path]:
    return [p for p in directory.rglob("*") if p.is_file()]


async def _download(client: ArtifactClient, uri_or_id: str, *, offset: int = 0) -> bytes:
    async with contextlib.aclosing(client.download(uri_or_id, offset=offset)) as chunks:
        return b"".join([chunk async for chunk in chunks])


@pytest.fixture
def stub(channel: grpc.aio.Channel) -> artifacts_pb2_grpc.ArtifactServiceAsyncStub:
    return artifacts_pb2_grpc.ArtifactServiceStub(channel)


# --- bytes ----------------------------------------------------------------------------


async def test_upload_then_download_by_uri(client: ArtifactClient, backend: LocalBackend) -> None:
    uri = backend.uri_for("runs/run-1/task-1/greeting.txt")

    assert await client.upload_bytes(b"hello", uri) == 5

    assert await _download(client, uri) == b"hello"
    assert await _download(client, uri, offset=2) == b"llo"
    info = await client.stat(uri)
    assert info is not None
    assert (info.uri, info.size_bytes) == (uri, 5)
    assert backend.local_path("runs/run-1/task-1/greeting.txt").read_bytes() == b"hello"


async def test_a_multi_mib_file_round_trips(
    client: ArtifactClient, backend: LocalBackend, tmp_path: Path
) -> None:
    data = random.Random(7).randbytes(5 * MiB + 17)
    source = tmp_path / "source.bin"
    source.write_bytes(data)
    uri = backend.uri_for("big/blob.bin")

    assert await client.upload_file(source, uri) == len(data)
    dest = tmp_path / "downloads/nested/blob.bin"
    assert await client.download_file(uri, dest) == len(data)

    assert dest.read_bytes() == data
    assert [p.name for p in dest.parent.iterdir()] == ["blob.bin"]


async def test_an_empty_object_round_trips(client: ArtifactClient, backend: LocalBackend) -> None:
    uri = backend.uri_for("empty")

    assert await client.upload_bytes(b"", uri) == 0

    assert await _download(client, uri) == b""
    info = await client.stat(uri)
    assert info is not None
    assert info.size_bytes == 0


async def test_stopping_a_download_early_cancels_it(client: ArtifactClient, backend: LocalBackend) -> None:
    uri = backend.uri_for("three-chunks")
    await client.upload_bytes(b"x" * (3 * MiB), uri)

    async with contextlib.aclosing(client.download(uri)) as chunks:
        first = await anext(chunks)

    assert len(first) == MiB


async def test_stat_of_a_missing_object(client: ArtifactClient, backend: LocalBackend) -> None:
    assert await client.stat(backend.uri_for("nothing/here")) is None


async def test_download_of_a_missing_object_is_not_found(
    client: ArtifactClient, backend: LocalBackend
) -> None:
    with pytest.raises(NotFound) as caught:
        await _download(client, backend.uri_for("nothing/here"))

    assert caught.value.kind == "object"
    assert caught.value.identifier == "nothing/here"


async def test_a_failed_download_file_leaves_no_file(
    client: ArtifactClient, backend: LocalBackend, tmp_path: Path
) -> None:
    with pytest.raises(NotFound):
        await client.download_file(backend.uri_for("nothing/here"), tmp_path / "out/file")

    assert list((tmp_path / "out").iterdir()) == []


@pytest.mark.parametrize(
    "make_uri",
    [
        pytest.param(lambda root: f"file://{root}/../escape.txt", id="dotdot"),
        pytest.param(lambda root: f"file://{root}/a/../../escape.txt", id="nested-dotdot"),
        pytest.param(lambda root: f"file://{root.parent}/escape.txt", id="outside-root"),
        pytest.param(lambda root: f"file://{root}-sibling/escape.txt", id="sibling-prefix"),
        pytest.param(lambda root: f"file://{root}//escape.txt", id="empty-segment"),
        pytest.param(lambda root: "s3://some-bucket/escape.txt", id="foreign-store"),
        pytest.param(lambda root: "relative/escape.txt", id="not-a-uri"),
    ],
)
async def test_upload_to_a_path_trick_is_invalid_and_writes_nothing(
    client: ArtifactClient,
    stub: artifacts_pb2_grpc.ArtifactServiceAsyncStub,
    backend: LocalBackend,
    tmp_path: Path,
    make_uri: Callable[[Path], str],
) -> None:
    uri = make_uri(backend.root)

    with pytest.raises(InvalidArgument):
        await client.upload_bytes(b"planted", uri)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Upload(_messages(artifacts_pb2.UploadChunk(uri=uri, data=b"planted")))

    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert _files(tmp_path) == []


async def test_an_upload_over_the_limit_is_resource_exhausted(
    client: ArtifactClient,
    stub: artifacts_pb2_grpc.ArtifactServiceAsyncStub,
    backend: LocalBackend,
    tmp_path: Path,
) -> None:
    uri = backend.uri_for("too/big")
    source = tmp_path / "big.bin"
    source.write_bytes(b"\0" * (9 * MiB))

    with pytest.raises(TooLarge) as too_large:
        await client.upload_file(source, uri)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Upload(_messages(artifacts_pb2.UploadChunk(uri=uri, data=b"\0" * (3 * MiB)), repeat=3))

    assert too_large.value.limit_bytes == 8 * MiB
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert await client.stat(uri) is None
    assert _files(backend.root) == []


@pytest.mark.parametrize(
    "messages",
    [
        pytest.param([], id="no-messages"),
        pytest.param([artifacts_pb2.UploadChunk(data=b"no uri")], id="no-uri"),
        pytest.param(
            [artifacts_pb2.UploadChunk(uri="@a"), artifacts_pb2.UploadChunk(uri="@b", data=b"x")],
            id="two-uris",
        ),
    ],
)
async def test_malformed_uploads_are_invalid(
    stub: artifacts_pb2_grpc.ArtifactServiceAsyncStub,
    backend: LocalBackend,
    messages: list[artifacts_pb2.UploadChunk],
) -> None:
    # "@key" stands for the URI of key in the store under test.
    sent = [
        artifacts_pb2.UploadChunk(uri=backend.uri_for(m.uri[1:]) if m.uri else "", data=m.data)
        for m in messages
    ]

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Upload(_messages(*sent))

    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert _files(backend.root) == []


@pytest.mark.parametrize(
    "request_fields",
    [
        pytest.param({}, id="neither"),
        pytest.param({"artifact_id": "x", "uri": "@k"}, id="both"),
        pytest.param({"uri": "@k", "offset": -1}, id="negative-offset"),
    ],
)
async def test_malformed_downloads_are_invalid(
    stub: artifacts_pb2_grpc.ArtifactServiceAsyncStub,
    backend: LocalBackend,
    request_fields: dict[str, object],
) -> None:
    await backend.put("k", _bytes(b"data"))
    fields = {k: backend.uri_for("k") if v == "@k" else v for k, v in request_fields.items()}

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        async for _ in stub.Download(artifacts_pb2.DownloadRequest(**fields)):  # type: ignore[arg-type]
            pass

    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


# --- records --------------------------------------------------------------------------


async def test_register_fills_in_id_created_at_and_size(
    client: ArtifactClient, stub: artifacts_pb2_grpc.ArtifactServiceAsyncStub, backend: LocalBackend
) -> None:
    uri = backend.uri_for("runs/run-1/task-1/model")
    await client.upload_bytes(b"0123456789", uri)
    before = datetime.now(UTC).replace(microsecond=0)

    response = await stub.RegisterArtifacts(
        artifacts_pb2.RegisterArtifactsRequest(artifacts=[artifacts_pb2.Artifact(name="model", uri=uri)])
    )

    (stored,) = response.artifacts
    assert re.fullmatch(r"[0-9a-f]{32}", stored.artifact_id)
    assert stored.created_at.ToDatetime(tzinfo=UTC) >= before
    assert stored.size_bytes == 10
    assert stored.schema_title == "system.Artifact"
    assert stored.schema_version == "0.0.1"


async def test_register_get_and_download_by_id(client: ArtifactClient, backend: LocalBackend) -> None:
    uri = backend.uri_for("runs/run-1/task-1/model")
    await client.upload_bytes(b"weights", uri)

    (registered,) = await client.register([_record(uri)])

    assert registered.artifact_id
    assert registered.size_bytes == 7
    assert registered.created_at == datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    fetched = await client.get(registered.artifact_id)
    assert fetched == registered
    assert fetched.metadata == {"framework": "sklearn", "accuracy": 0.93}
    assert await _download(client, registered.artifact_id) == b"weights"
    assert await _download(client, registered.artifact_id, offset=3) == b"ghts"


async def test_register_keeps_a_given_id_and_replaces_the_record(
    client: ArtifactClient, backend: LocalBackend
) -> None:
    uri = backend.uri_for("a")
    await client.register([_record(uri, artifact_id="fixed-id", name="first")])

    (second,) = await client.register([_record(uri, artifact_id="fixed-id", name="second")])

    assert second.artifact_id == "fixed-id"
    assert (await client.get("fixed-id")).name == "second"


async def test_register_accepts_artifacts_stored_elsewhere(client: ArtifactClient) -> None:
    (imported,) = await client.register([_record("gs://public-datasets/iris.csv")])

    assert imported.size_bytes == 0
    with pytest.raises(FailedPrecondition, match="outside this artifact store"):
        await _download(client, imported.artifact_id)


@pytest.mark.parametrize("uri", ["", "http://example.invalid/x", "s3://bucket/../x"])
async def test_register_rejects_a_bad_uri(client: ArtifactClient, records: ArtifactRecords, uri: str) -> None:
    with pytest.raises(InvalidArgument):
        await client.register([_record("gs://fine/x", name="ok"), _record(uri, name="bad")])

    assert (await records.list_artifacts()).items == []


async def test_list_by_run_and_task_in_pages(client: ArtifactClient, backend: LocalBackend) -> None:
    wanted = [
        _record(backend.uri_for(f"run-1/{task}/{n}"), run_id="run-1", task_id=task, name=f"{task}-{n}")
        for task in ("task-1", "task-2")
        for n in range(3)
    ]
    other = [_record(backend.uri_for(f"run-2/x/{n}"), run_id="run-2", task_id="x") for n in range(2)]
    registered = await client.register(wanted + other)
    wanted_ids = {r.artifact_id for r in registered[: len(wanted)]}

    seen: list[str] = []
    token = ""
    pages = 0
    while True:
        page = await client.list(run_id="run-1", page_size=4, page_token=token)
        seen += [a.artifact_id for a in page.artifacts]
        pages += 1
        token = page.next_page_token
        if not token:
            break

    assert pages == 2
    assert sorted(seen) == sorted(wanted_ids)
    by_task = await client.list(task_id="task-2")
    assert sorted(a.name for a in by_task.artifacts) == ["task-2-0", "task-2-1", "task-2-2"]
    assert by_task.next_page_token == ""


async def test_get_of_an_unknown_artifact_is_not_found(
    client: ArtifactClient, stub: artifacts_pb2_grpc.ArtifactServiceAsyncStub
) -> None:
    with pytest.raises(NotFound) as not_found:
        await client.get("missing")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.GetArtifact(artifacts_pb2.GetArtifactRequest(artifact_id="missing"))

    assert (not_found.value.kind, not_found.value.identifier) == ("artifact", "missing")
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert caught.value.details() == "artifact 'missing' not found"
    with pytest.raises(NotFound):
        await _download(client, "missing")


_BAD_REQUESTS: dict[str, Callable[[artifacts_pb2_grpc.ArtifactServiceAsyncStub], Awaitable[object]]] = {
    "get-without-id": lambda stub: stub.GetArtifact(artifacts_pb2.GetArtifactRequest()),
    "negative-page-size": lambda stub: stub.ListArtifacts(artifacts_pb2.ListArtifactsRequest(page_size=-1)),
    "bad-page-token": lambda stub: stub.ListArtifacts(artifacts_pb2.ListArtifactsRequest(page_token="nope")),
    "stat-foreign-uri": lambda stub: stub.StatObject(artifacts_pb2.StatObjectRequest(uri="s3://elsewhere/x")),
    "stat-bad-key": lambda stub: stub.StatObject(artifacts_pb2.StatObjectRequest(uri="file:///x/../y")),
}


@pytest.mark.parametrize("call", sorted(_BAD_REQUESTS))
async def test_bad_requests_are_invalid_argument(
    stub: artifacts_pb2_grpc.ArtifactServiceAsyncStub, call: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _BAD_REQUESTS[call](stub)

    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details()


async def test_a_separate_client_over_a_fresh_channel(
    service: ArtifactService, backend: LocalBackend
) -> None:
    async with grpc.aio.insecure_channel(service.address) as channel:
        client = ArtifactClient(channel, chunk_size=1000)
        uri = backend.uri_for("small-chunks")

        assert await client.upload_bytes(b"z" * 2500, uri) == 2500
        assert await _download(client, uri) == b"z" * 2500


async def _messages(
    *messages: artifacts_pb2.UploadChunk, repeat: int = 1
) -> AsyncIterator[artifacts_pb2.UploadChunk]:
    for _ in range(repeat):
        for message in messages:
            yield message


async def _bytes(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part
