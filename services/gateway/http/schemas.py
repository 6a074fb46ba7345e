"""Pydantic models of the REST API's JSON, for the OpenAPI document.

The resource models are derived from the protobuf descriptors, so the document follows
the protos: snake_case names, enums as their names, 64-bit integers as strings,
timestamps as RFC 3339 strings (the protobuf JSON mapping KFP's REST API uses).
Responses are rendered from the protobuf messages by `json_format`, never through these
models; they only describe the wire format.
"""

from __future__ import annotations

from typing import Annotated, Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, create_model
from sluice.v1 import (
    events_pb2,
    experiments_pb2,
    pipelines_pb2,
    recurring_runs_pb2,
    runs_pb2,
)


def _string(fmt: str) -> Any:
    return Annotated[str, WithJsonSchema({"type": "string", "format": fmt})]


_WELL_KNOWN: dict[str, Any] = {
    "google.protobuf.Timestamp": _string("date-time"),
    "google.protobuf.Duration": str,
    "google.protobuf.Struct": dict[str, Any],
    "google.protobuf.Value": Any,
    "google.protobuf.ListValue": list[Any],
}

_64_BIT = _string("int64")
_SCALARS: dict[int, Any] = {
    FieldDescriptor.TYPE_STRING: str,
    FieldDescriptor.TYPE_BOOL: bool,
    FieldDescriptor.TYPE_DOUBLE: float,
    FieldDescriptor.TYPE_FLOAT: float,
    FieldDescriptor.TYPE_INT32: int,
    FieldDescriptor.TYPE_SINT32: int,
    FieldDescriptor.TYPE_SFIXED32: int,
    FieldDescriptor.TYPE_UINT32: int,
    FieldDescriptor.TYPE_FIXED32: int,
    FieldDescriptor.TYPE_INT64: _64_BIT,
    FieldDescriptor.TYPE_SINT64: _64_BIT,
    FieldDescriptor.TYPE_SFIXED64: _64_BIT,
    FieldDescriptor.TYPE_UINT64: _64_BIT,
    FieldDescriptor.TYPE_FIXED64: _64_BIT,
    FieldDescriptor.TYPE_BYTES: _string("byte"),
}

_MODELS: dict[str, type[BaseModel]] = {}


def _single_type(field: FieldDescriptor) -> Any:
    if field.enum_type is not None:
        names = [value.name for value in field.enum_type.values]
        return Annotated[str, WithJsonSchema({"type": "string", "enum": names})]
    if field.message_type is not None:
        return _WELL_KNOWN.get(field.message_type.full_name) or model_of(field.message_type)
    return _SCALARS[field.type]


def _field_type(field: FieldDescriptor) -> Any:
    message = field.message_type
    if message is not None and message.GetOptions().map_entry:
        return dict[str, _single_type(message.fields_by_name["value"])]  # type: ignore[misc]
    if field.is_repeated:
        return list[_single_type(field)]  # type: ignore[misc]
    return _single_type(field)


def model_of(descriptor: Descriptor) -> type[BaseModel]:
    """The pydantic model of a message's JSON (every field optional, as in proto3)."""
    model = _MODELS.get(descriptor.full_name)
    if model is None:
        fields: dict[str, Any] = {field.name: (_field_type(field), None) for field in descriptor.fields}
        model = create_model(
            descriptor.name,
            __config__=ConfigDict(extra="allow"),
            __doc__=f"`{descriptor.full_name}` in protobuf JSON.",
            **fields,
        )
        _MODELS[descriptor.full_name] = model
    return model


Experiment = model_of(experiments_pb2.Experiment.DESCRIPTOR)
ListExperimentsResponse = model_of(experiments_pb2.ListExperimentsResponse.DESCRIPTOR)
Pipeline = model_of(pipelines_pb2.Pipeline.DESCRIPTOR)
ListPipelinesResponse = model_of(pipelines_pb2.ListPipelinesResponse.DESCRIPTOR)
PipelineVersion = model_of(pipelines_pb2.PipelineVersion.DESCRIPTOR)
ListPipelineVersionsResponse = model_of(pipelines_pb2.ListPipelineVersionsResponse.DESCRIPTOR)
CreatePipelineAndVersionRequest = model_of(pipelines_pb2.CreatePipelineAndVersionRequest.DESCRIPTOR)
Run = model_of(runs_pb2.Run.DESCRIPTOR)
ListRunsResponse = model_of(runs_pb2.ListRunsResponse.DESCRIPTOR)
RecurringRun = model_of(recurring_runs_pb2.RecurringRun.DESCRIPTOR)
ListRecurringRunsResponse = model_of(recurring_runs_pb2.ListRecurringRunsResponse.DESCRIPTOR)
RunEvent = model_of(events_pb2.RunEvent.DESCRIPTOR)


class Empty(BaseModel):
    """The empty JSON object that actions (delete, archive, …) return."""


class Healthz(BaseModel):
    """`GET /apis/v2beta1/healthz`, as KFP's V2beta1GetHealthzResponse plus build info."""

    commit_sha: str
    tag_name: str
    multi_user: bool = Field(description="Always false: Sluice has no per-user namespaces yet.")
    pipeline_store: str = Field(description='Where pipelines are kept: "database".')


class ReadArtifactResponse(BaseModel):
    """KFP's ReadArtifactResponse."""

    data: str = Field(
        description="The artifact's bytes, base64-encoded.", json_schema_extra={"format": "byte"}
    )


class Error(BaseModel):
    """Every error response, in KFP's shape (google.rpc.Status as grpc-gateway renders it)."""

    error: str
    code: int = Field(description="The gRPC status code number.")
    message: str
    details: list[Any] = Field(default_factory=list)


EXTRA_MODELS: tuple[type[BaseModel], ...] = (
    Experiment,
    Pipeline,
    PipelineVersion,
    CreatePipelineAndVersionRequest,
    Run,
    RecurringRun,
    RunEvent,
    Error,
)
"""Models the document refers to by name that no route returns as JSON: request bodies,
stream items, errors."""
