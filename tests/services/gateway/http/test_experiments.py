from __future__ import annotations

import json

import httpx
from sluice.v1 import experiments_pb2

from tests.services.gateway.fakes import CREATED_AT_JSON, FakeBackends

API = "/apis/v2beta1"


async def test_healthz_answers_like_kfp(http: httpx.AsyncClient) -> None:
    response = await http.get(f"{API}/healthz")

    assert response.status_code == 200
    assert response.json() == {
        "commit_sha": "unknown",
        "tag_name": "dev",
        "multi_user": False,
        "pipeline_store": "database",
    }


async def test_create_experiment_returns_snake_case_json(
    http: httpx.AsyncClient, fakes: FakeBackends
) -> None:
    response = await http.post(f"{API}/experiments", json={"display_name": "exp", "description": "d"})

    assert response.status_code == 200
    assert response.json() == {
        "experiment_id": "exp-1",
        "display_name": "exp",
        "description": "d",
        "created_at": CREATED_AT_JSON,
        "storage_state": "AVAILABLE",
    }
    sent = fakes.recorder.last("CreateExperiment", experiments_pb2.CreateExperimentRequest)
    assert sent.experiment.display_name == "exp"


async def test_request_bodies_accept_camel_case_and_ignore_unknown_fields(
    http: httpx.AsyncClient, fakes: FakeBackends
) -> None:
    response = await http.post(f"{API}/experiments", json={"displayName": "camel", "plugins_input": {"x": 1}})

    assert response.status_code == 200
    assert response.json()["display_name"] == "camel"


async def test_list_experiments_passes_paging_sorting_and_filter(
    http: httpx.AsyncClient, fakes: FakeBackends
) -> None:
    await http.post(f"{API}/experiments", json={"display_name": "a"})
    await http.post(f"{API}/experiments", json={"display_name": "b"})
    wanted = json.dumps({"predicates": [{"key": "display_name", "operation": 1, "stringValue": "b"}]})

    response = await http.get(
        f"{API}/experiments",
        params={
            "page_size": 5,
            "page_token": "t",
            "sort_by": "created_at desc",
            "filter": wanted,
            "namespace": "ns",
        },
    )

    assert response.status_code == 200
    body = response.json()
    assert [e["display_name"] for e in body["experiments"]] == ["b"]
    assert body["total_size"] == 1
    sent = fakes.recorder.last("ListExperiments", experiments_pb2.ListExperimentsRequest)
    assert (sent.page_size, sent.page_token, sent.sort_by, sent.filter, sent.namespace) == (
        5,
        "t",
        "created_at desc",
        wanted,
        "ns",
    )


async def test_get_archive_unarchive_delete_experiment(http: httpx.AsyncClient, fakes: FakeBackends) -> None:
    created = (await http.post(f"{API}/experiments", json={"display_name": "e"})).json()
    path = f"{API}/experiments/{created['experiment_id']}"

    archived = await http.post(f"{path}:archive")
    assert (archived.status_code, archived.json()) == (200, {})
    assert (await http.get(path)).json()["storage_state"] == "ARCHIVED"

    unarchived = await http.post(f"{path}:unarchive")
    assert (unarchived.status_code, unarchived.json()) == (200, {})
    assert (await http.get(path)).json()["storage_state"] == "AVAILABLE"

    deleted = await http.delete(path)
    assert (deleted.status_code, deleted.json()) == (200, {})
    assert (await http.get(path)).status_code == 404
    assert fakes.recorder.methods()[-6:] == [
        "ArchiveExperiment",
        "GetExperiment",
        "UnarchiveExperiment",
        "GetExperiment",
        "DeleteExperiment",
        "GetExperiment",
    ]


async def test_duplicate_experiment_is_409_in_kfp_shape(http: httpx.AsyncClient) -> None:
    await http.post(f"{API}/experiments", json={"display_name": "same"})

    response = await http.post(f"{API}/experiments", json={"display_name": "same"})

    assert response.status_code == 409
    assert response.json() == {
        "error": "experiment 'same' already exists",
        "code": 6,
        "message": "experiment 'same' already exists",
        "details": [],
    }
