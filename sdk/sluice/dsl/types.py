"""Types of the values that flow between tasks, and how Python annotations map to them.

Parameters carry one of the IR parameter types (`ParameterType`); artifacts carry a schema
title and version (`ArtifactType`). `Input[...]`, `Output[...]`, `InputPath(...)` and
`OutputPath(...)` mark how a component argument is fed, as in KFP.
"""

from __future__ import annotations

import enum
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, TypeAlias, TypeVar

from sluice.runtime.executor import ARTIFACT_CLASSES, Artifact, PipelineTaskFinalStatus

JsonValue: TypeAlias = "str | int | float | bool | list[JsonValue] | dict[str, JsonValue] | None"

T = TypeVar("T")


class _InputMarker:
    """Marks `Input[...]`."""


class _OutputMarker:
    """Marks `Output[...]`."""


Input: TypeAlias = Annotated[T, _InputMarker]
"""`Input[Dataset]`: an input artifact (the task gets an object with `.path`, `.uri`, `.metadata`)."""
Output: TypeAlias = Annotated[T, _OutputMarker]
"""`Output[Model]`: an output artifact the task writes to `.path` (and its `.metadata`)."""


class InputPath:
    """`InputPath(Dataset)`: the task gets the local path of an input artifact as a `str`."""

    def __init__(self, type: Any = None) -> None:
        self.type = type

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.type!r})"


class OutputPath:
    """`OutputPath(str)` / `OutputPath(Model)`: the task gets a path to write an output to."""

    def __init__(self, type: Any = None) -> None:
        self.type = type

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.type!r})"


class ParameterType(enum.StrEnum):
    """The IR parameter types."""

    STRING = "STRING"
    NUMBER_INTEGER = "NUMBER_INTEGER"
    NUMBER_DOUBLE = "NUMBER_DOUBLE"
    BOOLEAN = "BOOLEAN"
    LIST = "LIST"
    STRUCT = "STRUCT"
    TASK_FINAL_STATUS = "TASK_FINAL_STATUS"


_SCALARS: dict[Any, ParameterType] = {
    str: ParameterType.STRING,
    int: ParameterType.NUMBER_INTEGER,
    float: ParameterType.NUMBER_DOUBLE,
    bool: ParameterType.BOOLEAN,
}
_PYTHON_NAMES = {
    ParameterType.STRING: "str",
    ParameterType.NUMBER_INTEGER: "int",
    ParameterType.NUMBER_DOUBLE: "float",
    ParameterType.BOOLEAN: "bool",
    ParameterType.LIST: "list",
    ParameterType.STRUCT: "dict",
    ParameterType.TASK_FINAL_STATUS: "PipelineTaskFinalStatus",
}
# KFP's legacy type names, accepted in `OutputPath("...")`.
_TYPE_NAMES = {
    "string": ParameterType.STRING,
    "str": ParameterType.STRING,
    "integer": ParameterType.NUMBER_INTEGER,
    "int": ParameterType.NUMBER_INTEGER,
    "float": ParameterType.NUMBER_DOUBLE,
    "double": ParameterType.NUMBER_DOUBLE,
    "boolean": ParameterType.BOOLEAN,
    "bool": ParameterType.BOOLEAN,
    "jsonarray": ParameterType.LIST,
    "list": ParameterType.LIST,
    "jsonobject": ParameterType.STRUCT,
    "dict": ParameterType.STRUCT,
}


@dataclass(frozen=True)
class ParamType:
    """The type of a parameter."""

    kind: ParameterType
    """The IR parameter type."""
    item: ParamType | None = None
    """For LIST: the element type; for STRUCT: the value type; None when not known."""

    def describe(self) -> str:
        return _PYTHON_NAMES[self.kind]


@dataclass(frozen=True)
class ArtifactType:
    """The type of an artifact."""

    schema_title: str
    """e.g. `system.Dataset`."""
    schema_version: str = "0.0.1"
    """The schema's version."""

    def to_ir(self) -> dict[str, str]:
        return {"schemaTitle": self.schema_title, "schemaVersion": self.schema_version}

    def describe(self) -> str:
        return self.schema_title.rpartition(".")[2]

    @classmethod
    def of(cls, artifact_class: type[Artifact]) -> ArtifactType:
        return cls(artifact_class.schema_title, artifact_class.schema_version)


ValueType: TypeAlias = "ParamType | ArtifactType"


class Role(enum.Enum):
    """How a component argument or output is fed."""

    PARAMETER = "parameter"
    """An input parameter, passed as a value."""
    INPUT_ARTIFACT = "input_artifact"
    """An input artifact, passed as an artifact object (or a list of them)."""
    INPUT_PATH = "input_path"
    """An input artifact, passed as its local path."""
    FINAL_STATUS = "final_status"
    """The final status of the tasks an exit handler guards."""
    OUTPUT_ARTIFACT = "output_artifact"
    """An output artifact, passed as an artifact object to fill."""
    OUTPUT_PARAMETER_PATH = "output_parameter_path"
    """An output parameter, passed as the path of the file to write it to."""
    OUTPUT_ARTIFACT_PATH = "output_artifact_path"
    """An output artifact, passed as the path to write it at."""
    RETURN = "return"
    """An output given by the function's return value."""


INPUT_ROLES = frozenset({Role.PARAMETER, Role.INPUT_ARTIFACT, Role.INPUT_PATH, Role.FINAL_STATUS})


@dataclass(frozen=True)
class Annotation:
    """What an argument's annotation says."""

    role: Role
    type: ValueType
    is_list: bool = False
    """An artifact list (`Input[List[Dataset]]`)."""
    optional: bool = False
    """`Optional[...]`: the argument may be left out."""


def describe(value_type: ValueType, *, is_list: bool = False) -> str:
    """`int`, `Dataset`, `List[Dataset]`: a type as a user reads it."""
    text = value_type.describe()
    return f"List[{text}]" if is_list else text


def parse_parameter_annotation(annotation: Any) -> ParamType | None:
    """The parameter type of a plain annotation (`int`, `List[str]`, `dict`), or None."""
    if annotation in _SCALARS:
        return ParamType(_SCALARS[annotation])
    origin = typing.get_origin(annotation)
    if annotation is list or origin is list:
        args = typing.get_args(annotation)
        item = parse_parameter_annotation(args[0]) if args else None
        return ParamType(ParameterType.LIST, item)
    if annotation is dict or origin is dict:
        args = typing.get_args(annotation)
        item = parse_parameter_annotation(args[1]) if len(args) == 2 else None
        return ParamType(ParameterType.STRUCT, item)
    return None


def artifact_class_of(annotation: Any) -> type[Artifact] | None:
    """The artifact class an annotation names, or None."""
    if isinstance(annotation, type) and issubclass(annotation, Artifact):
        return annotation
    return None


def parse_annotation(annotation: Any, *, where: str) -> Annotation:
    """Classify a component argument's annotation; raises `TypeError(message)` when unsupported.

    `where` names the argument in messages.
    """
    annotation, optional = _strip_optional(annotation)
    if typing.get_origin(annotation) is Annotated:
        inner, *markers = typing.get_args(annotation)
        if _InputMarker in markers or _OutputMarker in markers:
            is_input = _InputMarker in markers
            artifact_class, is_list = _artifact_or_list(inner)
            if artifact_class is None:
                marker = "Input" if is_input else "Output"
                raise TypeError(f"{marker}[...] takes an artifact class such as Dataset; got {inner!r}")
            if not is_input and is_list:
                raise TypeError("Output[List[...]] is not supported; declare one output per artifact")
            role = Role.INPUT_ARTIFACT if is_input else Role.OUTPUT_ARTIFACT
            return Annotation(role, ArtifactType.of(artifact_class), is_list, optional)
        annotation = inner
    if isinstance(annotation, InputPath):
        artifact_class = _artifact_class_named(annotation.type)
        if artifact_class is None:
            raise TypeError(f"InputPath(...) takes an artifact type such as Dataset; got {annotation.type!r}")
        return Annotation(Role.INPUT_PATH, ArtifactType.of(artifact_class), optional=optional)
    if isinstance(annotation, OutputPath):
        artifact_class = _artifact_class_named(annotation.type)
        if artifact_class is not None:
            return Annotation(Role.OUTPUT_ARTIFACT_PATH, ArtifactType.of(artifact_class))
        parameter = _parameter_named(annotation.type)
        if parameter is None:
            raise TypeError(f"OutputPath(...) takes a parameter or artifact type; got {annotation.type!r}")
        return Annotation(Role.OUTPUT_PARAMETER_PATH, parameter)
    if annotation is PipelineTaskFinalStatus:
        return Annotation(Role.FINAL_STATUS, ParamType(ParameterType.TASK_FINAL_STATUS), optional=True)
    artifact_class, is_list = _artifact_or_list(annotation)
    if artifact_class is not None:
        return Annotation(Role.INPUT_ARTIFACT, ArtifactType.of(artifact_class), is_list, optional)
    parameter = parse_parameter_annotation(annotation)
    if parameter is None:
        raise TypeError(
            f"unsupported type {annotation!r} for {where}; use str, int, float, bool, list, dict "
            "(List[...], Dict[...]), an artifact class with Input[...]/Output[...], "
            "InputPath(...)/OutputPath(...) or PipelineTaskFinalStatus"
        )
    return Annotation(Role.PARAMETER, parameter, optional=optional)


def parse_output_annotation(annotation: Any, *, where: str) -> tuple[ValueType, bool]:
    """The type of a returned output (a parameter or an artifact class) and whether it is a list."""
    artifact_class, is_list = _artifact_or_list(annotation)
    if artifact_class is not None:
        return ArtifactType.of(artifact_class), is_list
    parameter = parse_parameter_annotation(annotation)
    if parameter is None:
        raise TypeError(f"unsupported return type {annotation!r} for {where}")
    return parameter, False


def named_tuple_fields(annotation: Any) -> Mapping[str, Any] | None:
    """The fields and their annotations of a NamedTuple class, or None for anything else."""
    if isinstance(annotation, type) and issubclass(annotation, tuple) and hasattr(annotation, "_fields"):
        hints = typing.get_type_hints(annotation)
        return {field: hints.get(field, str) for field in annotation._fields}
    return None


def _strip_optional(annotation: Any) -> tuple[Any, bool]:
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        args = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        if len(args) == 1 and len(typing.get_args(annotation)) == 2:
            return args[0], True
    return annotation, False


def _artifact_or_list(annotation: Any) -> tuple[type[Artifact] | None, bool]:
    artifact_class = artifact_class_of(annotation)
    if artifact_class is not None:
        return artifact_class, False
    if typing.get_origin(annotation) is list:
        args = typing.get_args(annotation)
        if len(args) == 1 and artifact_class_of(args[0]) is not None:
            return artifact_class_of(args[0]), True
    return None, False


def _artifact_class_named(type_: Any) -> type[Artifact] | None:
    artifact_class = artifact_class_of(type_)
    if artifact_class is not None:
        return artifact_class
    if isinstance(type_, str):
        title = type_ if type_.startswith("system.") else f"system.{type_}"
        for candidate_title, candidate in ARTIFACT_CLASSES.items():
            if candidate_title.lower() == title.lower():
                return candidate
    return None


def _parameter_named(type_: Any) -> ParamType | None:
    if isinstance(type_, str):
        kind = _TYPE_NAMES.get(type_.lower())
        return ParamType(kind) if kind is not None else None
    return parse_parameter_annotation(type_)


# --- values ----------------------------------------------------------------------------------


def python_type_name(value: object) -> str:
    return type(value).__name__


def check_constant(value: Any, expected: ParamType) -> JsonValue:
    """`value` as the JSON value of a constant for `expected`; raises `TypeError(message)`."""
    kind = expected.kind
    if kind is ParameterType.STRING and isinstance(value, str):
        return value
    if kind is ParameterType.BOOLEAN and isinstance(value, bool):
        return value
    if kind is ParameterType.NUMBER_INTEGER and isinstance(value, int) and not isinstance(value, bool):
        return value
    if (
        kind is ParameterType.NUMBER_DOUBLE
        and isinstance(value, (int, float))
        and not isinstance(value, bool)
    ):
        return float(value)
    if kind is ParameterType.LIST and isinstance(value, (list, tuple)):
        return [to_json(item) for item in value]
    if kind is ParameterType.STRUCT and isinstance(value, dict):
        return {_json_key(key): to_json(item) for key, item in value.items()}
    raise TypeError(f"expected {expected.describe()}, got {python_type_name(value)} {value!r}")


def to_json(value: Any) -> JsonValue:
    """A Python constant as JSON (tuples become lists); raises `TypeError(message)` otherwise."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, (list, tuple)):
        return [to_json(item) for item in value]
    if isinstance(value, dict):
        return {_json_key(key): to_json(item) for key, item in value.items()}
    raise TypeError(f"{python_type_name(value)} {value!r} is not a JSON value")


def _json_key(key: Any) -> str:
    if not isinstance(key, str):
        raise TypeError(f"dict keys must be strings; got {python_type_name(key)} {key!r}")
    return key


def parameter_type_of_constant(value: Any) -> ParamType | None:
    """The parameter type a Python constant has, or None when it is not a parameter value."""
    if isinstance(value, bool):
        return ParamType(ParameterType.BOOLEAN)
    if isinstance(value, int):
        return ParamType(ParameterType.NUMBER_INTEGER)
    if isinstance(value, float):
        return ParamType(ParameterType.NUMBER_DOUBLE)
    if isinstance(value, str):
        return ParamType(ParameterType.STRING)
    if isinstance(value, (list, tuple)):
        first = parameter_type_of_constant(value[0]) if value else None
        return ParamType(ParameterType.LIST, first)
    if isinstance(value, dict):
        values = list(value.values())
        first = parameter_type_of_constant(values[0]) if values else None
        return ParamType(ParameterType.STRUCT, first)
    return None


def parameter_accepts(expected: ParamType, given: ParamType) -> bool:
    """Whether a parameter of type `given` may feed an input of type `expected`."""
    if expected.kind == given.kind:
        return True
    return expected.kind is ParameterType.NUMBER_DOUBLE and given.kind is ParameterType.NUMBER_INTEGER


def artifact_accepts(expected: ArtifactType, given: ArtifactType) -> bool:
    """Whether an artifact of type `given` may feed an input of type `expected` (Artifact takes all)."""
    return expected.schema_title in ("system.Artifact", given.schema_title)
