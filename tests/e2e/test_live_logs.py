"""A running task's log can be read and followed before the task ends, on `sluice up`: the
executor copies it to the artifact store as it grows."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.kfp_control_flow import compile_all
from tests.e2e.run_view import RunView, finished, get_run, start_run, wait_until
from tests.fixtures.sluice_server import RunningSluice


@pytest.fixture(scope="module")
def flows(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return compile_all(tmp_path_factory.mktemp("live-logs"))


def _logs_url(server: RunningSluice, run_id: str, task_id: str) -> str:
    return f"{server.http_url}/apis/v2beta1/runs/{run_id}/tasks/{task_id}/logs"


def _running_task(server: RunningSluice, run_id: str) -> str:
    found: list[str] = []

    def running() -> bool:
        tasks = RunView(get_run(server, run_id)).tasks
        found[:] = [
            t["task_id"] for t in tasks if t.get("kind") == "CONTAINER" and t.get("state") == "RUNNING"
        ]
        return bool(found)

    wait_until(running, timeout=60, what="the task runs")
    return found[0]


def test_a_running_tasks_log_is_readable_before_it_ends(
    sluice_server: RunningSluice, flows: dict[str, Path], tmp_path: Path
) -> None:
    release = tmp_path / "release"
    run_id = start_run(sluice_server, flows["live-log"], {"release": str(release)})
    task_id = _running_task(sluice_server, run_id)
    # The log's place is known as soon as the attempt runs.
    task = RunView(get_run(sluice_server, run_id)).by_id[task_id]
    assert task["log_uri"]
    assert task["attempts"][0]["log_uri"] == task["log_uri"]

    def printed() -> bool:
        response = httpx.get(_logs_url(sluice_server, run_id, task_id), timeout=10)
        return response.status_code == 200 and "halfway there" in response.text

    try:
        wait_until(printed, timeout=30, what="the first line in the stored log")
        assert get_run(sluice_server, run_id)["state"] == "RUNNING"
    finally:
        release.touch()
    run = finished(sluice_server, run_id)
    assert run.state == "SUCCEEDED", run.run.get("error")
    final = httpx.get(_logs_url(sluice_server, run_id, task_id), timeout=10).text
    assert "halfway there" in final
    assert "released, done" in final


def test_following_a_log_streams_it_until_the_task_ends(
    sluice_server: RunningSluice, flows: dict[str, Path], tmp_path: Path
) -> None:
    release = tmp_path / "release"
    run_id = start_run(sluice_server, flows["live-log"], {"release": str(release)})
    task_id = _running_task(sluice_server, run_id)
    received = ""
    timeout = httpx.Timeout(10, read=60)
    try:
        with httpx.stream(
            "GET", _logs_url(sluice_server, run_id, task_id), params={"follow": "true"}, timeout=timeout
        ) as response:
            assert response.status_code == 200
            chunks = response.iter_text()
            deadline = time.monotonic() + 30
            while "halfway there" not in received and time.monotonic() < deadline:
                received += next(chunks)
            assert "halfway there" in received
            # Still running: the line came while the task waited for its release.
            assert "released, done" not in received
            assert get_run(sluice_server, run_id)["state"] == "RUNNING"
            release.touch()
            # The stream ends by itself once the attempt has ended.
            received += "".join(chunks)
    finally:
        release.touch()
    assert received.index("halfway there") < received.index("released, done")
    # Followed text is the stored log, byte for byte.
    assert received == httpx.get(_logs_url(sluice_server, run_id, task_id), timeout=10).text
    assert finished(sluice_server, run_id).state == "SUCCEEDED"
