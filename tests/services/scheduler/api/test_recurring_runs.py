from __future__ import annotations

from datetime import UTC, datetime, timedelta

import grpc
import pytest
from sluice.v1 import experiments_pb2, recurring_runs_pb2, runs_pb2

from services.core.store.records import RecurringRunStatus
from services.scheduler.api import convert
from tests.services.scheduler.api.harness import Api
from tests.services.scheduler.api.helpers import create_experiment, inline_run, upload
from tests.services.scheduler.api.kfp_pipelines import pipeline_dict
from tests.services.scheduler.api.rpc import expect_error

RecurringRun = recurring_runs_pb2.RecurringRun
T0 = datetime(2030, 1, 1, tzinfo=UTC)


def _cron(
    cron: str, *, start: datetime | None = None, end: datetime | None = None
) -> recurring_runs_pb2.Trigger:
    return recurring_runs_pb2.Trigger(
        cron_schedule=recurring_runs_pb2.CronSchedule(
            cron=cron, start_time=convert.to_timestamp(start), end_time=convert.to_timestamp(end)
        )
    )


def _every(seconds: int) -> recurring_runs_pb2.Trigger:
    return recurring_runs_pb2.Trigger(
        periodic_schedule=recurring_runs_pb2.PeriodicSchedule(interval_second=seconds)
    )


def _recurring_run(trigger: recurring_runs_pb2.Trigger | None, **fields: object) -> RecurringRun:
    run = inline_run({"x": 2})
    message = RecurringRun(
        display_name="nightly",
        pipeline_spec=run.pipeline_spec,
        runtime_config=run.runtime_config,
        trigger=trigger,
    )
    for key, value in fields.items():
        setattr(message, key, value)
    return message


async def _create(api: Api, message: RecurringRun) -> RecurringRun:
    return await api.recurring_runs.CreateRecurringRun(
        recurring_runs_pb2.CreateRecurringRunRequest(recurring_run=message)
    )


async def test_create_with_cron(api: Api) -> None:
    experiment = await create_experiment(api)
    created = await _create(
        api,
        _recurring_run(
            _cron("0 30 2 * * *", start=T0, end=T0 + timedelta(days=7)),
            experiment_id=experiment.experiment_id,
            max_concurrency=3,
            no_catchup=True,
        ),
    )
    assert created.recurring_run_id
    assert created.status == RecurringRun.ENABLED
    assert created.mode == RecurringRun.ENABLE
    assert created.max_concurrency == 3
    assert created.no_catchup
    assert created.experiment_id == experiment.experiment_id
    assert created.trigger.cron_schedule.cron == "0 30 2 * * *"
    assert convert.from_timestamp(created.trigger.cron_schedule.start_time) == T0
    assert convert.from_value_map(created.runtime_config.parameters) == {"x": 2, "y": 2.5, "items": [1, 2]}
    stored = await api.store.get_recurring_run(created.recurring_run_id)
    assert stored.cron == "0 30 2 * * *"
    assert stored.pipeline_spec == pipeline_dict()
    assert stored.created_at == stored.updated_at
    fetched = await api.recurring_runs.GetRecurringRun(
        recurring_runs_pb2.RecurringRunIdRequest(recurring_run_id=created.recurring_run_id)
    )
    assert fetched == created


async def test_create_with_interval_from_a_version_disabled(api: Api) -> None:
    version = await upload(api, "greeter")
    created = await _create(
        api,
        RecurringRun(
            display_name="",
            pipeline_version_reference=runs_pb2.PipelineVersionReference(pipeline_id=version.pipeline_id),
            trigger=_every(3600),
            mode=RecurringRun.DISABLE,
        ),
    )
    assert created.status == RecurringRun.DISABLED
    assert created.max_concurrency == 1  # 0 means 1
    assert created.display_name == "greeter"
    assert created.pipeline_version_reference.pipeline_version_id == version.pipeline_version_id
    assert created.trigger.periodic_schedule.interval_second == 3600
    stored = await api.store.get_recurring_run(created.recurring_run_id)
    assert stored.pipeline_spec == pipeline_dict("greeter")
    assert stored.status is RecurringRunStatus.DISABLED
    # No experiment given: the default one.
    default = await api.experiments.GetExperiment(
        experiments_pb2.GetExperimentRequest(experiment_id=created.experiment_id)
    )
    assert default.display_name == "Default"


@pytest.mark.parametrize(
    ("trigger", "fields", "message"),
    [
        (_cron("*/5 * * * *"), {}, "'*/5 * * * *' must have 6 fields"),
        (_cron("0 0 0 * * * 2030"), {}, "must have 6 fields"),
        (_cron("99 * * * * *"), {}, "'99 * * * * *' is not valid"),
        (_cron("0 0 25 * * *"), {}, "'0 0 25 * * *' is not valid"),
        (_cron(""), {}, "must have 6 fields"),
        (None, {}, "needs a trigger"),
        (_every(0), {}, "interval_second must be at least 1"),
        (_every(60), {"max_concurrency": 11}, "max_concurrency must be between 1 and 10"),
        (_every(60), {"max_concurrency": -1}, "max_concurrency"),
        (_cron("0 0 * * * *", start=T0, end=T0), {}, "not after its start_time"),
        (_cron("0 0 * * * *", start=T0, end=T0 - timedelta(hours=1)), {}, "not after its start_time"),
        (_every(60), {"experiment_id": "nope"}, "not found"),
    ],
)
async def test_validation(
    api: Api, trigger: recurring_runs_pb2.Trigger | None, fields: dict[str, object], message: str
) -> None:
    code = grpc.StatusCode.NOT_FOUND if "experiment_id" in fields else grpc.StatusCode.INVALID_ARGUMENT
    details = await expect_error(_create(api, _recurring_run(trigger, **fields)), code)
    assert message in details
    listing = await api.recurring_runs.ListRecurringRuns(recurring_runs_pb2.ListRecurringRunsRequest())
    assert listing.total_size == 0


async def test_two_triggers_cannot_be_sent(api: Api) -> None:
    """`trigger` is a oneof: the second trigger set replaces the first, so a request can
    never carry two; JSON bodies naming both are refused by the JSON parser."""
    trigger = _cron("0 0 * * * *")
    trigger.periodic_schedule.interval_second = 60
    assert trigger.WhichOneof("trigger") == "periodic_schedule"
    created = await _create(api, _recurring_run(trigger))
    assert created.trigger.WhichOneof("trigger") == "periodic_schedule"


async def test_spec_and_parameters_are_validated(api: Api) -> None:
    without_x = _recurring_run(_every(60))
    without_x.runtime_config.ClearField("parameters")
    details = await expect_error(_create(api, without_x), grpc.StatusCode.INVALID_ARGUMENT)
    assert "'x'" in details
    broken = _recurring_run(_every(60))
    broken.pipeline_spec.fields["root"].string_value = "not a component"
    await expect_error(_create(api, broken), grpc.StatusCode.INVALID_ARGUMENT)
    listing = await api.recurring_runs.ListRecurringRuns(recurring_runs_pb2.ListRecurringRunsRequest())
    assert listing.total_size == 0


async def test_enable_disable_list_delete(api: Api) -> None:
    experiment = await create_experiment(api)
    created = [
        await _create(
            api,
            _recurring_run(
                _every(60 * (i + 1)), display_name=f"rr{i}", experiment_id=experiment.experiment_id
            ),
        )
        for i in range(3)
    ]
    await _create(api, _recurring_run(_every(60), display_name="elsewhere"))
    target = recurring_runs_pb2.RecurringRunIdRequest(recurring_run_id=created[0].recurring_run_id)
    before = await api.store.get_recurring_run(target.recurring_run_id)

    await api.recurring_runs.DisableRecurringRun(target)
    disabled = await api.recurring_runs.GetRecurringRun(target)
    assert (disabled.status, disabled.mode) == (RecurringRun.DISABLED, RecurringRun.DISABLE)
    assert convert.from_timestamp(disabled.updated_at) > before.updated_at
    enabled_only = await api.recurring_runs.ListRecurringRuns(
        recurring_runs_pb2.ListRecurringRunsRequest(
            experiment_id=experiment.experiment_id,
            filter='{"predicates":[{"key":"status","operation":"EQUALS","string_value":"ENABLED"}]}',
        )
    )
    assert sorted(r.display_name for r in enabled_only.recurringRuns) == ["rr1", "rr2"]

    await api.recurring_runs.EnableRecurringRun(target)
    assert (await api.recurring_runs.GetRecurringRun(target)).status == RecurringRun.ENABLED

    page = await api.recurring_runs.ListRecurringRuns(
        recurring_runs_pb2.ListRecurringRunsRequest(page_size=2, sort_by="display_name")
    )
    assert [r.display_name for r in page.recurringRuns] == ["elsewhere", "rr0"]
    assert page.total_size == 4
    rest = await api.recurring_runs.ListRecurringRuns(
        recurring_runs_pb2.ListRecurringRunsRequest(
            page_size=2, sort_by="display_name", page_token=page.next_page_token
        )
    )
    assert [r.display_name for r in rest.recurringRuns] == ["rr1", "rr2"]

    await api.recurring_runs.DeleteRecurringRun(target)
    await expect_error(api.recurring_runs.GetRecurringRun(target), grpc.StatusCode.NOT_FOUND)
    await expect_error(api.recurring_runs.EnableRecurringRun(target), grpc.StatusCode.NOT_FOUND)
    await expect_error(api.recurring_runs.DeleteRecurringRun(target), grpc.StatusCode.NOT_FOUND)
