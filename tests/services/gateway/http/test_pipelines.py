from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest
from google.protobuf import json_format
from sluice.v1 import pipelines_pb2

from services.gateway import GatewayConfig
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


async def test_updates_are_not_supported_yet(http: httpx.AsyncClient) -> None:
    created = await http.post(
        f"{API}/pipelines/create",
        json={"pipeline": {"name": "p"}, "pipeline_version": {"name": "v", "pipeline_spec": {"a": 1}}},
    )
    pipeline_id = created.json()["pipeline_id"]
    versions = (await http.get(f"{API}/pipelines/{pipeline_id}/versions")).json()["pipeline_versions"]
    known = (
        f"{API}/pipelines/{pipeline_id}",
        f"{API}/pipelines/{pipeline_id}/versions/{versions[0]['pipeline_version_id']}",
    )
    for path in known:
        response = await http.patch(path, json={})
        assert response.status_code == 501
        assert response.json()["code"] == 12
    # Unknown ids are a 404, as on every other route.
    for path in (f"{API}/pipelines/nope", f"{API}/pipelines/{pipeline_id}/versions/nope"):
        assert (await http.patch(path, json={})).status_code == 404


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
