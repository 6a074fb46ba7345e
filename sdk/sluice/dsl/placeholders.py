"""What a container component's command line is made of: placeholders the engine fills in.

A `@container_component` function is called once, when it is defined, with a placeholder
for each argument; it returns a `ContainerSpec` whose `command` and `args` mix text and
placeholders. `ConcatPlaceholder` joins items into one argument and `IfPresentPlaceholder`
adds arguments only when an optional input is given, as in KFP.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sluice.dsl.types import ArtifactType, Role

PIPELINE_JOB_NAME_PLACEHOLDER = "{{$.pipeline_job_name}}"
PIPELINE_JOB_RESOURCE_NAME_PLACEHOLDER = "{{$.pipeline_job_resource_name}}"
PIPELINE_JOB_ID_PLACEHOLDER = "{{$.pipeline_job_uuid}}"
PIPELINE_TASK_NAME_PLACEHOLDER = "{{$.pipeline_task_name}}"
PIPELINE_TASK_ID_PLACEHOLDER = "{{$.pipeline_task_uuid}}"
PIPELINE_ROOT_PLACEHOLDER = "{{$.pipeline_root}}"
EXECUTOR_INPUT_PLACEHOLDER = "{{$}}"


class Placeholder:
    """Text the engine replaces when the task runs."""

    def to_ir(self) -> str:
        raise NotImplementedError

    def __str__(self) -> str:
        return self.to_ir()

    def __format__(self, format_spec: str) -> str:
        return format(self.to_ir(), format_spec)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.to_ir()!r})"


class _Text(Placeholder):
    def __init__(self, text: str) -> None:
        self._text = text

    def to_ir(self) -> str:
        return self._text


def input_value(name: str) -> Placeholder:
    """The value of an input parameter (lists and dicts as JSON)."""
    return _Text(f"{{{{$.inputs.parameters['{name}']}}}}")


def output_parameter_file(name: str) -> Placeholder:
    """The file to write an output parameter to."""
    return _Text(f"{{{{$.outputs.parameters['{name}'].output_file}}}}")


class ArtifactPlaceholders:
    """An artifact argument of a container component: `.path`, `.uri` and `.metadata` placeholders."""

    def __init__(self, side: str, name: str) -> None:
        self._side = side
        self._name = name

    def _field(self, attribute: str) -> Placeholder:
        return _Text(f"{{{{$.{self._side}.artifacts['{self._name}'].{attribute}}}}}")

    @property
    def path(self) -> Placeholder:
        return self._field("path")

    @property
    def uri(self) -> Placeholder:
        return self._field("uri")

    @property
    def metadata(self) -> Placeholder:
        return self._field("metadata")

    def __str__(self) -> str:
        raise TypeError(f"use {self._name}.path, {self._name}.uri or {self._name}.metadata in a command line")


def placeholder_for(name: str, role: Role, value_type: Any) -> Any:
    """The object a container component function receives for one of its arguments."""
    if role is Role.PARAMETER:
        return input_value(name)
    if role is Role.INPUT_ARTIFACT:
        return ArtifactPlaceholders("inputs", name)
    if role is Role.INPUT_PATH:
        return ArtifactPlaceholders("inputs", name).path
    if role is Role.OUTPUT_ARTIFACT:
        return ArtifactPlaceholders("outputs", name)
    if role is Role.OUTPUT_ARTIFACT_PATH or (role is Role.RETURN and isinstance(value_type, ArtifactType)):
        return ArtifactPlaceholders("outputs", name).path
    if role is Role.OUTPUT_PARAMETER_PATH:
        return output_parameter_file(name)
    raise TypeError(f"container components cannot take {role.value} arguments")


class _Structured(Placeholder):
    """A placeholder the IR writes as a JSON object; it cannot go inside an f-string."""

    def __str__(self) -> str:
        raise TypeError(f"{type(self).__name__} cannot be formatted into a string; use it as an element")

    def __format__(self, format_spec: str) -> str:
        return str(self)


class ConcatPlaceholder(_Structured):
    """One argument made of several items: `ConcatPlaceholder(["--n=", n])`."""

    def __init__(self, items: list[Any]) -> None:
        self.items = list(items)

    def to_json(self) -> dict[str, Any]:
        return {"Concat": [_element(item) for item in self.items]}

    def to_ir(self) -> str:
        return json.dumps(self.to_json())


class IfPresentPlaceholder(_Structured):
    """`then` when the optional input `input_name` is given, else `else_`."""

    def __init__(self, input_name: str, then: list[Any] | Any, else_: list[Any] | Any | None = None) -> None:
        self.input_name = input_name
        self.then = then if isinstance(then, list) else [then]
        self.else_ = [] if else_ is None else else_ if isinstance(else_, list) else [else_]

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"InputName": self.input_name, "Then": [_element(item) for item in self.then]}
        if self.else_:
            body["Else"] = [_element(item) for item in self.else_]
        return {"IfPresent": body}

    def to_ir(self) -> str:
        return json.dumps(self.to_json())


def _element(item: Any) -> Any:
    """An item inside a structured placeholder: nested structures stay JSON objects."""
    if isinstance(item, (ConcatPlaceholder, IfPresentPlaceholder)):
        return item.to_json()
    return command_line_text(item)


def command_line_text(item: Any) -> str:
    """One command or args element as the IR writes it."""
    if isinstance(item, Placeholder):
        return item.to_ir()
    if isinstance(item, bool) or not isinstance(item, (str, int, float)):
        raise TypeError(f"a command line takes strings, numbers and placeholders; got {item!r}")
    return str(item)


@dataclass
class ContainerSpec:
    """What a container component runs: an image, a command and its arguments."""

    image: str
    command: list[Any] = field(default_factory=list)
    args: list[Any] = field(default_factory=list)
