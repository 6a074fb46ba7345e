"""The typed fields of a "create run" form, from the pipeline's root ``inputDefinitions``,
and the parsing of what a user typed back into parameter values."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

INPUT_PREFIX = "param."
"""Form field names of pipeline parameters start with this."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ParameterField:
    name: str
    type: str
    """STRING, NUMBER_INTEGER, NUMBER_DOUBLE, BOOLEAN, LIST or STRUCT."""
    value: str
    """What the input shows: the default, or the value being cloned or re-shown."""
    optional: bool
    description: str = ""
    error: str = ""

    @property
    def field_name(self) -> str:
        return INPUT_PREFIX + self.name

    @property
    def input_type(self) -> str:
        return {"NUMBER_INTEGER": "number", "NUMBER_DOUBLE": "number"}.get(self.type, "text")

    @property
    def step(self) -> str:
        return "1" if self.type == "NUMBER_INTEGER" else "any"

    @property
    def multiline(self) -> bool:
        return self.type in ("LIST", "STRUCT")

    @property
    def type_label(self) -> str:
        return {
            "STRING": "string",
            "NUMBER_INTEGER": "integer",
            "NUMBER_DOUBLE": "number",
            "BOOLEAN": "boolean",
            "LIST": "list (JSON)",
            "STRUCT": "object (JSON)",
        }.get(self.type, self.type.lower())


def show_value(value: Any, parameter_type: str) -> str:
    """A parameter value as its form input shows it."""
    if value is None:
        return ""
    if parameter_type == "BOOLEAN":
        return "true" if value is True or str(value).lower() == "true" else "false"
    if parameter_type == "NUMBER_INTEGER" and isinstance(value, float) and value.is_integer():
        return str(int(value))
    if parameter_type in ("LIST", "STRUCT") or isinstance(value, list | dict):
        return json.dumps(value)
    return str(value)


def root_parameters(spec: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``root.inputDefinitions.parameters`` of a PipelineSpec dict."""
    root = spec.get("root")
    definitions = root.get("inputDefinitions") if isinstance(root, Mapping) else None
    parameters = definitions.get("parameters") if isinstance(definitions, Mapping) else None
    return {str(k): dict(v) for k, v in parameters.items()} if isinstance(parameters, Mapping) else {}


def parameter_fields(
    spec: Mapping[str, Any], *, values: Mapping[str, Any] | None = None
) -> list[ParameterField]:
    """One field per root input parameter, showing ``values`` where given, else defaults.
    Task-final-status parameters are filled by the engine and left out."""
    fields = []
    for name, definition in root_parameters(spec).items():
        kind = str(definition.get("parameterType", "STRING"))
        if kind == "TASK_FINAL_STATUS":
            continue
        shown = values[name] if values is not None and name in values else definition.get("defaultValue")
        fields.append(
            ParameterField(
                name=name,
                type=kind,
                value=show_value(shown, kind),
                optional=bool(definition.get("isOptional")) or "defaultValue" in definition,
                description=str(definition.get("description", "")),
            )
        )
    return fields


def _parse(text: str, kind: str) -> Any:
    if kind == "NUMBER_INTEGER":
        number = float(text)
        if not number.is_integer():
            raise ValueError("must be a whole number")
        return int(number)
    if kind == "NUMBER_DOUBLE":
        return float(text)
    if kind == "BOOLEAN":
        if text.lower() not in ("true", "false"):
            raise ValueError("must be true or false")
        return text.lower() == "true"
    if kind == "LIST":
        value = json.loads(text)
        if not isinstance(value, list):
            raise ValueError("must be a JSON list, e.g. [1, 2]")
        return value
    if kind == "STRUCT":
        value = json.loads(text)
        if not isinstance(value, dict):
            raise ValueError('must be a JSON object, e.g. {"a": 1}')
        return value
    return text


def parse_parameters(
    spec: Mapping[str, Any], form: Mapping[str, str]
) -> tuple[dict[str, Any], list[ParameterField]]:
    """The parameter values in ``form`` (fields named ``param.<name>``), typed by the spec,
    and the fields to show again with an ``error`` on each value that does not parse.
    An empty input of a parameter with a default or marked optional is left out."""
    values: dict[str, Any] = {}
    fields: list[ParameterField] = []
    for field in parameter_fields(spec):
        text = form.get(field.field_name, "").strip()
        error = ""
        if not text:
            # An empty required string is a value; any other empty required input is missing.
            if field.type == "STRING" and not field.optional:
                values[field.name] = ""
            elif not field.optional:
                error = "required"
        else:
            try:
                values[field.name] = _parse(text, field.type)
            except ValueError as problem:
                error = str(problem) if field.type not in ("LIST", "STRUCT") else f"not valid JSON: {problem}"
        fields.append(
            ParameterField(
                name=field.name,
                type=field.type,
                value=text,
                optional=field.optional,
                description=field.description,
                error=error,
            )
        )
    return values, fields
