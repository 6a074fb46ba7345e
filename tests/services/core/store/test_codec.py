from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from services.core.store.codec import decode_datetime, encode_datetime, from_document, to_document
from services.core.store.records import (
    ErrorInfo,
    ExperimentRecord,
    RunRecord,
    RuntimeState,
    StateChange,
    TaskKind,
    TaskRecord,
)
from tests.contract.store import builders

FULL_RECORDS: list[Callable[[], Any]] = [
    builders.full_experiment,
    builders.full_pipeline,
    lambda: builders.full_version("pl-1"),
    builders.full_run,
    lambda: builders.full_task("run-1"),
    builders.full_recurring_run,
    builders.full_artifact,
]


@pytest.mark.parametrize("make", FULL_RECORDS, ids=lambda make: type(make()).__name__)
def test_every_record_round_trips_through_json(make: Callable[[], Any]) -> None:
    record = make()
    document = to_document(record)
    through_json = json.loads(json.dumps(document))
    assert from_document(type(record), through_json) == record
    assert from_document(type(record), document) == record


@pytest.mark.parametrize("make", FULL_RECORDS, ids=lambda make: type(make()).__name__)
def test_every_field_of_the_full_records_differs_from_its_default(make: Callable[[], Any]) -> None:
    """Guards the round-trip test: a field left at its default would not prove much."""
    record = make()
    for field in dataclasses.fields(record):
        if field.default is not dataclasses.MISSING:
            assert getattr(record, field.name) != field.default, field.name
        elif field.default_factory is not dataclasses.MISSING:
            assert getattr(record, field.name) != field.default_factory(), field.name


def test_json_values_keep_their_types() -> None:
    task = builders.full_task("run-1")
    restored = from_document(TaskRecord, json.loads(json.dumps(to_document(task))))
    assert type(restored.input_parameters["whole_float"]) is float
    assert type(restored.input_parameters["int"]) is int
    assert restored.input_parameters["nested"] == {"a": {"b": {"c": [1, {"d": 1e-9}]}}}
    assert type(restored.output_artifacts["model"][0]).__name__ == "ArtifactRef"
    assert restored.attempts[0].error == ErrorInfo(message="boom: exit code 3", code=13)
    assert restored.state_history[2].state is RuntimeState.FAILED


def test_documents_are_plain_json() -> None:
    run = builders.full_run()
    document = to_document(run)
    assert document["state"] == "FAILED"
    assert document["created_at"] == "2024-05-01T12:00:00.500000+00:00"
    assert document["error"] == {"message": "boom: exit code 3", "code": 13}
    history = document["state_history"]
    assert isinstance(history, list)
    assert history[0] == {"state": "PENDING", "time": "2024-05-01T12:00:01.000000+00:00", "error": None}


def test_documents_do_not_share_json_with_the_record() -> None:
    run = builders.run(parameters={"list": [1]})
    document = to_document(run)
    parameters = document["parameters"]
    assert isinstance(parameters, dict)
    parameters["list"] = [2]
    assert run.parameters == {"list": [1]}


def test_unknown_keys_are_ignored_and_missing_ones_defaulted() -> None:
    experiment = ExperimentRecord(experiment_id="e", display_name="n", created_at=builders.T0)
    document = {
        "_id": "e",
        "experiment_id": "e",
        "display_name": "n",
        "created_at": encode_datetime(builders.T0),
    }
    assert from_document(ExperimentRecord, document) == experiment


def test_nested_optional_none() -> None:
    change = StateChange(state=RuntimeState.RUNNING, time=builders.T0)
    assert from_document(StateChange, to_document(change)) == change
    task = builders.task("run-1", kind=TaskKind.LOOP, error=None, start_time=None)
    assert from_document(TaskRecord, to_document(task)) == task


def test_refuses_what_is_not_a_record() -> None:
    with pytest.raises(TypeError):
        to_document({"a": 1})
    with pytest.raises(TypeError):
        to_document(RunRecord)
    with pytest.raises(TypeError):
        from_document(dict, {})


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (datetime(2024, 5, 1, 12, tzinfo=UTC), "2024-05-01T12:00:00.000000+00:00"),
        (
            datetime(2024, 5, 1, 14, 0, 0, 7, tzinfo=timezone(timedelta(hours=2))),
            "2024-05-01T12:00:00.000007+00:00",
        ),
        (datetime(2024, 5, 1, 12), "2024-05-01T12:00:00.000000+00:00"),
    ],
)
def test_datetimes_are_fixed_width_utc(value: datetime, text: str) -> None:
    assert encode_datetime(value) == text
    decoded = decode_datetime(text)
    assert decoded.tzinfo is UTC
    assert decoded == (value if value.tzinfo else value.replace(tzinfo=UTC))


def test_encoded_datetimes_sort_in_time_order() -> None:
    times = [builders.at(s) for s in (-86400 * 400, -1, -0.000001, 0, 0.000001, 0.5, 9, 10, 86400 * 40)]
    zones = [timezone(timedelta(hours=h)) for h in (-11, 0, 5, 13)]
    encoded = [encode_datetime(t.astimezone(zones[i % len(zones)])) for i, t in enumerate(times)]
    assert sorted(encoded) == encoded
