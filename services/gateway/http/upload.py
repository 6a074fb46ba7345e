"""The multipart pipeline package of ``POST /pipelines/upload[_version]``, read with a limit.

The body is counted while it streams in, so an oversized upload is refused after at most
``limit`` bytes instead of being buffered first; parts go to spooled temporary files.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from fastapi import Request
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from services.core.errors import InvalidArgument, TooLarge
from services.gateway.http.protojson import bounded_stream

UPLOAD_FIELD = "uploadfile"

# Boundaries and part headers come on top of the package itself.
_FRAMING_ALLOWANCE = 64 * 1024


@dataclass(frozen=True, slots=True)
class UploadedPackage:
    filename: str
    data: bytes


def _too_large(limit: int) -> TooLarge:
    return TooLarge(f"the pipeline package exceeds the limit of {limit} bytes", limit_bytes=limit)


async def read_package(request: Request, *, limit: int) -> UploadedPackage:
    """The file sent in the multipart field ``uploadfile``.

    Raises:
        InvalidArgument: not multipart/form-data, malformed, or no ``uploadfile`` file.
        TooLarge: the package (or the body around it) passes ``limit`` bytes.
    """
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise InvalidArgument(f"send the package as multipart/form-data in the field {UPLOAD_FIELD!r}")
    stream = bounded_stream(request, limit=limit + _FRAMING_ALLOWANCE)
    async with contextlib.aclosing(stream):
        parser = MultiPartParser(request.headers, stream, max_files=1, max_fields=16)
        try:
            form = await parser.parse()
        except MultiPartException as error:
            raise InvalidArgument(f"malformed multipart body: {error.message}") from error
        except TooLarge:
            raise _too_large(limit) from None
    try:
        upload = form.get(UPLOAD_FIELD)
        if not isinstance(upload, UploadFile):
            raise InvalidArgument(f"the multipart body has no file in the field {UPLOAD_FIELD!r}")
        if upload.size is not None and upload.size > limit:
            raise _too_large(limit)
        return UploadedPackage(filename=upload.filename or "", data=await upload.read())
    finally:
        await form.close()
