from __future__ import annotations

import dataclasses
import json
import urllib.parse
from datetime import UTC, datetime
from typing import Any

import pytest
from kfp.client.client import _FILTER_OPERATIONS
from kfp_server_api.models.v2beta1_predicate_operation import (  # type: ignore[import-untyped]
    V2beta1PredicateOperation,
)

from services.core.errors import InvalidArgument
from services.core.store.filters import (
    ARTIFACT_FIELDS,
    EXPERIMENT_FIELDS,
    OPERATION_NUMBERS,
    PIPELINE_FIELDS,
    PIPELINE_VERSION_FIELDS,
    RECURRING_RUN_FIELDS,
    RUN_FIELDS,
    FieldKind,
    check_query,
    parse_filter,
    parse_list_query,
    parse_page_size,
    parse_sort_by,
)
from services.core.store.query import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, ListQuery, Operation, Predicate
from services.core.store.records import (
    ArtifactRecord,
    ExperimentRecord,
    PipelineRecord,
    PipelineVersionRecord,
    RecurringRunRecord,
    RecurringRunStatus,
    RunRecord,
    RuntimeState,
    StorageState,
)

ALL_TABLES = [
    (EXPERIMENT_FIELDS, ExperimentRecord),
    (PIPELINE_FIELDS, PipelineRecord),
    (PIPELINE_VERSION_FIELDS, PipelineVersionRecord),
    (RUN_FIELDS, RunRecord),
    (RECURRING_RUN_FIELDS, RecurringRunRecord),
    (ARTIFACT_FIELDS, ArtifactRecord),
]


def one(predicate: dict[str, Any], fields: Any = RUN_FIELDS) -> Predicate:
    (parsed,) = parse_filter(json.dumps({"predicates": [predicate]}), fields)
    return parsed


def refused(predicate: dict[str, Any] | str, fields: Any = RUN_FIELDS) -> str:
    text = predicate if isinstance(predicate, str) else json.dumps({"predicates": [predicate]})
    with pytest.raises(InvalidArgument) as raised:
        parse_filter(text, fields)
    return raised.value.message


# --- the tables ---------------------------------------------------------------------------


@pytest.mark.parametrize(("fields", "record"), ALL_TABLES, ids=lambda v: getattr(v, "resource", ""))
def test_every_field_is_a_record_attribute(fields: Any, record: Any) -> None:
    attributes = {field.name for field in dataclasses.fields(record)}
    assert {spec.name for spec in fields.fields} <= attributes
    assert fields.fields[0].name == fields.id_field
    assert set(fields.aliases.values()) <= attributes
    assert all((spec.kind is FieldKind.ENUM) == (spec.enum is not None) for spec in fields.fields)


def test_operation_numbers_are_kfps() -> None:
    assert {op.value: number for number, op in OPERATION_NUMBERS.items()} == _FILTER_OPERATIONS
    assert [op.value for op in Operation] == V2beta1PredicateOperation.allowable_values[1:]


# --- page_size and sort_by ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (None, DEFAULT_PAGE_SIZE),
        ("", DEFAULT_PAGE_SIZE),
        (0, DEFAULT_PAGE_SIZE),
        (1, 1),
        ("50", 50),
        (MAX_PAGE_SIZE, MAX_PAGE_SIZE),
        (MAX_PAGE_SIZE + 1, MAX_PAGE_SIZE),
        ("100000", MAX_PAGE_SIZE),
    ],
)
def test_page_size(given: int | str | None, expected: int) -> None:
    assert parse_page_size(given) == expected


@pytest.mark.parametrize("given", [-1, "-5", "ten", "1.5"])
def test_bad_page_size(given: int | str) -> None:
    with pytest.raises(InvalidArgument) as raised:
        parse_page_size(given)
    assert raised.value.field == "page_size"


@pytest.mark.parametrize(
    ("sort_by", "expected"),
    [
        ("", ("created_at", False)),
        ("created_at", ("created_at", False)),
        ("createdAt desc", ("created_at", True)),
        ("  display_name   DESC ", ("display_name", True)),
        ("displayName asc", ("display_name", False)),
        ("name", ("display_name", False)),
        ("id desc", ("run_id", True)),
        ("finishedAt", ("finished_at", False)),
    ],
)
def test_sort_by(sort_by: str, expected: tuple[str, bool]) -> None:
    assert parse_sort_by(sort_by, RUN_FIELDS) == expected


def test_name_is_its_own_field_for_pipelines() -> None:
    assert parse_sort_by("name desc", PIPELINE_FIELDS) == ("name", True)
    assert parse_sort_by("display_name", PIPELINE_FIELDS) == ("display_name", False)


@pytest.mark.parametrize(
    "sort_by", ["colour", "created_at sideways", "created_at desc extra", "pipeline_spec"]
)
def test_bad_sort_by(sort_by: str) -> None:
    with pytest.raises(InvalidArgument) as raised:
        parse_sort_by(sort_by, RUN_FIELDS)
    assert raised.value.field == "sort_by"
    assert sort_by.split()[0] in raised.value.message or sort_by in raised.value.message


def test_parse_list_query() -> None:
    query = parse_list_query(
        RUN_FIELDS,
        page_size="5",
        page_token=" token ",
        sort_by="createdAt desc",
        filter_json='{"predicates": [{"key": "state", "operation": "EQUALS", "string_value": "RUNNING"}]}',
    )
    assert query == ListQuery(
        page_size=5,
        page_token="token",
        sort_field="created_at",
        sort_descending=True,
        predicates=(Predicate("state", Operation.EQUALS, RuntimeState.RUNNING),),
    )
    assert parse_list_query(RUN_FIELDS) == ListQuery()


# --- filter: operations, keys, values -----------------------------------------------------


@pytest.mark.parametrize("operation", list(Operation))
def test_operation_by_name_and_number(operation: Operation) -> None:
    number = next(n for n, op in OPERATION_NUMBERS.items() if op is operation)
    value_key = "string_values" if operation is Operation.IN else "string_value"
    value: Any = {"values": ["x"]} if operation is Operation.IN else "x"
    for spelling in (operation.value, operation.value.lower(), number, str(number)):
        parsed = one({"key": "display_name", "operation": spelling, value_key: value})
        assert parsed.operation is operation


@pytest.mark.parametrize(
    ("key", "field"),
    [
        ("display_name", "display_name"),
        ("displayName", "display_name"),
        ("name", "display_name"),
        ("run_id", "run_id"),
        ("runId", "run_id"),
        ("id", "run_id"),
        ("experiment_id", "experiment_id"),
        ("experimentId", "experiment_id"),
        ("pipelineVersionId", "pipeline_version_id"),
        ("recurring_run_id", "recurring_run_id"),
        ("namespace", "namespace"),
    ],
)
def test_keys_in_snake_and_camel_case(key: str, field: str) -> None:
    assert one({"key": key, "operation": 1, "stringValue": "x"}).field == field


@pytest.mark.parametrize(
    ("fields", "key", "field"),
    [
        (EXPERIMENT_FIELDS, "name", "display_name"),
        (RECURRING_RUN_FIELDS, "name", "display_name"),
        (PIPELINE_FIELDS, "name", "name"),
        (PIPELINE_VERSION_FIELDS, "name", "name"),
        (ARTIFACT_FIELDS, "name", "name"),
        (PIPELINE_VERSION_FIELDS, "pipelineId", "pipeline_id"),
        (EXPERIMENT_FIELDS, "id", "experiment_id"),
    ],
)
def test_name_means_what_kfp_means(fields: Any, key: str, field: str) -> None:
    assert one({"key": key, "operation": "EQUALS", "string_value": "x"}, fields).field == field


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"string_value": "SUCCEEDED"}, RuntimeState.SUCCEEDED),
        ({"stringValue": "succeeded"}, RuntimeState.SUCCEEDED),
        ({"stringValue": " Running "}, RuntimeState.RUNNING),
    ],
)
def test_enum_values_by_name(value: dict[str, Any], expected: RuntimeState) -> None:
    parsed = one({"key": "state", "operation": "EQUALS", **value})
    assert parsed.value is expected


def test_enum_in_and_other_enums() -> None:
    parsed = one({"key": "state", "operation": 8, "stringValues": {"values": ["RUNNING", "pending"]}})
    assert parsed.value == (RuntimeState.RUNNING, RuntimeState.PENDING)
    archived = one({"key": "storageState", "operation": 2, "string_value": "ARCHIVED"})
    assert archived.value is StorageState.ARCHIVED
    status = one({"key": "status", "operation": 1, "string_value": "DISABLED"}, RECURRING_RUN_FIELDS)
    assert status.value is RecurringRunStatus.DISABLED


MAY_1 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"timestamp_value": "2024-05-01T12:00:00Z"}, MAY_1),
        ({"timestampValue": "2024-05-01T14:00:00+02:00"}, MAY_1),
        ({"timestampValue": "2024-05-01T12:00:00.123456789Z"}, MAY_1.replace(microsecond=123456)),
        ({"timestampValue": "2024-05-01T12:00:00.5Z"}, MAY_1.replace(microsecond=500000)),
        ({"timestampValue": "2024-05-01T12:00:00"}, MAY_1),
        ({"timestampValue": int(MAY_1.timestamp())}, MAY_1),
        ({"timestampValue": MAY_1.timestamp() + 0.25}, MAY_1.replace(microsecond=250000)),
        ({"timestampValue": str(int(MAY_1.timestamp()))}, MAY_1),
        (
            {"timestampValue": {"seconds": str(int(MAY_1.timestamp())), "nanos": 7000}},
            MAY_1.replace(microsecond=7),
        ),
        ({"long_value": str(int(MAY_1.timestamp()))}, MAY_1),
        ({"intValue": int(MAY_1.timestamp())}, MAY_1),
    ],
)
def test_timestamps_as_rfc3339_or_seconds(value: dict[str, Any], expected: datetime) -> None:
    parsed = one({"key": "created_at", "operation": "GREATER_THAN", **value})
    assert parsed.value == expected
    assert isinstance(parsed.value, datetime)
    assert parsed.value.tzinfo is not None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"int_value": 3}, 3),
        ({"intValue": "3"}, 3),
        ({"long_value": "9007199254740993"}, 9007199254740993),
        ({"longValue": 4}, 4),
        ({"double_value": 2.5}, 2.5),
        ({"doubleValue": 2}, 2),
    ],
)
def test_int_values(value: dict[str, Any], expected: int | float) -> None:
    parsed = one({"key": "maxConcurrency", "operation": 3, **value}, RECURRING_RUN_FIELDS)
    assert parsed.value == expected


def test_int_lists_and_bool() -> None:
    ints = one({"key": "size_bytes", "operation": "IN", "int_values": {"values": [1, "2"]}}, ARTIFACT_FIELDS)
    assert ints.value == (1, 2)
    longs = one({"key": "sizeBytes", "operation": "IN", "longValues": {"values": ["10"]}}, ARTIFACT_FIELDS)
    assert longs.value == (10,)
    flag = one({"key": "no_catchup", "operation": "EQUALS", "bool_value": True}, RECURRING_RUN_FIELDS)
    assert flag.value is True


def test_string_lists_also_as_bare_lists() -> None:
    parsed = one({"key": "name", "operation": "IN", "string_values": ["a", "b"]})
    assert parsed.value == ("a", "b")


def test_several_predicates_and_empty_filters() -> None:
    text = json.dumps(
        {
            "predicates": [
                {"key": "state", "operation": 1, "stringValue": "RUNNING"},
                {"key": "name", "operation": 9, "stringValue": "train"},
            ]
        }
    )
    assert [p.field for p in parse_filter(text, RUN_FIELDS)] == ["state", "display_name"]
    assert parse_filter("", RUN_FIELDS) == ()
    assert parse_filter("  ", RUN_FIELDS) == ()
    assert parse_filter("{}", RUN_FIELDS) == ()
    assert parse_filter('{"predicates": []}', RUN_FIELDS) == ()


def test_percent_encoded_filter() -> None:
    text = urllib.parse.quote('{"predicates":[{"key":"name","operation":1,"stringValue":"a+b"}]}')
    assert text.startswith("%7B")
    assert parse_filter(text, RUN_FIELDS) == (Predicate("display_name", Operation.EQUALS, "a+b"),)
    # Already decoded JSON is not decoded again: "+" and "%" stay as they are.
    decoded = '{"predicates":[{"key":"name","operation":1,"stringValue":"a+b %41"}]}'
    assert parse_filter(decoded, RUN_FIELDS)[0].value == "a+b %41"


# --- filter errors ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "mentions"),
    [
        ("{not json", "not valid JSON"),
        ("[]", "JSON object"),
        ('{"predicates": {}}', "must be a list"),
        ('{"predicate": []}', "predicate"),
        ('{"predicates": [1]}', "must be an object"),
    ],
)
def test_malformed_filter(text: str, mentions: str) -> None:
    assert mentions in refused(text)


@pytest.mark.parametrize(
    ("predicate", "mentions"),
    [
        ({"operation": 1, "string_value": "x"}, "without a 'key'"),
        ({"key": "colour", "operation": 1, "string_value": "x"}, "'colour'"),
        ({"key": "pipeline_spec", "operation": 1, "string_value": "x"}, "'pipeline_spec'"),
        ({"key": "name", "string_value": "x"}, "operation"),
        ({"key": "name", "operation": "LIKE", "string_value": "x"}, "'LIKE'"),
        ({"key": "name", "operation": 4, "string_value": "x"}, "4"),
        ({"key": "name", "operation": 0, "string_value": "x"}, "0"),
        ({"key": "name", "operation": True, "string_value": "x"}, "operation"),
        ({"key": "name", "operation": 1}, "exactly one value"),
        ({"key": "name", "operation": 1, "string_value": "x", "int_value": 1}, "exactly one value"),
        ({"key": "name", "operation": 1, "float_value": 1.0}, "float_value"),
        ({"key": "name", "operation": 1, "int_value": 1}, "int_value"),
        ({"key": "name", "operation": 1, "string_value": 5}, "string_value"),
        ({"key": "name", "operation": "IN", "string_value": "x"}, "IN needs"),
        ({"key": "name", "operation": "IN", "string_values": "x"}, "values"),
        ({"key": "name", "operation": 1, "string_values": {"values": ["x"]}}, "only goes with the IN"),
        ({"key": "state", "operation": 1, "string_value": "DONE"}, "'DONE' is not one of"),
        ({"key": "state", "operation": 1, "int_value": 3}, "int_value"),
        ({"key": "state", "operation": "GREATER_THAN", "string_value": "RUNNING"}, "GREATER_THAN"),
        ({"key": "state", "operation": "IS_SUBSTRING", "string_value": "RUN"}, "IS_SUBSTRING"),
        ({"key": "created_at", "operation": 1, "string_value": "2024-05-01T00:00:00Z"}, "string_value"),
        ({"key": "created_at", "operation": 1, "timestamp_value": "yesterday"}, "'yesterday'"),
        ({"key": "created_at", "operation": 1, "timestamp_value": True}, "True"),
        ({"key": "created_at", "operation": 1, "timestamp_value": 1e20}, "1e+20"),
        ({"key": "created_at", "operation": "IN", "long_values": {"values": [1]}}, "IN"),
        ({"key": "created_at", "operation": "IS_SUBSTRING", "timestamp_value": 1}, "IS_SUBSTRING"),
    ],
)
def test_bad_predicate_is_refused_with_a_reason(predicate: dict[str, Any], mentions: str) -> None:
    assert mentions in refused(predicate)


@pytest.mark.parametrize(
    ("fields", "predicate", "mentions"),
    [
        (
            RECURRING_RUN_FIELDS,
            {"key": "max_concurrency", "operation": 1, "string_value": "3"},
            "string_value",
        ),
        (RECURRING_RUN_FIELDS, {"key": "max_concurrency", "operation": 1, "int_value": "three"}, "'three'"),
        (RECURRING_RUN_FIELDS, {"key": "max_concurrency", "operation": 1, "int_value": 1.5}, "1.5"),
        (RECURRING_RUN_FIELDS, {"key": "max_concurrency", "operation": 9, "int_value": 1}, "IS_SUBSTRING"),
        (RECURRING_RUN_FIELDS, {"key": "no_catchup", "operation": 1, "string_value": "true"}, "string_value"),
        (RECURRING_RUN_FIELDS, {"key": "no_catchup", "operation": 3, "bool_value": True}, "GREATER_THAN"),
        (ARTIFACT_FIELDS, {"key": "size_bytes", "operation": "IN", "int_values": {"values": ["x"]}}, "'x'"),
        (PIPELINE_FIELDS, {"key": "state", "operation": 1, "string_value": "RUNNING"}, "'state'"),
    ],
)
def test_type_mismatch_is_refused(fields: Any, predicate: dict[str, Any], mentions: str) -> None:
    assert mentions in refused(predicate, fields)


def test_errors_name_the_field() -> None:
    with pytest.raises(InvalidArgument) as raised:
        parse_filter('{"predicates":[{"key":"colour","operation":1,"string_value":"x"}]}', RUN_FIELDS)
    assert raised.value.field == "colour"
    assert "known fields" in raised.value.message


# --- check_query --------------------------------------------------------------------------


def test_check_query_accepts_what_parse_produces() -> None:
    query = parse_list_query(
        RUN_FIELDS,
        sort_by="finished_at desc",
        filter_json=json.dumps(
            {
                "predicates": [
                    {"key": "state", "operation": "IN", "string_values": {"values": ["RUNNING"]}},
                    {
                        "key": "created_at",
                        "operation": "LESS_THAN",
                        "timestamp_value": "2024-01-01T00:00:00Z",
                    },
                    {"key": "name", "operation": "IS_SUBSTRING", "string_value": "x"},
                ]
            }
        ),
    )
    check_query(query, RUN_FIELDS)
    check_query(ListQuery(predicates=(Predicate("state", Operation.EQUALS, "RUNNING"),)), RUN_FIELDS)


@pytest.mark.parametrize(
    "query",
    [
        ListQuery(sort_field="colour"),
        ListQuery(predicates=(Predicate("colour", Operation.EQUALS, "x"),)),
        ListQuery(predicates=(Predicate("display_name", Operation.EQUALS, 3),)),
        ListQuery(predicates=(Predicate("display_name", Operation.IN, "x"),)),
        ListQuery(predicates=(Predicate("display_name", Operation.EQUALS, ("x",)),)),
        ListQuery(predicates=(Predicate("created_at", Operation.EQUALS, datetime(2024, 1, 1)),)),
        ListQuery(predicates=(Predicate("state", Operation.EQUALS, "DONE"),)),
        ListQuery(predicates=(Predicate("state", Operation.LESS_THAN, RuntimeState.RUNNING),)),
    ],
)
def test_check_query_refuses(query: ListQuery) -> None:
    with pytest.raises(InvalidArgument):
        check_query(query, RUN_FIELDS)
