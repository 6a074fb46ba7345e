"""Pipelines and versions through `sluice.Client`, over both transports."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml
from sluice.client import Client, errors
from sluice.compiler import Compiler, compile_package, to_yaml

from tests.sdk.client.conftest import unique
from tests.sdk.client.pipelines import add_pipeline, failing_pipeline


def test_pipelines_are_uploaded_from_functions_and_files_with_versions(
    client: Client, tmp_path: Path
) -> None:
    name = unique("pipe")
    pipeline = client.upload_pipeline(add_pipeline, name=name, description="adds", tags={"team": "sdk"})

    assert pipeline.display_name == name
    assert pipeline.description == "adds"
    assert client.get_pipeline(pipeline.pipeline_id) == pipeline
    assert client.get_pipeline_by_name(name) == pipeline
    assert [p.pipeline_id for p in client.list_pipelines(display_name__contains=name)] == [
        pipeline.pipeline_id
    ]

    package = tmp_path / "fail.yaml"
    Compiler().compile(failing_pipeline, package)
    version = client.upload_pipeline_version(package, pipeline_id=pipeline.pipeline_id, name=unique("v2"))
    assert version.pipeline_id == pipeline.pipeline_id

    versions = client.list_pipeline_versions(pipeline.pipeline_id, sort_by="created_at")
    assert len(versions) == 2
    assert versions.items[1] == version
    fetched = client.get_pipeline_version(pipeline.pipeline_id, version.pipeline_version_id)
    assert fetched.pipeline_spec["pipelineInfo"]["name"] == "client-fail"

    client.delete_pipeline_version(pipeline.pipeline_id, version.pipeline_version_id)
    assert len(client.list_pipeline_versions(pipeline.pipeline_id)) == 1
    client.delete_pipeline(pipeline.pipeline_id, cascade=True)
    with pytest.raises(errors.NotFound):
        client.get_pipeline(pipeline.pipeline_id)


def test_upload_errors_carry_the_server_message(client: Client, tmp_path: Path) -> None:
    name = unique("pipe")
    client.upload_pipeline(add_pipeline, name=name)
    with pytest.raises(errors.AlreadyExists):
        client.upload_pipeline(add_pipeline, name=name)

    broken = tmp_path / "broken.yaml"
    spec = yaml.safe_load(to_yaml(compile_package(add_pipeline)))
    spec["root"]["dag"]["tasks"]["add"]["componentRef"]["name"] = "comp-missing"
    broken.write_text(yaml.safe_dump(spec))
    with pytest.raises(errors.InvalidArgument, match="comp-missing"):
        client.upload_pipeline(broken, name=unique("broken"))
    with pytest.raises(errors.InvalidArgument, match="comp-missing"):
        client.run_pipeline(broken)


def test_pipelines_and_versions_are_updated(client: Client) -> None:
    name = unique("pipe")
    pipeline = client.upload_pipeline(add_pipeline, name=name, description="adds", tags={"team": "sdk"})
    (version,) = client.list_pipeline_versions(pipeline.pipeline_id).items

    renamed = client.update_pipeline(pipeline.pipeline_id, display_name="Adder")
    assert renamed == dataclasses.replace(pipeline, display_name="Adder")
    cleared = client.update_pipeline(pipeline.pipeline_id, description="", tags={})
    assert cleared == dataclasses.replace(renamed, description="", tags={})
    assert client.get_pipeline(pipeline.pipeline_id) == cleared
    assert client.update_pipeline(pipeline.pipeline_id) == cleared

    updated = client.update_pipeline_version(
        pipeline.pipeline_id,
        version.pipeline_version_id,
        display_name="v1 (stable)",
        code_source_url="https://example.invalid/add.py",
        tags={"stage": "prod"},
    )
    assert updated == dataclasses.replace(
        version,
        display_name="v1 (stable)",
        code_source_url="https://example.invalid/add.py",
        tags={"stage": "prod"},
    )
    assert client.get_pipeline_version(pipeline.pipeline_id, version.pipeline_version_id) == updated

    with pytest.raises(errors.InvalidArgument, match="display_name"):
        client.update_pipeline(pipeline.pipeline_id, display_name=" ")
    with pytest.raises(errors.NotFound):
        client.update_pipeline(unique("absent"), description="x")
    with pytest.raises(errors.NotFound):
        client.update_pipeline_version(unique("absent"), version.pipeline_version_id, description="x")
    client.delete_pipeline(pipeline.pipeline_id, cascade=True)
