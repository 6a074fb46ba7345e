from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from google.protobuf import json_format
from sluice.v1 import pipelines_pb2, pipelines_pb2_grpc

from services.core.store.sqlite import SqliteStore
from services.gateway import Gateway, GatewayBackend, GatewayConfig, InMemoryRunEventSource
from services.gateway.http import examples
from services.scheduler.api.pipelines import PipelineServicer
from tests.services.gateway.conftest import StartGateway
from tests.services.gateway.fakes import CREATED_AT_JSON, FakeBackends

API = "/apis/v2beta1"
MiB = 1024 * 1024

PIPELINE_YAML = b"""\
pipelineInfo:
  name: hello
root:
  dag:
    tasks: {}
schemaVersion: 2.1.0
sdkVersion: kfp-2.17.3
"""


async def test_create_get_list_delete_pipeline(http: httpx.AsyncClient, fakes: FakeBackends) -> None:
    created = await http.post(
        f"{API}/pipelines", json={"name": "p", "display_name": "P", "tags": {"team": "ml"}}
    )
    assert created.status_code == 200
    assert created.json() == {
        "pipeline_id": "pipeline-1",
        "name": "p",
        "display_name": "P",
        "created_at": CREATED_AT_JSON,
        "tags": {"team": "ml"},
    }

    assert (await http.get(f"{API}/pipelines/pipeline-1")).json()["name"] == "p"
    assert (await http.get(f"{API}/pipelines/names/p", params={"namespace": "ns"})).json()["pipeline_id"] == (
        "pipeline-1"
    )
    assert fakes.recorder.last("GetPipelineByName", pipelines_pb2.GetPipelineByNameRequest).namespace == "ns"
    listed = (await http.get(f"{API}/pipelines", params={"page_size": 2, "namespace": "ns"})).json()
    assert (listed["total_size"], listed["pipelines"][0]["pipeline_id"]) == (1, "pipeline-1")

    deleted = await http.delete(f"{API}/pipelines/pipeline-1", params={"cascade": "true"})
    assert (deleted.status_code, deleted.json()) == (200, {})
    assert fakes.recorder.last("DeletePipeline", pipelines_pb2.DeletePipelineRequest).cascade is True
    assert (await http.get(f"{API}/pipelines/pipeline-1")).status_code == 404


async def test_create_pipeline_and_version_in_one(http: httpx.AsyncClient, fakes: FakeBackends) -> None:
    response = await http.post(
        f"{API}/pipelines/create",
        json={
            "pipeline": {"name": "p", "display_name": "P"},
            "pipeline_version": {"name": "v1", "pipeline_spec": {"pipelineInfo": {"name": "p"}}},
        },
    )

    assert response.status_code == 200
    assert response.json()["pipeline_id"] == "pipeline-1"
    sent = fakes.recorder.last("CreatePipelineAndVersion", pipelines_pb2.CreatePipelineAndVersionRequest)
    assert sent.pipeline_version.name == "v1"
    assert json_format.MessageToDict(sent.pipeline_version.pipeline_spec) == {"pipelineInfo": {"name": "p"}}


async def test_pipeline_versions(http: httpx.AsyncClient, fakes: FakeBackends) -> None:
    await http.post(f"{API}/pipelines", json={"name": "p"})
    versions = f"{API}/pipelines/pipeline-1/versions"

    created = await http.post(versions, json={"name": "v1", "pipeline_spec": {"schemaVersion": "2.1.0"}})
    assert created.status_code == 200
    version = created.json()
    assert version["pipeline_version_id"] == "version-1"
    assert version["pipeline_spec"] == {"schemaVersion": "2.1.0"}

    listed = await http.get(versions, params={"page_size": 3, "sort_by": "name"})
    assert [v["name"] for v in listed.json()["pipeline_versions"]] == ["v1"]
    sent = fakes.recorder.last("ListPipelineVersions", pipelines_pb2.ListPipelineVersionsRequest)
    assert (sent.pipeline_id, sent.page_size, sent.sort_by) == ("pipeline-1", 3, "name")

    assert (await http.get(f"{versions}/version-1")).json()["name"] == "v1"
    assert (await http.delete(f"{versions}/version-1")).json() == {}
    assert (await http.get(f"{versions}/version-1")).status_code == 404


async def test_upload_a_yaml_package(http: httpx.AsyncClient, fakes: FakeBackends) -> None:
    response = await http.post(
        f"{API}/pipelines/upload",
        params={
            "name": "hello",
            "display_name": "Hello",
            "description": "d",
            "namespace": "ns",
            "tags": '{"a": "b"}',
        },
        files={"uploadfile": ("hello.yaml", PIPELINE_YAML, "application/x-yaml")},
    )

    assert response.status_code == 200
    # KFP answers with the pipeline, not its first version.
    assert response.json() == {
        "pipeline_id": "pipeline-1",
        "name": "hello",
        "display_name": "Hello",
        "created_at": CREATED_AT_JSON,
    }
    sent = fakes.recorder.last("UploadPipeline", pipelines_pb2.UploadPipelineRequest)
    assert sent == pipelines_pb2.UploadPipelineRequest(
        package=PIPELINE_YAML,
        filename="hello.yaml",
        name="hello",
        display_name="Hello",
        description="d",
        namespace="ns",
        tags={"a": "b"},
    )


async def test_upload_a_version(http: httpx.AsyncClient, fakes: FakeBackends) -> None:
    await http.post(f"{API}/pipelines", json={"name": "hello"})

    response = await http.post(
        f"{API}/pipelines/upload_version",
        params={"pipelineid": "pipeline-1", "name": "v2", "display_name": "V2"},
        files={"uploadfile": ("v2.yaml", PIPELINE_YAML)},
    )

    assert response.status_code == 200
    version = response.json()
    assert (version["pipeline_id"], version["pipeline_version_id"], version["name"]) == (
        "pipeline-1",
        "version-1",
        "v2",
    )
    sent = fakes.recorder.last("UploadPipeline", pipelines_pb2.UploadPipelineRequest)
    assert (sent.pipeline_id, sent.filename, sent.package) == ("pipeline-1", "v2.yaml", PIPELINE_YAML)


async def test_upload_version_needs_a_pipeline_id(http: httpx.AsyncClient) -> None:
    response = await http.post(
        f"{API}/pipelines/upload_version", files={"uploadfile": ("v.yaml", PIPELINE_YAML)}
    )

    assert response.status_code == 400
    assert "pipelineid" in response.json()["message"]


async def test_upload_of_an_existing_name_is_409(http: httpx.AsyncClient) -> None:
    files = {"uploadfile": ("hello.yaml", PIPELINE_YAML)}
    await http.post(f"{API}/pipelines/upload", params={"name": "hello"}, files=files)

    response = await http.post(f"{API}/pipelines/upload", params={"name": "hello"}, files=files)

    assert response.status_code == 409
    assert response.json()["code"] == 6


@pytest.mark.parametrize(
    ("request_kwargs", "message"),
    [
        ({"files": {"other": ("x.yaml", b"a: 1")}}, "no file in the field 'uploadfile'"),
        (
            {"data": {"uploadfile": "not a file"}, "files": {"other": ("x.yaml", b"a: 1")}},
            "no file in the field 'uploadfile'",
        ),
        ({"content": b"a: 1", "headers": {"content-type": "application/x-yaml"}}, "multipart/form-data"),
        (
            {
                "content": b"--x\r\nbad header\r\n\r\n",
                "headers": {"content-type": "multipart/form-data; boundary=x"},
            },
            "malformed multipart",
        ),
    ],
    ids=["wrong-field", "not-a-file", "not-multipart", "malformed"],
)
async def test_bad_uploads_are_400(
    http: httpx.AsyncClient, request_kwargs: dict[str, object], message: str
) -> None:
    response = await http.post(f"{API}/pipelines/upload", **request_kwargs)  # type: ignore[arg-type]

    assert response.status_code == 400
    assert message in response.json()["message"]


async def test_bad_tags_are_400(http: httpx.AsyncClient) -> None:
    response = await http.post(
        f"{API}/pipelines/upload", params={"tags": "[1]"}, files={"uploadfile": ("p.yaml", PIPELINE_YAML)}
    )

    assert response.status_code == 400
    assert "tags" in response.json()["message"]


def _multipart(boundary: str, size: int) -> tuple[int, AsyncIterator[bytes]]:
    """The length and the chunks of a multipart body whose file has ``size`` bytes, made of
    one reused 1 MiB chunk so the test never holds the body."""
    head = (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="uploadfile"; filename="big.yaml"\r\n'
        "Content-Type: application/x-yaml\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    chunk = b"#" * MiB

    async def chunks() -> AsyncIterator[bytes]:
        yield head
        sent = 0
        while sent < size:
            piece = chunk if size - sent >= len(chunk) else chunk[: size - sent]
            sent += len(piece)
            yield piece
        yield tail

    return len(head) + size + len(tail), chunks()


async def test_an_upload_over_32_mib_is_413_while_streaming(
    http: httpx.AsyncClient, fakes: FakeBackends
) -> None:
    boundary = "sluice-boundary"
    _, body = _multipart(boundary, 33 * MiB)
    # Streamed with chunked encoding (no Content-Length): the gateway must count as it reads.
    response = await http.post(
        f"{API}/pipelines/upload",
        content=body,
        headers={"content-type": f"multipart/form-data; boundary={boundary}"},
    )

    assert response.status_code == 413
    assert response.json() == {
        "error": f"the pipeline package exceeds the limit of {32 * MiB} bytes",
        "code": 8,
        "message": f"the pipeline package exceeds the limit of {32 * MiB} bytes",
        "details": [],
    }
    assert "UploadPipeline" not in fakes.recorder.methods()


async def test_a_declared_length_over_the_limit_is_413_before_reading(http: httpx.AsyncClient) -> None:
    boundary = "b"
    length, body = _multipart(boundary, 40 * MiB)
    response = await http.post(
        f"{API}/pipelines/upload",
        content=body,
        headers={"content-type": f"multipart/form-data; boundary={boundary}", "content-length": str(length)},
    )

    assert response.status_code == 413
    assert response.json()["code"] == 8


async def test_the_upload_limit_is_on_the_package(start_gateway: StartGateway, fakes: FakeBackends) -> None:
    gateway = await start_gateway(GatewayConfig(max_upload_bytes=1000))
    async with httpx.AsyncClient(base_url=gateway.http_url, trust_env=False) as http:
        at_limit = await http.post(f"{API}/pipelines/upload", files={"uploadfile": ("p.yaml", b"#" * 1000)})
        over = await http.post(f"{API}/pipelines/upload", files={"uploadfile": ("p.yaml", b"#" * 1001)})

    assert at_limit.status_code == 200
    assert len(fakes.recorder.last("UploadPipeline", pipelines_pb2.UploadPipelineRequest).package) == 1000
    assert over.status_code == 413
    assert json.loads(over.text)["code"] == 8


# --- updates (PATCH) -----------------------------------------------------------------------


async def test_patch_sends_the_body_the_ids_and_the_mask(
    http: httpx.AsyncClient, fakes: FakeBackends
) -> None:
    await http.post(f"{API}/pipelines/create", json=examples.PIPELINE_AND_VERSION)
    path = f"{API}/pipelines/pipeline-1/versions/version-1"

    response = await http.patch(
        path,
        params=[("update_mask", " displayName , codeSourceUrl,"), ("update_mask", "tags")],
        json={"displayName": "V", "code_source_url": "https://example.invalid/src", "tags": {"a": "b"}},
    )

    assert response.status_code == 200, response.text
    sent = fakes.recorder.last("UpdatePipelineVersion", pipelines_pb2.UpdatePipelineVersionRequest)
    assert list(sent.update_mask.paths) == ["display_name", "code_source_url", "tags"]
    assert sent.pipeline_version == pipelines_pb2.PipelineVersion(
        pipeline_id="pipeline-1",
        pipeline_version_id="version-1",
        display_name="V",
        code_source_url="https://example.invalid/src",
        tags={"a": "b"},
    )
    assert response.json() == (await http.get(path)).json()
    response = await http.patch(f"{API}/pipelines/pipeline-1", json=examples.PIPELINE_UPDATE)
    assert response.status_code == 200, response.text
    sent_pipeline = fakes.recorder.last("UpdatePipeline", pipelines_pb2.UpdatePipelineRequest)
    assert (sent_pipeline.pipeline.pipeline_id, list(sent_pipeline.update_mask.paths)) == ("pipeline-1", [])


@pytest.fixture
async def real_http(
    tmp_path: Path, fakes: FakeBackends, events: InMemoryRunEventSource
) -> AsyncIterator[httpx.AsyncClient]:
    """A gateway in front of the real PipelineService over a SQLite store: what an update
    may change is the scheduler's to decide, so these tests go through it."""
    store = SqliteStore(tmp_path / "sluice.db")
    await store.start()
    server = grpc.aio.server()
    pipelines_pb2_grpc.add_PipelineServiceServicer_to_server(PipelineServicer(store=store), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    backend = GatewayBackend.connect(
        scheduler_address=f"127.0.0.1:{port}", artifacts_address=fakes.artifacts_address, events=events
    )
    gateway = Gateway(backend=backend, config=GatewayConfig(shutdown_grace_seconds=1.0))
    try:
        await gateway.start()
        async with httpx.AsyncClient(base_url=gateway.http_url, timeout=10.0, trust_env=False) as client:
            yield client
    finally:
        await gateway.aclose()
        await server.stop(None)
        await store.aclose()


async def _create(http: httpx.AsyncClient, name: str = "p") -> tuple[dict[str, Any], dict[str, Any]]:
    """A pipeline with one version: (pipeline, version) as GET returns them."""
    created = await http.post(
        f"{API}/pipelines/create",
        json={
            "pipeline": {"name": name, "display_name": "P", "description": "d", "tags": {"a": "1"}},
            "pipeline_version": {
                "name": "v1",
                "description": "first",
                "code_source_url": "https://example.invalid/v1",
                "pipeline_spec": examples.HELLO_PIPELINE,
            },
        },
    )
    assert created.status_code == 200, created.text
    pipeline = created.json()
    listed = await http.get(f"{API}/pipelines/{pipeline['pipeline_id']}/versions")
    return pipeline, listed.json()["pipeline_versions"][0]


def _by_display_name(value: str) -> dict[str, str]:
    predicate = {"key": "display_name", "operation": "EQUALS", "string_value": value}
    return {"filter": json.dumps({"predicates": [predicate]})}


@pytest.mark.parametrize(
    ("body", "changed"),
    [
        ({"display_name": "New name"}, {"display_name": "New name"}),
        ({"description": "about"}, {"description": "about"}),
        ({"tags": {"team": "ml"}}, {"tags": {"team": "ml"}}),
        ({"displayName": "camel"}, {"display_name": "camel"}),
    ],
    ids=["display_name", "description", "tags", "camelCase"],
)
async def test_patch_pipeline_changes_a_field(
    real_http: httpx.AsyncClient, body: dict[str, Any], changed: dict[str, Any]
) -> None:
    pipeline, _ = await _create(real_http)
    path = f"{API}/pipelines/{pipeline['pipeline_id']}"

    response = await real_http.patch(path, json=body)

    assert response.status_code == 200, response.text
    assert response.json() == {**pipeline, **changed}
    assert (await real_http.get(path)).json() == response.json()
    display_name = response.json()["display_name"]
    listed = (await real_http.get(f"{API}/pipelines", params=_by_display_name(display_name))).json()
    assert listed["pipelines"] == [response.json()]


@pytest.mark.parametrize(
    ("body", "changed"),
    [
        ({"display_name": "v1 (stable)"}, {"display_name": "v1 (stable)"}),
        ({"description": "second look"}, {"description": "second look"}),
        ({"tags": {"stage": "prod"}}, {"tags": {"stage": "prod"}}),
        (
            {"codeSourceUrl": "https://example.invalid/fixed"},
            {"code_source_url": "https://example.invalid/fixed"},
        ),
    ],
    ids=["display_name", "description", "tags", "code_source_url"],
)
async def test_patch_pipeline_version_changes_a_field(
    real_http: httpx.AsyncClient, body: dict[str, Any], changed: dict[str, Any]
) -> None:
    pipeline, version = await _create(real_http)
    versions = f"{API}/pipelines/{pipeline['pipeline_id']}/versions"
    path = f"{versions}/{version['pipeline_version_id']}"

    response = await real_http.patch(path, json=body)

    assert response.status_code == 200, response.text
    assert response.json() == {**version, **changed}
    assert (await real_http.get(path)).json() == response.json()
    listed = (await real_http.get(versions, params=_by_display_name(response.json()["display_name"]))).json()
    assert listed["pipeline_versions"] == [response.json()]


async def test_patch_with_an_update_mask_changes_only_what_it_names(real_http: httpx.AsyncClient) -> None:
    pipeline, version = await _create(real_http)
    path = f"{API}/pipelines/{pipeline['pipeline_id']}"
    body = {"display_name": "Masked", "description": "", "tags": {"ignored": "yes"}}

    # camelCase or snake_case, comma-separated or repeated; "" clears a field the mask names.
    response = await real_http.patch(path, params=[("update_mask", "displayName,description")], json=body)

    assert response.status_code == 200, response.text
    expected = {**pipeline, "display_name": "Masked"}
    del expected["description"]
    assert response.json() == expected
    version_path = f"{path}/versions/{version['pipeline_version_id']}"
    response = await real_http.patch(
        version_path, params=[("update_mask", "tags"), ("update_mask", "code_source_url")], json={}
    )
    assert response.status_code == 200, response.text
    assert response.json() == {k: v for k, v in version.items() if k not in ("tags", "code_source_url")}
    assert (await real_http.get(version_path)).json() == response.json()


async def test_patch_sending_back_what_get_returned_is_accepted(real_http: httpx.AsyncClient) -> None:
    pipeline, version = await _create(real_http)
    version_path = f"{API}/pipelines/{pipeline['pipeline_id']}/versions/{version['pipeline_version_id']}"

    edited = {**version, "display_name": "edited", "tags": {"x": "y"}}
    response = await real_http.patch(version_path, json=edited)

    assert response.status_code == 200, response.text
    assert response.json() == edited
    edited_pipeline = {**pipeline, "description": "edited"}
    response = await real_http.patch(f"{API}/pipelines/{pipeline['pipeline_id']}", json=edited_pipeline)
    assert (response.status_code, response.json()) == (200, edited_pipeline)


async def test_patch_of_unknown_ids_is_404(real_http: httpx.AsyncClient) -> None:
    pipeline, version = await _create(real_http)
    other, _ = await _create(real_http, name="other")
    for path in (
        f"{API}/pipelines/nope",
        f"{API}/pipelines/{pipeline['pipeline_id']}/versions/nope",
        f"{API}/pipelines/nope/versions/{version['pipeline_version_id']}",
        # A version of another pipeline is not found under this one.
        f"{API}/pipelines/{other['pipeline_id']}/versions/{version['pipeline_version_id']}",
    ):
        response = await real_http.patch(path, json={"display_name": "x"})
        assert response.status_code == 404, path
        assert set(response.json()) == {"error", "code", "message", "details"}
        assert response.json()["code"] == 5


@pytest.mark.parametrize(
    ("target", "params", "body", "named"),
    [
        ("pipeline", {}, {"name": "renamed"}, "Pipeline.name cannot be changed"),
        ("pipeline", {}, {"namespace": "team-b"}, "Pipeline.namespace cannot be changed"),
        ("pipeline", {}, {"created_at": "2020-01-01T00:00:00Z"}, "Pipeline.created_at cannot be changed"),
        ("pipeline", {}, {"pipeline_id": "another"}, "pipeline_id 'another' in the body differs"),
        ("pipeline", {"update_mask": "name"}, {}, "Pipeline.name cannot be updated"),
        ("pipeline", {"update_mask": "bogus"}, {}, "Pipeline has no field 'bogus'"),
        ("pipeline", {"update_mask": "display_name"}, {"display_name": " "}, "display_name cannot be empty"),
        ("version", {}, {"name": "v2"}, "PipelineVersion.name cannot be changed"),
        ("version", {}, {"pipeline_spec": {"a": 1}}, "PipelineVersion.pipeline_spec cannot be changed"),
        (
            "version",
            {},
            {"package_url": {"pipeline_url": "https://example.invalid/p.yaml"}},
            "PipelineVersion.package_url cannot be changed",
        ),
        ("version", {"update_mask": "pipelineSpec"}, {}, "PipelineVersion.pipeline_spec cannot be updated"),
        ("version", {}, {"pipeline_version_id": "another"}, "pipeline_version_id 'another' in the body"),
    ],
)
async def test_patch_of_a_fixed_field_is_400(
    real_http: httpx.AsyncClient, target: str, params: dict[str, str], body: dict[str, Any], named: str
) -> None:
    pipeline, version = await _create(real_http)
    path = f"{API}/pipelines/{pipeline['pipeline_id']}"
    before = pipeline
    if target == "version":
        path += f"/versions/{version['pipeline_version_id']}"
        before = version

    response = await real_http.patch(path, params=params, json={**body, "description": "changed"})

    assert response.status_code == 400, response.text
    error = response.json()
    assert (error["code"], error["details"]) == (3, [])
    assert named in error["message"]
    assert (await real_http.get(path)).json() == before
