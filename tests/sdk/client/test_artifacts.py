"""Artifacts through `sluice.Client`: records and bytes, over gRPC and over HTTP (which
downloads by artifact id only), on a live server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sluice.client import Client, Run, errors

from tests.fixtures.sluice_server import RunningSluice
from tests.sdk.client.pipelines import add_pipeline


@pytest.fixture(scope="module")
def measured(sluice_server: RunningSluice) -> Iterator[Run]:
    """A finished run of `add_pipeline`, whose `measure` task made a Dataset and Metrics."""
    with Client(sluice_server.grpc_address, timeout=30) as client:
        yield client.wait(client.run_pipeline(add_pipeline, {"a": 20, "b": 1}).run_id, timeout=60)


def test_artifacts_are_listed_with_their_metrics_and_downloaded(
    client: Client, measured: Run, tmp_path: Path
) -> None:
    run = measured

    artifacts = {a.name: a for a in client.list_artifacts(run_id=run.run_id)}

    assert set(artifacts) == {"data", "metrics"}
    metrics = artifacts["metrics"]
    assert metrics.schema_title == "system.Metrics"
    assert dict(metrics.metadata) == {"x": 21, "double": 42}
    assert metrics.task_id == run.task("measure").task_id
    assert metrics.run_id == run.run_id
    data = artifacts["data"]
    assert data.schema_title == "system.Dataset"
    assert data.size_bytes == len("x=21\n")
    assert client.get_artifact(data.artifact_id) == data
    assert run.task("measure").output_artifacts["data"] == (data.artifact_id,)
    by_task = client.list_artifacts(run_id=run.run_id, task_id=run.task("measure").task_id)
    assert {a.name for a in by_task} == {"data", "metrics"}
    first = client.list_artifacts(run_id=run.run_id, page_size=1)
    assert len(first.items) == 1
    assert first.next_page_token

    into_folder = client.download_artifact(data, tmp_path)
    assert into_folder == tmp_path / "data"
    assert into_folder.read_text() == "x=21\n"
    by_id = client.download_artifact(data.artifact_id, tmp_path / "by-id.txt")
    assert by_id.read_text() == "x=21\n"
    (tmp_path / "folder").mkdir()
    by_id_into_folder = client.download_artifact(data.artifact_id, tmp_path / "folder")
    assert by_id_into_folder == tmp_path / "folder" / "data"


def test_grpc_downloads_by_uri_too(grpc_client: Client, measured: Run, tmp_path: Path) -> None:
    data = next(a for a in grpc_client.list_artifacts(run_id=measured.run_id) if a.name == "data")

    by_uri = grpc_client.download_artifact(data.uri, tmp_path / "by-uri.txt")

    assert by_uri.read_text() == "x=21\n"


def test_http_refuses_to_download_by_uri_and_leaves_no_file(
    sluice_server: RunningSluice, measured: Run, tmp_path: Path
) -> None:
    with Client(sluice_server.http_url, timeout=30) as client:
        data = next(a for a in client.list_artifacts(run_id=measured.run_id) if a.name == "data")
        with pytest.raises(errors.Unimplemented, match="by id only") as refused:
            client.download_artifact(data.uri, tmp_path / "by-uri.txt")

    assert "gRPC" in refused.value.message
    assert list(tmp_path.iterdir()) == []


def test_missing_artifacts_are_not_found_and_leave_no_file(client: Client, tmp_path: Path) -> None:
    with pytest.raises(errors.NotFound):
        client.get_artifact("0" * 32)
    with pytest.raises(errors.NotFound):
        client.download_artifact("0" * 32, tmp_path / "never.txt")
    with pytest.raises(errors.NotFound):
        client.download_artifact("0" * 32, tmp_path)
    assert list(tmp_path.iterdir()) == []
