"""Recurring runs: a pipeline started on a cron schedule or at an interval."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from sluice.client import _convert, _rpc, errors
from sluice.client._base import list_request
from sluice.client._runs import RunsApi, RunSource
from sluice.client.filters import FilterValue
from sluice.client.models import Experiment, Page, RecurringRun


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _trigger(
    *,
    cron: str | None,
    interval: float | timedelta | None,
    start_time: datetime | None,
    end_time: datetime | None,
) -> dict[str, Any]:
    if (cron is None) == (interval is None):
        raise errors.InvalidArgument("a recurring run needs either cron or interval (not both)")
    window = {
        key: value
        for key, value in (("start_time", _time(start_time)), ("end_time", _time(end_time)))
        if value
    }
    if cron is not None:
        return {"cron_schedule": {"cron": cron, **window}}
    assert interval is not None
    seconds = interval.total_seconds() if isinstance(interval, timedelta) else float(interval)
    if seconds < 1 or not seconds.is_integer():
        raise errors.InvalidArgument(f"interval must be a whole number of seconds, at least 1; got {seconds}")
    return {"periodic_schedule": {"interval_second": str(int(seconds)), **window}}


class RecurringRunsApi(RunsApi):
    def create_recurring_run(
        self,
        pipeline: RunSource,
        arguments: Mapping[str, Any] | None = None,
        *,
        name: str,
        cron: str | None = None,
        interval: float | timedelta | None = None,
        experiment: str | Experiment | None = None,
        experiment_id: str | None = None,
        description: str = "",
        start_time: datetime | None = None,
        end_time: datetime | None = None,
        max_concurrency: int = 1,
        catchup: bool = True,
        enabled: bool = True,
        enable_caching: bool | None = None,
        pipeline_root: str | None = None,
    ) -> RecurringRun:
        """Start `pipeline` on a schedule: `cron` (six fields, seconds first, as in KFP:
        "0 0 * * * *" is hourly) or every `interval` (seconds or a timedelta), between
        `start_time` and `end_time` when given.

        `max_concurrency` bounds the runs of it going on at once; with `catchup` the runs
        missed while it was disabled or the server was down are started afterwards.

        Raises:
            InvalidArgument: no schedule, both, or a bad one; the pipeline does not compile.
        """
        trigger = _trigger(cron=cron, interval=interval, start_time=start_time, end_time=end_time)
        source, _ = self._source(pipeline, enable_caching=enable_caching)
        config: dict[str, Any] = {"parameters": dict(arguments or {})}
        if pipeline_root:
            config["pipeline_root"] = pipeline_root
        recurring_run = {
            **source,
            "display_name": name,
            "description": description,
            "runtime_config": config,
            "trigger": trigger,
            "max_concurrency": str(max_concurrency),
            "no_catchup": not catchup,
            "mode": "ENABLE" if enabled else "DISABLE",
            "experiment_id": self._experiment_id(experiment, experiment_id),
        }
        data = self._call(_rpc.CREATE_RECURRING_RUN, {"recurring_run": recurring_run})
        return _convert.recurring_run(data)

    def get_recurring_run(self, recurring_run_id: str) -> RecurringRun:
        """Raises NotFound."""
        data = self._call(_rpc.GET_RECURRING_RUN, {"recurring_run_id": recurring_run_id})
        return _convert.recurring_run(data)

    def list_recurring_runs(
        self,
        *,
        experiment_id: str = "",
        page_size: int = 0,
        page_token: str = "",
        sort_by: str = "",
        namespace: str = "",
        filter: str | None = None,
        **filters: FilterValue,
    ) -> Page[RecurringRun]:
        """A page of recurring runs; `filters` as in `sluice.client.filters` (e.g. `status="ENABLED"`)."""
        request = list_request(
            page_size=page_size,
            page_token=page_token,
            sort_by=sort_by,
            filter=filter,
            filters=filters,
            namespace=namespace,
            experiment_id=experiment_id,
        )
        data = self._call(_rpc.LIST_RECURRING_RUNS, request)
        return _convert.page(data, "recurringRuns", _convert.recurring_run)

    def enable_recurring_run(self, recurring_run_id: str) -> None:
        self._call(_rpc.ENABLE_RECURRING_RUN, {"recurring_run_id": recurring_run_id})

    def disable_recurring_run(self, recurring_run_id: str) -> None:
        self._call(_rpc.DISABLE_RECURRING_RUN, {"recurring_run_id": recurring_run_id})

    def delete_recurring_run(self, recurring_run_id: str) -> None:
        self._call(_rpc.DELETE_RECURRING_RUN, {"recurring_run_id": recurring_run_id})
