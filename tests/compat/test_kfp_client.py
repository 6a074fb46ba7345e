"""Every method `kfp.Client` has for experiments, pipelines, versions, runs and recurring
runs, against a real `sluice up`, with the client as KFP ships it.

The server is shared by the whole session: each test works in experiments and pipelines
of its own (unique names), and scopes its lists to them.
"""

from __future__ import annotations

import json
import tarfile
import time
import uuid
import zipfile
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import httpx
import kfp
import kfp_server_api  # type: ignore[import-untyped]
import pytest
from kfp_server_api import models

from tests.compat.kfp_models import assert_lossless
from tests.e2e.kfp_pipelines import linear
from tests.fixtures.sluice_server import RunningSluice

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")

API = "/apis/v2beta1"
T = TypeVar("T")

# kfp.Client sends filter operations as the enum numbers of KFP's filter.proto.
EQUALS, NOT_EQUALS, GREATER_THAN, IN, IS_SUBSTRING = 1, 2, 3, 8, 9


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def predicates(*items: dict[str, Any]) -> str:
    return json.dumps({"predicates": list(items)})


def wait_until(probe: Callable[[], T | None], *, timeout: float = 60.0, what: str = "condition") -> T:
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found is not None:
            return found
        assert time.monotonic() < deadline, f"{what} not met within {timeout}s"
        time.sleep(0.1)


def finished(client: kfp.Client, run_id: str) -> models.V2beta1Run:
    run: models.V2beta1Run = client.wait_for_run_completion(run_id, timeout=60, sleep_duration=0.1)
    return run


def raw(server: RunningSluice, path: str, **params: Any) -> Any:
    response = httpx.get(f"{server.http_url}{API}{path}", params=params, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def status_of(call: Callable[[], object]) -> int:
    with pytest.raises(kfp_server_api.ApiException) as caught:
        call()
    status: int = caught.value.status
    body = json.loads(caught.value.body)
    assert set(body) == {"error", "code", "message", "details"}, body
    return status


# --- experiments ---------------------------------------------------------------------------


def test_experiments_create_get_list_archive_delete(kfp_client: kfp.Client) -> None:
    client = kfp_client
    prefix = unique("exp")
    names = [f"{prefix}-{letter}" for letter in "abc"]
    created = [client.create_experiment(name, description=f"about {name}") for name in names]

    first = created[0]
    assert (first.display_name, first.description, first.storage_state) == (
        names[0],
        "about " + names[0],
        "AVAILABLE",
    )
    assert client.get_experiment(experiment_id=first.experiment_id).display_name == names[0]
    assert client.get_experiment(experiment_name=names[1]).experiment_id == created[1].experiment_id
    # create_experiment finds an existing name (a filtered list) instead of failing.
    assert client.create_experiment(names[2]).experiment_id == created[2].experiment_id

    mine = predicates({"key": "display_name", "operation": IS_SUBSTRING, "stringValue": prefix})
    listed = client.list_experiments(filter=mine, sort_by="display_name desc", page_size=2)
    assert [e.display_name for e in listed.experiments] == [names[2], names[1]]
    assert listed.total_size == 3
    rest = client.list_experiments(
        filter=mine, sort_by="display_name desc", page_size=2, page_token=listed.next_page_token
    )
    assert [e.display_name for e in rest.experiments] == [names[0]]
    assert not rest.next_page_token
    by_name = client.list_experiments(
        filter=predicates({"key": "name", "operation": "EQUALS", "string_value": names[1]})
    )
    assert [e.experiment_id for e in by_name.experiments] == [created[1].experiment_id]

    client.archive_experiment(first.experiment_id)
    assert client.get_experiment(experiment_id=first.experiment_id).storage_state == "ARCHIVED"
    archived = client.list_experiments(
        filter=predicates(
            {"key": "storage_state", "operation": EQUALS, "stringValue": "ARCHIVED"},
            {"key": "display_name", "operation": IS_SUBSTRING, "stringValue": prefix},
        )
    )
    assert [e.experiment_id for e in archived.experiments] == [first.experiment_id]
    client.unarchive_experiment(first.experiment_id)
    assert client.get_experiment(experiment_id=first.experiment_id).storage_state == "AVAILABLE"

    client.delete_experiment(first.experiment_id)
    assert status_of(lambda: client.get_experiment(experiment_id=first.experiment_id)) == 404
    with pytest.raises(ValueError, match="No experiment is found"):
        client.get_experiment(experiment_name=names[0])


# --- pipelines and versions ------------------------------------------------------------------


def _archives(source: Path, directory: Path) -> tuple[Path, Path]:
    zipped, tarred = directory / "package.zip", directory / "package.tar.gz"
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.write(source, "pipeline.yaml")
    with tarfile.open(tarred, "w:gz") as archive:
        archive.add(source, "pipeline.yaml")
    return zipped, tarred


def test_pipelines_and_versions(
    kfp_client: kfp.Client, packages: dict[str, Path], tmp_path: Path, sluice_server: RunningSluice
) -> None:
    client = kfp_client
    name = unique("pipe")
    pipeline = client.upload_pipeline(str(packages["linear"]), pipeline_name=name, description="adds")
    assert (pipeline.display_name, pipeline.description) == (name, "adds")
    # A second pipeline of the same name is refused: 409 in KFP's error shape.
    assert status_of(lambda: client.upload_pipeline(str(packages["linear"]), pipeline_name=name)) == 409

    zipped, tarred = _archives(packages["pair"], tmp_path)
    from_zip = client.upload_pipeline_version(str(zipped), "v-zip", pipeline_id=pipeline.pipeline_id)
    # By name: the client looks the id up with get_pipeline_id (a filtered list).
    from_tar = client.upload_pipeline_version(str(tarred), "v-tar", pipeline_name=name, description="tarred")
    assert client.get_pipeline_id(name) == pipeline.pipeline_id
    assert client.get_pipeline_id(unique("absent")) is None
    assert (from_zip.pipeline_id, from_tar.pipeline_id) == (pipeline.pipeline_id, pipeline.pipeline_id)
    assert from_tar.description == "tarred"

    assert client.get_pipeline(pipeline.pipeline_id).name == name
    listed = client.list_pipelines(
        filter=predicates({"key": "display_name", "operation": EQUALS, "stringValue": name})
    )
    assert [p.pipeline_id for p in listed.pipelines] == [pipeline.pipeline_id]
    versions = client.list_pipeline_versions(pipeline.pipeline_id, sort_by="created_at desc", page_size=2)
    assert [v.name for v in versions.pipeline_versions] == ["v-tar", "v-zip"]
    assert versions.total_size == 3
    older = client.list_pipeline_versions(
        pipeline.pipeline_id, sort_by="created_at desc", page_size=2, page_token=versions.next_page_token
    )
    assert [v.name for v in older.pipeline_versions] == [name]
    filtered = client.list_pipeline_versions(
        pipeline.pipeline_id,
        filter=predicates({"key": "name", "operation": IN, "stringValues": {"values": ["v-zip"]}}),
    )
    assert [v.pipeline_version_id for v in filtered.pipeline_versions] == [from_zip.pipeline_version_id]

    version = client.get_pipeline_version(pipeline.pipeline_id, from_zip.pipeline_version_id)
    assert version.pipeline_spec["pipelineInfo"]["name"] == "pair"
    assert_lossless(
        client._pipelines_api.api_client,
        raw(sluice_server, f"/pipelines/{pipeline.pipeline_id}/versions/{from_zip.pipeline_version_id}"),
        "V2beta1PipelineVersion",
    )

    # KFP's package_url is an object ({pipeline_url}); the generated API sends it as one.
    with_url = client.pipelines.pipeline_service_create_pipeline_version(
        pipeline.pipeline_id,
        models.V2beta1PipelineVersion(
            display_name="v-url",
            pipeline_spec=version.pipeline_spec,
            package_url=models.V2beta1Url(pipeline_url="https://example.invalid/pair.yaml"),
        ),
    )
    assert with_url.package_url.pipeline_url == "https://example.invalid/pair.yaml"

    # A pipeline with versions cannot go; once they are gone it can.
    assert status_of(lambda: client.delete_pipeline(pipeline.pipeline_id)) == 400
    for each in client.list_pipeline_versions(pipeline.pipeline_id, page_size=10).pipeline_versions:
        client.delete_pipeline_version(pipeline.pipeline_id, each.pipeline_version_id)
    assert (
        status_of(lambda: client.get_pipeline_version(pipeline.pipeline_id, from_zip.pipeline_version_id))
        == 404
    )
    client.delete_pipeline(pipeline.pipeline_id)
    assert status_of(lambda: client.get_pipeline(pipeline.pipeline_id)) == 404


def test_pipelines_and_versions_are_updated(kfp_client: kfp.Client, packages: dict[str, Path]) -> None:
    # kfp.Client has no update methods; its generated PipelineServiceApi has (PATCH, the
    # whole object as the body, no update_mask).
    client = kfp_client
    api = client._pipelines_api
    pipeline = client.upload_pipeline(
        str(packages["linear"]), pipeline_name=unique("upd"), description="adds"
    )
    (version,) = client.list_pipeline_versions(pipeline.pipeline_id).pipeline_versions

    updated = api.pipeline_service_update_pipeline(
        pipeline.pipeline_id, models.V2beta1Pipeline(display_name="Linear", tags={"team": "ml"})
    )
    assert (updated.pipeline_id, updated.name, updated.description) == (
        pipeline.pipeline_id,
        pipeline.name,
        "adds",
    )
    assert (updated.display_name, updated.tags) == ("Linear", {"team": "ml"})
    # Read, modify, write back the whole object (timestamps included) as KFP users do.
    fetched = client.get_pipeline(pipeline.pipeline_id)
    assert fetched.display_name == "Linear"
    fetched.description = "adds, twice"
    rewritten = api.pipeline_service_update_pipeline(pipeline.pipeline_id, fetched)
    assert rewritten == fetched
    changed = api.pipeline_service_update_pipeline_version(
        pipeline.pipeline_id,
        version.pipeline_version_id,
        models.V2beta1PipelineVersion(display_name="stable", code_source_url="https://example.invalid/src"),
    )
    assert (changed.display_name, changed.code_source_url) == ("stable", "https://example.invalid/src")
    assert changed.pipeline_spec == version.pipeline_spec
    listed = client.list_pipeline_versions(pipeline.pipeline_id).pipeline_versions
    assert [v.display_name for v in listed] == ["stable"]

    renamed = models.V2beta1Pipeline(name="renamed")
    assert status_of(lambda: api.pipeline_service_update_pipeline(pipeline.pipeline_id, renamed)) == 400
    absent = models.V2beta1Pipeline(display_name="x")
    assert status_of(lambda: api.pipeline_service_update_pipeline(unique("absent"), absent)) == 404
    client.delete_pipeline_version(pipeline.pipeline_id, version.pipeline_version_id)
    client.delete_pipeline(pipeline.pipeline_id)


# --- runs ------------------------------------------------------------------------------------


def test_runs_from_a_function_and_a_package(kfp_client: kfp.Client, packages: dict[str, Path]) -> None:
    client = kfp_client
    experiment = unique("runs")
    result = client.create_run_from_pipeline_func(
        linear, arguments={"x": 5}, run_name="from-func", experiment_name=experiment, enable_caching=False
    )
    failing = client.create_run_from_pipeline_package(
        str(packages["failing"]),
        arguments={"message": "boom"},
        experiment_name=experiment,
        enable_caching=False,
    )

    run = finished(client, result.run_id)
    assert (run.display_name, run.state) == ("from-func", "SUCCEEDED")
    # The experiment was made on the fly, found by name (a filtered list) the second time.
    exp = client.get_experiment(experiment_name=experiment)
    assert run.experiment_id == exp.experiment_id
    assert run.runtime_config.parameters == {"x": 5}
    tasks = {task.display_name: task for task in run.run_details.task_details}
    assert {"add", "add-2", "add-3"} <= set(tasks)
    assert all(tasks[name].state == "SUCCEEDED" for name in ("add", "add-2", "add-3"))
    root = next(task for task in run.run_details.task_details if not task.parent_task_id)
    assert {child.task_id for child in root.child_tasks} >= {tasks["add"].task_id}
    assert [status.state for status in run.state_history][-1] == "SUCCEEDED"
    assert run.finished_at >= run.created_at

    broken = finished(client, failing.run_id)
    assert broken.state == "FAILED"
    assert "boom" in broken.error.message
    assert broken.experiment_id == exp.experiment_id


def test_caching_overrides_rewrite_the_spec(kfp_client: kfp.Client, packages: dict[str, Path]) -> None:
    client = kfp_client
    arguments = {"x": uuid.uuid4().int % 10**9}
    experiment = unique("cache")

    def run(enable_caching: bool) -> models.V2beta1Run:
        started = client.create_run_from_pipeline_package(
            str(packages["pair"]),
            arguments=arguments,
            experiment_name=experiment,
            enable_caching=enable_caching,
        )
        return finished(client, started.run_id)

    def states(run: models.V2beta1Run) -> list[str]:
        return sorted(t.state for t in run.run_details.task_details if t.display_name.startswith("add"))

    assert states(run(True)) == ["SUCCEEDED", "SUCCEEDED"]
    # Same inputs, caching on: both tasks come from the cache (KFP shows them SKIPPED).
    assert states(run(True)) == ["SKIPPED", "SKIPPED"]
    assert states(run(False)) == ["SUCCEEDED", "SUCCEEDED"]


def test_run_pipeline_from_a_stored_version(kfp_client: kfp.Client, packages: dict[str, Path]) -> None:
    client = kfp_client
    experiment = client.create_experiment(unique("versions"))
    pipeline = client.upload_pipeline(str(packages["linear"]), pipeline_name=unique("lin"))
    first = client.list_pipeline_versions(pipeline.pipeline_id).pipeline_versions[0]
    latest = client.upload_pipeline_version(str(packages["pair"]), "latest", pipeline_id=pipeline.pipeline_id)

    by_version = client.run_pipeline(
        experiment.experiment_id,
        "by-version",
        pipeline_id=pipeline.pipeline_id,
        version_id=first.pipeline_version_id,
        params={"x": 2},
        enable_caching=False,
    )
    assert by_version.pipeline_version_reference.pipeline_version_id == first.pipeline_version_id
    assert by_version.pipeline_spec is None

    # kfp.Client always sends both ids; the API also takes the pipeline alone (its latest version).
    by_pipeline = client.runs.run_service_create_run(
        models.V2beta1Run(
            experiment_id=experiment.experiment_id,
            display_name="by-pipeline",
            pipeline_version_reference=models.V2beta1PipelineVersionReference(
                pipeline_id=pipeline.pipeline_id
            ),
            runtime_config=models.V2beta1RuntimeConfig(parameters={"x": 3}),
        )
    )
    assert by_pipeline.pipeline_version_reference.pipeline_version_id == latest.pipeline_version_id

    assert finished(client, by_version.run_id).state == "SUCCEEDED"
    assert finished(client, by_pipeline.run_id).state == "SUCCEEDED"


def test_list_runs_filters_sorts_and_pages(kfp_client: kfp.Client, packages: dict[str, Path]) -> None:
    client = kfp_client
    experiment = client.create_experiment(unique("list"))
    names = [f"run-{index}" for index in range(5)]
    run_ids = [
        client.run_pipeline(
            experiment.experiment_id,
            name,
            pipeline_package_path=str(packages["linear"]),
            enable_caching=False,
        ).run_id
        for name in names
    ]
    for run_id in run_ids:
        finished(client, run_id)

    seen: list[str] = []
    token = ""
    while True:
        page = client.list_runs(
            experiment_id=experiment.experiment_id, page_size=2, sort_by="created_at desc", page_token=token
        )
        assert page.total_size == 5
        seen += [run.run_id for run in page.runs]
        token = page.next_page_token
        if not token:
            break
    assert seen == run_ids[::-1]

    def ids(*filters: dict[str, Any], sort_by: str = "") -> list[str]:
        page = client.list_runs(
            experiment_id=experiment.experiment_id, filter=predicates(*filters), sort_by=sort_by
        )
        return [run.run_id for run in page.runs or []]

    assert ids({"key": "display_name", "operation": EQUALS, "stringValue": "run-3"}) == [run_ids[3]]
    assert ids({"key": "name", "operation": NOT_EQUALS, "string_value": "run-3"}) == run_ids[:3] + run_ids[4:]
    assert ids({"key": "display_name", "operation": IN, "stringValues": {"values": ["run-0", "run-4"]}}) == [
        run_ids[0],
        run_ids[4],
    ]
    assert ids({"key": "display_name", "operation": IS_SUBSTRING, "stringValue": "N-2"}) == [run_ids[2]]
    assert (
        ids({"key": "state", "operation": EQUALS, "stringValue": "SUCCEEDED"}, sort_by="name desc")
        == run_ids[::-1]
    )
    third = client.get_run(run_ids[2]).created_at.isoformat()
    assert ids({"key": "created_at", "operation": GREATER_THAN, "timestampValue": third}) == run_ids[3:]


def test_archive_terminate_and_delete_runs(kfp_client: kfp.Client, packages: dict[str, Path]) -> None:
    client = kfp_client
    experiment = client.create_experiment(unique("lifecycle"))
    sleeping = client.run_pipeline(
        experiment.experiment_id,
        "sleeping",
        pipeline_package_path=str(packages["sleepy"]),
        enable_caching=False,
    )
    wait_until(
        lambda: True if client.get_run(sleeping.run_id).state == "RUNNING" else None, what="the run to start"
    )
    client.terminate_run(sleeping.run_id)
    canceled = wait_until(
        lambda: run if (run := client.get_run(sleeping.run_id)).state == "CANCELED" else None,
        what="the run to be canceled",
    )
    assert canceled.finished_at is not None

    client.archive_run(sleeping.run_id)
    assert client.get_run(sleeping.run_id).storage_state == "ARCHIVED"
    archived = client.list_runs(
        experiment_id=experiment.experiment_id,
        filter=predicates({"key": "storage_state", "operation": EQUALS, "stringValue": "ARCHIVED"}),
    )
    assert [run.run_id for run in archived.runs] == [sleeping.run_id]
    client.unarchive_run(sleeping.run_id)
    assert client.get_run(sleeping.run_id).storage_state == "AVAILABLE"

    client.delete_run(sleeping.run_id)
    assert status_of(lambda: client.get_run(sleeping.run_id)) == 404
    # As KFP's server, an empty page leaves out `runs` and `total_size` (protobuf JSON defaults).
    emptied = client.list_runs(experiment_id=experiment.experiment_id)
    assert (emptied.runs, emptied.total_size) == (None, None)


# --- recurring runs ------------------------------------------------------------------------


def test_recurring_runs(kfp_client: kfp.Client, packages: dict[str, Path]) -> None:
    client = kfp_client
    experiment = client.create_experiment(unique("recurring"))
    pipeline = client.upload_pipeline(str(packages["pair"]), pipeline_name=unique("pair"))
    version = client.list_pipeline_versions(pipeline.pipeline_id).pipeline_versions[0]

    nightly = client.create_recurring_run(
        experiment.experiment_id,
        "nightly",
        description="at midnight",
        cron_expression="0 0 0 * * *",
        pipeline_id=pipeline.pipeline_id,
        version_id=version.pipeline_version_id,
        params={"x": 7},
        start_time="2099-01-01T00:00:00Z",
        no_catchup=True,
    )
    assert nightly.trigger.cron_schedule.cron == "0 0 0 * * *"
    assert (nightly.mode, nightly.status, nightly.max_concurrency) == ("ENABLE", "ENABLED", "1")
    got = client.get_recurring_run(nightly.recurring_run_id)
    assert (got.display_name, got.description, got.no_catchup) == ("nightly", "at midnight", True)
    assert got.trigger.cron_schedule.start_time.year == 2099
    assert got.pipeline_version_reference.pipeline_version_id == version.pipeline_version_id

    every_second = client.create_recurring_run(
        experiment.experiment_id,
        "every-second",
        interval_second=1,
        pipeline_package_path=str(packages["pair"]),
        params={"x": 1},
        max_concurrency=2,
        no_catchup=True,
        enable_caching=False,
    )
    assert every_second.trigger.periodic_schedule.interval_second == "1"
    fired = predicates(
        {"key": "recurring_run_id", "operation": EQUALS, "stringValue": every_second.recurring_run_id}
    )
    first_runs = wait_until(
        lambda: (
            page.runs
            if (page := client.list_runs(experiment_id=experiment.experiment_id, filter=fired)).runs
            else None
        ),
        what="the periodic recurring run to fire",
    )
    client.disable_recurring_run(every_second.recurring_run_id)
    assert client.get_recurring_run(every_second.recurring_run_id).status == "DISABLED"
    assert first_runs[0].recurring_run_id == every_second.recurring_run_id

    listed = client.list_recurring_runs(experiment_id=experiment.experiment_id, sort_by="display_name")
    assert [r.display_name for r in listed.recurring_runs] == ["every-second", "nightly"]
    enabled_only = client.list_recurring_runs(
        experiment_id=experiment.experiment_id,
        filter=predicates({"key": "status", "operation": EQUALS, "stringValue": "ENABLED"}),
    )
    assert [r.recurring_run_id for r in enabled_only.recurring_runs] == [nightly.recurring_run_id]

    client.disable_recurring_run(nightly.recurring_run_id)
    client.enable_recurring_run(nightly.recurring_run_id)
    assert client.get_recurring_run(nightly.recurring_run_id).status == "ENABLED"
    for recurring_run_id in (nightly.recurring_run_id, every_second.recurring_run_id):
        client.delete_recurring_run(recurring_run_id)
        assert status_of(partial(client.get_recurring_run, recurring_run_id)) == 404
    for run in client.list_runs(experiment_id=experiment.experiment_id, filter=fired, page_size=100).runs:
        assert finished(client, run.run_id).state == "SUCCEEDED"


# --- the client's models read every response without loss --------------------------------


def test_responses_fit_kfp_models_without_loss(
    kfp_client: kfp.Client, packages: dict[str, Path], sluice_server: RunningSluice
) -> None:
    client = kfp_client
    api = client._run_api.api_client
    experiment = client.create_experiment(unique("models"), description="d")
    pipeline = client.upload_pipeline(str(packages["artifacts"]), pipeline_name=unique("art"))
    run = client.run_pipeline(
        experiment.experiment_id,
        "models",
        pipeline_package_path=str(packages["artifacts"]),
        enable_caching=False,
    )
    finished(client, run.run_id)
    recurring = client.create_recurring_run(
        experiment.experiment_id,
        "models",
        cron_expression="0 0 0 1 1 *",
        pipeline_package_path=str(packages["pair"]),
        enabled=False,
        start_time="2024-01-01T00:00:00Z",
        end_time="2099-01-01T00:00:00Z",
    )
    try:
        run_json = raw(sluice_server, f"/runs/{run.run_id}")
        details = assert_lossless(api, run_json, "V2beta1Run")
        assert details.run_details.task_details
        assert any(task.outputs for task in details.run_details.task_details)
        assert_lossless(
            api,
            raw(sluice_server, "/runs", experiment_id=experiment.experiment_id),
            "V2beta1ListRunsResponse",
        )
        assert_lossless(
            api, raw(sluice_server, f"/experiments/{experiment.experiment_id}"), "V2beta1Experiment"
        )
        assert_lossless(
            api, raw(sluice_server, "/experiments", page_size=3), "V2beta1ListExperimentsResponse"
        )
        assert_lossless(api, raw(sluice_server, f"/pipelines/{pipeline.pipeline_id}"), "V2beta1Pipeline")
        assert_lossless(api, raw(sluice_server, "/pipelines", page_size=3), "V2beta1ListPipelinesResponse")
        assert_lossless(
            api,
            raw(sluice_server, f"/pipelines/{pipeline.pipeline_id}/versions"),
            "V2beta1ListPipelineVersionsResponse",
        )
        recurring_json = raw(sluice_server, f"/recurringruns/{recurring.recurring_run_id}")
        assert (recurring_json["mode"], recurring_json["status"]) == ("DISABLE", "DISABLED")
        assert_lossless(api, recurring_json, "V2beta1RecurringRun")
        assert_lossless(
            api,
            raw(sluice_server, "/recurringruns", experiment_id=experiment.experiment_id),
            "V2beta1ListRecurringRunsResponse",
        )
        assert_lossless(api, raw(sluice_server, "/healthz"), "V2beta1GetHealthzResponse")
    finally:
        client.delete_recurring_run(recurring.recurring_run_id)
