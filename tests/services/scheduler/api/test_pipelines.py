from __future__ import annotations

from typing import Any

import grpc
import pytest
from google.protobuf import field_mask_pb2
from sluice.v1 import pipelines_pb2

from services.scheduler.api import MAX_PACKAGE_BYTES, convert
from tests.services.scheduler.api.harness import Api
from tests.services.scheduler.api.kfp_pipelines import (
    pipeline_dict,
    pipeline_json,
    pipeline_yaml,
    tar_gz_package,
    zip_package,
)
from tests.services.scheduler.api.rpc import expect_error

BROKEN_SPEC = pipeline_yaml().replace("name: comp-add", "name: comp-missing")


async def _pipeline_count(api: Api) -> int:
    listing = await api.pipelines.ListPipelines(pipelines_pb2.ListPipelinesRequest())
    return listing.total_size


@pytest.mark.parametrize(
    ("filename", "package"),
    [
        ("adder.yaml", pipeline_yaml().encode()),
        ("adder.json", pipeline_json()),
        ("adder.zip", zip_package({"pipeline.yaml": pipeline_yaml()})),
        ("adder.tar.gz", tar_gz_package({"pipeline.yaml": pipeline_yaml()})),
    ],
)
async def test_upload_creates_pipeline_and_first_version(api: Api, filename: str, package: bytes) -> None:
    version = await api.pipelines.UploadPipeline(
        pipelines_pb2.UploadPipelineRequest(package=package, filename=filename, tags={"team": "ml"})
    )
    assert version.name == "adder"
    assert version.display_name == "adder"
    assert version.description == "Adds two numbers."
    assert convert.from_struct(version.pipeline_spec) == pipeline_dict()
    pipeline = await api.pipelines.GetPipeline(
        pipelines_pb2.GetPipelineRequest(pipeline_id=version.pipeline_id)
    )
    assert (pipeline.name, pipeline.display_name) == ("adder", "adder")
    assert dict(pipeline.tags) == {"team": "ml"}
    by_name = await api.pipelines.GetPipelineByName(pipelines_pb2.GetPipelineByNameRequest(name="adder"))
    assert by_name.pipeline_id == pipeline.pipeline_id
    stored = await api.pipelines.GetPipelineVersion(
        pipelines_pb2.GetPipelineVersionRequest(
            pipeline_id=pipeline.pipeline_id, pipeline_version_id=version.pipeline_version_id
        )
    )
    assert stored == version


async def test_upload_names(api: Api) -> None:
    version = await api.pipelines.UploadPipeline(
        pipelines_pb2.UploadPipelineRequest(
            package=pipeline_yaml().encode(), filename="ignored.yaml", display_name="Nice Name"
        )
    )
    assert (version.name, version.display_name) == ("Nice Name", "Nice Name")
    version = await api.pipelines.UploadPipeline(
        pipelines_pb2.UploadPipelineRequest(package=pipeline_yaml().encode(), name="n", description="mine")
    )
    assert (version.name, version.display_name, version.description) == ("n", "n", "mine")
    version = await api.pipelines.UploadPipeline(
        pipelines_pb2.UploadPipelineRequest(package=pipeline_yaml("greeter").encode())
    )
    assert version.name == "greeter"  # no name, no filename: the pipeline's own name


async def test_upload_new_version(api: Api) -> None:
    first = await api.pipelines.UploadPipeline(
        pipelines_pb2.UploadPipelineRequest(package=pipeline_yaml().encode(), filename="adder.yaml")
    )
    second = await api.pipelines.UploadPipeline(
        pipelines_pb2.UploadPipelineRequest(
            package=pipeline_yaml("greeter").encode(), filename="v2.yaml", pipeline_id=first.pipeline_id
        )
    )
    assert second.pipeline_id == first.pipeline_id
    assert second.name == "v2"
    versions = await api.pipelines.ListPipelineVersions(
        pipelines_pb2.ListPipelineVersionsRequest(pipeline_id=first.pipeline_id)
    )
    assert {v.name for v in versions.pipeline_versions} == {"adder", "v2"}
    await expect_error(
        api.pipelines.UploadPipeline(
            pipelines_pb2.UploadPipelineRequest(
                package=pipeline_yaml().encode(), filename="v2.yaml", pipeline_id=first.pipeline_id
            )
        ),
        grpc.StatusCode.ALREADY_EXISTS,
    )
    await expect_error(
        api.pipelines.UploadPipeline(
            pipelines_pb2.UploadPipelineRequest(package=pipeline_yaml().encode(), pipeline_id="nope")
        ),
        grpc.StatusCode.NOT_FOUND,
    )


async def test_duplicate_pipeline_name(api: Api) -> None:
    request = pipelines_pb2.UploadPipelineRequest(package=pipeline_yaml().encode(), filename="adder.yaml")
    await api.pipelines.UploadPipeline(request)
    await expect_error(api.pipelines.UploadPipeline(request), grpc.StatusCode.ALREADY_EXISTS)
    await expect_error(
        api.pipelines.CreatePipeline(
            pipelines_pb2.CreatePipelineRequest(pipeline=pipelines_pb2.Pipeline(display_name="adder"))
        ),
        grpc.StatusCode.ALREADY_EXISTS,
    )
    assert await _pipeline_count(api) == 1


async def test_bad_spec_stores_nothing(api: Api) -> None:
    details = await expect_error(
        api.pipelines.UploadPipeline(
            pipelines_pb2.UploadPipelineRequest(package=BROKEN_SPEC.encode(), filename="broken.yaml")
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert "comp-missing" in details
    await expect_error(
        api.pipelines.CreatePipelineAndVersion(
            pipelines_pb2.CreatePipelineAndVersionRequest(
                pipeline=pipelines_pb2.Pipeline(name="broken"),
                pipeline_version=pipelines_pb2.PipelineVersion(
                    name="v1", pipeline_spec=convert.to_struct({"pipelineInfo": {"name": "x"}})
                ),
            )
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    await expect_error(
        api.pipelines.UploadPipeline(pipelines_pb2.UploadPipelineRequest(package=b"\x00\xff garbage")),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert await _pipeline_count(api) == 0


async def test_oversize_upload(api: Api) -> None:
    details = await expect_error(
        api.pipelines.UploadPipeline(
            pipelines_pb2.UploadPipelineRequest(package=b" " * (MAX_PACKAGE_BYTES + 1), filename="big.yaml")
        ),
        grpc.StatusCode.RESOURCE_EXHAUSTED,
    )
    assert f"limit of {MAX_PACKAGE_BYTES} bytes" in details
    assert await _pipeline_count(api) == 0


async def test_zip_with_path_traversal(api: Api) -> None:
    details = await expect_error(
        api.pipelines.UploadPipeline(
            pipelines_pb2.UploadPipelineRequest(package=zip_package({"../evil.yaml": pipeline_yaml()}))
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert "../evil.yaml" in details
    assert await _pipeline_count(api) == 0


async def test_create_pipeline_names_default_to_each_other(api: Api) -> None:
    created = await api.pipelines.CreatePipeline(
        pipelines_pb2.CreatePipelineRequest(pipeline=pipelines_pb2.Pipeline(display_name="Shown"))
    )
    assert (created.name, created.display_name) == ("Shown", "Shown")
    created = await api.pipelines.CreatePipeline(
        pipelines_pb2.CreatePipelineRequest(pipeline=pipelines_pb2.Pipeline(name="named", description="d"))
    )
    assert (created.name, created.display_name, created.description) == ("named", "named", "d")
    assert created.pipeline_id
    assert created.HasField("created_at")
    await expect_error(
        api.pipelines.CreatePipeline(pipelines_pb2.CreatePipelineRequest(pipeline=pipelines_pb2.Pipeline())),
        grpc.StatusCode.INVALID_ARGUMENT,
    )


async def test_versions_crud(api: Api) -> None:
    pipeline = await api.pipelines.CreatePipelineAndVersion(
        pipelines_pb2.CreatePipelineAndVersionRequest(
            pipeline=pipelines_pb2.Pipeline(name="p"),
            pipeline_version=pipelines_pb2.PipelineVersion(pipeline_spec=convert.to_struct(pipeline_dict())),
        )
    )
    versions = await api.pipelines.ListPipelineVersions(
        pipelines_pb2.ListPipelineVersionsRequest(pipeline_id=pipeline.pipeline_id)
    )
    assert [v.name for v in versions.pipeline_versions] == ["p"]
    await expect_error(
        api.pipelines.CreatePipelineVersion(
            pipelines_pb2.CreatePipelineVersionRequest(
                pipeline_id=pipeline.pipeline_id, pipeline_version=pipelines_pb2.PipelineVersion(name="v2")
            )
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    spec = {"pipeline_spec": pipeline_dict("greeter"), "platform_spec": {"platforms": {"kubernetes": {}}}}
    v2 = await api.pipelines.CreatePipelineVersion(
        pipelines_pb2.CreatePipelineVersionRequest(
            pipeline_id=pipeline.pipeline_id,
            pipeline_version=pipelines_pb2.PipelineVersion(
                display_name="Version 2", pipeline_spec=convert.to_struct(spec)
            ),
        )
    )
    assert (v2.name, v2.display_name) == ("Version 2", "Version 2")
    assert convert.from_struct(v2.pipeline_spec) == spec
    await expect_error(
        api.pipelines.GetPipelineVersion(
            pipelines_pb2.GetPipelineVersionRequest(
                pipeline_id="other", pipeline_version_id=v2.pipeline_version_id
            )
        ),
        grpc.StatusCode.NOT_FOUND,
    )
    await api.pipelines.DeletePipelineVersion(
        pipelines_pb2.DeletePipelineVersionRequest(
            pipeline_id=pipeline.pipeline_id, pipeline_version_id=v2.pipeline_version_id
        )
    )
    await expect_error(
        api.pipelines.GetPipelineVersion(
            pipelines_pb2.GetPipelineVersionRequest(pipeline_version_id=v2.pipeline_version_id)
        ),
        grpc.StatusCode.NOT_FOUND,
    )
    await expect_error(
        api.pipelines.ListPipelineVersions(pipelines_pb2.ListPipelineVersionsRequest(pipeline_id="nope")),
        grpc.StatusCode.NOT_FOUND,
    )


async def test_delete_pipeline_cascade(api: Api) -> None:
    version = await api.pipelines.UploadPipeline(
        pipelines_pb2.UploadPipelineRequest(package=pipeline_yaml().encode(), filename="adder.yaml")
    )
    await expect_error(
        api.pipelines.DeletePipeline(pipelines_pb2.DeletePipelineRequest(pipeline_id=version.pipeline_id)),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    await api.pipelines.DeletePipeline(
        pipelines_pb2.DeletePipelineRequest(pipeline_id=version.pipeline_id, cascade=True)
    )
    assert await _pipeline_count(api) == 0
    await expect_error(
        api.pipelines.GetPipelineVersion(
            pipelines_pb2.GetPipelineVersionRequest(pipeline_version_id=version.pipeline_version_id)
        ),
        grpc.StatusCode.NOT_FOUND,
    )


async def test_list_pipelines_pages_sorts_and_filters(api: Api) -> None:
    for name in ["c", "a", "b", "d", "e"]:
        await api.pipelines.CreatePipeline(
            pipelines_pb2.CreatePipelineRequest(pipeline=pipelines_pb2.Pipeline(name=name))
        )
    names: list[str] = []
    token = ""
    pages = 0
    while True:
        page = await api.pipelines.ListPipelines(
            pipelines_pb2.ListPipelinesRequest(page_size=2, page_token=token, sort_by="name desc")
        )
        assert page.total_size == 5
        names += [p.name for p in page.pipelines]
        pages += 1
        token = page.next_page_token
        if not token:
            break
    assert names == ["e", "d", "c", "b", "a"]
    assert pages == 3
    filtered = await api.pipelines.ListPipelines(
        pipelines_pb2.ListPipelinesRequest(
            filter='{"predicates":[{"key":"name","operation":"IN","stringValues":{"values":["a","e"]}}]}'
        )
    )
    assert sorted(p.name for p in filtered.pipelines) == ["a", "e"]
    await expect_error(
        api.pipelines.ListPipelines(pipelines_pb2.ListPipelinesRequest(sort_by="bogus")),
        grpc.StatusCode.INVALID_ARGUMENT,
    )


# --- updates ---------------------------------------------------------------------------------


async def _pipeline_with_version(api: Api) -> tuple[pipelines_pb2.Pipeline, pipelines_pb2.PipelineVersion]:
    pipeline = await api.pipelines.CreatePipelineAndVersion(
        pipelines_pb2.CreatePipelineAndVersionRequest(
            pipeline=pipelines_pb2.Pipeline(name="p", display_name="P", description="d", tags={"a": "1"}),
            pipeline_version=pipelines_pb2.PipelineVersion(
                name="v1",
                description="first",
                code_source_url="https://example.invalid/v1",
                tags={"stage": "dev"},
                pipeline_spec=convert.to_struct(pipeline_dict()),
            ),
        )
    )
    versions = await api.pipelines.ListPipelineVersions(
        pipelines_pb2.ListPipelineVersionsRequest(pipeline_id=pipeline.pipeline_id)
    )
    return pipeline, versions.pipeline_versions[0]


def _mask(*paths: str) -> field_mask_pb2.FieldMask:
    return field_mask_pb2.FieldMask(paths=paths)


async def test_update_pipeline_changes_what_the_mask_names(api: Api) -> None:
    pipeline, _ = await _pipeline_with_version(api)
    changes = pipelines_pb2.Pipeline(pipeline_id=pipeline.pipeline_id, display_name=" New ", description="")

    renamed = await api.pipelines.UpdatePipeline(
        pipelines_pb2.UpdatePipelineRequest(pipeline=changes, update_mask=_mask("display_name"))
    )
    # The mask says display_name: the description is left as it is.
    expected = pipelines_pb2.Pipeline()
    expected.CopyFrom(pipeline)
    expected.display_name = "New"
    assert renamed == expected

    cleared = await api.pipelines.UpdatePipeline(
        pipelines_pb2.UpdatePipelineRequest(pipeline=changes, update_mask=_mask("description", "tags"))
    )
    expected.ClearField("description")
    expected.ClearField("tags")
    assert cleared == expected
    stored = await api.pipelines.GetPipeline(
        pipelines_pb2.GetPipelineRequest(pipeline_id=pipeline.pipeline_id)
    )
    assert stored == expected
    listed = await api.pipelines.ListPipelines(
        pipelines_pb2.ListPipelinesRequest(
            filter='{"predicates":[{"key":"display_name","operation":"EQUALS","string_value":"New"}]}'
        )
    )
    assert list(listed.pipelines) == [expected]


async def test_update_pipeline_without_a_mask_changes_the_fields_given(api: Api) -> None:
    pipeline, _ = await _pipeline_with_version(api)

    tagged = await api.pipelines.UpdatePipeline(
        pipelines_pb2.UpdatePipelineRequest(
            pipeline=pipelines_pb2.Pipeline(pipeline_id=pipeline.pipeline_id, tags={"b": "2"})
        )
    )
    assert (tagged.display_name, tagged.description, dict(tagged.tags)) == ("P", "d", {"b": "2"})

    # Read, modify, send it all back: the unchanged fixed fields are accepted.
    tagged.description = "about"
    tagged.display_name = "Q"
    updated = await api.pipelines.UpdatePipeline(pipelines_pb2.UpdatePipelineRequest(pipeline=tagged))
    assert updated == tagged


async def test_update_pipeline_version(api: Api) -> None:
    pipeline, version = await _pipeline_with_version(api)
    changes = pipelines_pb2.PipelineVersion(
        pipeline_id=pipeline.pipeline_id,
        pipeline_version_id=version.pipeline_version_id,
        code_source_url="https://example.invalid/v1-fixed",
        display_name="v1 (stable)",
    )

    updated = await api.pipelines.UpdatePipelineVersion(
        pipelines_pb2.UpdatePipelineVersionRequest(pipeline_version=changes)
    )

    expected = pipelines_pb2.PipelineVersion()
    expected.CopyFrom(version)
    expected.code_source_url = "https://example.invalid/v1-fixed"
    expected.display_name = "v1 (stable)"
    assert updated == expected
    changes.tags["stage"] = "prod"
    updated = await api.pipelines.UpdatePipelineVersion(
        pipelines_pb2.UpdatePipelineVersionRequest(
            pipeline_version=changes, update_mask=_mask("tags", "description")
        )
    )
    expected.tags["stage"] = "prod"
    expected.ClearField("description")
    assert updated == expected
    stored = await api.pipelines.GetPipelineVersion(
        pipelines_pb2.GetPipelineVersionRequest(
            pipeline_id=pipeline.pipeline_id, pipeline_version_id=version.pipeline_version_id
        )
    )
    assert stored == expected
    # The whole version sent back, spec included, with one change.
    stored.description = "again"
    assert (
        await api.pipelines.UpdatePipelineVersion(
            pipelines_pb2.UpdatePipelineVersionRequest(pipeline_version=stored)
        )
        == stored
    )


@pytest.mark.parametrize(
    ("mask", "changes", "named"),
    [
        (["name"], {}, "Pipeline.name cannot be updated"),
        (["display_name", "bogus"], {}, "no field 'bogus'"),
        (["tags.a"], {}, "no field 'tags.a'"),
        ([], {"name": "other"}, "Pipeline.name cannot be changed"),
        ([], {"namespace": "team-b"}, "Pipeline.namespace cannot be changed"),
        (["display_name"], {"display_name": "  "}, "display_name cannot be empty"),
    ],
)
async def test_update_pipeline_refuses_other_fields(
    api: Api, mask: list[str], changes: dict[str, Any], named: str
) -> None:
    pipeline, _ = await _pipeline_with_version(api)
    given = pipelines_pb2.Pipeline(pipeline_id=pipeline.pipeline_id, description="changed", **changes)

    details = await expect_error(
        api.pipelines.UpdatePipeline(
            pipelines_pb2.UpdatePipelineRequest(pipeline=given, update_mask=_mask(*mask))
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )

    assert named in details
    stored = await api.pipelines.GetPipeline(
        pipelines_pb2.GetPipelineRequest(pipeline_id=pipeline.pipeline_id)
    )
    assert stored == pipeline


async def test_update_pipeline_version_refuses_fixed_fields(api: Api) -> None:
    pipeline, version = await _pipeline_with_version(api)
    ids: dict[str, Any] = {
        "pipeline_id": pipeline.pipeline_id,
        "pipeline_version_id": version.pipeline_version_id,
    }
    refused = [
        (pipelines_pb2.PipelineVersion(**ids, name="v2"), "PipelineVersion.name cannot be changed"),
        (
            pipelines_pb2.PipelineVersion(**ids, pipeline_spec=convert.to_struct(pipeline_dict("greeter"))),
            "PipelineVersion.pipeline_spec cannot be changed",
        ),
        (
            pipelines_pb2.PipelineVersion(
                **ids, package_url=pipelines_pb2.Url(pipeline_url="https://x.invalid")
            ),
            "PipelineVersion.package_url cannot be changed",
        ),
    ]
    for given, named in refused:
        details = await expect_error(
            api.pipelines.UpdatePipelineVersion(
                pipelines_pb2.UpdatePipelineVersionRequest(pipeline_version=given)
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
        )
        assert named in details
    details = await expect_error(
        api.pipelines.UpdatePipelineVersion(
            pipelines_pb2.UpdatePipelineVersionRequest(
                pipeline_version=pipelines_pb2.PipelineVersion(**ids), update_mask=_mask("pipeline_spec")
            )
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert "PipelineVersion.pipeline_spec cannot be updated" in details
    stored = await api.pipelines.GetPipelineVersion(pipelines_pb2.GetPipelineVersionRequest(**ids))
    assert stored == version


async def test_update_of_unknown_or_unnamed_resources(api: Api) -> None:
    pipeline, version = await _pipeline_with_version(api)
    other = await api.pipelines.CreatePipeline(
        pipelines_pb2.CreatePipelineRequest(pipeline=pipelines_pb2.Pipeline(name="other"))
    )

    await expect_error(
        api.pipelines.UpdatePipeline(
            pipelines_pb2.UpdatePipelineRequest(pipeline=pipelines_pb2.Pipeline(pipeline_id="nope", name="x"))
        ),
        grpc.StatusCode.NOT_FOUND,
    )
    for pipeline_id, version_id in (
        (other.pipeline_id, version.pipeline_version_id),
        (pipeline.pipeline_id, "nope"),
    ):
        given = pipelines_pb2.PipelineVersion(
            pipeline_id=pipeline_id, pipeline_version_id=version_id, display_name="hijacked"
        )
        await expect_error(
            api.pipelines.UpdatePipelineVersion(
                pipelines_pb2.UpdatePipelineVersionRequest(pipeline_version=given)
            ),
            grpc.StatusCode.NOT_FOUND,
        )
    details = await expect_error(
        api.pipelines.UpdatePipeline(pipelines_pb2.UpdatePipelineRequest()), grpc.StatusCode.INVALID_ARGUMENT
    )
    assert "pipeline_id" in details
    details = await expect_error(
        api.pipelines.UpdatePipelineVersion(
            pipelines_pb2.UpdatePipelineVersionRequest(
                pipeline_version=pipelines_pb2.PipelineVersion(pipeline_id=pipeline.pipeline_id)
            )
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert "pipeline_version_id" in details
