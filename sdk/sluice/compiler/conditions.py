"""`dsl.If` conditions as the CEL expressions of a task's `triggerPolicy.condition` (KFP's form)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sluice.dsl.channels import Channel, ConditionOperation
from sluice.dsl.errors import CompileError
from sluice.dsl.types import ParameterType, ParamType, parameter_type_of_constant

_COMPARABLE = frozenset(
    {ParameterType.STRING, ParameterType.NUMBER_INTEGER, ParameterType.NUMBER_DOUBLE, ParameterType.BOOLEAN}
)


def cel_condition(operations: list[ConditionOperation], input_name: Callable[[Channel], str]) -> str:
    """The conjunction of `operations`; `input_name` names the group input a channel arrives in."""
    return " && ".join(_operation(operation, input_name) for operation in operations)


def _operation(operation: ConditionOperation, input_name: Callable[[Channel], str]) -> str:
    operands = (operation.left, operation.right)
    kinds = [_kind(operand, operation) for operand in operands]
    distinct = set(kinds)
    if len(distinct) == 1:
        canonical = kinds[0]
    elif ParameterType.STRING in distinct:
        canonical = ParameterType.STRING
    elif ParameterType.BOOLEAN in distinct:
        canonical = ParameterType.BOOLEAN
    else:
        canonical = ParameterType.NUMBER_DOUBLE
    texts = [
        _operand(operand, kind, canonical, input_name) for operand, kind in zip(operands, kinds, strict=True)
    ]
    text = f"{texts[0]} {operation.operator} {texts[1]}"
    return f"!({text})" if operation.negate else text


def _kind(operand: Any, operation: ConditionOperation) -> ParameterType:
    if isinstance(operand, Channel):
        value_type = operand.value_type
        if not isinstance(value_type, ParamType) or value_type.kind not in _COMPARABLE:
            raise CompileError(
                f"a condition compares str, int, float or bool values; {operand.describe()} is not one",
                location=operation.location,
            )
        return value_type.kind
    constant = parameter_type_of_constant(operand)
    if constant is None or constant.kind not in _COMPARABLE:
        raise CompileError(
            f"a condition compares with a str, int, float or bool constant; got {operand!r}",
            location=operation.location,
        )
    return constant.kind


def _operand(
    operand: Any, kind: ParameterType, canonical: ParameterType, input_name: Callable[[Channel], str]
) -> str:
    if isinstance(operand, Channel):
        text = f"inputs.parameter_values['{input_name(operand)}']"
        if kind is ParameterType.NUMBER_INTEGER:
            text = f"int({text})"
    elif isinstance(operand, str):
        text = _string_literal(operand)
    elif isinstance(operand, bool):
        text = "true" if operand else "false"
    else:
        text = str(operand)
    if kind is canonical:
        return text
    if canonical is ParameterType.STRING:
        return f"string({text})" if isinstance(operand, Channel) else _string_literal(text)
    if canonical is ParameterType.BOOLEAN:
        if isinstance(operand, Channel):
            return f"({text} != 0)"
        return "false" if float(text) == 0 else "true"
    return f"double({text})"


def _string_literal(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
