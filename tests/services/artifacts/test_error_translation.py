"""Errors survive the trip through a gRPC status (`services.core.error_mapping`)."""

from __future__ import annotations

import grpc
import pytest

from services.core import errors
from services.core.error_mapping import error_from_grpc, grpc_code


@pytest.mark.parametrize(
    "error",
    [
        errors.InvalidArgument("bad key"),
        errors.NotFound("artifact", "a1"),
        errors.NotFound("object", 'it\'s/a "quoted" key'),
        errors.AlreadyExists("experiment", "exp"),
        errors.FailedPrecondition("run is running"),
        errors.PermissionDenied("the S3 server refused the credentials"),
        errors.TooLarge("object 'k' is larger than the limit of 1024 bytes", limit_bytes=1024),
        errors.ConcurrentModification("lost the race"),
        errors.Unavailable("store down"),
    ],
    ids=lambda error: type(error).__name__,
)
def test_sluice_errors_round_trip(error: errors.SluiceError) -> None:
    back = error_from_grpc(grpc_code(error), error.message)

    assert type(back) is type(error)
    assert back.message == error.message
    assert str(back) == str(error)
    assert back.retryable == error.retryable
    # The argument name an InvalidArgument points at does not travel in a gRPC status.
    expected = vars(error) | ({"field": None} if isinstance(error, errors.InvalidArgument) else {})
    assert vars(back) == expected


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        (grpc.StatusCode.OUT_OF_RANGE, errors.InvalidArgument),
        (grpc.StatusCode.DEADLINE_EXCEEDED, errors.Unavailable),
        (grpc.StatusCode.UNIMPLEMENTED, errors.UserError),
        (grpc.StatusCode.INTERNAL, errors.SystemError_),
        (grpc.StatusCode.UNKNOWN, errors.SystemError_),
    ],
)
def test_other_statuses(code: grpc.StatusCode, kind: type[errors.SluiceError]) -> None:
    error = error_from_grpc(code, "details")

    assert type(error) is kind
    assert error.message == "details"


def test_foreign_messages_keep_their_wording() -> None:
    not_found = error_from_grpc(grpc.StatusCode.NOT_FOUND, "no such thing")
    too_large = error_from_grpc(grpc.StatusCode.RESOURCE_EXHAUSTED, "Received message larger than max")

    assert isinstance(not_found, errors.NotFound)
    assert (not_found.message, not_found.kind, not_found.identifier) == ("no such thing", "", "")
    assert isinstance(too_large, errors.TooLarge)
    assert too_large.limit_bytes == 0
