"""A run's scalar metrics from its tasks' Metrics artifacts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.core.pipeline.model import JsonValue
from services.core.store.records import ArtifactRef, RuntimeState, TaskKind, TaskRecord
from services.scheduler.engine.metrics import run_metrics

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _task(
    path: str, *, after: int, state: RuntimeState, outputs: dict[str, list[ArtifactRef]], cached: str = ""
) -> TaskRecord:
    return TaskRecord(
        task_id=path,
        run_id="r",
        path=path,
        name=path.rsplit("/", 1)[-1],
        display_name=path,
        kind=TaskKind.CONTAINER,
        create_time=T0 + timedelta(seconds=after),
        state=state,
        output_artifacts=outputs,
        cached_from_task_id=cached,
    )


def _artifact(schema_title: str, metadata: dict[str, JsonValue]) -> ArtifactRef:
    return ArtifactRef(
        artifact_id="a", name="m", uri="file:///m", schema_title=schema_title, metadata=metadata
    )


def test_metrics_of_finished_and_cached_tasks_first_value_wins() -> None:
    tasks = [
        _task(
            "root/late",
            after=5,
            state=RuntimeState.SUCCEEDED,
            outputs={"m": [_artifact("system.Metrics", {"accuracy": 0.5, "f1": 0.7})]},
        ),
        _task(
            "root/cached",
            after=1,
            state=RuntimeState.SKIPPED,
            cached="t0",
            outputs={
                "m": [_artifact("system.Metrics", {"accuracy": 0.9, "epochs": 3, "ok": True, "tag": "x"})]
            },
        ),
        _task(
            "root/failed",
            after=0,
            state=RuntimeState.FAILED,
            outputs={"m": [_artifact("system.Metrics", {"loss": 1.0})]},
        ),
        _task(
            "root/data",
            after=2,
            state=RuntimeState.SUCCEEDED,
            outputs={"d": [_artifact("system.Dataset", {"rows": 10})]},
        ),
    ]

    assert run_metrics(tasks) == {"accuracy": 0.9, "epochs": 3.0, "f1": 0.7}


def test_no_metrics_artifacts_no_metrics() -> None:
    assert run_metrics([]) == {}
