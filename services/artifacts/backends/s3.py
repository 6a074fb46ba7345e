"""The S3-compatible backend: objects in one bucket of MinIO, AWS S3 or Google Cloud Storage,
through the `minio` SDK.

The SDK blocks, so its calls run in worker threads. Uploads stream: the chunks go through a
bounded `ChunkPipe` to `put_object` (unknown length, multipart in `part_size` parts), so
memory stays at a few parts whatever the object's size; a failed, cancelled or too large
upload aborts its multipart upload and leaves the previous object, if any, untouched (a
cancellation that comes after the last chunk was handed over waits for the upload, which
may already be committing). Downloads stream from `get_object` at an offset (an HTTP range
request).

URIs follow KFP: `minio://bucket/key` (MinIO), `s3://bucket/key` (AWS), `gs://bucket/key`
(GCS); `prefix` puts every object of this store under one "directory" of the bucket.

Google Cloud Storage speaks the S3 XML API at `storage.googleapis.com`: create an HMAC key
for a service account (Cloud Storage → Settings → Interoperability), then use
`endpoint="storage.googleapis.com"`, `secure=True`, the HMAC access id and secret as
`access_key`/`secret_key`, and `scheme="gs"`, so that URIs are the `gs://` ones KFP
components expect.

Errors: a missing object is NotFound (None from `stat`); credentials the server refuses
(`InvalidAccessKeyId`, `SignatureDoesNotMatch`, `AccessDenied`) are PermissionDenied; a
missing bucket is FailedPrecondition; an unreachable or failing server is Unavailable.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterable
from datetime import timedelta
from pathlib import Path
from typing import Any, BinaryIO, TypeVar, cast

import certifi
import urllib3
from minio import Minio
from minio.error import InvalidResponseError, MinioException, S3Error, ServerError
from minio.helpers import check_bucket_name
from urllib3.response import BaseHTTPResponse

from services.artifacts.backends.base import DEFAULT_CHUNK_SIZE, ObjectInfo
from services.artifacts.backends.pipe import ChunkPipe, ReaderGone
from services.artifacts.keys import BUCKET_SCHEMES, parse_uri, shown, validate_key
from services.artifacts.threads import in_thread
from services.core.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    SluiceError,
    SystemError_,
    TooLarge,
    Unavailable,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")

MiB = 1024 * 1024
# S3 allows parts of 5 MiB to 5 GiB and at most 10,000 of them: 16 MiB parts reach 156 GiB.
DEFAULT_PART_SIZE = 16 * MiB
MIN_PART_SIZE = 5 * MiB
# Bytes gathered from the incoming chunks before they are handed to the upload thread.
_SEND_BYTES = 1 * MiB
# S3 refuses presigned URLs valid for longer than a week.
MAX_PRESIGNED_EXPIRY = timedelta(days=7)

_MISSING_OBJECT = frozenset({"NoSuchKey", "NoSuchObject", "ResourceNotFound"})
_REFUSED_CREDENTIALS = frozenset(
    {"InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "InvalidToken", "ExpiredToken"}
)


class S3Backend:
    """Objects in `bucket` of an S3-compatible server.

    Args:
        endpoint: `host:port` of the server (a leading `http://` or `https://` sets `secure`).
        access_key: the access key id (an HMAC access id for GCS).
        secret_key: its secret.
        bucket: the bucket holding every object of this store (see `ensure_bucket`).
        secure: HTTPS instead of HTTP.
        region: the bucket's region; None asks the server once per bucket.
        prefix: a key prefix ("directory") for every object, e.g. "sluice/".
        scheme: the URI scheme of the objects: "minio", "s3" or "gs".
        part_size: the multipart part size (at least 5 MiB); also the largest object sent
            in a single PUT. Memory per upload is about `part_size` * (`parallel_uploads` + 1).
        parallel_uploads: parts uploaded at once.
        public_endpoint: `scheme://host:port` clients outside the deployment reach the
            server at, for presigned URLs (which are signed for one host); None: `endpoint`.
        timeout: seconds to wait for a connection or for the server's next bytes.
    """

    def __init__(
        self,
        *,
        endpoint: str,
        access_key: str,
        secret_key: str,
        bucket: str,
        secure: bool = False,
        region: str | None = None,
        prefix: str = "",
        scheme: str = "minio",
        part_size: int = DEFAULT_PART_SIZE,
        parallel_uploads: int = 1,
        public_endpoint: str | None = None,
        timeout: float = 60.0,
    ) -> None:
        if scheme not in BUCKET_SCHEMES:
            raise InvalidArgument(
                f"S3 URI scheme must be one of {', '.join(sorted(BUCKET_SCHEMES))}, got {scheme!r}",
                field="scheme",
            )
        try:
            check_bucket_name(bucket)
        except ValueError as error:
            raise InvalidArgument(f"invalid bucket name {bucket!r}: {error}", field="bucket") from error
        if part_size < MIN_PART_SIZE:
            raise InvalidArgument(f"part_size must be at least {MIN_PART_SIZE} bytes", field="part_size")
        if parallel_uploads < 1:
            raise InvalidArgument("parallel_uploads must be at least 1", field="parallel_uploads")
        host, secure = _host(endpoint, secure)
        self._endpoint = host
        self._bucket = bucket
        self._scheme = scheme
        self._prefix = _normalized_prefix(prefix)
        self._part_size = part_size
        self._parallel_uploads = parallel_uploads
        self._http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=timeout, read=timeout),
            maxsize=max(10, parallel_uploads + 2),
            cert_reqs="CERT_REQUIRED",
            ca_certs=certifi.where(),
            retries=urllib3.Retry(total=3, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504]),
        )
        self._client = Minio(
            host,
            access_key=access_key,
            secret_key=secret_key,
            secure=secure,
            region=region,
            http_client=self._http,
        )
        if public_endpoint is None:
            self._presigner = self._client
        else:
            public_host, public_secure = _host(public_endpoint, secure)
            # Signing needs the region; asking the public endpoint for it may not work from here.
            self._presigner = Minio(
                public_host,
                access_key=access_key,
                secret_key=secret_key,
                secure=public_secure,
                region=region or "us-east-1",
                http_client=self._http,
            )

    @property
    def bucket(self) -> str:
        return self._bucket

    @property
    def prefix(self) -> str:
        return self._prefix

    # --- URIs -------------------------------------------------------------------------
    def uri_for(self, key: str) -> str:
        return f"{self._scheme}://{self._bucket}/{self._object_name(key)}"

    def key_for(self, uri: str) -> str:
        parsed = parse_uri(uri)
        if parsed.scheme != self._scheme or parsed.bucket != self._bucket:
            raise InvalidArgument(
                f"artifact uri {shown(uri)} is not in the store at {self._scheme}://{self._bucket}/{self._prefix}",
                field="uri",
            )
        if not parsed.key.startswith(self._prefix):
            raise InvalidArgument(
                f"artifact uri {shown(uri)} is outside the store's prefix {self._prefix!r}", field="uri"
            )
        key = parsed.key[len(self._prefix) :]
        try:
            return validate_key(key)
        except InvalidArgument as error:
            raise InvalidArgument(
                f"invalid artifact uri {shown(uri)}: {error.message}", field="uri"
            ) from error

    # --- objects ----------------------------------------------------------------------
    async def put(self, key: str, chunks: AsyncIterable[bytes], *, max_bytes: int | None = None) -> int:
        name = self._object_name(key)
        if max_bytes is not None and max_bytes < 0:
            raise InvalidArgument(f"max_bytes must not be negative, got {max_bytes}", field="max_bytes")
        pipe = ChunkPipe(asyncio.get_running_loop())
        upload = asyncio.ensure_future(
            asyncio.to_thread(
                self._client.put_object,
                self._bucket,
                name,
                # The SDK only ever calls read() on it.
                cast(BinaryIO, pipe),
                -1,
                part_size=self._part_size,
                num_parallel_uploads=self._parallel_uploads,
            )
        )
        upload.add_done_callback(lambda _: pipe.reader_done())
        try:
            size = await _feed(pipe, chunks, key=key, max_bytes=max_bytes)
        except ReaderGone:
            # The upload ended before it took every byte; its own error says why.
            size = -1
        except BaseException:
            pipe.fail()
            await _settle(upload)
            raise
        try:
            await _settle(upload)
            upload.result()
        except Exception as error:
            raise self._translated(error, key) from error
        if size < 0:
            raise Unavailable(f"the upload of {shown(key)} to {self._where()} stopped before its end")
        return size

    async def get(
        self, key: str, *, offset: int = 0, chunk_size: int = DEFAULT_CHUNK_SIZE
    ) -> AsyncGenerator[bytes, None]:
        if offset < 0:
            raise InvalidArgument(f"offset must not be negative, got {offset}", field="offset")
        if chunk_size < 1:
            raise InvalidArgument(f"chunk_size must be positive, got {chunk_size}", field="chunk_size")
        name = self._object_name(key)
        try:
            response = await in_thread(self._client.get_object, self._bucket, name, offset, abandon=_release)
        except S3Error as error:
            if error.code == "InvalidRange":
                return  # the offset is at or past the end of an object that exists
            raise self._translated(error, key) from error
        except Exception as error:
            raise self._translated(error, key) from error
        try:
            while True:
                try:
                    data = await in_thread(response.read, chunk_size)
                except Exception as error:
                    raise self._translated(error, key) from error
                if not data:
                    return
                yield data
        finally:
            _release(response)

    async def stat(self, key: str) -> ObjectInfo | None:
        name = self._object_name(key)
        try:
            info = await in_thread(self._client.stat_object, self._bucket, name)
        except S3Error as error:
            if error.code in _MISSING_OBJECT:
                return None
            raise self._translated(error, key) from error
        except Exception as error:
            raise self._translated(error, key) from error
        return ObjectInfo(uri=self.uri_for(key), size_bytes=info.size or 0)

    async def delete(self, key: str) -> None:
        name = self._object_name(key)
        try:
            await in_thread(self._client.remove_object, self._bucket, name)
        except S3Error as error:
            if error.code in _MISSING_OBJECT:
                return
            raise self._translated(error, key) from error
        except Exception as error:
            raise self._translated(error, key) from error

    def local_path(self, key: str) -> Path | None:
        self._object_name(key)
        return None

    async def presigned_get_url(self, key: str, expires: timedelta = timedelta(hours=1)) -> str:
        """A URL anyone can GET the object's bytes from until `expires` has passed, without
        credentials (for the UI and clients). At most `MAX_PRESIGNED_EXPIRY`."""
        name = self._object_name(key)
        if not timedelta(seconds=1) <= expires <= MAX_PRESIGNED_EXPIRY:
            raise InvalidArgument(
                f"a presigned URL expires after 1 second to 7 days, not {expires}", field="expires"
            )
        try:
            return await in_thread(self._presigner.presigned_get_object, self._bucket, name, expires)
        except Exception as error:
            raise self._translated(error, key) from error

    async def ensure_bucket(self) -> None:
        """Create the bucket unless it exists. Also proves the credentials work: raises
        PermissionDenied when the server refuses them, Unavailable when it cannot be reached."""
        try:
            if not await in_thread(self._client.bucket_exists, self._bucket):
                await in_thread(self._client.make_bucket, self._bucket)
                logger.info("created bucket %s on %s", self._bucket, self._endpoint)
        except S3Error as error:
            if error.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise self._translated(error, "") from error
        except Exception as error:
            raise self._translated(error, "") from error

    async def aclose(self) -> None:
        self._http.clear()

    # --- helpers ----------------------------------------------------------------------
    def _object_name(self, key: str) -> str:
        return self._prefix + validate_key(key)

    def _where(self) -> str:
        return f"bucket {self._bucket!r} at {self._endpoint}"

    def _translated(self, error: BaseException, key: str) -> BaseException:
        """The Sluice error for an SDK or HTTP error (a Sluice error stays as it is)."""
        if isinstance(error, SluiceError):
            return error
        if isinstance(error, S3Error):
            code = error.code or ""
            if code in _MISSING_OBJECT:
                return NotFound("object", key)
            if code == "NoSuchBucket":
                return FailedPrecondition(f"{self._where()} does not exist")
            if code in _REFUSED_CREDENTIALS:
                return PermissionDenied(
                    f"the S3 server refused the credentials for {self._where()} ({code}: {error.message}); "
                    "check the access key and the secret key"
                )
            if code in ("SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout"):
                return Unavailable(f"{self._where()} failed: {code}: {error.message}")
            return SystemError_(f"{self._where()} failed: {code}: {error.message}")
        if isinstance(error, ServerError | InvalidResponseError | urllib3.exceptions.HTTPError | OSError):
            return Unavailable(f"{self._where()} is unavailable: {error}")
        if isinstance(error, MinioException | ValueError):
            return SystemError_(f"{self._where()} failed: {error}")
        return error


async def _feed(pipe: ChunkPipe, chunks: AsyncIterable[bytes], *, key: str, max_bytes: int | None) -> int:
    """Send every chunk through the pipe, in batches; the number of bytes sent."""
    size = 0
    batch = bytearray()
    async for chunk in chunks:
        size += len(chunk)
        if max_bytes is not None and size > max_bytes:
            raise TooLarge(
                f"object {shown(key)} is larger than the limit of {max_bytes} bytes", limit_bytes=max_bytes
            )
        batch += chunk
        if len(batch) >= _SEND_BYTES:
            await pipe.send(bytes(batch))
            batch.clear()
    if batch:
        await pipe.send(bytes(batch))
    await pipe.close()
    return size


async def _settle(future: asyncio.Future[T]) -> None:
    """Wait until `future` is done, even when cancelled meanwhile (the cancellation is
    re-raised afterwards): a worker thread must not outlive the call that started it."""
    try:
        await asyncio.shield(future)
    except asyncio.CancelledError:
        if not future.done():
            await asyncio.wait([future])
        _retrieve(future)
        raise
    except Exception:
        return  # the caller reads the result


def _retrieve(future: asyncio.Future[Any]) -> None:
    """Mark a future's exception as seen, so asyncio does not log it as lost."""
    if future.done() and not future.cancelled():
        future.exception()


def _release(response: BaseHTTPResponse) -> None:
    with contextlib.suppress(Exception):
        response.close()
    with contextlib.suppress(Exception):
        response.release_conn()


def _host(endpoint: str, secure: bool) -> tuple[str, bool]:
    """(host:port, secure) from "host:port" or "http(s)://host:port"."""
    for scheme, is_secure in (("https://", True), ("http://", False)):
        if endpoint.startswith(scheme):
            endpoint, secure = endpoint.removeprefix(scheme), is_secure
    host = endpoint.rstrip("/")
    if not host or "/" in host:
        raise InvalidArgument(f"S3 endpoint must be host[:port], got {endpoint!r}", field="endpoint")
    return host, secure


def _normalized_prefix(prefix: str) -> str:
    """ "" or a valid key ending in "/"."""
    stripped = prefix.strip("/")
    if not stripped:
        return ""
    try:
        validate_key(stripped)
    except InvalidArgument as error:
        raise InvalidArgument(f"invalid prefix {prefix!r}: {error.message}", field="prefix") from error
    return stripped + "/"
