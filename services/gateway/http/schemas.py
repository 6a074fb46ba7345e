"""Pydantic models of the REST API's JSON, for the OpenAPI document.

The resource models are derived from the protobuf descriptors, so the document follows
the protos: snake_case names, enums as their names, 64-bit integers as strings,
timestamps as RFC 3339 strings (the protobuf JSON mapping KFP's REST API uses).
Responses are rendered from the protobuf messages by `json_format`, never through these
models; they only describe the wire format, precisely enough to validate it:

- **Output** models (``Run``, ``Experiment``…) are what responses hold: no property
  beyond the proto's fields, the fields every response carries are required, enums
  exclude their unset (0) value, which protobuf JSON never writes.
- **Input** models (``RunInput``…) are request bodies: the fields a create call needs
  are required, unknown properties (and camelCase spellings of the known ones) are
  accepted, 64-bit integers may be JSON numbers or decimal strings, as `json_format`
  parses them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, create_model
from sluice.v1 import (
    artifacts_pb2,
    events_pb2,
    experiments_pb2,
    pipelines_pb2,
    recurring_runs_pb2,
    runs_pb2,
)


def _schema(schema: dict[str, Any], python_type: Any = Any) -> Any:
    return Annotated[python_type, WithJsonSchema(schema)]


_INT32 = {"type": "integer", "format": "int32", "minimum": -(2**31), "maximum": 2**31 - 1}
_UINT32 = {"type": "integer", "format": "int32", "minimum": 0, "maximum": 2**32 - 1}
_SIGNED_DIGITS = {"type": "string", "format": "int64", "pattern": "^-?[0-9]{1,19}$"}
_UNSIGNED_DIGITS = {"type": "string", "format": "uint64", "pattern": "^[0-9]{1,20}$"}
_INT64_NUMBER = {"type": "integer", "minimum": -(2**63), "maximum": 2**63 - 1}
_UINT64_NUMBER = {"type": "integer", "minimum": 0, "maximum": 2**64 - 1}

_WELL_KNOWN: dict[str, Any] = {
    "google.protobuf.Timestamp": _schema({"type": "string", "format": "date-time"}, str),
    "google.protobuf.Duration": _schema({"type": "string", "pattern": "^-?[0-9]+(\\.[0-9]{1,9})?s$"}, str),
    "google.protobuf.Struct": dict[str, Any],
    "google.protobuf.Value": Any,
    "google.protobuf.ListValue": list[Any],
}

_SIGNED_64 = frozenset(
    {FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_SINT64, FieldDescriptor.TYPE_SFIXED64}
)
_UNSIGNED_64 = frozenset({FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_FIXED64})
_SCALARS: dict[int, Any] = {
    FieldDescriptor.TYPE_STRING: str,
    FieldDescriptor.TYPE_BOOL: bool,
    FieldDescriptor.TYPE_DOUBLE: float,
    FieldDescriptor.TYPE_FLOAT: float,
    FieldDescriptor.TYPE_INT32: _schema(_INT32, int),
    FieldDescriptor.TYPE_SINT32: _schema(_INT32, int),
    FieldDescriptor.TYPE_SFIXED32: _schema(_INT32, int),
    FieldDescriptor.TYPE_UINT32: _schema(_UINT32, int),
    FieldDescriptor.TYPE_FIXED32: _schema(_UINT32, int),
    FieldDescriptor.TYPE_BYTES: _schema({"type": "string", "format": "byte"}, str),
}

# The fields every response carries (protobuf JSON leaves out fields at their default).
_OUTPUT_REQUIRED: Mapping[str, Sequence[str]] = {
    "sluice.v1.Experiment": ("experiment_id", "display_name", "created_at", "storage_state"),
    "sluice.v1.Pipeline": ("pipeline_id", "name", "display_name", "created_at"),
    "sluice.v1.PipelineVersion": (
        "pipeline_id",
        "pipeline_version_id",
        "name",
        "display_name",
        "created_at",
        "pipeline_spec",
    ),
    "sluice.v1.Run": (
        "run_id",
        "experiment_id",
        "display_name",
        "created_at",
        "state",
        "storage_state",
        "runtime_config",
    ),
    "sluice.v1.PipelineTaskDetail": ("run_id", "task_id", "display_name", "create_time", "state"),
    "sluice.v1.RuntimeStatus": ("update_time", "state"),
    "sluice.v1.RecurringRun": (
        "recurring_run_id",
        "display_name",
        "created_at",
        "updated_at",
        "runtime_config",
        "max_concurrency",
        "trigger",
        "mode",
        "status",
        "experiment_id",
    ),
    "sluice.v1.CronSchedule": ("cron",),
    "sluice.v1.PeriodicSchedule": ("interval_second",),
    "sluice.v1.RunEvent": ("event_id", "kind", "run_id"),
    "sluice.v1.Artifact": ("artifact_id", "uri", "schema_title", "created_at"),
}
# What a create call cannot do without.
_INPUT_REQUIRED: Mapping[str, Sequence[str]] = {
    "sluice.v1.Experiment": ("display_name",),
    "sluice.v1.PipelineVersion": ("pipeline_spec",),
    "sluice.v1.RecurringRun": ("trigger",),
    "sluice.v1.CreatePipelineAndVersionRequest": ("pipeline", "pipeline_version"),
}
_PIPELINE_SOURCE = ({"required": ["pipeline_spec"]}, {"required": ["pipeline_version_reference"]})
_INPUT_ANY_OF: Mapping[str, Sequence[dict[str, Any]]] = {
    "sluice.v1.Pipeline": ({"required": ["name"]}, {"required": ["display_name"]}),
    "sluice.v1.Run": _PIPELINE_SOURCE,
    "sluice.v1.RecurringRun": _PIPELINE_SOURCE,
}
_WEBHOOK_URL = {"type": "string", "maxLength": 2048, "pattern": "^(https?://[^\\s@/]+(/\\S*)?)?$"}
# Input field schemas narrower than their type.
_INPUT_FIELDS: Mapping[tuple[str, str], dict[str, Any]] = {
    ("sluice.v1.Experiment", "display_name"): {"type": "string", "pattern": "\\S"},
    ("sluice.v1.Experiment", "webhook_url"): _WEBHOOK_URL,
    ("sluice.v1.RecurringRun", "webhook_url"): _WEBHOOK_URL,
    ("sluice.v1.CronSchedule", "cron"): {"type": "string", "description": "Six fields, seconds first."},
    ("sluice.v1.RecurringRun", "max_concurrency"): {
        "anyOf": [
            {"type": "integer", "minimum": 0, "maximum": 10},
            {"type": "string", "pattern": "^([0-9]|10)$"},
        ],
        "description": "1 to 10 runs at once; 0 or unset means 1.",
    },
}

_MODELS: dict[tuple[str, bool], type[BaseModel]] = {}


def _enum_type(field: FieldDescriptor, *, output: bool) -> Any:
    assert field.enum_type is not None
    # protobuf JSON never writes an enum at its default (0), so responses never hold it.
    names = [value.name for value in field.enum_type.values if not (output and value.number == 0)]
    return _schema({"type": "string", "enum": names}, str)


def _integer_type(field: FieldDescriptor, *, output: bool) -> Any:
    digits, number = (
        (_SIGNED_DIGITS, _INT64_NUMBER) if field.type in _SIGNED_64 else (_UNSIGNED_DIGITS, _UINT64_NUMBER)
    )
    # Written as decimal strings; read from strings or numbers.
    return _schema(digits if output else {"anyOf": [number, digits], "format": digits["format"]}, str | int)


def _single_type(field: FieldDescriptor, *, output: bool) -> Any:
    if field.enum_type is not None:
        return _enum_type(field, output=output)
    if field.message_type is not None:
        return _WELL_KNOWN.get(field.message_type.full_name) or model_of(field.message_type, output=output)
    if field.type in _SIGNED_64 | _UNSIGNED_64:
        return _integer_type(field, output=output)
    return _SCALARS[field.type]


def _field_type(field: FieldDescriptor, *, output: bool) -> Any:
    message = field.message_type
    if message is not None and message.GetOptions().map_entry:
        return dict[str, _single_type(message.fields_by_name["value"], output=output)]  # type: ignore[misc]
    if field.is_repeated:
        return list[_single_type(field, output=output)]  # type: ignore[misc]
    return _single_type(field, output=output)


def _one_of_extra(descriptor: Descriptor) -> dict[str, Any]:
    """A message that is one oneof (e.g. Trigger) holds exactly one of its fields."""
    for oneof in descriptor.oneofs:
        if len(oneof.fields) == len(descriptor.fields) and len(descriptor.fields) > 1:
            return {"minProperties": 1, "maxProperties": 1}
    return {}


def model_of(descriptor: Descriptor, *, output: bool = True) -> type[BaseModel]:
    """The pydantic model of a message's JSON in responses (``output``) or request bodies."""
    key = (descriptor.full_name, output)
    model = _MODELS.get(key)
    if model is not None:
        return model
    required = set((_OUTPUT_REQUIRED if output else _INPUT_REQUIRED).get(descriptor.full_name, ()))
    fields: dict[str, Any] = {}
    for field in descriptor.fields:
        narrowed = None if output else _INPUT_FIELDS.get((descriptor.full_name, field.name))
        field_type = _schema(narrowed, str) if narrowed else _field_type(field, output=output)
        fields[field.name] = (field_type, ...) if field.name in required else (field_type, None)
    extra: dict[str, Any] = _one_of_extra(descriptor)
    if not output and descriptor.full_name in _INPUT_ANY_OF:
        extra["anyOf"] = list(_INPUT_ANY_OF[descriptor.full_name])
    if output:
        doc = f"`{descriptor.full_name}` in protobuf JSON, as responses hold it."
    else:
        doc = (
            f"`{descriptor.full_name}` in protobuf JSON, as a request body: snake_case or "
            "camelCase names; unknown properties are ignored."
        )
    model = create_model(
        descriptor.name if output else f"{descriptor.name}Input",
        __config__=ConfigDict(extra="forbid" if output else "allow", json_schema_extra=extra or None),
        __doc__=doc,
        **fields,
    )
    _MODELS[key] = model
    return model


def update_model_of(descriptor: Descriptor) -> type[BaseModel]:
    """The pydantic model of an update's (PATCH) request body: any of the message's fields."""
    fields: dict[str, Any] = {
        field.name: (_field_type(field, output=False), None) for field in descriptor.fields
    }
    return create_model(
        f"{descriptor.name}UpdateInput",
        __config__=ConfigDict(extra="allow"),
        __doc__=(
            f"`{descriptor.full_name}` in protobuf JSON, as the body of an update: snake_case or "
            "camelCase names; unknown properties are ignored. The fields `update_mask` names "
            "change (without it, the mutable fields the body sets); the others, when given, "
            "must hold their stored values."
        ),
        **fields,
    )


def _output(descriptor: Descriptor) -> type[BaseModel]:
    return model_of(descriptor, output=True)


def _input(descriptor: Descriptor) -> type[BaseModel]:
    return model_of(descriptor, output=False)


Experiment = _output(experiments_pb2.Experiment.DESCRIPTOR)
ListExperimentsResponse = _output(experiments_pb2.ListExperimentsResponse.DESCRIPTOR)
Pipeline = _output(pipelines_pb2.Pipeline.DESCRIPTOR)
ListPipelinesResponse = _output(pipelines_pb2.ListPipelinesResponse.DESCRIPTOR)
PipelineVersion = _output(pipelines_pb2.PipelineVersion.DESCRIPTOR)
ListPipelineVersionsResponse = _output(pipelines_pb2.ListPipelineVersionsResponse.DESCRIPTOR)
Run = _output(runs_pb2.Run.DESCRIPTOR)
ListRunsResponse = _output(runs_pb2.ListRunsResponse.DESCRIPTOR)
RecurringRun = _output(recurring_runs_pb2.RecurringRun.DESCRIPTOR)
ListRecurringRunsResponse = _output(recurring_runs_pb2.ListRecurringRunsResponse.DESCRIPTOR)
RunEvent = _output(events_pb2.RunEvent.DESCRIPTOR)
Artifact = _output(artifacts_pb2.Artifact.DESCRIPTOR)
ListArtifactsResponse = _output(artifacts_pb2.ListArtifactsResponse.DESCRIPTOR)

ExperimentInput = _input(experiments_pb2.Experiment.DESCRIPTOR)
PipelineInput = _input(pipelines_pb2.Pipeline.DESCRIPTOR)
PipelineVersionInput = _input(pipelines_pb2.PipelineVersion.DESCRIPTOR)
PipelineUpdateInput = update_model_of(pipelines_pb2.Pipeline.DESCRIPTOR)
PipelineVersionUpdateInput = update_model_of(pipelines_pb2.PipelineVersion.DESCRIPTOR)
CreatePipelineAndVersionRequestInput = _input(pipelines_pb2.CreatePipelineAndVersionRequest.DESCRIPTOR)
RunInput = _input(runs_pb2.Run.DESCRIPTOR)
RecurringRunInput = _input(recurring_runs_pb2.RecurringRun.DESCRIPTOR)


class Empty(BaseModel):
    """The empty JSON object that actions (delete, archive, …) return."""

    model_config = ConfigDict(extra="forbid")


class Healthz(BaseModel):
    """`GET /apis/v2beta1/healthz`, as KFP's V2beta1GetHealthzResponse plus build info."""

    model_config = ConfigDict(extra="forbid")

    commit_sha: str
    tag_name: str
    multi_user: bool = Field(description="Always false: Sluice has no per-user namespaces yet.")
    pipeline_store: str = Field(description='Where pipelines are kept: "database".')


class ReadArtifactResponse(BaseModel):
    """KFP's ReadArtifactResponse."""

    model_config = ConfigDict(extra="forbid")

    data: str = Field(
        description="The artifact's bytes, base64-encoded.", json_schema_extra={"format": "byte"}
    )


class Error(BaseModel):
    """Every error response, in KFP's shape (google.rpc.Status as grpc-gateway renders it)."""

    model_config = ConfigDict(extra="forbid")

    error: str
    code: int = Field(description="The gRPC status code number.", ge=0, le=16)
    message: str
    details: list[Any]


EXTRA_MODELS: tuple[type[BaseModel], ...] = (
    ExperimentInput,
    PipelineInput,
    PipelineVersionInput,
    PipelineUpdateInput,
    PipelineVersionUpdateInput,
    CreatePipelineAndVersionRequestInput,
    RunInput,
    RecurringRunInput,
    RunEvent,
    Error,
)
"""Models the document refers to by name that no route returns as JSON: request bodies,
stream items, errors."""
