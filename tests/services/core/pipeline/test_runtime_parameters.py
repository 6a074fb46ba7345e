"""Run parameters: defaults, coercion of API values and UI text, and named refusals."""

from __future__ import annotations

import pytest

from services.core.errors import InvalidArgument
from services.core.pipeline.ir import load_pipeline
from services.core.pipeline.model import JsonValue, Pipeline
from services.core.pipeline.runtime_parameters import resolve_run_parameters


@pytest.fixture(scope="module")
def types_pipeline(compiled: dict[str, bytes]) -> Pipeline:
    """Parameters s: str and i: int (required), f, b, xs, d (defaults) and o (optional)."""
    return load_pipeline(compiled["types"])


def _refusal(pipeline: Pipeline, given: dict[str, JsonValue]) -> str:
    with pytest.raises(InvalidArgument) as caught:
        resolve_run_parameters(pipeline, given)
    assert caught.value.field == "runtime_config.parameters"
    return caught.value.message


def test_defaults_fill_in_and_optional_without_default_stays_unset(types_pipeline: Pipeline) -> None:
    resolved = resolve_run_parameters(types_pipeline, {"s": "x", "i": 2})
    assert resolved == {"s": "x", "i": 2, "f": 2.5, "b": False, "xs": [1, 2, 3], "d": {"k": 1}}


def test_protobuf_doubles_are_coerced(types_pipeline: Pipeline) -> None:
    given: dict[str, JsonValue] = {"s": "x", "i": 3.0, "f": 1, "xs": [4.0, 5.5], "d": {"k": 2.0}, "o": "set"}
    resolved = resolve_run_parameters(types_pipeline, given)
    assert resolved["i"] == 3
    assert type(resolved["i"]) is int
    assert resolved["f"] == 1.0
    assert type(resolved["f"]) is float
    assert resolved["xs"] == [4, 5.5]
    assert type(resolved["xs"][0]) is int
    assert resolved["d"] == {"k": 2}
    assert resolved["o"] == "set"


def test_ui_text_is_parsed(types_pipeline: Pipeline) -> None:
    given: dict[str, JsonValue] = {
        "s": "42",
        "i": " 7 ",
        "f": "0.5",
        "b": "True",
        "xs": "[1, 2]",
        "d": '{"a": 1.0}',
    }
    assert resolve_run_parameters(types_pipeline, given) == {
        "s": "42",
        "i": 7,
        "f": 0.5,
        "b": True,
        "xs": [1, 2],
        "d": {"a": 1},
    }


def test_null_means_not_given(types_pipeline: Pipeline) -> None:
    resolved = resolve_run_parameters(types_pipeline, {"s": "x", "i": 1, "f": None, "o": None})
    assert resolved["f"] == 2.5
    assert "o" not in resolved


def test_missing_required_parameters(types_pipeline: Pipeline) -> None:
    assert _refusal(types_pipeline, {"s": "x"}) == (
        "invalid run parameters: missing required parameter 'i' of type NUMBER_INTEGER"
    )
    message = _refusal(types_pipeline, {})
    assert "missing required parameter 'i'" in message
    assert "missing required parameter 's' of type STRING" in message


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("i", "abc", "parameter 'i' of type NUMBER_INTEGER cannot take 'abc': not a number"),
        (
            "i",
            1.5,
            "parameter 'i' of type NUMBER_INTEGER cannot take 1.5: "
            "expected an integer, got a fractional number",
        ),
        ("i", "1.5", "parameter 'i' of type NUMBER_INTEGER cannot take '1.5'"),
        ("i", True, "parameter 'i' of type NUMBER_INTEGER cannot take true: expected an integer"),
        ("xs", {"a": 1}, "parameter 'xs' of type LIST cannot take {\"a\": 1}: expected a list"),
        ("xs", "[1,", "parameter 'xs' of type LIST cannot take '[1,': not valid JSON"),
        ("d", "[1]", "parameter 'd' of type STRUCT cannot take '[1]': expected a JSON object"),
        ("b", "yes", "parameter 'b' of type BOOLEAN cannot take 'yes': expected true or false"),
        ("b", 1, "parameter 'b' of type BOOLEAN cannot take 1: expected true or false"),
        ("f", "nan", "parameter 'f' of type NUMBER_DOUBLE cannot take 'nan': not a number"),
        ("s", 5, "parameter 's' of type STRING cannot take 5: expected a string"),
    ],
)
def test_wrong_types_name_parameter_type_and_value(
    types_pipeline: Pipeline, name: str, value: JsonValue, expected: str
) -> None:
    given: dict[str, JsonValue] = {"s": "x", "i": 1, name: value}
    assert expected in _refusal(types_pipeline, given)


def test_unknown_parameter(types_pipeline: Pipeline) -> None:
    message = _refusal(types_pipeline, {"s": "x", "i": 1, "learning_rate": 0.1})
    assert message == (
        "invalid run parameters: unknown parameter 'learning_rate' "
        "(the pipeline's parameters: 'b', 'd', 'f', 'i', 'o', 's', 'xs')"
    )


def test_all_problems_are_reported_together(types_pipeline: Pipeline) -> None:
    message = _refusal(types_pipeline, {"extra": 1, "i": "x"})
    assert message.count("; ") == 2
    assert "unknown parameter 'extra'" in message
    assert "missing required parameter 's'" in message
    assert "parameter 'i' of type NUMBER_INTEGER cannot take 'x'" in message


def test_pipeline_without_parameters(compiled: dict[str, bytes]) -> None:
    pipeline = load_pipeline(compiled["artifacts"])
    assert resolve_run_parameters(pipeline, {}) == {}
    assert "(the pipeline's parameters: none)" in _refusal(pipeline, {"x": 1})
