"""CEL expressions of the IR: trigger conditions and parameter selectors, via cel-python."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

import celpy
from celpy import celtypes
from celpy.adapter import json_to_cel
from celpy.evaluation import CELEvalError

from services.core.pipeline.model import JsonValue


class ExpressionError(Exception):
    """A CEL expression could not be compiled or evaluated."""


@lru_cache(maxsize=256)
def _program(expression: str) -> Any:
    environment = celpy.Environment()
    try:
        ast = environment.compile(expression)
    except Exception as error:  # celpy raises its own CELParseError family
        raise ExpressionError(f"cannot compile CEL expression {expression!r}: {error}") from error
    return environment.program(ast, functions={"parseJson": _parse_json})


def _parse_json(value: Any) -> Any:
    return json_to_cel(json.loads(str(value)))


def _to_python(value: Any) -> JsonValue:
    if isinstance(value, celtypes.BoolType):
        return bool(value)
    if isinstance(value, celtypes.IntType | celtypes.UintType):
        return int(value)
    if isinstance(value, celtypes.DoubleType):
        return float(value)
    if isinstance(value, celtypes.StringType):
        return str(value)
    if isinstance(value, celtypes.MapType):
        return {str(k): _to_python(v) for k, v in value.items()}
    if isinstance(value, celtypes.ListType):
        return [_to_python(v) for v in value]
    if value is None or isinstance(value, celtypes.NullType):
        return None
    return str(value)


def evaluate(expression: str, activation: dict[str, JsonValue]) -> JsonValue:
    """Evaluate `expression` with `activation` bound as CEL values."""
    program = _program(expression)
    try:
        result = program.evaluate({name: json_to_cel(value) for name, value in activation.items()})
    except Exception as error:
        raise ExpressionError(f"cannot evaluate CEL expression {expression!r}: {error}") from error
    if isinstance(result, CELEvalError):
        raise ExpressionError(f"cannot evaluate CEL expression {expression!r}: {result}")
    return _to_python(result)


def condition_holds(expression: str, parameters: dict[str, JsonValue]) -> bool:
    """A `triggerPolicy.condition` over the task's input parameter values."""
    result = evaluate(expression, {"inputs": {"parameter_values": parameters}})
    if not isinstance(result, bool):
        raise ExpressionError(f"condition {expression!r} gave {result!r}, not a boolean")
    return result


def apply_selector(selector: str, value: JsonValue) -> JsonValue:
    """A `parameterExpressionSelector`: KFP binds the value as `string_value` (JSON text for
    structured values) for sub-key access such as `parseJson(string_value)["a"]`."""
    text = value if isinstance(value, str) else json.dumps(value)
    return evaluate(selector, {"string_value": text})
