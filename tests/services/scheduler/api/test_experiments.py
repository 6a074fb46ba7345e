from __future__ import annotations

import grpc
from sluice.v1 import common_pb2, experiments_pb2, recurring_runs_pb2, runs_pb2

from services.scheduler.api import convert
from tests.services.scheduler.api.harness import Api
from tests.services.scheduler.api.helpers import create_experiment, create_run, inline_run
from tests.services.scheduler.api.rpc import expect_error


async def test_create_get_list_delete(api: Api) -> None:
    created = await api.experiments.CreateExperiment(
        experiments_pb2.CreateExperimentRequest(
            experiment=experiments_pb2.Experiment(display_name="  exp  ", description="d")
        )
    )
    assert created.display_name == "exp"
    assert created.storage_state == common_pb2.AVAILABLE
    assert created.HasField("created_at")
    assert not created.HasField("last_run_created_at")
    fetched = await api.experiments.GetExperiment(
        experiments_pb2.GetExperimentRequest(experiment_id=created.experiment_id)
    )
    assert fetched == created
    listing = await api.experiments.ListExperiments(
        experiments_pb2.ListExperimentsRequest(
            filter='{"predicates":[{"key":"name","operation":1,"string_value":"exp"}]}'
        )
    )
    assert [e.experiment_id for e in listing.experiments] == [created.experiment_id]
    await api.experiments.DeleteExperiment(
        experiments_pb2.DeleteExperimentRequest(experiment_id=created.experiment_id)
    )
    await expect_error(
        api.experiments.GetExperiment(
            experiments_pb2.GetExperimentRequest(experiment_id=created.experiment_id)
        ),
        grpc.StatusCode.NOT_FOUND,
    )


async def test_display_name_is_required_and_unique(api: Api) -> None:
    await expect_error(
        api.experiments.CreateExperiment(
            experiments_pb2.CreateExperimentRequest(experiment=experiments_pb2.Experiment(display_name=" "))
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    await create_experiment(api, "same")
    details = await expect_error(create_experiment(api, "same"), grpc.StatusCode.ALREADY_EXISTS)
    assert "same" in details


async def test_archive_archives_runs_and_disables_recurring_runs(api: Api) -> None:
    experiment = await create_experiment(api)
    other = await create_experiment(api, "other")
    runs = [
        await create_run(api, inline_run({"x": i}, experiment_id=experiment.experiment_id)) for i in range(3)
    ]
    bystander = await create_run(api, inline_run({"x": 1}, experiment_id=other.experiment_id))
    recurring = await api.recurring_runs.CreateRecurringRun(
        recurring_runs_pb2.CreateRecurringRunRequest(
            recurring_run=recurring_runs_pb2.RecurringRun(
                display_name="every minute",
                experiment_id=experiment.experiment_id,
                pipeline_spec=inline_run().pipeline_spec,
                runtime_config=runs_pb2.RuntimeConfig(parameters=convert.to_value_map({"x": 1})),
                trigger=recurring_runs_pb2.Trigger(
                    periodic_schedule=recurring_runs_pb2.PeriodicSchedule(interval_second=60)
                ),
            )
        )
    )
    request = experiments_pb2.ArchiveExperimentRequest(experiment_id=experiment.experiment_id)
    await api.experiments.ArchiveExperiment(request)
    fetched = await api.experiments.GetExperiment(
        experiments_pb2.GetExperimentRequest(experiment_id=experiment.experiment_id)
    )
    assert fetched.storage_state == common_pb2.ARCHIVED
    for run in runs:
        stored = await api.runs.GetRun(runs_pb2.GetRunRequest(run_id=run.run_id))
        assert stored.storage_state == common_pb2.ARCHIVED
    stored = await api.runs.GetRun(runs_pb2.GetRunRequest(run_id=bystander.run_id))
    assert stored.storage_state == common_pb2.AVAILABLE
    disabled = await api.recurring_runs.GetRecurringRun(
        recurring_runs_pb2.RecurringRunIdRequest(recurring_run_id=recurring.recurring_run_id)
    )
    assert disabled.status == recurring_runs_pb2.RecurringRun.DISABLED

    await api.experiments.UnarchiveExperiment(
        experiments_pb2.UnarchiveExperimentRequest(experiment_id=experiment.experiment_id)
    )
    fetched = await api.experiments.GetExperiment(
        experiments_pb2.GetExperimentRequest(experiment_id=experiment.experiment_id)
    )
    assert fetched.storage_state == common_pb2.AVAILABLE
    # As KFP: the runs stay archived.
    stored = await api.runs.GetRun(runs_pb2.GetRunRequest(run_id=runs[0].run_id))
    assert stored.storage_state == common_pb2.ARCHIVED


async def test_archive_unknown_experiment(api: Api) -> None:
    await expect_error(
        api.experiments.ArchiveExperiment(experiments_pb2.ArchiveExperimentRequest(experiment_id="nope")),
        grpc.StatusCode.NOT_FOUND,
    )


async def test_list_pages(api: Api) -> None:
    for index in range(5):
        await create_experiment(api, f"exp-{index}")
    first = await api.experiments.ListExperiments(
        experiments_pb2.ListExperimentsRequest(page_size=3, sort_by="display_name")
    )
    assert [e.display_name for e in first.experiments] == ["exp-0", "exp-1", "exp-2"]
    assert first.total_size == 5
    second = await api.experiments.ListExperiments(
        experiments_pb2.ListExperimentsRequest(
            page_size=3, sort_by="display_name", page_token=first.next_page_token
        )
    )
    assert [e.display_name for e in second.experiments] == ["exp-3", "exp-4"]
    assert second.next_page_token == ""
    await expect_error(
        api.experiments.ListExperiments(experiments_pb2.ListExperimentsRequest(filter="{not json")),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
