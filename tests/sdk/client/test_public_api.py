"""The names `sluice.client` exports are its public API: changing them is a decision."""

from __future__ import annotations

from datetime import UTC, datetime

import sluice
import sluice.client
from sluice.client import _convert


def test_the_exported_names_are_pinned() -> None:
    assert set(sluice.client.__all__) == {
        "DEFAULT_GRPC_ADDRESS",
        "DEFAULT_HTTP_URL",
        "TERMINAL_STATES",
        "Artifact",
        "Client",
        "ErrorInfo",
        "EventKind",
        "Experiment",
        "FilterValue",
        "Page",
        "Pipeline",
        "PipelineSource",
        "PipelineVersion",
        "PipelineVersionReference",
        "RecurringRun",
        "Run",
        "RunEvent",
        "RunSource",
        "RunState",
        "StorageState",
        "Task",
        "TaskAttempt",
        "TransportKind",
        "errors",
    }
    assert sluice.Client is sluice.client.Client
    assert "Client" in sluice.__all__


def test_the_client_api_is_pinned() -> None:
    public = sorted(name for name in dir(sluice.Client) if not name.startswith("_"))
    assert public == [
        "address",
        "archive_experiment",
        "archive_run",
        "close",
        "create_experiment",
        "create_recurring_run",
        "delete_experiment",
        "delete_pipeline",
        "delete_pipeline_version",
        "delete_recurring_run",
        "delete_run",
        "disable_recurring_run",
        "download_artifact",
        "enable_recurring_run",
        "get_artifact",
        "get_experiment",
        "get_experiment_by_name",
        "get_pipeline",
        "get_pipeline_by_name",
        "get_pipeline_version",
        "get_recurring_run",
        "get_run",
        "list_artifacts",
        "list_experiments",
        "list_pipeline_versions",
        "list_pipelines",
        "list_recurring_runs",
        "list_runs",
        "read_task_log",
        "retry_run",
        "run_pipeline",
        "stream_task_log",
        "terminate_run",
        "transport",
        "unarchive_experiment",
        "unarchive_run",
        "update_pipeline",
        "update_pipeline_version",
        "upload_pipeline",
        "upload_pipeline_version",
        "wait",
        "watch",
        "watch_sync",
    ]


def test_times_with_nanoseconds_and_missing_values_parse() -> None:
    assert _convert.timestamp("2026-11-28T20:40:48.123456789Z") == datetime(
        2026, 11, 28, 20, 40, 48, 123456, tzinfo=UTC
    )
    assert _convert.timestamp("2026-11-28T20:40:48Z") == datetime(2026, 11, 28, 20, 40, 48, tzinfo=UTC)
    assert _convert.timestamp("") is None
    assert _convert.timestamp(None) is None
    run = _convert.run({"run_id": "r", "state": "SOMETHING_NEW", "runtime_config": {}})
    assert run.state is sluice.client.RunState.UNSPECIFIED
    assert run.tasks == ()
    assert run.root is None
