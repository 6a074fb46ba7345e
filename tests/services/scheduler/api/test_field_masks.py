from __future__ import annotations

import pytest
from google.protobuf import field_mask_pb2, timestamp_pb2
from sluice.v1 import pipelines_pb2

from services.core.errors import InvalidArgument
from services.scheduler.api.field_masks import check_unchanged, is_set, updated_fields

MUTABLE = frozenset({"display_name", "description", "tags"})


def _mask(*paths: str) -> field_mask_pb2.FieldMask:
    return field_mask_pb2.FieldMask(paths=paths)


def test_an_empty_mask_means_the_mutable_fields_set() -> None:
    message = pipelines_pb2.Pipeline(pipeline_id="p", name="n", description="d", tags={"a": "b"})

    assert updated_fields(message, _mask(), mutable=MUTABLE) == {"description", "tags"}
    assert updated_fields(pipelines_pb2.Pipeline(), _mask(), mutable=MUTABLE) == set()


def test_a_mask_names_the_fields_even_at_their_default() -> None:
    assert updated_fields(pipelines_pb2.Pipeline(), _mask("tags", "description"), mutable=MUTABLE) == {
        "tags",
        "description",
    }


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("name", "Pipeline.name cannot be updated (only description, display_name and tags can)"),
        ("nope", "Pipeline has no field 'nope'"),
        ("displayName", "Pipeline has no field 'displayName'"),
    ],
)
def test_a_mask_path_outside_the_mutable_fields_is_refused(path: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as raised:
        updated_fields(pipelines_pb2.Pipeline(), _mask("display_name", path), mutable=MUTABLE)

    assert message in raised.value.message
    assert raised.value.field == path


def test_is_set_uses_presence_for_messages_and_defaults_for_the_rest() -> None:
    message = pipelines_pb2.PipelineVersion(
        created_at=timestamp_pb2.Timestamp(), package_url=pipelines_pb2.Url()
    )

    assert is_set(message, "created_at")
    assert is_set(message, "package_url")
    assert not is_set(message, "pipeline_spec")
    assert not is_set(message, "name")
    assert not is_set(message, "tags")


def test_fixed_fields_may_repeat_the_stored_values() -> None:
    stored = pipelines_pb2.Pipeline(pipeline_id="p", name="n", namespace="ns", tags={"a": "b"})
    stored.created_at.FromSeconds(10)
    same = pipelines_pb2.Pipeline()
    same.CopyFrom(stored)
    same.display_name = "changed"
    same.tags["c"] = "d"

    check_unchanged(same, stored, mutable=MUTABLE)
    check_unchanged(pipelines_pb2.Pipeline(pipeline_id="p"), stored, mutable=MUTABLE)


@pytest.mark.parametrize(
    ("given", "name"),
    [
        (pipelines_pb2.Pipeline(pipeline_id="p", name="m"), "name"),
        (pipelines_pb2.Pipeline(pipeline_id="p", namespace="other"), "namespace"),
        (
            pipelines_pb2.Pipeline(pipeline_id="p", created_at=timestamp_pb2.Timestamp(seconds=11)),
            "created_at",
        ),
    ],
    ids=["name", "namespace", "created_at"],
)
def test_fixed_fields_may_not_change(given: pipelines_pb2.Pipeline, name: str) -> None:
    stored = pipelines_pb2.Pipeline(pipeline_id="p", name="n", namespace="ns")
    stored.created_at.FromSeconds(10)

    with pytest.raises(InvalidArgument) as raised:
        check_unchanged(given, stored, mutable=MUTABLE)

    assert raised.value.field == name
    assert f"Pipeline.{name} cannot be changed" in raised.value.message
