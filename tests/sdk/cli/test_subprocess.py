"""`sluice` as a real process, as scripts and CI use it: output and exit codes."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

from sluice.cli.options import EXIT_RUN_FAILED, EXIT_SERVER, EXIT_USAGE

from tests.fixtures.sluice_server import RunningSluice
from tests.sdk.cli.conftest import PIPELINES

SLUICE = Path(sys.executable).with_name("sluice")


def sluice(*args: str, host: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SLUICE_HOST": host}
    env.pop("SLUICE_TRANSPORT", None)
    return subprocess.run(
        [str(SLUICE), *args], capture_output=True, text=True, env=env, timeout=90, check=False
    )


def test_run_and_runs_get_as_a_process(sluice_server: RunningSluice) -> None:
    ran = sluice(
        "run",
        f"{PIPELINES}:add_pipeline",
        "-p",
        "a=2",
        "-p",
        "b=3",
        "--no-cache",
        host=sluice_server.grpc_address,
    )

    assert ran.returncode == 0, ran.stderr
    last = ran.stdout.splitlines()[-1]
    assert last.startswith("run ")
    assert " SUCCEEDED in " in last
    run_id = last.split()[1]
    got = sluice("runs", "get", run_id, "-o", "json", host=sluice_server.http_url)
    assert got.returncode == 0, got.stderr
    run = json.loads(got.stdout)
    assert run["state"] == "SUCCEEDED"
    assert run["parameters"] == {"a": 2, "b": 3}


def test_exit_codes_as_a_process(sluice_server: RunningSluice, tmp_path: Path) -> None:
    failed = sluice("run", f"{PIPELINES}:failing_pipeline", "--no-cache", host=sluice_server.grpc_address)
    assert failed.returncode == EXIT_RUN_FAILED, failed.stderr

    missing = sluice("run", str(tmp_path / "nope.yaml"), host=sluice_server.grpc_address)
    assert missing.returncode == EXIT_USAGE
    assert "no such file" in missing.stderr

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    down = sluice("runs", "list", host=f"127.0.0.1:{port}")
    assert down.returncode == EXIT_SERVER
    assert "UNAVAILABLE" in down.stderr
