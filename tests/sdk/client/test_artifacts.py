"""Artifacts through `sluice.Client`: records and bytes over gRPC; the HTTP API has none."""

from __future__ import annotations

from pathlib import Path

import pytest
from sluice.client import Client, errors

from tests.fixtures.sluice_server import RunningSluice
from tests.sdk.client.pipelines import add_pipeline


def test_artifacts_are_listed_with_their_metrics_and_downloaded(grpc_client: Client, tmp_path: Path) -> None:
    run = grpc_client.wait(grpc_client.run_pipeline(add_pipeline, {"a": 20, "b": 1}).run_id, timeout=60)

    artifacts = {a.name: a for a in grpc_client.list_artifacts(run_id=run.run_id)}

    assert set(artifacts) == {"data", "metrics"}
    metrics = artifacts["metrics"]
    assert metrics.schema_title == "system.Metrics"
    assert dict(metrics.metadata) == {"x": 21, "double": 42}
    assert metrics.task_id == run.task("measure").task_id
    assert metrics.run_id == run.run_id
    data = artifacts["data"]
    assert data.schema_title == "system.Dataset"
    assert data.size_bytes == len("x=21\n")
    assert grpc_client.get_artifact(data.artifact_id) == data
    assert run.task("measure").output_artifacts["data"] == (data.artifact_id,)
    by_task = grpc_client.list_artifacts(run_id=run.run_id, task_id=run.task("measure").task_id)
    assert {a.name for a in by_task} == {"data", "metrics"}

    into_folder = grpc_client.download_artifact(data, tmp_path)
    assert into_folder == tmp_path / "data"
    assert into_folder.read_text() == "x=21\n"
    by_id = grpc_client.download_artifact(data.artifact_id, tmp_path / "by-id.txt")
    by_uri = grpc_client.download_artifact(data.uri, tmp_path / "by-uri.txt")
    assert by_id.read_text() == by_uri.read_text() == "x=21\n"


def test_missing_artifacts_are_not_found_and_leave_no_file(grpc_client: Client, tmp_path: Path) -> None:
    with pytest.raises(errors.NotFound):
        grpc_client.get_artifact("0" * 32)
    with pytest.raises(errors.NotFound):
        grpc_client.download_artifact("0" * 32, tmp_path / "never.txt")
    assert list(tmp_path.iterdir()) == []


def test_the_http_transport_says_artifacts_need_grpc(sluice_server: RunningSluice, tmp_path: Path) -> None:
    with Client(sluice_server.http_url) as client:
        with pytest.raises(errors.Unimplemented, match="gRPC"):
            client.list_artifacts(run_id="any")
        with pytest.raises(errors.Unimplemented, match="gRPC"):
            client.get_artifact("any")
        with pytest.raises(errors.Unimplemented, match="gRPC"):
            client.download_artifact("any", tmp_path / "x")
