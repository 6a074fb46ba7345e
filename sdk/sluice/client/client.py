"""`Client`: the whole public API of a Sluice server, over gRPC (default) or HTTP."""

from __future__ import annotations

from types import TracebackType
from typing import Literal, Self

from sluice.client import errors
from sluice.client._artifacts import ArtifactsApi
from sluice.client._recurring import RecurringRunsApi
from sluice.client._transport import Transport

DEFAULT_GRPC_ADDRESS = "127.0.0.1:8889"
"""Where `sluice up` serves gRPC by default."""
DEFAULT_HTTP_URL = "http://127.0.0.1:8888"
"""Where `sluice up` serves HTTP by default."""

TransportKind = Literal["grpc", "http"]


def _is_url(host: str) -> bool:
    return host.startswith(("http://", "https://"))


class Client(RecurringRunsApi, ArtifactsApi):
    """A connection to a Sluice server.

    Example::

        import sluice

        client = sluice.Client()                            # gRPC at 127.0.0.1:8889
        run = client.run_pipeline(my_pipeline, {"x": 3}, experiment="demo")
        run = client.wait(run.run_id, timeout=600)
        print(run.state, run.outputs)

    Every method raises `sluice.client.errors.SluiceError` subclasses (`NotFound`,
    `InvalidArgument`, `Unavailable`...) with the server's message, whichever transport is
    used. Close the client (or use it as a context manager) to release its connections.
    """

    def __init__(
        self,
        host: str | None = None,
        *,
        transport: TransportKind | None = None,
        http_url: str | None = None,
        timeout: float | None = 30.0,
    ) -> None:
        """
        Args:
            host: the gRPC address (`host:port`), or an HTTP URL (`http://host:port`),
                which selects the HTTP transport [default: `sluice up`'s address for the
                transport].
            transport: "grpc" or "http" [default: "http" when `host` or `http_url` is a
                URL, else "grpc"].
            http_url: the HTTP API's URL for the HTTP transport, when `host` is not it.
            timeout: seconds each call may take (not `wait` and `watch`, which take their
                own); None for no limit.

        Raises:
            InvalidArgument: the host does not fit the transport.
        """
        if transport is None:
            transport = "http" if (host and _is_url(host)) or (http_url and not host) else "grpc"
        self._timeout = timeout
        self._transport = self._connect(transport, host=host, http_url=http_url, timeout=timeout)

    @staticmethod
    def _connect(kind: str, *, host: str | None, http_url: str | None, timeout: float | None) -> Transport:
        if kind == "grpc":
            address = host or DEFAULT_GRPC_ADDRESS
            if _is_url(address):
                raise errors.InvalidArgument(
                    f"the gRPC transport takes host:port, not a URL ({address}); use transport='http'"
                )
            from sluice.client._grpc import GrpcTransport

            return GrpcTransport(address)
        if kind == "http":
            url = http_url or host or DEFAULT_HTTP_URL
            from sluice.client._http import HttpTransport

            return HttpTransport(url if _is_url(url) else f"http://{url}", timeout=timeout)
        raise errors.InvalidArgument(f"transport must be 'grpc' or 'http', not {kind!r}")

    @property
    def transport(self) -> str:
        """ "grpc" or "http"."""
        return self._transport.kind

    @property
    def address(self) -> str:
        """The gRPC address or HTTP URL this client talks to."""
        return self._transport.address

    def close(self) -> None:
        """Close the connections. Idempotent."""
        self._transport.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<sluice.Client {self.transport} {self.address}>"
