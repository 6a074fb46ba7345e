"""What the commands share: exit codes, the server options, turning errors into exit codes."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import click

from sluice.client import Client, errors

EXIT_RUN_FAILED = 1
"""The run failed, was canceled, or did not finish in time."""
EXIT_USAGE = 2
"""Bad usage or input: a wrong option, a missing file, a pipeline that does not compile, an
unknown run, a request the server refused as invalid."""
EXIT_SERVER = 3
"""The server could not be reached, or failed."""
EXIT_INTERRUPTED = 130

# Errors in what the user asked for; the rest are the server's (or the network's) fault.
_USER_CODES = frozenset(
    {
        errors.Code.INVALID_ARGUMENT,
        errors.Code.NOT_FOUND,
        errors.Code.ALREADY_EXISTS,
        errors.Code.FAILED_PRECONDITION,
        errors.Code.OUT_OF_RANGE,
        errors.Code.PERMISSION_DENIED,
        errors.Code.UNAUTHENTICATED,
        errors.Code.UNIMPLEMENTED,
        errors.Code.RESOURCE_EXHAUSTED,
    }
)


class CliError(click.ClickException):
    """Bad usage or input: the message goes to stderr, the command exits 2."""

    exit_code = EXIT_USAGE


class RunFailed(CliError):
    exit_code = EXIT_RUN_FAILED


class ServerFailed(CliError):
    exit_code = EXIT_SERVER


def cli_error(error: errors.SluiceError) -> CliError:
    """The CLI error (and so the exit code) of a client error."""
    kind = CliError if error.code in _USER_CODES else ServerFailed
    return kind(str(error))


@dataclass(frozen=True)
class ServerOptions:
    host: str | None
    transport: str | None
    timeout: float

    def connect(self) -> Client:
        try:
            return Client(
                self.host,
                transport=cast(Any, self.transport),
                timeout=self.timeout if self.timeout > 0 else None,
            )
        except errors.SluiceError as error:
            raise CliError(error.message) from None


F = TypeVar("F", bound=Callable[..., Any])


def server_options(command: F) -> F:
    """Add --host, --transport and --timeout; the command gets them as `server`."""

    @click.option(
        "--host",
        envvar="SLUICE_HOST",
        default=None,
        metavar="ADDRESS",
        help="Sluice's gRPC address (host:port), or its HTTP URL (http://host:port) to use HTTP "
        "[env SLUICE_HOST; default: 127.0.0.1:8889, `sluice up`'s gRPC port].",
    )
    @click.option(
        "--transport",
        envvar="SLUICE_TRANSPORT",
        type=click.Choice(["grpc", "http"]),
        default=None,
        help="How to reach Sluice [env SLUICE_TRANSPORT; default: http for a URL, else grpc].",
    )
    @click.option(
        "--timeout",
        "call_timeout",
        type=float,
        default=30.0,
        show_default=True,
        metavar="SECONDS",
        help="How long one request may take (0: no limit).",
    )
    @functools.wraps(command)
    def wrapper(
        *args: Any, host: str | None, transport: str | None, call_timeout: float, **kwargs: Any
    ) -> Any:
        return command(*args, server=ServerOptions(host, transport, call_timeout), **kwargs)

    return cast(F, wrapper)


def handle_errors(command: F) -> F:
    """Client errors become a message on stderr and the exit code of their kind."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except errors.SluiceError as error:
            raise cli_error(error) from None

    return cast(F, wrapper)
