"""Parameter values as the executor handles them (pure).

Coercion itself is `services.core.pipeline.values.coerce_parameter`, shared by every
service; this module adds what the executor needs around it: errors that name the
parameter, tolerance for types Sluice does not know, and the text form a value takes in
a placeholder.
"""

from __future__ import annotations

import json

from services.core.errors import InvalidArgument
from services.core.pipeline.model import JsonValue, ParameterType
from services.core.pipeline.values import ParameterValueError, coerce_parameter, normalize_numbers


def to_text(value: JsonValue) -> str:
    """The text a placeholder holds: strings raw, everything else JSON (`[1, 4]`, `true`)."""
    if isinstance(value, str):
        return value
    return json.dumps(value)


def coerce(value: JsonValue, declared: ParameterType | None, *, name: str) -> JsonValue:
    """A typed value (from a dispatch or an ExecutorOutput) as its declared type.

    An unknown type (None) only has its integral numbers made ints. Raises
    InvalidArgument naming the parameter when the value does not fit.
    """
    if declared is None:
        return normalize_numbers(value)
    try:
        return coerce_parameter(value, declared)
    except ParameterValueError as error:
        raise InvalidArgument(f"parameter {name!r}: {error}", field=name) from None


def parse_output_text(text: str, declared: ParameterType | None, *, name: str) -> JsonValue:
    """An output parameter read from its output file: STRING raw, the rest parsed.

    Raises InvalidArgument naming the parameter when the text does not parse as its type.
    """
    if declared is None:
        return text
    try:
        return coerce_parameter(text, declared, from_text=True)
    except ParameterValueError as error:
        raise InvalidArgument(f"output parameter {name!r}: {error}", field=name) from None
