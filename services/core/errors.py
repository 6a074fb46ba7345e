"""One error tree for every Sluice service.

User errors (bad pipeline, bad input, unknown id) are never retried; system errors may be.
`services.core.error_mapping` turns them into gRPC status codes and HTTP statuses.
"""

from __future__ import annotations


class SluiceError(Exception):
    """Base of every error Sluice raises on purpose."""

    retryable: bool = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UserError(SluiceError):
    """The caller asked for something wrong; retrying the same request cannot help."""


class InvalidArgument(UserError):
    """Malformed or inconsistent input: a bad pipeline, parameter, key or filter."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class NotFound(UserError):
    """The named resource does not exist."""

    def __init__(self, kind: str, identifier: str) -> None:
        super().__init__(f"{kind} {identifier!r} not found")
        self.kind = kind
        self.identifier = identifier


class AlreadyExists(UserError):
    """A resource with the same unique name or id exists already."""

    def __init__(self, kind: str, identifier: str) -> None:
        super().__init__(f"{kind} {identifier!r} already exists")
        self.kind = kind
        self.identifier = identifier


class FailedPrecondition(UserError):
    """The resource is not in a state that allows the operation (e.g. retry a running run)."""


class PermissionDenied(UserError):
    """Access was refused: say, a storage server did not accept the credentials Sluice was
    configured with. Retrying with the same credentials cannot help."""


class TooLarge(UserError):
    """The request carries more bytes than allowed."""

    def __init__(self, message: str, *, limit_bytes: int) -> None:
        super().__init__(message)
        self.limit_bytes = limit_bytes


class SystemError_(SluiceError):
    """Something outside the caller's control failed; the operation may succeed later."""

    retryable = True


class Unavailable(SystemError_):
    """A dependency (store, NATS, another service) could not be reached."""


class ConcurrentModification(SystemError_):
    """A compare-and-set lost against another writer; re-read and try again."""
