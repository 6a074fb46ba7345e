from __future__ import annotations

import pytest

from services.core.errors import InvalidArgument
from services.core.pipeline.model import JsonValue, ParameterType
from services.executor.parameters import coerce, parse_output_text, to_text

T = ParameterType


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("raw string", "raw string"),
        (3, "3"),
        (2.5, "2.5"),
        (True, "true"),
        (None, "null"),
        ([1, 4], "[1, 4]"),
        ({"a": 1, "b": [True]}, '{"a": 1, "b": [true]}'),
    ],
)
def test_to_text_is_raw_for_strings_and_json_otherwise(value: JsonValue, text: str) -> None:
    assert to_text(value) == text


@pytest.mark.parametrize(
    ("value", "declared", "expected"),
    [
        ("s", T.STRING, "s"),
        (3.0, T.NUMBER_INTEGER, 3),
        (3, T.NUMBER_DOUBLE, 3.0),
        (True, T.BOOLEAN, True),
        ([1.0, 4.0], T.LIST, [1, 4]),
        ({"n": 2.0, "x": [1.0]}, T.STRUCT, {"n": 2, "x": [1]}),
        (
            {"state": "FAILED", "error": {"code": 2.0}},
            T.TASK_FINAL_STATUS,
            {"state": "FAILED", "error": {"code": 2}},
        ),
        ({"env": [1.0]}, T.TASK_CONFIG, {"env": [1]}),
        (5.0, None, 5),
        ([2.0, "x"], None, [2, "x"]),
    ],
)
def test_coerce(value: JsonValue, declared: ParameterType | None, expected: JsonValue) -> None:
    coerced = coerce(value, declared, name="p")

    assert coerced == expected
    assert type(coerced) is type(expected)


@pytest.mark.parametrize(
    ("value", "declared"),
    [(2.5, T.NUMBER_INTEGER), ("7", T.NUMBER_INTEGER), (True, T.NUMBER_DOUBLE), (1, T.BOOLEAN), ({}, T.LIST)],
)
def test_coerce_errors_name_the_parameter(value: JsonValue, declared: ParameterType) -> None:
    with pytest.raises(
        InvalidArgument, match=rf"^parameter 'p': .* is not a valid {declared.value}: "
    ) as caught:
        coerce(value, declared, name="p")

    assert caught.value.field == "p"


@pytest.mark.parametrize(
    ("text", "declared", "expected"),
    [
        ("hello\n", T.STRING, "hello\n"),
        ('{"not": "parsed"}', T.STRING, '{"not": "parsed"}'),
        ("42\n", T.NUMBER_INTEGER, 42),
        ("1.5", T.NUMBER_DOUBLE, 1.5),
        ("True\n", T.BOOLEAN, True),
        ("false", T.BOOLEAN, False),
        ("[1, 4]", T.LIST, [1, 4]),
        ('{"a": [1.0]}', T.STRUCT, {"a": [1]}),
        ("free text", None, "free text"),
    ],
)
def test_parse_output_text(text: str, declared: ParameterType | None, expected: JsonValue) -> None:
    parsed = parse_output_text(text, declared, name="out")

    assert parsed == expected
    assert type(parsed) is type(expected)


def test_parse_output_text_names_the_parameter_it_cannot_parse() -> None:
    with pytest.raises(
        InvalidArgument, match=r"^output parameter 'out': 'x' is not a valid NUMBER_INTEGER"
    ) as caught:
        parse_output_text("x", T.NUMBER_INTEGER, name="out")

    assert caught.value.field == "out"
