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
