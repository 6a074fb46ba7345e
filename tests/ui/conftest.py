"""A real standalone Sluice for the UI tests (started like the end-to-end tests' server)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.fixtures.sluice_server import RunningSluice, start_sluice
from tests.ui.pipelines import compile_ui_demo


@dataclass
class UiServer(RunningSluice):
    """A test server, plus the compiled test pipeline (KFP IR YAML)."""

    package: Path = Path()

    @property
    def url(self) -> str:
        return self.http_url


@pytest.fixture(scope="session")
def ui_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UiServer]:
    package = compile_ui_demo(tmp_path_factory.mktemp("pipelines"))
    # Its own server, not the session's: a UI test seeds 10 000 runs into the store.
    server, shutdown = start_sluice(tmp_path_factory.mktemp("sluice-ui"))
    try:
        yield UiServer(
            standalone=server.standalone, loop=server.loop, data_dir=server.data_dir, package=package
        )
    finally:
        shutdown()


@pytest.fixture
def http(ui_server: UiServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=ui_server.url, timeout=30, trust_env=False) as client:
        yield client
