from __future__ import annotations

from typing import Any

import httpx
import pytest
from sluice.v1 import artifacts_pb2, experiments_pb2, pipelines_pb2, recurring_runs_pb2, runs_pb2

API = "/apis/v2beta1"


@pytest.fixture
async def document(http: httpx.AsyncClient) -> dict[str, Any]:
    response = await http.get("/openapi.json")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


async def test_docs_are_served(http: httpx.AsyncClient) -> None:
    response = await http.get("/docs")

    assert response.status_code == 200
    assert "openapi.json" in response.text


async def test_resource_schemas_follow_the_protos(document: dict[str, Any]) -> None:
    for message in (
        experiments_pb2.Experiment.DESCRIPTOR,
        pipelines_pb2.Pipeline.DESCRIPTOR,
        pipelines_pb2.PipelineVersion.DESCRIPTOR,
        runs_pb2.Run.DESCRIPTOR,
        runs_pb2.PipelineTaskDetail.DESCRIPTOR,
        recurring_runs_pb2.RecurringRun.DESCRIPTOR,
        artifacts_pb2.Artifact.DESCRIPTOR,
    ):
        schema = document["components"]["schemas"][message.name]
        assert set(schema["properties"]) == {field.name for field in message.fields}, message.name


async def test_schemas_use_the_protobuf_json_mapping(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    run = schemas["Run"]["properties"]

    # Responses never hold an enum's unset value (protobuf JSON leaves it out); bodies may.
    assert run["state"]["enum"][:2] == ["PENDING", "RUNNING"]
    assert schemas["RunInput"]["properties"]["state"]["enum"][0] == "RUNTIME_STATE_UNSPECIFIED"
    assert schemas["Run"]["additionalProperties"] is False
    assert schemas["RunInput"]["additionalProperties"] is True
    assert {"run_id", "state", "created_at"} <= set(schemas["Run"]["required"])
    assert run["created_at"] == {"type": "string", "format": "date-time", "title": "Created At"}
    assert run["run_details"] == {"$ref": "#/components/schemas/RunDetails"}
    assert schemas["RecurringRun"]["properties"]["max_concurrency"]["format"] == "int64"
    assert "recurringRuns" in schemas["ListRecurringRunsResponse"]["properties"]
    assert set(schemas["Healthz"]["properties"]) == {"commit_sha", "tag_name", "multi_user", "pipeline_store"}
    assert set(schemas["Error"]["properties"]) == {"error", "code", "message", "details"}


async def test_operations_document_bodies_responses_and_kfp_errors(document: dict[str, Any]) -> None:
    paths = document["paths"]
    create_run = paths[f"{API}/runs"]["post"]
    assert create_run["operationId"] == "RunService_CreateRun"
    body_schema = create_run["requestBody"]["content"]["application/json"]["schema"]
    assert body_schema == {"$ref": "#/components/schemas/RunInput"}
    assert create_run["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Run"
    }
    upload = paths[f"{API}/pipelines/upload"]["post"]["requestBody"]["content"]["multipart/form-data"]
    assert upload["schema"]["required"] == ["uploadfile"]
    for operations in paths.values():
        for operation in operations.values():
            assert "422" not in operation["responses"]
            assert operation["responses"]["default"]["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/Error"
            }
    assert "HTTPValidationError" not in document["components"]["schemas"]


async def test_artifacts_are_listed_got_and_downloaded(document: dict[str, Any]) -> None:
    paths = document["paths"]

    listed = paths[f"{API}/artifacts"]["get"]
    got = paths[f"{API}/artifacts/{{artifact_id}}"]["get"]
    download = paths[f"{API}/artifacts/{{artifact_id}}:download"]["get"]

    assert listed["operationId"] == "ArtifactService_ListArtifacts"
    assert {p["name"] for p in listed["parameters"]} == {"run_id", "task_id", "page_size", "page_token"}
    assert listed["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ListArtifactsResponse"
    }
    assert got["operationId"] == "ArtifactService_GetArtifact"
    assert got["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Artifact"
    }
    assert download["operationId"] == "ArtifactService_Download"
    ok = download["responses"]["200"]
    assert ok["content"] == {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}
    assert ok["headers"]["Content-Disposition"]["required"] is True


async def test_every_reference_resolves(document: dict[str, Any]) -> None:
    names = set(document["components"]["schemas"])
    references: list[str] = []

    def collect(node: object) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                references.append(node["$ref"])
            for value in node.values():
                collect(value)
        elif isinstance(node, list):
            for value in node:
                collect(value)

    collect(document)
    assert references
    assert {ref.removeprefix("#/components/schemas/") for ref in references} <= names
