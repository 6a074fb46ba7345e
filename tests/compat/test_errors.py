"""Errors in KFP's JSON shape with the right status; an unknown id is a 404 on every route
that names a resource (found from the OpenAPI document, so a new route is covered too)."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.gateway.http import examples
from tests.fixtures.sluice_server import RunningSluice

API = "/apis/v2beta1"
ERROR_KEYS = {"error", "code", "message", "details"}
NOT_FOUND = 5


@pytest.fixture(scope="module")
def http(sluice_server: RunningSluice) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sluice_server.http_url, timeout=30) as client:
        yield client


def assert_kfp_error(response: httpx.Response, status: int, code: int) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == ERROR_KEYS, body
    assert (body["code"], body["details"]) == (code, [])
    assert body["error"] == body["message"]
    assert body["message"]


def _routes_with_ids(document: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (method.upper(), path)
        for path, operations in document["paths"].items()
        if "{" in path
        for method in operations
    ]


def test_unknown_ids_are_404_on_every_resource_route(http: httpx.Client) -> None:
    routes = _routes_with_ids(http.get("/openapi.json").json())
    assert len(routes) >= 25
    for method, path in routes:
        url = re.sub(r"\{[^}]+\}", lambda m: f"unknown-{m.group(0)[1:-1]}-{uuid.uuid4().hex[:6]}", path)
        kwargs: dict[str, Any] = {}
        if path.endswith("/versions") and method == "POST":
            kwargs["json"] = examples.PIPELINE_VERSION
        elif method in ("POST", "PATCH"):
            kwargs["json"] = {}
        assert_kfp_error(http.request(method, url, **kwargs), 404, NOT_FOUND)


def test_known_parents_with_unknown_children_are_404(
    http: httpx.Client, sluice_server: RunningSluice, tmp_path: Path
) -> None:
    created = http.post(f"{API}/runs", json={**examples.RUN, "disable_cache": True})
    assert created.status_code == 200, created.text
    run = sluice_server.wait_for_run(created.json()["run_id"])
    task = next(t for t in run["run_details"]["task_details"] if t["display_name"] == "echo")
    run_id = run["run_id"]
    assert http.get(f"{API}/runs/{run_id}/tasks/{task['task_id']}/logs").status_code == 200
    for path in (
        f"/runs/{run_id}/tasks/nope/logs",
        f"/runs/{run_id}/nodes/nope/artifacts/x:read",
        f"/runs/{run_id}/nodes/{task['task_id']}/artifacts/nope:read",
    ):
        assert_kfp_error(http.get(API + path), 404, NOT_FOUND)
    assert_kfp_error(
        http.get(f"{API}/runs/{run_id}/tasks/{task['task_id']}/logs", params={"attempt": 99}), 404, 5
    )

    pipeline = http.post(
        f"{API}/pipelines/create",
        json=examples.PIPELINE_AND_VERSION | {"pipeline": {"name": uuid.uuid4().hex}},
    )
    assert pipeline.status_code == 200, pipeline.text
    other = http.post(
        f"{API}/pipelines/create",
        json=examples.PIPELINE_AND_VERSION | {"pipeline": {"name": uuid.uuid4().hex}},
    )
    pipeline_id, other_id = pipeline.json()["pipeline_id"], other.json()["pipeline_id"]
    version_id = http.get(f"{API}/pipelines/{pipeline_id}/versions").json()["pipeline_versions"][0][
        "pipeline_version_id"
    ]
    # A version asked for under another pipeline does not exist there.
    assert_kfp_error(http.get(f"{API}/pipelines/{other_id}/versions/{version_id}"), 404, NOT_FOUND)
    assert_kfp_error(http.delete(f"{API}/pipelines/{other_id}/versions/{version_id}"), 404, NOT_FOUND)

    package = tmp_path / "hello.json"
    package.write_text(json.dumps(examples.HELLO_PIPELINE))
    with package.open("rb") as handle:
        upload = http.post(
            f"{API}/pipelines/upload_version", params={"pipelineid": "nope"}, files={"uploadfile": handle}
        )
    assert_kfp_error(upload, 404, NOT_FOUND)


def test_unknown_references_in_bodies_are_404(http: httpx.Client) -> None:
    reference = {"pipeline_id": "nope", "pipeline_version_id": "nope"}
    run = {"display_name": "r", "pipeline_version_reference": reference}
    assert_kfp_error(http.post(f"{API}/runs", json=run), 404, NOT_FOUND)
    in_unknown_experiment = {**examples.RUN, "experiment_id": "nope"}
    assert_kfp_error(http.post(f"{API}/runs", json=in_unknown_experiment), 404, NOT_FOUND)
    recurring = {**examples.RECURRING_RUN, "experiment_id": "nope"}
    assert_kfp_error(http.post(f"{API}/recurringruns", json=recurring), 404, NOT_FOUND)


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "code"),
    [
        ("GET", "/nowhere", {}, 404, 5),
        ("PUT", "/runs", {}, 405, 12),
        ("POST", "/runs", {"content": b"{not json"}, 400, 3),
        ("POST", "/runs", {"json": ["a list"]}, 400, 3),
        ("POST", "/runs", {"json": {"display_name": "no pipeline"}}, 400, 3),
        ("POST", "/experiments", {"json": {"display_name": "  "}}, 400, 3),
        (
            "POST",
            "/experiments",
            {"json": {"display_name": "x", "webhook_url": "ftp://example.invalid"}},
            400,
            3,
        ),
        ("POST", "/recurringruns", {"json": {**examples.RECURRING_RUN, "trigger": {}}}, 400, 3),
        ("POST", "/recurringruns", {"json": {**examples.RECURRING_RUN, "max_concurrency": 11}}, 400, 3),
        ("POST", "/pipelines/upload", {"files": {"other": b"x"}}, 400, 3),
        ("GET", "/runs", {"params": {"page_size": "many"}}, 400, 3),
    ],
)
def test_errors_have_kfp_shape_and_status(
    http: httpx.Client, method: str, path: str, kwargs: dict[str, Any], status: int, code: int
) -> None:
    assert_kfp_error(http.request(method, API + path, **kwargs), status, code)


def test_duplicate_names_are_409(http: httpx.Client) -> None:
    name = uuid.uuid4().hex
    assert http.post(f"{API}/experiments", json={"display_name": name}).status_code == 200
    assert_kfp_error(http.post(f"{API}/experiments", json={"display_name": name}), 409, 6)
