"""The gateway process: the HTTP API and the gRPC front door over one backend."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import socket
from collections.abc import Iterator
from types import TracebackType
from typing import Self

import uvicorn
from fastapi import FastAPI

from services.core.errors import FailedPrecondition
from services.gateway.backend import GatewayBackend
from services.gateway.config import GatewayConfig
from services.gateway.grpc.front_door import GrpcFrontDoor, host_port
from services.gateway.http.app import create_http_app
from services.gateway.ui import mount_ui

logger = logging.getLogger(__name__)

# How often start() looks whether uvicorn is up; it has no event to wait on.
_STARTUP_POLL = 0.01


class _EmbeddedServer(uvicorn.Server):
    """uvicorn without its signal handlers: the process's owner decides when to stop."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0 (socket.create_server's): asyncio sets TCP_NODELAY only on sockets
    # that say they are TCP, and without it each response waits ~40 ms for a delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except BaseException:
        sock.close()
        raise
    return sock


class Gateway:
    """HTTP (KFP REST, SSE, docs) and gRPC front door in the current event loop.

    `start` binds both (port 0 picks a free one); `aclose` stops intake, ends the event
    streams, lets in-flight requests finish within ``shutdown_grace_seconds`` and closes
    the backend's channels: the gateway owns ``backend`` (not its event source).
    """

    def __init__(self, *, backend: GatewayBackend, config: GatewayConfig | None = None) -> None:
        self._config = config or GatewayConfig()
        self._backend = backend
        self._stopping = asyncio.Event()
        self.app: FastAPI = create_http_app(backend=backend, config=self._config, stopping=self._stopping)
        mount_ui(self.app, backend)
        self._grpc = GrpcFrontDoor(
            backend=backend,
            host=self._config.grpc_host,
            port=self._config.grpc_port,
            max_message_bytes=self._config.max_grpc_message_bytes,
            stopping=self._stopping,
        )
        self._http: _EmbeddedServer | None = None
        self._http_task: asyncio.Task[None] | None = None
        self._http_port = 0
        self._started = False
        self._ready = False
        self._closed = False

    @property
    def ready(self) -> bool:
        """Both servers accept requests."""
        return self._ready

    @property
    def http_port(self) -> int:
        return self._http_port

    @property
    def http_url(self) -> str:
        """``http://host:port`` of the HTTP API."""
        return f"http://{host_port(self._config.http_host, self._http_port)}"

    @property
    def grpc_port(self) -> int:
        return self._grpc.port

    @property
    def grpc_address(self) -> str:
        """``host:port`` of the gRPC front door."""
        return self._grpc.address

    async def start(self) -> None:
        """Bind and serve both APIs; on failure, close what started and raise.

        Raises:
            FailedPrecondition: started or closed already.
            OSError, RuntimeError: an address cannot be bound.
        """
        if self._started or self._closed:
            raise FailedPrecondition("a gateway can be started once")
        self._started = True
        try:
            await self._grpc.start()
            await self._start_http()
        except BaseException:
            await self.aclose()
            raise
        self._ready = True
        logger.info("gateway serving HTTP at %s and gRPC at %s", self.http_url, self.grpc_address)

    async def _start_http(self) -> None:
        sock = _bind(self._config.http_host, self._config.http_port)
        self._http_port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            lifespan="off",
            log_config=None,
            access_log=self._config.access_log,
            http="h11",
            ws="none",
            server_header=False,
            timeout_graceful_shutdown=math.ceil(self._config.shutdown_grace_seconds),
        )
        server = _EmbeddedServer(config)
        self._http = server
        task = asyncio.create_task(server.serve(sockets=[sock]), name="gateway-http")
        self._http_task = task
        try:
            while not server.started:
                if task.done():
                    task.result()
                    raise RuntimeError("the HTTP server stopped while starting")
                await asyncio.sleep(_STARTUP_POLL)
        except BaseException:
            # uvicorn closes the socket on shutdown only once it has started.
            sock.close()
            raise

    async def aclose(self) -> None:
        """Stop intake, drain within the grace period, close the backend. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._ready = False
        self._stopping.set()
        if self._http is not None:
            self._http.should_exit = True
        await self._grpc.aclose(self._config.shutdown_grace_seconds)
        if self._http_task is not None:
            await asyncio.wait([self._http_task])
            if not self._http_task.cancelled() and self._http_task.exception() is not None:
                logger.error("the HTTP server failed", exc_info=self._http_task.exception())
        await self._backend.aclose(self._config.shutdown_grace_seconds)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
