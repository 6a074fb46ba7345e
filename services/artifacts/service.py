"""The artifact service's lifecycle: a `grpc.aio` server hosting `ArtifactServicer`."""

from __future__ import annotations

import logging
from types import TracebackType

import grpc

from services.artifacts.backends.base import ArtifactBackend
from services.artifacts.records import ArtifactRecords
from services.artifacts.servicer import ArtifactServicer, add_artifact_servicer
from services.core.errors import Unavailable
from services.core.health import add_health, mark_serving

logger = logging.getLogger(__name__)


class ArtifactService:
    """The artifact service on its own `grpc.aio` server.

    The backend and the records are the caller's: `aclose()` stops the server but does not
    close them. To host the service next to others on one server, use
    `add_artifact_servicer(server, ArtifactServicer(...))` instead.
    """

    def __init__(
        self,
        *,
        backend: ArtifactBackend,
        records: ArtifactRecords,
        host: str = "127.0.0.1",
        port: int = 0,
        max_upload_bytes: int | None = None,
        grace_seconds: float = 5.0,
    ) -> None:
        """`port` 0 picks a free port (read it from `.port` after `start()`); in-flight calls
        get `grace_seconds` to finish when the service closes."""
        self._servicer = ArtifactServicer(backend=backend, records=records, max_upload_bytes=max_upload_bytes)
        self._host = host
        self._requested_port = port
        self._grace_seconds = grace_seconds
        self._server: grpc.aio.Server | None = None
        self._port: int | None = None

    @property
    def port(self) -> int:
        """The bound port. Raises RuntimeError before `start()`."""
        if self._port is None:
            raise RuntimeError("the artifact service has not been started")
        return self._port

    @property
    def address(self) -> str:
        """`host:port`, ready for `grpc.aio.insecure_channel`."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"{host}:{self.port}"

    async def start(self) -> None:
        """Bind and start serving. Raises Unavailable when the address cannot be bound."""
        if self._server is not None:
            raise RuntimeError("the artifact service was started already")
        # No SO_REUSEPORT: a second instance on a taken port must fail, not share traffic.
        server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
        add_artifact_servicer(server, self._servicer)
        health = add_health(server)
        host = f"[{self._host}]" if ":" in self._host else self._host
        try:
            port = server.add_insecure_port(f"{host}:{self._requested_port}")
        except RuntimeError as error:
            raise Unavailable(f"cannot bind the artifact service to {host}:{self._requested_port}") from error
        self._server = server
        await server.start()
        await mark_serving(health, "sluice.v1.ArtifactService")
        self._port = port
        logger.info("artifact service listening on %s", self.address)

    async def aclose(self) -> None:
        """Stop taking calls, give in-flight ones the grace period, then cancel them.
        Idempotent; concurrent calls all wait for the server to stop."""
        if self._server is not None:
            await self._server.stop(self._grace_seconds)

    async def __aenter__(self) -> ArtifactService:
        await self.start()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
