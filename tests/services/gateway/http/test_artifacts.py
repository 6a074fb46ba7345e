from __future__ import annotations

import asyncio

import httpx
from sluice.v1 import artifacts_pb2

from tests.services.gateway.fakes import CREATED_AT, CREATED_AT_JSON, FakeBackends

API = "/apis/v2beta1"


def _add(fakes: FakeBackends, artifact_id: str, *, run_id: str, task_id: str, data: bytes = b"") -> None:
    uri = f"mem://{artifact_id}"
    fakes.artifacts.put(uri, data)
    artifact = artifacts_pb2.Artifact(
        artifact_id=artifact_id,
        name=f"out-{artifact_id}",
        uri=uri,
        schema_title="system.Dataset",
        run_id=run_id,
        task_id=task_id,
        size_bytes=len(data),
    )
    artifact.created_at.CopyFrom(CREATED_AT)
    artifact.metadata.update({"rows": 3})
    fakes.artifacts.artifacts[artifact_id] = artifact


async def test_artifacts_are_listed_by_run_and_task(http: httpx.AsyncClient, fakes: FakeBackends) -> None:
    _add(fakes, "a1", run_id="r1", task_id="t1", data=b"hello")
    _add(fakes, "a2", run_id="r1", task_id="t2")
    _add(fakes, "a3", run_id="r2", task_id="t3")

    by_run = await http.get(f"{API}/artifacts", params={"run_id": "r1"})
    by_task = await http.get(
        f"{API}/artifacts", params={"run_id": "r1", "task_id": "t1", "page_size": 5, "page_token": "p2"}
    )

    assert by_run.status_code == 200
    assert [a["artifact_id"] for a in by_run.json()["artifacts"]] == ["a1", "a2"]
    assert by_task.json() == {
        "artifacts": [
            {
                "artifact_id": "a1",
                "name": "out-a1",
                "uri": "mem://a1",
                "schema_title": "system.Dataset",
                "metadata": {"rows": 3},
                "run_id": "r1",
                "task_id": "t1",
                "created_at": CREATED_AT_JSON,
                "size_bytes": "5",
            }
        ]
    }
    request = fakes.recorder.last("ListArtifacts", artifacts_pb2.ListArtifactsRequest)
    assert request == artifacts_pb2.ListArtifactsRequest(
        run_id="r1", task_id="t1", page_size=5, page_token="p2"
    )


async def test_list_page_sizes_are_those_of_the_other_lists(
    http: httpx.AsyncClient, fakes: FakeBackends
) -> None:
    for given, sent in [(None, 0), ("0", 0), ("200", 200), ("201", 200), (str(2**40), 200)]:
        params = {} if given is None else {"page_size": given}
        response = await http.get(f"{API}/artifacts", params=params)
        assert response.status_code == 200, given
        assert fakes.recorder.last("ListArtifacts", artifacts_pb2.ListArtifactsRequest).page_size == sent

    for bad in ("-1", "ten", "1.5"):
        response = await http.get(f"{API}/artifacts", params={"page_size": bad})
        assert response.status_code == 400, bad
        assert response.json()["code"] == 3
        assert "page_size" in response.json()["message"]


async def test_an_artifact_is_got_by_id(http: httpx.AsyncClient, fakes: FakeBackends) -> None:
    _add(fakes, "a1", run_id="r1", task_id="t1", data=b"hello")

    response = await http.get(f"{API}/artifacts/a1")
    missing = await http.get(f"{API}/artifacts/nope")

    assert response.status_code == 200
    assert response.json()["name"] == "out-a1"
    assert response.json()["created_at"] == CREATED_AT_JSON
    assert missing.status_code == 404
    assert missing.json() == {
        "error": "artifact 'nope' not found",
        "code": 5,
        "message": "artifact 'nope' not found",
        "details": [],
    }


async def test_download_streams_the_bytes_as_an_attachment(
    http: httpx.AsyncClient, fakes: FakeBackends
) -> None:
    data = bytes(range(256)) * 100  # several download chunks
    fakes.artifacts.put("mem://model", data, artifact_id="a1", name="model.pkl")

    response = await http.get(f"{API}/artifacts/a1:download")

    assert response.status_code == 200
    assert response.content == data
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["content-disposition"] == 'attachment; filename="model.pkl"'
    assert response.headers["content-length"] == str(len(data))
    assert fakes.recorder.last("Download", artifacts_pb2.DownloadRequest).artifact_id == "a1"


async def test_download_names_the_file_safely(http: httpx.AsyncClient, fakes: FakeBackends) -> None:
    fakes.artifacts.put("mem://a1", b"x", artifact_id="a1", name='modèle "v2".csv')
    fakes.artifacts.put("mem://a2", b"y", artifact_id="a2")

    named = await http.get(f"{API}/artifacts/a1:download")
    unnamed = await http.get(f"{API}/artifacts/a2:download")

    assert named.headers["content-disposition"] == (
        "attachment; filename=\"mod_le__v2_.csv\"; filename*=utf-8''mod%C3%A8le%20%22v2%22.csv"
    )
    assert unnamed.headers["content-disposition"] == 'attachment; filename="a2"'


async def test_an_empty_or_unsized_artifact_downloads_without_a_length(
    http: httpx.AsyncClient, fakes: FakeBackends
) -> None:
    fakes.artifacts.put("mem://empty", b"", artifact_id="empty")
    fakes.artifacts.put("mem://unsized", b"abc", artifact_id="unsized")
    fakes.artifacts.artifacts["unsized"].size_bytes = 0  # as a record that never learnt its size

    empty = await http.get(f"{API}/artifacts/empty:download")
    unsized = await http.get(f"{API}/artifacts/unsized:download")

    assert (empty.status_code, empty.content) == (200, b"")
    assert (unsized.status_code, unsized.content) == (200, b"abc")
    assert "content-length" not in unsized.headers


async def test_downloading_what_is_missing_is_a_json_404(
    http: httpx.AsyncClient, fakes: FakeBackends
) -> None:
    fakes.artifacts.put("mem://gone", b"x", artifact_id="gone")
    del fakes.artifacts.objects["mem://gone"]  # the record outlived its bytes

    for artifact_id, message in [
        ("nope", "artifact 'nope' not found"),
        ("gone", "object 'mem://gone' not found"),
    ]:
        response = await http.get(f"{API}/artifacts/{artifact_id}:download")
        assert response.status_code == 404, artifact_id
        assert response.headers["content-type"] == "application/json"
        assert response.json()["message"] == message


async def test_a_download_streams_and_stops_when_the_client_goes(
    http: httpx.AsyncClient, fakes: FakeBackends
) -> None:
    # An endless artifact: buffering it whole would never answer.
    fakes.artifacts.put(fakes.artifacts.endless_uri, b"", artifact_id="endless")

    async with asyncio.timeout(10):
        async with http.stream("GET", f"{API}/artifacts/endless:download") as response:
            assert response.status_code == 200
            received = 0
            async for data in response.aiter_bytes():
                received += len(data)
                if received > 3 * fakes.artifacts.CHUNK:
                    break
        await fakes.artifacts.download_cancelled.wait()
