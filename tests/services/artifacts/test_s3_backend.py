"""What only the S3 backend has, against a real SeaweedFS: multipart uploads, credentials,
presigned URLs, buckets, prefixes and URI schemes. The shared behaviour is the contract
suite's (`tests/contract/artifacts`)."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest

from services.artifacts.backends.s3 import MIN_PART_SIZE, S3Backend
from services.core.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    TooLarge,
    Unavailable,
)
from tests.fixtures.mongo import free_port
from tests.fixtures.s3 import SeaweedServer

MiB = 1024 * 1024
BIG = 12 * MiB + 7  # three parts of 5 MiB, the last one short


def _backend(server: SeaweedServer, bucket: str, **changes: object) -> S3Backend:
    options: dict[str, object] = {
        "endpoint": server.endpoint,
        "access_key": server.access_key,
        "secret_key": server.secret_key,
        "bucket": bucket,
        "region": "us-east-1",
        "part_size": MIN_PART_SIZE,
    }
    options.update(changes)
    return S3Backend(**options)  # type: ignore[arg-type]


@pytest.fixture
async def backend(seaweedfs: SeaweedServer, s3_bucket: str) -> AsyncIterator[S3Backend]:
    backend = _backend(seaweedfs, s3_bucket)
    try:
        yield backend
    finally:
        await backend.aclose()


async def _chunks(data: bytes, size: int = 256 * 1024) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def _read(backend: S3Backend, key: str, *, offset: int = 0) -> bytes:
    async with contextlib.aclosing(backend.get(key, offset=offset)) as chunks:
        return b"".join([chunk async for chunk in chunks])


def _incomplete_uploads(server: SeaweedServer, bucket: str) -> list[str]:
    # The SDK has no public call for ListMultipartUploads.
    result = server.client()._list_multipart_uploads(bucket)
    return [upload.object_name for upload in result.uploads]


def _data(size: int) -> bytes:
    return random.Random(size).randbytes(size)


@pytest.mark.parametrize("parallel_uploads", [1, 3])
async def test_large_objects_go_up_in_parts(
    seaweedfs: SeaweedServer, s3_bucket: str, parallel_uploads: int
) -> None:
    backend = _backend(seaweedfs, s3_bucket, parallel_uploads=parallel_uploads)
    data = _data(BIG)

    assert await backend.put("model/weights.bin", _chunks(data)) == BIG

    # A multipart object's ETag ends in "-<number of parts>".
    etag = seaweedfs.client().stat_object(s3_bucket, "model/weights.bin").etag
    assert etag is not None
    assert etag.endswith("-3")
    assert await _read(backend, "model/weights.bin") == data
    for offset in (MIN_PART_SIZE - 3, 2 * MIN_PART_SIZE + 1, BIG - 1):
        assert await _read(backend, "model/weights.bin", offset=offset) == data[offset:]
    info = await backend.stat("model/weights.bin")
    assert info is not None
    assert info.size_bytes == BIG
    await backend.aclose()


async def test_too_large_in_the_middle_of_a_multipart_upload_leaves_nothing(
    seaweedfs: SeaweedServer, s3_bucket: str, backend: S3Backend
) -> None:
    with pytest.raises(TooLarge):
        await backend.put("big", _chunks(_data(BIG)), max_bytes=BIG - 1)

    assert await backend.stat("big") is None
    assert list(seaweedfs.client().list_objects(s3_bucket, recursive=True)) == []
    assert _incomplete_uploads(seaweedfs, s3_bucket) == []


async def test_a_failing_multipart_upload_keeps_the_previous_object(
    seaweedfs: SeaweedServer, s3_bucket: str, backend: S3Backend
) -> None:
    await backend.put("k", _chunks(b"old"))

    async def failing() -> AsyncIterator[bytes]:
        async for chunk in _chunks(_data(2 * MIN_PART_SIZE + 1)):
            yield chunk
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        await backend.put("k", failing())

    assert await _read(backend, "k") == b"old"
    assert _incomplete_uploads(seaweedfs, s3_bucket) == []


async def test_a_cancelled_multipart_upload_leaves_nothing(
    seaweedfs: SeaweedServer, s3_bucket: str, backend: S3Backend
) -> None:
    sent_a_part = asyncio.Event()

    async def stalled() -> AsyncIterator[bytes]:
        async for chunk in _chunks(_data(MIN_PART_SIZE + MiB)):
            yield chunk
        sent_a_part.set()
        await asyncio.Event().wait()
        yield b"never"

    upload = asyncio.create_task(backend.put("stalled", stalled()))
    async with asyncio.timeout(10):
        await sent_a_part.wait()
    upload.cancel()
    with pytest.raises(asyncio.CancelledError):
        await upload

    assert await backend.stat("stalled") is None
    assert _incomplete_uploads(seaweedfs, s3_bucket) == []


async def _chunk(data: bytes) -> AsyncIterator[bytes]:
    yield data


@pytest.mark.parametrize(
    "credentials",
    [{"secret_key": "not-the-secret"}, {"access_key": "nobody"}],
    ids=["wrong-secret-key", "unknown-access-key"],
)
async def test_refused_credentials_fail_clearly(
    seaweedfs: SeaweedServer, s3_bucket: str, backend: S3Backend, credentials: dict[str, str]
) -> None:
    await backend.put("k", _chunk(b"data"))
    intruder = _backend(seaweedfs, s3_bucket, **credentials)

    with pytest.raises(PermissionDenied, match="refused the credentials") as refused:
        await intruder.put("k", _chunk(b"overwritten"))
    assert s3_bucket in refused.value.message
    assert seaweedfs.secret_key not in refused.value.message
    for attempt in (_read(intruder, "k"), intruder.stat("k"), intruder.ensure_bucket()):
        with pytest.raises(PermissionDenied, match="refused the credentials"):
            await attempt
    with pytest.raises(PermissionDenied):
        await intruder.put("big", _chunks(_data(BIG)))

    assert await _read(backend, "k") == b"data"
    assert _incomplete_uploads(seaweedfs, s3_bucket) == []
    await intruder.aclose()


async def test_reading_past_the_end_or_a_missing_object(backend: S3Backend) -> None:
    await backend.put("k", _chunk(b"12345"))

    assert await _read(backend, "k", offset=5) == b""
    assert await _read(backend, "k", offset=50) == b""
    with pytest.raises(NotFound):
        await _read(backend, "missing", offset=50)


async def test_a_presigned_url_serves_the_bytes_without_credentials(backend: S3Backend) -> None:
    data = _data(100_000)
    await backend.put("reports/out.html", _chunk(data))

    url = await backend.presigned_get_url("reports/out.html", timedelta(minutes=5))

    async with httpx.AsyncClient() as http:
        response = await http.get(url)
        assert response.status_code == 200
        assert response.content == data
        tampered = await http.get(url.replace("reports/out.html", "reports/other.html"))
        assert tampered.status_code == 403


async def test_a_presigned_url_for_a_public_endpoint(seaweedfs: SeaweedServer, s3_bucket: str) -> None:
    # Clients reach the server under another name than the service does.
    public = f"http://localhost:{seaweedfs.s3_port}"
    backend = _backend(seaweedfs, s3_bucket, public_endpoint=public)
    await backend.put("k", _chunk(b"public bytes"))

    url = await backend.presigned_get_url("k")

    assert url.startswith(public + "/")
    async with httpx.AsyncClient() as http:
        assert (await http.get(url)).content == b"public bytes"
    await backend.aclose()


@pytest.mark.parametrize("expires", [timedelta(0), timedelta(days=8)])
async def test_presigned_url_lifetime_is_bounded(backend: S3Backend, expires: timedelta) -> None:
    with pytest.raises(InvalidArgument):
        await backend.presigned_get_url("k", expires)
    with pytest.raises(InvalidArgument):
        await backend.presigned_get_url("../k")


async def test_ensure_bucket_creates_it_once(seaweedfs: SeaweedServer, s3_bucket: str) -> None:
    backend = _backend(seaweedfs, s3_bucket + "-new")
    # (SeaweedFS, unlike S3 and MinIO, would create the bucket on the first upload.)
    with pytest.raises(FailedPrecondition, match="does not exist"):
        await _read(backend, "k")

    await backend.ensure_bucket()
    await backend.ensure_bucket()

    assert seaweedfs.client().bucket_exists(s3_bucket + "-new")
    await backend.put("k", _chunk(b"data"))
    assert await _read(backend, "k") == b"data"
    await backend.delete("k")
    seaweedfs.client().remove_bucket(s3_bucket + "-new")
    await backend.aclose()


async def test_an_unreachable_server_is_unavailable() -> None:
    backend = S3Backend(
        endpoint=f"127.0.0.1:{free_port()}",
        access_key="k",
        secret_key="s",
        bucket="sluice",
        region="us-east-1",
        timeout=1.0,
    )
    with pytest.raises(Unavailable):
        await backend.stat("k")
    with pytest.raises(Unavailable):
        await backend.put("k", _chunk(b"data"))
    await backend.aclose()


async def test_prefix_and_scheme_shape_the_uris(seaweedfs: SeaweedServer, s3_bucket: str) -> None:
    backend = _backend(seaweedfs, s3_bucket, prefix="/team-a/artifacts/", scheme="s3")
    await backend.put("run/out.txt", _chunk(b"x"))

    uri = backend.uri_for("run/out.txt")

    assert uri == f"s3://{s3_bucket}/team-a/artifacts/run/out.txt"
    assert backend.key_for(uri) == "run/out.txt"
    assert [o.object_name for o in seaweedfs.client().list_objects(s3_bucket, recursive=True)] == [
        "team-a/artifacts/run/out.txt"
    ]
    assert backend.local_path("run/out.txt") is None
    for foreign in (
        f"minio://{s3_bucket}/team-a/artifacts/run/out.txt",
        f"s3://{s3_bucket}/team-b/run/out.txt",
        f"s3://{s3_bucket}/team-a/artifacts/../x",
    ):
        with pytest.raises(InvalidArgument):
            backend.key_for(foreign)
    with pytest.raises(NotFound):
        await _read(backend, "team-a/artifacts/run/out.txt")
    await backend.aclose()


def test_gcs_uris() -> None:
    backend = S3Backend(
        endpoint="https://storage.googleapis.com",
        access_key="GOOG1E-hmac-id",
        secret_key="hmac-secret",
        bucket="my-bucket",
        scheme="gs",
    )
    assert backend.uri_for("a/b") == "gs://my-bucket/a/b"
    assert backend.key_for("gs://my-bucket/a/b") == "a/b"


@pytest.mark.parametrize(
    "changes",
    [
        {"scheme": "http"},
        {"bucket": "No_Such..Bucket"},
        {"part_size": MIN_PART_SIZE - 1},
        {"parallel_uploads": 0},
        {"endpoint": "http://host:9000/path"},
        {"prefix": "a/../b"},
    ],
    ids=["scheme", "bucket", "part-size", "parallel-uploads", "endpoint", "prefix"],
)
def test_bad_settings_are_refused(changes: dict[str, object]) -> None:
    options: dict[str, object] = {
        "endpoint": "127.0.0.1:9000",
        "access_key": "k",
        "secret_key": "s",
        "bucket": "sluice",
    }
    with pytest.raises(InvalidArgument):
        S3Backend(**(options | changes))  # type: ignore[arg-type]
