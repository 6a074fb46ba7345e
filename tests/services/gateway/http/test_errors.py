"""Every error response has KFP's shape and the HTTP status of its gRPC code."""

from __future__ import annotations

import socket
from typing import Any

import httpx
import pytest

from services.gateway import Gateway, GatewayBackend, GatewayConfig, InMemoryRunEventSource, create_http_app
from tests.services.gateway.conftest import StartGateway
from tests.services.gateway.fakes import FakeBackends

API = "/apis/v2beta1"


def assert_kfp_error(response: httpx.Response, status: int, code: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = response.json()
    assert set(body) == {"error", "code", "message", "details"}
    assert body["code"] == code
    assert body["error"] == body["message"]
    assert body["message"]
    assert body["details"] == []
    return body


async def test_unknown_run_from_the_backend_is_404(http: httpx.AsyncClient) -> None:
    body = assert_kfp_error(await http.get(f"{API}/runs/nope"), 404, 5)

    assert body["message"] == "run 'nope' not found"


async def test_unknown_route_is_404(http: httpx.AsyncClient) -> None:
    body = assert_kfp_error(await http.get(f"{API}/no/such/thing"), 404, 5)

    assert "/apis/v2beta1/no/such/thing" in body["message"]


async def test_wrong_method_is_405(http: httpx.AsyncClient) -> None:
    assert_kfp_error(await http.put(f"{API}/experiments"), 405, 12)


async def test_unknown_run_action_is_not_routed(http: httpx.AsyncClient) -> None:
    assert_kfp_error(await http.post(f"{API}/runs/r1:explode"), 405, 12)


@pytest.mark.parametrize(
    "body",
    [b"{not json", b"[1, 2]", b'{"display_name": 3}', b'{"storage_state": {"x": 1}}'],
    ids=["malformed", "not-an-object", "wrong-type", "wrong-enum-type"],
)
async def test_bad_json_bodies_are_400(http: httpx.AsyncClient, body: bytes) -> None:
    response = await http.post(
        f"{API}/experiments", content=body, headers={"content-type": "application/json"}
    )

    assert_kfp_error(response, 400, 3)


async def test_bad_query_parameter_is_400_not_422(http: httpx.AsyncClient) -> None:
    body = assert_kfp_error(await http.get(f"{API}/runs", params={"page_size": "many"}), 400, 3)

    assert "page_size" in body["message"]


async def test_backend_precondition_failure_is_400(http: httpx.AsyncClient) -> None:
    run = (await http.post(f"{API}/runs", json={"display_name": "r"})).json()

    body = assert_kfp_error(await http.post(f"{API}/runs/{run['run_id']}:retry"), 400, 9)

    assert body["message"] == f"run {run['run_id']!r} has not failed"


async def test_json_body_over_the_limit_is_413(start_gateway: StartGateway) -> None:
    gateway = await start_gateway(GatewayConfig(max_request_bytes=100))
    async with httpx.AsyncClient(base_url=gateway.http_url, trust_env=False) as http:
        response = await http.post(f"{API}/experiments", json={"display_name": "x" * 200})

    assert_kfp_error(response, 413, 8)


async def test_unreachable_backend_is_503() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = f"127.0.0.1:{probe.getsockname()[1]}"
    backend = GatewayBackend.connect(
        scheduler_address=dead, artifacts_address=dead, events=InMemoryRunEventSource()
    )
    async with (
        Gateway(backend=backend, config=GatewayConfig(shutdown_grace_seconds=0.5)) as gateway,
        httpx.AsyncClient(base_url=gateway.http_url, trust_env=False) as http,
    ):
        response = await http.get(f"{API}/experiments")

    assert_kfp_error(response, 503, 14)


async def test_an_unexpected_error_is_a_500_in_kfp_shape(
    fakes: FakeBackends, events: InMemoryRunEventSource, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = GatewayBackend.connect(
        scheduler_address=fakes.scheduler_address, artifacts_address=fakes.artifacts_address, events=events
    )

    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(backend.runs, "GetRun", broken)
    # In process: the app alone, without the gateway's servers.
    transport = httpx.ASGITransport(app=create_http_app(backend=backend), raise_app_exceptions=False)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
            response = await http.get(f"{API}/runs/r1")
    finally:
        await backend.aclose()

    body = assert_kfp_error(response, 500, 13)
    assert body["message"] == "internal error"
