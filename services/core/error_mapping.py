"""The one place where Sluice errors become gRPC status codes and HTTP statuses."""

from __future__ import annotations

import ast
import re

import grpc

from services.core import errors

_GRPC_CODES: tuple[tuple[type[errors.SluiceError], grpc.StatusCode], ...] = (
    (errors.InvalidArgument, grpc.StatusCode.INVALID_ARGUMENT),
    (errors.NotFound, grpc.StatusCode.NOT_FOUND),
    (errors.AlreadyExists, grpc.StatusCode.ALREADY_EXISTS),
    (errors.FailedPrecondition, grpc.StatusCode.FAILED_PRECONDITION),
    (errors.PermissionDenied, grpc.StatusCode.PERMISSION_DENIED),
    (errors.TooLarge, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (errors.ConcurrentModification, grpc.StatusCode.ABORTED),
    (errors.Unavailable, grpc.StatusCode.UNAVAILABLE),
    (errors.UserError, grpc.StatusCode.INVALID_ARGUMENT),
)

_HTTP_STATUS: dict[grpc.StatusCode, int] = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 413,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DATA_LOSS: 500,
    grpc.StatusCode.UNAUTHENTICATED: 401,
}


def grpc_code(error: BaseException) -> grpc.StatusCode:
    """The gRPC status code for an error; unknown exceptions are INTERNAL."""
    for kind, code in _GRPC_CODES:
        if isinstance(error, kind):
            return code
    return grpc.StatusCode.INTERNAL


def http_status(code: grpc.StatusCode) -> int:
    """The HTTP status KFP's REST gateway uses for a gRPC status code."""
    return _HTTP_STATUS.get(code, 500)


def grpc_code_number(code: grpc.StatusCode) -> int:
    """The numeric value of a gRPC status code, as KFP puts it in JSON error bodies."""
    value = code.value[0]
    assert isinstance(value, int)
    return value


# The messages of NotFound and AlreadyExists: f"{kind} {identifier!r} not found".
_NAMED = re.compile(
    r"(?P<kind>.*) (?P<identifier>'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\") (?:not found|already exists)",
    re.DOTALL,
)
# The message of a TooLarge: "... the limit of {limit_bytes} bytes".
_LIMIT = re.compile(r"limit of (\d+) bytes")
_USER_CODES = frozenset({grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.UNIMPLEMENTED})


def _named(message: str) -> tuple[str, str]:
    """(kind, identifier) from the message of a NotFound or AlreadyExists; ("", "") when it
    has another shape (e.g. it came from a server that is not Sluice)."""
    match = _NAMED.fullmatch(message)
    if match is None:
        return "", ""
    try:
        identifier = ast.literal_eval(match["identifier"])
    except (ValueError, SyntaxError):
        return "", ""
    return match["kind"], str(identifier)


def error_from_grpc(code: grpc.StatusCode, message: str) -> errors.SluiceError:
    """The Sluice error a gRPC status stands for: the reverse of `grpc_code`, keeping the
    server's message. A status with no Sluice counterpart becomes a plain UserError or
    SystemError_, depending on whether retrying may help."""
    error: errors.SluiceError
    if code in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.OUT_OF_RANGE):
        error = errors.InvalidArgument(message)
    elif code == grpc.StatusCode.NOT_FOUND:
        error = errors.NotFound(*_named(message))
    elif code == grpc.StatusCode.ALREADY_EXISTS:
        error = errors.AlreadyExists(*_named(message))
    elif code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        limit = _LIMIT.search(message)
        error = errors.TooLarge(message, limit_bytes=int(limit[1]) if limit else 0)
    elif code == grpc.StatusCode.FAILED_PRECONDITION:
        error = errors.FailedPrecondition(message)
    elif code == grpc.StatusCode.PERMISSION_DENIED:
        error = errors.PermissionDenied(message)
    elif code == grpc.StatusCode.ABORTED:
        error = errors.ConcurrentModification(message)
    elif code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        error = errors.Unavailable(message)
    elif code in _USER_CODES:
        error = errors.UserError(message)
    else:
        error = errors.SystemError_(message)
    # NotFound and AlreadyExists compose their own message; keep the server's wording.
    error.message = message
    error.args = (message,)
    return error
