"""Recurring runs through `sluice.Client`, over both transports."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from sluice.client import Client, errors

from tests.sdk.client.conftest import unique
from tests.sdk.client.pipelines import add_pipeline


def test_recurring_runs_on_cron_or_interval_are_created_listed_toggled_and_deleted(client: Client) -> None:
    experiment = client.create_experiment(unique("recurring"))
    end = datetime.now(UTC) + timedelta(days=1)
    hourly = client.create_recurring_run(
        add_pipeline,
        {"a": 1},
        name=unique("hourly"),
        cron="0 0 * * * *",
        end_time=end,
        experiment=experiment,
        enabled=False,
        max_concurrency=2,
        catchup=False,
    )
    daily = client.create_recurring_run(
        add_pipeline, name=unique("daily"), interval=timedelta(days=1), experiment=experiment, enabled=False
    )

    assert hourly.cron == "0 0 * * * *"
    assert hourly.interval_seconds == 0
    assert hourly.end_time is not None
    assert abs((hourly.end_time - end).total_seconds()) < 1
    assert not hourly.enabled
    assert hourly.max_concurrency == 2
    assert not hourly.catchup
    assert hourly.parameters["a"] == 1
    assert daily.interval_seconds == 86400
    assert daily.cron == ""
    assert daily.catchup
    assert client.get_recurring_run(hourly.recurring_run_id) == hourly
    listed = client.list_recurring_runs(experiment_id=experiment.experiment_id, sort_by="created_at")
    assert [r.recurring_run_id for r in listed] == [hourly.recurring_run_id, daily.recurring_run_id]

    client.enable_recurring_run(daily.recurring_run_id)
    assert client.get_recurring_run(daily.recurring_run_id).enabled
    enabled = client.list_recurring_runs(experiment_id=experiment.experiment_id, status="ENABLED")
    assert [r.recurring_run_id for r in enabled] == [daily.recurring_run_id]
    client.disable_recurring_run(daily.recurring_run_id)
    assert not client.get_recurring_run(daily.recurring_run_id).enabled

    client.delete_recurring_run(hourly.recurring_run_id)
    with pytest.raises(errors.NotFound):
        client.get_recurring_run(hourly.recurring_run_id)
    client.delete_recurring_run(daily.recurring_run_id)


def test_an_enabled_interval_schedule_starts_runs(client: Client) -> None:
    every_second = client.create_recurring_run(
        add_pipeline, {"a": 9}, name=unique("every-second"), interval=1, catchup=False
    )
    try:
        deadline = time.monotonic() + 20
        while not (runs := client.list_runs(recurring_run_id=every_second.recurring_run_id)).items:
            assert time.monotonic() < deadline, "the schedule started no run"
            time.sleep(0.2)
    finally:
        client.delete_recurring_run(every_second.recurring_run_id)
    assert client.wait(runs.items[0].run_id, timeout=60).outputs == {"Output": 11}


def test_a_schedule_needs_exactly_one_of_cron_and_interval(client: Client) -> None:
    with pytest.raises(errors.InvalidArgument, match="either cron or interval"):
        client.create_recurring_run(add_pipeline, name="neither")
    with pytest.raises(errors.InvalidArgument, match="either cron or interval"):
        client.create_recurring_run(add_pipeline, name="both", cron="0 * * * * *", interval=60)
    with pytest.raises(errors.InvalidArgument, match="whole number of seconds"):
        client.create_recurring_run(add_pipeline, name="fraction", interval=1.5)
    with pytest.raises(errors.InvalidArgument):
        client.create_recurring_run(add_pipeline, name=unique("bad-cron"), cron="not a cron")
