"""The one place where Sluice errors become gRPC status codes and HTTP statuses."""

from __future__ import annotations

import grpc

from services.core import errors

_GRPC_CODES: tuple[tuple[type[errors.SluiceError], grpc.StatusCode], ...] = (
    (errors.InvalidArgument, grpc.StatusCode.INVALID_ARGUMENT),
    (errors.NotFound, grpc.StatusCode.NOT_FOUND),
    (errors.AlreadyExists, grpc.StatusCode.ALREADY_EXISTS),
    (errors.FailedPrecondition, grpc.StatusCode.FAILED_PRECONDITION),
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
