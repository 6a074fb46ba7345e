from __future__ import annotations

import base64

import httpx
from sluice.v1 import artifacts_pb2, common_pb2, runs_pb2

from services.gateway import GatewayConfig
from tests.services.gateway.conftest import StartGateway
from tests.services.gateway.fakes import FakeBackends

API = "/apis/v2beta1"


def _run_with_task(fakes: FakeBackends) -> runs_pb2.PipelineTaskDetail:
    run = runs_pb2.Run(run_id="r1", state=common_pb2.SUCCEEDED)
    task = run.run_details.task_details.add(task_id="t1", display_name="train", log_uri="mem://logs/t1/2")
    task.outputs["model"].artifact_ids.extend(["a1"])
    task.outputs["empty"].SetInParent()
    task.attempts.add(attempt=1, log_uri="mem://logs/t1/1")
    task.attempts.add(attempt=2, log_uri="mem://logs/t1/2")
    run.run_details.task_details.add(task_id="t2")
    fakes.runs.add(run)
    return task


async def test_read_artifact_returns_its_bytes_base64(http: httpx.AsyncClient, fakes: FakeBackends) -> None:
    _run_with_task(fakes)
    data = bytes(range(256)) * 40  # several download chunks
    fakes.artifacts.put("mem://a1", data, artifact_id="a1")

    response = await http.get(f"{API}/runs/r1/nodes/t1/artifacts/model:read")

    assert response.status_code == 200
    assert response.json() == {"data": base64.b64encode(data).decode()}
    assert fakes.recorder.last("Download", artifacts_pb2.DownloadRequest).artifact_id == "a1"


async def test_read_artifact_of_unknown_things_is_404(http: httpx.AsyncClient, fakes: FakeBackends) -> None:
    _run_with_task(fakes)

    for path, message in [
        ("runs/nope/nodes/t1/artifacts/model:read", "run 'nope' not found"),
        ("runs/r1/nodes/nope/artifacts/model:read", "task 'nope' not found"),
        ("runs/r1/nodes/t1/artifacts/nope:read", "artifact 't1/nope' not found"),
        ("runs/r1/nodes/t1/artifacts/empty:read", "artifact 't1/empty' not found"),
        ("runs/r1/nodes/t1/artifacts/model:read", "artifact 'a1' not found"),
    ]:
        response = await http.get(f"{API}/{path}")
        assert response.status_code == 404, path
        assert response.json()["message"] == message


async def test_read_artifact_over_the_limit_is_413(start_gateway: StartGateway, fakes: FakeBackends) -> None:
    _run_with_task(fakes)
    fakes.artifacts.put("mem://a1", b"x" * 10_000, artifact_id="a1")
    gateway = await start_gateway(GatewayConfig(max_artifact_read_bytes=5000))

    async with httpx.AsyncClient(base_url=gateway.http_url, trust_env=False) as http:
        response = await http.get(f"{API}/runs/r1/nodes/t1/artifacts/model:read")

    assert response.status_code == 413
    assert response.json()["code"] == 8


async def test_task_logs_stream_as_text(http: httpx.AsyncClient, fakes: FakeBackends) -> None:
    _run_with_task(fakes)
    log = "".join(f"line {n}\n" for n in range(2000))  # several download chunks
    fakes.artifacts.put("mem://logs/t1/2", log.encode())

    response = await http.get(f"{API}/runs/r1/tasks/t1/logs")

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.text == log
    assert fakes.recorder.last("Download", artifacts_pb2.DownloadRequest).uri == "mem://logs/t1/2"


async def test_logs_of_an_earlier_attempt(http: httpx.AsyncClient, fakes: FakeBackends) -> None:
    _run_with_task(fakes)
    fakes.artifacts.put("mem://logs/t1/1", b"first try\n")

    response = await http.get(f"{API}/runs/r1/tasks/t1/logs", params={"attempt": 1})

    assert (response.status_code, response.text) == (200, "first try\n")


async def test_an_empty_log_is_empty_text(http: httpx.AsyncClient, fakes: FakeBackends) -> None:
    _run_with_task(fakes)
    fakes.artifacts.put("mem://logs/t1/2", b"")

    response = await http.get(f"{API}/runs/r1/tasks/t1/logs")

    assert (response.status_code, response.text) == (200, "")


async def test_missing_logs_are_404(http: httpx.AsyncClient, fakes: FakeBackends) -> None:
    _run_with_task(fakes)

    for path, message in [
        ("runs/nope/tasks/t1/logs", "run 'nope' not found"),
        ("runs/r1/tasks/nope/logs", "task 'nope' not found"),
        ("runs/r1/tasks/t2/logs", "log of task 't2' not found"),
        ("runs/r1/tasks/t1/logs?attempt=7", "log of task 't1 attempt 7' not found"),
        # The task names a log the artifact service does not have.
        ("runs/r1/tasks/t1/logs", "object 'mem://logs/t1/2' not found"),
    ]:
        response = await http.get(f"{API}/{path}")
        assert response.status_code == 404, path
        assert response.json()["message"] == message
