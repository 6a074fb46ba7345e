"""The errors `sluice.Client` raises: one tree, the same for the gRPC and the HTTP transport.

Every error the server sends becomes the subclass of its status code, carrying the
server's message, so `except NotFound` works whichever transport made the call::

    try:
        client.get_run(run_id)
    except errors.NotFound as error:
        print(error.message)

`retryable` tells system errors (the server is down, overloaded, a race lost: try again)
from user errors (a bad argument, a missing object: retrying changes nothing).
"""

from __future__ import annotations

from enum import IntEnum
from typing import ClassVar


class Code(IntEnum):
    """The gRPC status codes, with the numbers the HTTP API's error bodies carry in `code`."""

    OK = 0
    CANCELLED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    ABORTED = 10
    OUT_OF_RANGE = 11
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    DATA_LOSS = 15
    UNAUTHENTICATED = 16


class SluiceError(Exception):
    """An error from a Sluice server, or found by the client before it sent a request."""

    code: ClassVar[Code] = Code.UNKNOWN
    """The status code this kind of error has."""
    retryable: ClassVar[bool] = False
    """Whether the same call may succeed if made again later."""

    def __init__(self, message: str, *, http_status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        """The server's message (or the client's, for errors found before sending)."""
        self.http_status = http_status
        """The HTTP status of the response, when the HTTP transport made the call."""

    def __str__(self) -> str:
        return f"{self.code.name}: {self.message}"


class Cancelled(SluiceError):
    code = Code.CANCELLED


class Unknown(SluiceError):
    code = Code.UNKNOWN


class InvalidArgument(SluiceError):
    """A bad request: a malformed pipeline, a wrong parameter, an unknown filter field."""

    code = Code.INVALID_ARGUMENT


class DeadlineExceeded(SluiceError, TimeoutError):
    """The call, or `Client.wait`, ran out of time."""

    code = Code.DEADLINE_EXCEEDED
    retryable = True


class NotFound(SluiceError):
    code = Code.NOT_FOUND


class AlreadyExists(SluiceError):
    code = Code.ALREADY_EXISTS


class PermissionDenied(SluiceError):
    code = Code.PERMISSION_DENIED


class ResourceExhausted(SluiceError):
    """Too large (an upload, a message) or too many requests."""

    code = Code.RESOURCE_EXHAUSTED


class FailedPrecondition(SluiceError):
    """The object is not in a state that allows the call (e.g. retrying a running run)."""

    code = Code.FAILED_PRECONDITION


class Aborted(SluiceError):
    """A concurrent change won; read again and retry."""

    code = Code.ABORTED
    retryable = True


class OutOfRange(SluiceError):
    code = Code.OUT_OF_RANGE


class Unimplemented(SluiceError):
    """The server (or this transport) does not offer the call."""

    code = Code.UNIMPLEMENTED


class Internal(SluiceError):
    code = Code.INTERNAL


class Unavailable(SluiceError):
    """The server cannot be reached, or a stream it served was cut off."""

    code = Code.UNAVAILABLE
    retryable = True


class DataLoss(SluiceError):
    code = Code.DATA_LOSS


class Unauthenticated(SluiceError):
    code = Code.UNAUTHENTICATED


_BY_CODE: dict[Code, type[SluiceError]] = {
    cls.code: cls
    for cls in (
        Cancelled,
        Unknown,
        InvalidArgument,
        DeadlineExceeded,
        NotFound,
        AlreadyExists,
        PermissionDenied,
        ResourceExhausted,
        FailedPrecondition,
        Aborted,
        OutOfRange,
        Unimplemented,
        Internal,
        Unavailable,
        DataLoss,
        Unauthenticated,
    )
}

# For HTTP errors without a KFP error body (a proxy in the way, a server that is not Sluice).
_CODE_OF_HTTP_STATUS: dict[int, Code] = {
    400: Code.INVALID_ARGUMENT,
    401: Code.UNAUTHENTICATED,
    403: Code.PERMISSION_DENIED,
    404: Code.NOT_FOUND,
    409: Code.ALREADY_EXISTS,
    413: Code.RESOURCE_EXHAUSTED,
    429: Code.RESOURCE_EXHAUSTED,
    499: Code.CANCELLED,
    501: Code.UNIMPLEMENTED,
    502: Code.UNAVAILABLE,
    503: Code.UNAVAILABLE,
    504: Code.DEADLINE_EXCEEDED,
}


def error_for_code(code: int, message: str, *, http_status: int | None = None) -> SluiceError:
    """The error for a status code number; unknown numbers give `Unknown`."""
    try:
        kind = _BY_CODE[Code(code)]
    except (ValueError, KeyError):
        kind = Unknown
    return kind(message, http_status=http_status)


def error_for_http_status(status: int, message: str) -> SluiceError:
    """The error for an HTTP status whose body did not name a status code."""
    code = _CODE_OF_HTTP_STATUS.get(status, Code.INTERNAL if status >= 500 else Code.UNKNOWN)
    return error_for_code(code, message, http_status=status)


__all__ = [
    "Aborted",
    "AlreadyExists",
    "Cancelled",
    "Code",
    "DataLoss",
    "DeadlineExceeded",
    "FailedPrecondition",
    "Internal",
    "InvalidArgument",
    "NotFound",
    "OutOfRange",
    "PermissionDenied",
    "ResourceExhausted",
    "SluiceError",
    "Unauthenticated",
    "Unavailable",
    "Unimplemented",
    "Unknown",
    "error_for_code",
    "error_for_http_status",
]
