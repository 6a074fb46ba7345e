"""Parameter coercion, number normalisation and resource quantities."""

from __future__ import annotations

import pytest

from services.core.pipeline.model import JsonValue, ParameterType
from services.core.pipeline.values import (
    ParameterValueError,
    coerce_parameter,
    normalize_numbers,
    parse_cpu,
    parse_memory,
)

T = ParameterType


def test_normalize_numbers_turns_integral_floats_into_ints_at_any_depth() -> None:
    value: JsonValue = {"a": [1.0, 2.5, {"b": 3.0}], "c": True, "d": None, "e": "4.0"}
    normalized = normalize_numbers(value)
    assert normalized == {"a": [1, 2.5, {"b": 3}], "c": True, "d": None, "e": "4.0"}
    assert type(normalized["a"][0]) is int  # type: ignore[index]
    # Past 2**53 a double no longer holds every integer: leave it alone.
    assert type(normalize_numbers(1e300)) is float


@pytest.mark.parametrize(
    ("value", "type_", "expected"),
    [
        ("x", T.STRING, "x"),
        (3.0, T.NUMBER_INTEGER, 3),
        (-2, T.NUMBER_INTEGER, -2),
        (3, T.NUMBER_DOUBLE, 3.0),
        (0.1, T.NUMBER_DOUBLE, 0.1),
        (False, T.BOOLEAN, False),
        ([1.0, [2.0]], T.LIST, [1, [2]]),
        ({"n": 1.0}, T.STRUCT, {"n": 1}),
        ({"state": "SUCCEEDED"}, T.TASK_FINAL_STATUS, {"state": "SUCCEEDED"}),
    ],
)
def test_coerce_typed_values(value: JsonValue, type_: ParameterType, expected: JsonValue) -> None:
    coerced = coerce_parameter(value, type_)
    assert coerced == expected
    assert type(coerced) is type(expected)


@pytest.mark.parametrize(
    ("value", "type_"),
    [
        ("3", T.NUMBER_INTEGER),  # text is only parsed with from_text=True
        (1.5, T.NUMBER_INTEGER),
        (True, T.NUMBER_INTEGER),
        (True, T.NUMBER_DOUBLE),
        (float("inf"), T.NUMBER_DOUBLE),
        (1, T.BOOLEAN),
        (1, T.STRING),
        (None, T.STRING),
        ({}, T.LIST),
        ([], T.STRUCT),
    ],
)
def test_coerce_refuses_other_kinds(value: JsonValue, type_: ParameterType) -> None:
    with pytest.raises(ParameterValueError) as caught:
        coerce_parameter(value, type_)
    assert caught.value.type is type_
    assert str(caught.value).endswith(caught.value.reason)


@pytest.mark.parametrize(
    ("text", "type_", "expected"),
    [
        ("3", T.NUMBER_INTEGER, 3),
        ("3.0", T.NUMBER_INTEGER, 3),
        ("1e3", T.NUMBER_INTEGER, 1000),
        ("-.5", T.NUMBER_DOUBLE, -0.5),
        ("7", T.NUMBER_DOUBLE, 7.0),
        ("FALSE", T.BOOLEAN, False),
        ("[1, 2.0]", T.LIST, [1, 2]),
        ('{"a": {"b": 1.0}}', T.STRUCT, {"a": {"b": 1}}),
        (" spaced ", T.STRING, " spaced "),
        (4, T.NUMBER_INTEGER, 4),
    ],
)
def test_coerce_text(text: JsonValue, type_: ParameterType, expected: JsonValue) -> None:
    coerced = coerce_parameter(text, type_, from_text=True)
    assert coerced == expected
    assert type(coerced) is type(expected)


@pytest.mark.parametrize(
    ("text", "type_", "reason"),
    [
        ("1_000", T.NUMBER_INTEGER, "not a number"),
        ("inf", T.NUMBER_DOUBLE, "not a number"),
        ("", T.NUMBER_INTEGER, "not a number"),
        ("2.5", T.NUMBER_INTEGER, "expected an integer, got a fractional number"),
        ("1", T.BOOLEAN, "expected true or false"),
        ('{"a": 1}', T.LIST, "expected a list"),
        ("nope", T.STRUCT, "not valid JSON"),
    ],
)
def test_coerce_text_refusals_quote_the_original_text(text: str, type_: ParameterType, reason: str) -> None:
    with pytest.raises(ParameterValueError) as caught:
        coerce_parameter(text, type_, from_text=True)
    assert caught.value.value == text
    assert caught.value.reason == reason


def test_resource_quantities() -> None:
    assert parse_cpu("500m") == 0.5
    assert parse_cpu("2") == 2.0
    assert parse_cpu("0.25") == 0.25
    assert parse_memory("1G") == 1e9
    assert parse_memory("512Mi") == 512 * 2**20
    assert parse_memory("1.5Gi") == 1.5 * 2**30
    assert parse_memory("128974848") == 128974848
    assert parse_memory("1e3") == 1000
    assert parse_memory("1E") == 1e18
    for bad_cpu in ("2 cores", "m", "-1", "1Gi"):
        with pytest.raises(ValueError, match="quantity"):
            parse_cpu(bad_cpu)
    for bad_memory in ("lots", "1GB", ""):
        with pytest.raises(ValueError, match="quantity"):
            parse_memory(bad_memory)
