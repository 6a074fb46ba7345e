from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sluice.cli.main import main

from tests.fixtures.sluice_server import RunningSluice

PIPELINES = Path(__file__).resolve().parents[1] / "client" / "pipelines.py"
"""The client tests' pipelines, as a file the CLI loads (`PIPELINES:function`)."""

Invoke = Callable[..., Result]


@pytest.fixture
def sluice(sluice_server: RunningSluice) -> Invoke:
    """Run `sluice ARGS...` in-process against the live server (gRPC via SLUICE_HOST)."""
    runner = CliRunner()

    def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
        environment = {"SLUICE_HOST": sluice_server.grpc_address, "SLUICE_TRANSPORT": "", **(env or {})}
        return runner.invoke(main, list(args), env=environment, catch_exceptions=False)

    return invoke


def as_json(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)
