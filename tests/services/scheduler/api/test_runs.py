from __future__ import annotations

from datetime import UTC, datetime, timedelta

import grpc
import pytest
from sluice.v1 import common_pb2, experiments_pb2, runs_pb2

from services.core.pipeline.model import JsonValue
from services.core.store.records import (
    ArtifactRef,
    AttemptRecord,
    RuntimeState,
    TaskKind,
    TaskRecord,
)
from services.scheduler.api import convert
from tests.services.scheduler.api.harness import Api
from tests.services.scheduler.api.helpers import create_experiment, create_run, inline_run, upload
from tests.services.scheduler.api.kfp_pipelines import pipeline_dict
from tests.services.scheduler.api.rpc import expect_error


async def _assert_nothing_stored(api: Api) -> None:
    assert api.controller.started == []
    listing = await api.runs.ListRuns(runs_pb2.ListRunsRequest())
    assert listing.total_size == 0


async def test_create_inline_run(api: Api) -> None:
    experiment = await create_experiment(api)
    run = inline_run({"x": 3}, experiment_id=experiment.experiment_id)
    run.description = "first"
    run.runtime_config.pipeline_root = "file:///tmp/root"
    run.service_account = "robot"
    run.disable_cache = True
    created = await create_run(api, run)

    (started,) = api.controller.started
    assert started.run_id == created.run_id
    assert started.experiment_id == experiment.experiment_id
    assert started.parameters == {"x": 3, "y": 2.5, "items": [1, 2]}
    assert isinstance(started.parameters["x"], int)
    assert started.pipeline_spec == pipeline_dict()
    assert (started.pipeline_id, started.pipeline_version_id) == ("", "")
    assert started.pipeline_root == "file:///tmp/root"
    assert started.service_account == "robot"
    assert started.disable_cache is True
    assert started.created_at.tzinfo is not None

    assert created.display_name == "run"
    assert created.description == "first"
    assert created.state == common_pb2.PENDING
    assert convert.from_value_map(created.runtime_config.parameters) == started.parameters
    assert convert.from_struct(created.pipeline_spec) == pipeline_dict()
    fetched = await api.experiments.GetExperiment(
        experiments_pb2.GetExperimentRequest(experiment_id=experiment.experiment_id)
    )
    assert convert.from_timestamp(fetched.last_run_created_at) == started.created_at


async def test_request_experiment_id_is_honoured(api: Api) -> None:
    experiment = await create_experiment(api)
    created = await api.runs.CreateRun(
        runs_pb2.CreateRunRequest(run=inline_run({"x": 1}), experiment_id=experiment.experiment_id)
    )
    assert created.experiment_id == experiment.experiment_id


async def test_default_experiment_is_created_once(api: Api) -> None:
    first = await create_run(api, inline_run({"x": 1}))
    second = await create_run(api, inline_run({"x": 2}))
    assert first.experiment_id == second.experiment_id
    listing = await api.experiments.ListExperiments(experiments_pb2.ListExperimentsRequest())
    assert [(e.display_name, e.experiment_id) for e in listing.experiments] == [
        ("Default", first.experiment_id)
    ]


async def test_display_name_defaults_to_the_pipeline(api: Api) -> None:
    created = await create_run(api, inline_run({"x": 1}, display_name=""))
    assert created.display_name == "adder"


async def test_run_from_version_reference(api: Api) -> None:
    first = await upload(api, "adder")
    latest = await upload(api, "greeter", pipeline_id=first.pipeline_id, name="v2")
    pinned = await create_run(
        api,
        runs_pb2.Run(
            display_name="pinned",
            pipeline_version_reference=runs_pb2.PipelineVersionReference(
                pipeline_id=first.pipeline_id, pipeline_version_id=first.pipeline_version_id
            ),
            runtime_config=runs_pb2.RuntimeConfig(parameters=convert.to_value_map({"x": 5})),
        ),
    )
    assert pinned.pipeline_version_reference.pipeline_version_id == first.pipeline_version_id
    assert not pinned.HasField("pipeline_spec")
    assert api.controller.started[0].pipeline_spec == pipeline_dict("adder")

    newest = await create_run(
        api,
        runs_pb2.Run(
            display_name="latest",
            pipeline_version_reference=runs_pb2.PipelineVersionReference(pipeline_id=first.pipeline_id),
        ),
    )
    assert newest.pipeline_version_reference.pipeline_version_id == latest.pipeline_version_id
    started = api.controller.started[1]
    assert started.pipeline_spec == pipeline_dict("greeter")
    assert started.parameters == {"message": "hello"}
    assert (started.pipeline_id, started.pipeline_version_id) == (
        first.pipeline_id,
        latest.pipeline_version_id,
    )


async def test_bad_pipeline_sources(api: Api) -> None:
    version = await upload(api)
    both = inline_run({"x": 1})
    both.pipeline_version_reference.pipeline_id = version.pipeline_id
    await expect_error(create_run(api, both), grpc.StatusCode.INVALID_ARGUMENT)
    await expect_error(create_run(api, runs_pb2.Run(display_name="none")), grpc.StatusCode.INVALID_ARGUMENT)
    missing = runs_pb2.Run(
        pipeline_version_reference=runs_pb2.PipelineVersionReference(pipeline_version_id="nope")
    )
    await expect_error(create_run(api, missing), grpc.StatusCode.NOT_FOUND)
    missing = runs_pb2.Run(pipeline_version_reference=runs_pb2.PipelineVersionReference(pipeline_id="nope"))
    await expect_error(create_run(api, missing), grpc.StatusCode.NOT_FOUND)
    broken = runs_pb2.Run(pipeline_spec=convert.to_struct({**pipeline_dict(), "bogus": 1}))
    await expect_error(create_run(api, broken), grpc.StatusCode.INVALID_ARGUMENT)
    await _assert_nothing_stored(api)


@pytest.mark.parametrize(
    ("parameters", "named"),
    [
        ({}, "'x'"),
        ({"x": "abc"}, "'x'"),
        ({"x": 2.5}, "'x'"),
        ({"x": 1, "y": [1]}, "'y'"),
        ({"x": 1, "z": 1}, "'z'"),
    ],
)
async def test_bad_parameters_store_nothing(api: Api, parameters: dict[str, JsonValue], named: str) -> None:
    details = await expect_error(create_run(api, inline_run(parameters)), grpc.StatusCode.INVALID_ARGUMENT)
    assert named in details
    await _assert_nothing_stored(api)


async def test_unknown_experiment(api: Api) -> None:
    await expect_error(create_run(api, inline_run({"x": 1}, experiment_id="nope")), grpc.StatusCode.NOT_FOUND)
    await _assert_nothing_stored(api)
    listing = await api.experiments.ListExperiments(experiments_pb2.ListExperimentsRequest())
    assert listing.total_size == 0


async def test_get_run_has_task_details(api: Api) -> None:
    created = await create_run(api, inline_run({"x": 1}))
    now = datetime.now(UTC)
    model = ArtifactRef(artifact_id="art-1", name="model", uri="file:///m", schema_title="system.Model")
    root = TaskRecord(
        task_id="t-root",
        run_id=created.run_id,
        path="root",
        name="root",
        display_name="adder",
        kind=TaskKind.DAG,
        create_time=now,
        state=RuntimeState.RUNNING,
    )
    add = TaskRecord(
        task_id="t-add",
        run_id=created.run_id,
        path="root/add",
        name="add",
        display_name="add",
        kind=TaskKind.CONTAINER,
        create_time=now + timedelta(milliseconds=1),
        parent_task_id="t-root",
        state=RuntimeState.SUCCEEDED,
        start_time=now,
        end_time=now + timedelta(seconds=2),
        input_parameters={"a": 1, "b": 2.5},
        output_parameters={"Output": 3.5},
        output_artifacts={"model": [model]},
        attempts=[AttemptRecord(attempt=0, state=RuntimeState.SUCCEEDED, log_uri="file:///log")],
        pod_name="pod-add",
        log_uri="file:///log",
    )
    await api.store.create_tasks([root, add])

    fetched = await api.runs.GetRun(runs_pb2.GetRunRequest(run_id=created.run_id))
    details = {d.task_id: d for d in fetched.run_details.task_details}
    assert set(details) == {"t-root", "t-add"}
    assert [c.task_id for c in details["t-root"].child_tasks] == ["t-add"]
    detail = details["t-add"]
    assert detail.run_id == created.run_id
    assert detail.state == common_pb2.SUCCEEDED
    assert detail.kind == "CONTAINER"
    assert detail.parent_task_id == "t-root"
    assert convert.from_value_map(detail.input_parameters) == {"a": 1, "b": 2.5}
    assert convert.from_value_map(detail.output_parameters) == {"Output": 3.5}
    assert list(detail.outputs["model"].artifact_ids) == ["art-1"]
    assert detail.attempts[0].log_uri == "file:///log"
    assert detail.pod_name == "pod-add"

    listing = await api.runs.ListRuns(runs_pb2.ListRunsRequest())
    assert not listing.runs[0].HasField("run_details")


async def test_list_runs_pages_and_scopes(api: Api) -> None:
    experiment = await create_experiment(api)
    ids = [
        (
            await create_run(
                api, inline_run({"x": i}, experiment_id=experiment.experiment_id, display_name=f"r{i}")
            )
        ).run_id
        for i in range(5)
    ]
    await create_run(api, inline_run({"x": 1}, display_name="elsewhere"))
    seen: list[str] = []
    token = ""
    while True:
        page = await api.runs.ListRuns(
            runs_pb2.ListRunsRequest(
                experiment_id=experiment.experiment_id, page_size=2, page_token=token, sort_by="created_at"
            )
        )
        assert len(page.runs) <= 2
        assert page.total_size == 5
        seen += [run.run_id for run in page.runs]
        token = page.next_page_token
        if not token:
            break
    assert seen == ids
    everything = await api.runs.ListRuns(runs_pb2.ListRunsRequest())
    assert everything.total_size == 6
    named = await api.runs.ListRuns(
        runs_pb2.ListRunsRequest(
            filter='{"predicates":[{"key":"display_name","operation":"IS_SUBSTRING","stringValue":"ELSE"}]}'
        )
    )
    assert [run.display_name for run in named.runs] == ["elsewhere"]


async def test_archive_unarchive_delete(api: Api) -> None:
    created = await create_run(api, inline_run({"x": 1}))
    request = runs_pb2.RunIdRequest(run_id=created.run_id)
    await api.runs.ArchiveRun(request)
    archived = await api.runs.ListRuns(
        runs_pb2.ListRunsRequest(
            filter='{"predicates":[{"key":"storage_state","operation":"EQUALS","string_value":"ARCHIVED"}]}'
        )
    )
    assert [run.run_id for run in archived.runs] == [created.run_id]
    await api.runs.UnarchiveRun(request)
    fetched = await api.runs.GetRun(runs_pb2.GetRunRequest(run_id=created.run_id))
    assert fetched.storage_state == common_pb2.AVAILABLE

    await api.runs.DeleteRun(request)
    # The run was still PENDING: it is terminated before its records go.
    assert api.controller.terminated == [created.run_id]
    await expect_error(
        api.runs.GetRun(runs_pb2.GetRunRequest(run_id=created.run_id)), grpc.StatusCode.NOT_FOUND
    )
    await expect_error(api.runs.DeleteRun(request), grpc.StatusCode.NOT_FOUND)
    await expect_error(api.runs.ArchiveRun(request), grpc.StatusCode.NOT_FOUND)


async def test_terminate_and_retry_delegate_to_the_controller(api: Api) -> None:
    created = await create_run(api, inline_run({"x": 1}))
    request = runs_pb2.RunIdRequest(run_id=created.run_id)
    await api.runs.TerminateRun(request)
    await api.runs.RetryRun(request)
    assert api.controller.terminated == [created.run_id]
    assert api.controller.retried == [created.run_id]
    unknown = runs_pb2.RunIdRequest(run_id="nope")
    await expect_error(api.runs.TerminateRun(unknown), grpc.StatusCode.NOT_FOUND)
    await expect_error(api.runs.RetryRun(unknown), grpc.StatusCode.NOT_FOUND)
    assert api.controller.terminated == [created.run_id]


async def test_watch_run_is_not_served_here(api: Api) -> None:
    stream = api.runs.WatchRun(runs_pb2.WatchRunRequest(run_id="any"))
    with pytest.raises(grpc.aio.AioRpcError) as info:
        async for _ in stream:
            pass
    assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED
