"""Parameter values: coercion to a declared `ParameterType`, and number normalisation.

The IR carries values as protobuf `Value`s, whose numbers are doubles: `3` arrives as `3.0`.
Everything that moves a parameter value (run creation, the scheduler, the executor) passes
it through `coerce_parameter` so a `NUMBER_INTEGER` stays an `int`, and `normalize_numbers`
keeps integral numbers integral inside lists and structs (`[1, 4]`, not `[1.0, 4.0]`).

Two strictness levels:

- a **typed** value (IR constants, defaults, executor outputs, API values) must already be of
  the declared kind; only the double-for-integer representation is repaired;
- a **text** value (`from_text=True`: an output parameter file, a form field of the UI) is
  parsed: numbers from their decimal text, booleans from `true`/`false` (any case), lists
  and structs from JSON text. A `STRING` parameter takes the text as it is.

This module also parses Kubernetes resource quantities (`"500m"` CPU, `"512Mi"` memory),
for the placeholders a pipeline parameter can put into a container's resources.
"""

from __future__ import annotations

import json
import math
import re

from services.core.pipeline.model import JsonValue, ParameterType

# Beyond 2**53 a double no longer holds every integer: such floats are left as they are.
_EXACT_INTEGER_LIMIT = 2**53

# Decimal text as a person types it: "3", "-2", "1.5", ".5", "1e3" (no "nan", "inf", "1_000").
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_INTEGER = re.compile(r"[+-]?[0-9]+")

_STRUCT_TYPES = frozenset({ParameterType.STRUCT, ParameterType.TASK_FINAL_STATUS, ParameterType.TASK_CONFIG})


class ParameterValueError(ValueError):
    """A value does not fit a parameter type. `reason` says why, for callers to prefix."""

    def __init__(self, value: JsonValue, type_: ParameterType, reason: str) -> None:
        super().__init__(f"{describe_value(value)} is not a valid {type_.value}: {reason}")
        self.value = value
        self.type = type_
        self.reason = reason


def describe_value(value: JsonValue, limit: int = 80) -> str:
    """A short, quoted rendering of a value for error messages."""
    text = repr(value) if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def normalize_numbers(value: JsonValue) -> JsonValue:
    """Every integral float, at any depth, becomes an `int` (`[1.0, 2.5]` → `[1, 2.5]`).

    Use it on lists and structs; a scalar with a declared type goes through `coerce_parameter`,
    which keeps a `NUMBER_DOUBLE` a float."""
    if isinstance(value, float):
        if value.is_integer() and abs(value) <= _EXACT_INTEGER_LIMIT:
            return int(value)
        return value
    if isinstance(value, list):
        return [normalize_numbers(item) for item in value]
    if isinstance(value, dict):
        return {key: normalize_numbers(item) for key, item in value.items()}
    return value


def coerce_parameter(value: JsonValue, type_: ParameterType, *, from_text: bool = False) -> JsonValue:
    """`value` as the declared `type_`, or `ParameterValueError`.

    `from_text=True` also parses a `str` value (see the module docstring); a non-`str` value is
    then still accepted when it already has the right kind."""
    if from_text and isinstance(value, str) and type_ is not ParameterType.STRING:
        parsed = _parse_text(value, type_)
        try:
            return coerce_parameter(parsed, type_)
        except ParameterValueError as error:
            raise ParameterValueError(value, type_, error.reason) from None
    if type_ is ParameterType.STRING:
        if isinstance(value, str):
            return value
        raise ParameterValueError(value, type_, "expected a string")
    if type_ is ParameterType.BOOLEAN:
        if isinstance(value, bool):
            return value
        raise ParameterValueError(value, type_, "expected true or false")
    if type_ is ParameterType.NUMBER_INTEGER:
        return _integer(value, type_)
    if type_ is ParameterType.NUMBER_DOUBLE:
        return _double(value, type_)
    if type_ is ParameterType.LIST:
        if isinstance(value, list):
            return normalize_numbers(value)
        raise ParameterValueError(value, type_, "expected a list")
    if type_ in _STRUCT_TYPES:
        if isinstance(value, dict):
            return normalize_numbers(value)
        raise ParameterValueError(value, type_, "expected a JSON object")
    raise ParameterValueError(value, type_, "unknown parameter type")  # pragma: no cover


def _integer(value: JsonValue, type_: ParameterType) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ParameterValueError(value, type_, "expected an integer")
    if isinstance(value, int):
        return value
    if not math.isfinite(value) or not value.is_integer():
        raise ParameterValueError(value, type_, "expected an integer, got a fractional number")
    return int(value)


def _double(value: JsonValue, type_: ParameterType) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ParameterValueError(value, type_, "expected a number")
    number = float(value)
    if not math.isfinite(number):
        raise ParameterValueError(value, type_, "expected a finite number")
    return number


def _parse_text(text: str, type_: ParameterType) -> JsonValue:
    stripped = text.strip()
    if type_ is ParameterType.BOOLEAN:
        lowered = stripped.lower()
        if lowered in ("true", "false"):
            return lowered == "true"
        raise ParameterValueError(text, type_, "expected true or false")
    if type_ in (ParameterType.NUMBER_INTEGER, ParameterType.NUMBER_DOUBLE):
        if _INTEGER.fullmatch(stripped):
            return int(stripped)
        if _DECIMAL.fullmatch(stripped):
            return float(stripped)
        raise ParameterValueError(text, type_, "not a number")
    try:
        parsed: JsonValue = json.loads(stripped)
    except ValueError:
        raise ParameterValueError(text, type_, "not valid JSON") from None
    return parsed


# --- Kubernetes resource quantities -------------------------------------------------

_MEMORY_SUFFIXES: dict[str, float] = {
    "": 1.0,
    "k": 1e3,
    "K": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "P": 1e15,
    "E": 1e18,
    "Ki": 2.0**10,
    "Mi": 2.0**20,
    "Gi": 2.0**30,
    "Ti": 2.0**40,
    "Pi": 2.0**50,
    "Ei": 2.0**60,
}
_QUANTITY = re.compile(r"^\s*([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE]([+-]?[0-9]+))?([A-Za-z]*)\s*$")


def parse_cpu(text: str) -> float:
    """A CPU quantity in cores: `"500m"` → 0.5, `"2"` → 2.0. `ValueError` if malformed."""
    number, suffix = _quantity(text)
    if suffix == "m":
        return number / 1000
    if suffix:
        raise ValueError(f"invalid CPU quantity {text!r}: unknown suffix {suffix!r}")
    return number


def parse_memory(text: str) -> float:
    """A memory quantity in bytes: `"1G"` → 1e9, `"512Mi"` → 536870912.0. `ValueError` if malformed."""
    number, suffix = _quantity(text)
    if suffix not in _MEMORY_SUFFIXES:
        raise ValueError(f"invalid memory quantity {text!r}: unknown suffix {suffix!r}")
    return number * _MEMORY_SUFFIXES[suffix]


def _quantity(text: str) -> tuple[float, str]:
    match = _QUANTITY.match(text)
    if match is None:
        raise ValueError(f"invalid resource quantity {text!r}")
    mantissa, exponent, suffix = match.groups()
    number = float(mantissa) * (10.0 ** int(exponent) if exponent else 1.0)
    return number, suffix
