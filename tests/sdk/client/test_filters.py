"""Keyword filters → KFP's filter JSON."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sluice.client import RunState, errors
from sluice.client.filters import build_filter


def predicates(**filters: object) -> list[dict[str, object]]:
    document = json.loads(build_filter(filters))  # type: ignore[arg-type]
    result: list[dict[str, object]] = document["predicates"]
    return result


def test_no_filter_is_an_empty_string() -> None:
    assert build_filter({}) == ""
    assert build_filter({"state": None}) == ""


def test_values_get_the_value_key_of_their_type() -> None:
    assert predicates(display_name="x", max_concurrency=2, no_catchup=True, ratio=0.5) == [
        {"key": "display_name", "operation": "EQUALS", "string_value": "x"},
        {"key": "max_concurrency", "operation": "EQUALS", "long_value": 2},
        {"key": "no_catchup", "operation": "EQUALS", "bool_value": True},
        {"key": "ratio", "operation": "EQUALS", "double_value": 0.5},
    ]
    assert predicates(state=RunState.FAILED) == [
        {"key": "state", "operation": "EQUALS", "string_value": "FAILED"}
    ]


def test_lookups_name_the_operation() -> None:
    moment = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2)))
    assert predicates(
        display_name__contains="train",
        state__ne="FAILED",
        created_at__gte=moment,
        max_concurrency__lt=3,
        created_at__gt=moment.astimezone(UTC),
    ) == [
        {"key": "display_name", "operation": "IS_SUBSTRING", "string_value": "train"},
        {"key": "state", "operation": "NOT_EQUALS", "string_value": "FAILED"},
        {"key": "created_at", "operation": "GREATER_THAN_EQUALS", "timestamp_value": "2026-01-02T01:04:05Z"},
        {"key": "max_concurrency", "operation": "LESS_THAN", "long_value": 3},
        {"key": "created_at", "operation": "GREATER_THAN", "timestamp_value": "2026-01-02T01:04:05Z"},
    ]


def test_lists_are_in() -> None:
    assert predicates(state=["FAILED", RunState.CANCELED], max_concurrency__in=(1, 2)) == [
        {"key": "state", "operation": "IN", "string_values": {"values": ["FAILED", "CANCELED"]}},
        {"key": "max_concurrency", "operation": "IN", "long_values": {"values": [1, 2]}},
    ]


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ({"state__near": "x"}, "unknown lookup 'near'"),
        ({"__contains": "x"}, "unknown lookup"),
        ({"state__in": "FAILED"}, "a list goes with 'in' only"),
        ({"state__ne": ["A", "B"]}, "a list goes with 'in' only"),
        ({"state": ["A", 1]}, "list of texts or of integers"),
        ({"state": object()}, "cannot filter by"),
    ],
)
def test_mistakes_are_invalid_arguments(filters: dict[str, object], message: str) -> None:
    with pytest.raises(errors.InvalidArgument, match=message):
        build_filter(filters)  # type: ignore[arg-type]
