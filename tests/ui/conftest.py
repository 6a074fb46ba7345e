"""A real standalone Sluice (NATS child process, SQLite, local artifacts, executor) with the
UI mounted, on its own event loop in a thread so sync browser tests can share it."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.gateway.http.context import AppContext
from services.gateway.ui import mount_ui
from services.standalone.app import Standalone, StandaloneConfig
from tests.ui.pipelines import compile_ui_demo

TERMINAL = frozenset({"SUCCEEDED", "FAILED", "CANCELED", "SKIPPED"})


@dataclass
class UiServer:
    standalone: Standalone
    loop: asyncio.AbstractEventLoop
    package: Path
    """The compiled test pipeline (KFP IR YAML)."""

    @property
    def url(self) -> str:
        return self.standalone.http_url

    def call(self, factory: Callable[[], Any]) -> Any:
        """Run a coroutine made by ``factory`` on the server's loop and wait for it."""
        return asyncio.run_coroutine_threadsafe(factory(), self.loop).result(timeout=120)

    def wait_for_run(self, run_id: str, *, timeout: float = 60.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        with httpx.Client(base_url=self.url, timeout=10, trust_env=False) as client:
            while True:
                run: dict[str, Any] = client.get(f"/apis/v2beta1/runs/{run_id}").json()
                if run.get("state") in TERMINAL:
                    return run
                if time.monotonic() > deadline:
                    raise AssertionError(f"run {run_id} still {run.get('state')} after {timeout}s")
                time.sleep(0.05)


def has_ui(app: FastAPI) -> bool:
    return any(getattr(route, "path", None) == "/runs" for route in app.routes)


def ensure_ui(standalone: Standalone) -> None:
    """Mount the UI unless the gateway serves it already."""
    assert standalone.gateway is not None
    app = standalone.gateway.app
    if not has_ui(app):
        context = app.state.context
        assert isinstance(context, AppContext)
        mount_ui(app, context.backend)


def start_ui_server(data_dir: Path, package: Path) -> tuple[UiServer, Callable[[], None]]:
    loop = asyncio.new_event_loop()
    ready: Future[Standalone] = Future()
    stop = asyncio.Event()

    async def serve() -> None:
        try:
            async with Standalone(StandaloneConfig(data_dir=data_dir, port=0, grpc_port=0)) as standalone:
                ensure_ui(standalone)
                ready.set_result(standalone)
                await stop.wait()
        except BaseException as error:
            if not ready.done():
                ready.set_exception(error)
            raise

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), name="sluice-ui", daemon=True)
    thread.start()
    standalone = ready.result(timeout=60)

    def shutdown() -> None:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=60)
        loop.close()

    return UiServer(standalone=standalone, loop=loop, package=package), shutdown


@pytest.fixture(scope="session")
def ui_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UiServer]:
    package = compile_ui_demo(tmp_path_factory.mktemp("pipelines"))
    server, shutdown = start_ui_server(tmp_path_factory.mktemp("sluice-ui"), package)
    try:
        yield server
    finally:
        shutdown()


@pytest.fixture
def http(ui_server: UiServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=ui_server.url, timeout=30, trust_env=False) as client:
        yield client
