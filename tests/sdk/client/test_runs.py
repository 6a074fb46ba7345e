"""Runs through `sluice.Client`, over gRPC and over HTTP, on a live server."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sluice.client import Client, EventKind, Page, Run, RunState, errors
from sluice.compiler import Compiler

from tests.sdk.client.conftest import unique
from tests.sdk.client.pipelines import (
    add_pipeline,
    failing_pipeline,
    flaky_pipeline,
    sleeping_pipeline,
    talking_pipeline,
)


def test_a_pipeline_function_runs_and_wait_returns_the_finished_run(client: Client) -> None:
    experiment = unique("runs")
    run = client.run_pipeline(
        add_pipeline,
        {"a": 3, "b": 4},
        experiment=experiment,
        run_name="three plus four",
        enable_caching=False,
    )
    assert run.state in (RunState.PENDING, RunState.RUNNING)
    assert run.display_name == "three plus four"
    assert run.disable_cache

    final = client.wait(run.run_id, timeout=60)

    assert final.succeeded, final.error
    assert final.outputs == {"Output": 7}
    assert final.parameters == {"a": 3, "b": 4}
    assert final.task("add").output_parameters == {"Output": 7}
    assert final.task("shout").state is RunState.SUCCEEDED
    assert final.experiment_id == client.get_experiment_by_name(experiment).experiment_id
    assert final.finished_at is not None
    assert final.created_at is not None


def test_a_run_starts_from_a_package_file_a_pipeline_or_a_version(client: Client, tmp_path: Path) -> None:
    package = tmp_path / "add.yaml"
    Compiler().compile(add_pipeline, package)
    from_file = client.run_pipeline(package, {"a": 10}, enable_caching=False)

    uploaded = client.upload_pipeline(package, name=unique("add"))
    version = client.list_pipeline_versions(uploaded.pipeline_id).items[0]
    from_version = client.run_pipeline(version, {"a": 20}, enable_caching=False)
    from_pipeline = client.run_pipeline(uploaded, {"a": 30}, enable_caching=False)

    assert client.wait(from_file.run_id, timeout=60).outputs == {"Output": 12}
    assert client.wait(from_version.run_id, timeout=60).outputs == {"Output": 22}
    by_pipeline = client.wait(from_pipeline.run_id, timeout=60)
    assert by_pipeline.outputs == {"Output": 32}
    assert by_pipeline.pipeline_version_reference is not None
    assert by_pipeline.pipeline_version_reference.pipeline_version_id == version.pipeline_version_id


def test_watch_sync_streams_every_event_in_order_until_the_run_finishes(client: Client) -> None:
    run = client.run_pipeline(add_pipeline, {"a": 1, "b": 1}, enable_caching=False)

    events = list(client.watch_sync(run.run_id, timeout=60))

    assert events[0].kind is EventKind.RUN_CREATED
    assert events[-1].finishes_run
    assert events[-1].state is RunState.SUCCEEDED
    sequences = [event.sequence for event in events]
    assert sequences == sorted(sequences)
    assert len(set(sequences)) == len(sequences)
    add_states = [event.state for event in events if event.task_name == "add"]
    assert add_states[-1] is RunState.SUCCEEDED
    assert RunState.RUNNING in add_states
    done = next(e for e in events if e.task_name == "add" and e.state is RunState.SUCCEEDED)
    assert done.output_parameters == {"Output": 2}
    assert all(event.run_id == run.run_id for event in events)

    # Resuming after a sequence number replays only what came after it.
    resumed = list(client.watch_sync(run.run_id, after_sequence=events[-3].sequence))
    assert [e.sequence for e in resumed] == sequences[-2:]


async def test_watch_is_an_async_iterator_of_the_same_events(client: Client) -> None:
    run = client.run_pipeline(add_pipeline, {"a": 2, "b": 2}, enable_caching=False)

    events = [event async for event in client.watch(run.run_id)]

    assert events[-1].finishes_run
    assert events[-1].state is RunState.SUCCEEDED
    assert [e.sequence for e in events] == [e.sequence for e in client.watch_sync(run.run_id)]


def test_wait_gives_up_after_its_timeout_and_terminate_cancels_the_run(client: Client) -> None:
    run = client.run_pipeline(sleeping_pipeline, {"seconds": 60.0}, enable_caching=False)
    started = time.monotonic()

    with pytest.raises(errors.DeadlineExceeded, match=r"did not finish within 0\.5 s") as caught:
        client.wait(run.run_id, timeout=0.5)
    assert isinstance(caught.value, TimeoutError)
    assert time.monotonic() - started < 10

    client.terminate_run(run.run_id)
    final = client.wait(run.run_id, timeout=30)
    assert final.state is RunState.CANCELED
    another = client.run_pipeline(sleeping_pipeline, {"seconds": 60.0}, enable_caching=False)
    with pytest.raises(errors.DeadlineExceeded):
        list(client.watch_sync(another.run_id, timeout=0.3))
    client.terminate_run(another.run_id)
    assert client.wait(another.run_id, timeout=30).state is RunState.CANCELED


def test_a_failed_run_reports_why_and_retry_runs_it_again(client: Client, tmp_path: Path) -> None:
    run = client.run_pipeline(flaky_pipeline, {"marker": str(tmp_path / "marker")}, enable_caching=False)

    failed = client.wait(run.run_id, timeout=60)

    assert failed.state is RunState.FAILED
    task = failed.task("fail-until-marker")
    assert task.state is RunState.FAILED
    assert task.error is not None
    assert "the first attempt fails" in client.read_task_log(run.run_id, "fail-until-marker")

    client.retry_run(run.run_id)
    retried = client.wait(run.run_id, timeout=60)

    assert retried.succeeded
    assert retried.outputs == {"Output": "recovered"}
    with pytest.raises(errors.FailedPrecondition):
        client.retry_run(run.run_id)


def test_task_logs_by_name_id_and_attempt(client: Client) -> None:
    run = client.wait(client.run_pipeline(add_pipeline, {"a": 5}, enable_caching=False).run_id, timeout=60)
    task = run.task("shout")

    by_name = client.read_task_log(run.run_id, "shout")
    assert "SUM COMPUTED" in by_name
    assert client.read_task_log(run.run_id, task.task_id) == by_name
    assert client.read_task_log(run.run_id, "shout", attempt=1) == by_name
    assert b"".join(client.stream_task_log(run.run_id, "shout")).decode() == by_name
    with pytest.raises(errors.NotFound, match="no task 'nope'"):
        client.read_task_log(run.run_id, "nope")
    with pytest.raises(errors.NotFound):
        client.read_task_log(run.run_id, "shout", attempt=7)


def test_following_a_task_log_streams_it_while_the_task_runs(client: Client, tmp_path: Path) -> None:
    release = tmp_path / "release"
    run = client.run_pipeline(talking_pipeline, {"release": str(release)}, enable_caching=False)
    received = b""
    try:
        chunks = client.stream_task_log(run.run_id, "talk-until-released", follow=True)
        deadline = time.monotonic() + 60
        while b"halfway there" not in received and time.monotonic() < deadline:
            received += next(chunks)
        # The task still waits for its release: the line came while it ran.
        assert client.get_run(run.run_id).task("talk-until-released").state is RunState.RUNNING
        release.touch()
        received += b"".join(chunks)  # ends by itself with the task
    finally:
        release.touch()
    text = received.decode()
    assert text.index("halfway there") < text.index("released, done")
    assert client.wait(run.run_id, timeout=60).succeeded
    assert client.read_task_log(run.run_id, "talk-until-released") == text


def test_failing_runs_carry_the_task_error(client: Client) -> None:
    run = client.wait(client.run_pipeline(failing_pipeline, {"message": "no luck"}).run_id, timeout=60)

    assert run.state is RunState.FAILED
    assert "no luck" in client.read_task_log(run.run_id, "fail")


def test_enable_caching_reuses_the_outputs_of_an_identical_run(client: Client) -> None:
    arguments = {"a": int(time.time_ns() % 1_000_000), "b": 1}
    first = client.wait(client.run_pipeline(add_pipeline, arguments, enable_caching=True).run_id, timeout=60)
    second = client.wait(client.run_pipeline(add_pipeline, arguments, enable_caching=True).run_id, timeout=60)

    assert not first.task("add").cached
    assert second.task("add").cached
    assert second.task("measure").cached
    assert second.outputs == first.outputs
    # The run's metrics come from its Metrics artifacts, reused ones included, and are in lists.
    total = arguments["a"] + 1
    assert first.metrics == second.metrics == {"x": total, "double": 2 * total}
    listed = {run.run_id: run for run in client.list_runs(page_size=50, sort_by="created_at desc")}
    assert listed[second.run_id].metrics == second.metrics


def test_runs_are_listed_filtered_archived_and_deleted(client: Client) -> None:
    experiment = client.create_experiment(unique("list"))
    names = [unique("listed") for _ in range(3)]
    runs = [
        client.run_pipeline(
            add_pipeline, {"a": i}, experiment=experiment, run_name=name, enable_caching=False
        )
        for i, name in enumerate(names)
    ]
    for run in runs:
        client.wait(run.run_id, timeout=60)

    everything = client.list_runs(experiment_id=experiment.experiment_id)
    assert {run.run_id for run in everything} == {run.run_id for run in runs}
    assert everything.total_size == 3
    assert [r.display_name for r in client.list_runs(display_name=names[1])] == [names[1]]

    def newest_first(page_token: str = "") -> Page[Run]:
        return client.list_runs(
            experiment_id=experiment.experiment_id,
            page_size=2,
            sort_by="created_at desc",
            page_token=page_token,
        )

    page = newest_first()
    assert [r.run_id for r in page] == [runs[2].run_id, runs[1].run_id]
    assert page.next_page_token
    rest = newest_first(page.next_page_token)
    assert [r.run_id for r in rest] == [runs[0].run_id]
    assert not rest.next_page_token
    succeeded = client.list_runs(experiment_id=experiment.experiment_id, state=["SUCCEEDED", "FAILED"])
    assert len(succeeded) == 3

    client.archive_run(runs[0].run_id)
    archived = client.list_runs(experiment_id=experiment.experiment_id, storage_state="ARCHIVED")
    assert [r.run_id for r in archived] == [runs[0].run_id]
    client.unarchive_run(runs[0].run_id)
    assert client.get_run(runs[0].run_id).storage_state == "AVAILABLE"

    client.delete_run(runs[0].run_id)
    with pytest.raises(errors.NotFound):
        client.get_run(runs[0].run_id)
