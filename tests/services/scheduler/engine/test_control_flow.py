"""The engine on kfp-compiled pipelines, step by step: loops, groups, terminate and retry."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.core.pipeline.model import Pipeline
from services.core.store.records import ArtifactRef, RuntimeState, TaskKind
from services.scheduler.engine.states import RERUN, SKIP_REASON
from tests.e2e.kfp_control_flow import compile_all
from tests.services.scheduler.engine.harness import Harness, compiled

SUCCEEDED, FAILED, SKIPPED = RuntimeState.SUCCEEDED, RuntimeState.FAILED, RuntimeState.SKIPPED
CANCELED, RUNNING = RuntimeState.CANCELED, RuntimeState.RUNNING


@pytest.fixture(scope="module")
def pipelines(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Pipeline]:
    paths: dict[str, Path] = compile_all(tmp_path_factory.mktemp("engine"))
    return {name: compiled(path) for name, path in paths.items()}


# --- loops and groups -----------------------------------------------------------------------


def test_parallelism_limit_bounds_running_iterations(pipelines: dict[str, Pipeline]) -> None:
    harness = Harness(pipelines["loop-parallelism"])
    harness.settle()
    peak = 0
    while harness.running():
        peak = max(peak, len(harness.running()))
        harness.finish(harness.running()[0], outputs={"Output": 0})
    assert peak == 2
    assert len(harness.named("nap")) == 6
    assert harness.run.state is SUCCEEDED


def test_iterations_keep_only_their_item_and_read_the_loops_inputs(pipelines: dict[str, Pipeline]) -> None:
    harness = Harness(pipelines["loop-upstream"], {"n": 3})
    harness.settle()
    harness.finish("numbers", outputs={"Output": [4, 5, 6]})
    iterations = sorted(
        (task for task in harness.tasks.values() if task.kind is TaskKind.ITERATION),
        key=lambda task: task.iteration_index,
    )
    items = [task.input_parameters["pipelinechannel--numbers-Output-loop-item"] for task in iterations]
    assert items == [4, 5, 6]
    assert all(len(task.input_parameters) == 1 for task in iterations)
    assert [task.input_parameters for task in harness.named("plus")] == [
        {"a": 4, "b": 100},
        {"a": 5, "b": 100},
        {"a": 6, "b": 100},
    ]
    for task, value in zip(harness.named("plus"), (104, 105, 106), strict=True):
        harness.finish(task, outputs={"Output": value})
    assert harness.task("total").input_parameters == {"xs": [104, 105, 106]}


def test_branches_not_taken_are_skipped_with_their_tasks(pipelines: dict[str, Pipeline]) -> None:
    harness = Harness(pipelines["conditions"], {"n": 9})
    harness.settle()
    harness.finish("plus", outputs={"Output": 9})
    assert harness.task("condition-2").state is RUNNING
    for group, inner in (("condition-3", "echo-2"), ("condition-4", "echo-3")):
        assert harness.task(group).state is SKIPPED
        assert harness.task(group).scheduling[SKIP_REASON] == "condition not met"
        skipped = harness.task(inner)
        assert skipped.state is SKIPPED
        assert skipped.parent_task_id == harness.task(group).task_id
        assert skipped.scheduling[SKIP_REASON] == f"group {group!r} was skipped"
        assert skipped.attempt == 0
    harness.finish("echo", outputs={"Output": "big"})
    data = ArtifactRef(artifact_id="a", name="data", uri="file:///tmp/big", schema_title="system.Dataset")
    harness.report(harness.task("write-text"), RUNNING)
    harness.report(harness.task("write-text"), SUCCEEDED, artifacts={"data": [data]})
    harness.settle()
    assert harness.task("echo-4").input_parameters == {"text": "big"}
    assert harness.task("read-text").input_artifacts == {"data": [data]}
    branches = harness.task("condition-branches-1")
    assert branches.output_parameters == {"pipelinechannel--condition-branches-1-oneof-1": "big"}


# --- terminate ------------------------------------------------------------------------------


def test_terminate_stops_running_cancels_the_rest_and_runs_the_exit_handler(
    pipelines: dict[str, Pipeline],
) -> None:
    harness = Harness(pipelines["terminate"], {"pid_dir": "/tmp/x"})
    harness.settle()
    holds = harness.named("hold")
    assert len(holds) == 2
    harness.start(holds[0])  # the other one is still queued
    harness.terminate()
    assert harness.run.state is RuntimeState.CANCELING
    assert holds[1].state is CANCELED
    assert holds[0].state is RUNNING
    assert sorted(harness.canceled) == sorted(hold.path for hold in holds)
    iterations = [task for task in harness.tasks.values() if task.kind is TaskKind.ITERATION]
    assert sorted(task.state for task in iterations) == [CANCELED, CANCELED, CANCELED, RUNNING]
    assert "final-status" not in [task.name for task in harness.tasks.values()]

    harness.report(holds[0], CANCELED, error="the task was canceled")
    harness.settle()
    assert harness.task("exit-handler-1").state is CANCELED
    assert harness.task("echo").state is SKIPPED
    exit_task = harness.task("final-status")
    assert exit_task.attempt == 1
    status = exit_task.input_parameters["status"]
    assert isinstance(status, dict)
    assert status["state"] == "CANCELLED"
    assert harness.run.state is RuntimeState.CANCELING
    harness.finish(exit_task, outputs={"Output": "{}"})
    assert harness.run.state is CANCELED
    assert harness.canceled.count(holds[0].path) == 1


def test_terminate_before_anything_ran(pipelines: dict[str, Pipeline]) -> None:
    harness = Harness(pipelines["loop-upstream"], {"n": 2})
    harness.settle()
    harness.terminate()
    assert harness.task("numbers").state is CANCELED
    assert harness.task("for-loop-1").state is SKIPPED
    assert harness.task("total").state is SKIPPED
    assert harness.run.state is CANCELED


# --- retry of a run -------------------------------------------------------------------------


def test_retry_runs_the_failed_task_again_and_keeps_what_succeeded(pipelines: dict[str, Pipeline]) -> None:
    harness = Harness(pipelines["retry-run"], {"marker": "/tmp/m", "salt": "s"})
    harness.settle()
    harness.finish("stamp", outputs={"Output": "s:1"})
    harness.finish("stamp-2", outputs={"Output": "s-side:1"})
    harness.finish("echo-2", outputs={"Output": "s-side:1"})  # in the exit handler's group
    harness.finish("fail-first-time", fail="RuntimeError: first run fails")
    harness.finish("final-status", outputs={"Output": "{}"})
    assert harness.run.state is FAILED
    assert harness.task("echo").state is SKIPPED
    launched = list(harness.launched)

    changed = harness.retry()
    assert sorted(task.name for task in changed) == ["echo", "fail-first-time", "root"]
    assert harness.run.state is RUNNING
    flaky = harness.task("fail-first-time")
    assert harness.launched[len(launched) :] == [flaky.path]
    assert flaky.attempt == 2
    assert RERUN not in flaky.scheduling
    harness.finish(flaky, outputs={"Output": "second time lucky"})
    assert harness.task("echo").input_parameters == {"text": "second time lucky"}
    harness.finish("echo", outputs={"Output": "second time lucky"})
    assert harness.run.state is SUCCEEDED
    assert [attempt.state for attempt in flaky.attempts] == [FAILED, SUCCEEDED]
    assert harness.task("stamp").attempt == 1
    assert harness.task("final-status").attempt == 1


def test_retry_reruns_an_exit_handler_that_read_the_failed_group(pipelines: dict[str, Pipeline]) -> None:
    harness = Harness(pipelines["exit-handlers"], {"message": "boom"})
    harness.settle()
    harness.finish("echo", outputs={"Output": "work"})
    harness.finish("fail", fail="ValueError: boom")
    harness.finish("final-status", outputs={"Output": "{}"})
    harness.finish("final-status-2", outputs={"Output": "{}"})
    assert harness.run.state is FAILED

    harness.retry()
    assert harness.task("final-status").state is SUCCEEDED  # its group had succeeded
    second_exit = harness.task("final-status-2")
    assert second_exit.state is RuntimeState.PENDING  # waits for its group again
    assert second_exit.attempt == 1
    harness.finish("fail", outputs={"Output": "fine"})
    assert second_exit.attempt == 2
    status = second_exit.input_parameters["status"]
    assert isinstance(status, dict)
    assert status["state"] == "SUCCEEDED"
    harness.finish(second_exit, outputs={"Output": "{}"})
    assert harness.run.state is SUCCEEDED


def test_retry_inside_a_loop_reruns_only_the_failed_iteration(pipelines: dict[str, Pipeline]) -> None:
    harness = Harness(pipelines["loop-failure"], {"bad": 2})
    harness.settle()
    checks = harness.named("fail-on")
    harness.finish(checks[0], outputs={"Output": 1})
    harness.finish(checks[1], fail="ValueError: item 2 is bad")
    harness.finish(checks[2], outputs={"Output": 3})
    assert harness.run.state is FAILED
    before = len(harness.launched)

    harness.retry()
    assert harness.launched[before:] == [checks[1].path]
    harness.finish(checks[1], outputs={"Output": 2})
    assert harness.task("total").input_parameters == {"xs": [1, 2, 3]}
    harness.finish("total", outputs={"Output": 6})
    assert harness.run.state is SUCCEEDED
    assert [check.attempt for check in checks] == [1, 2, 1]


def test_retry_gives_a_retry_policy_its_full_count_again(pipelines: dict[str, Pipeline]) -> None:
    harness = Harness(pipelines["retries-exhausted"], {"marker_dir": "/tmp/m"})
    harness.settle()
    flaky = harness.task("flaky")
    harness.finish(flaky, fail="attempt 1")
    harness.settle()  # backoff 0 s: the retry is due at once
    assert flaky.attempt == 2
    harness.finish(flaky, fail="attempt 2")
    assert harness.run.state is FAILED

    harness.retry()
    assert flaky.attempt == 3
    harness.finish(flaky, fail="attempt 3")
    harness.settle()
    assert flaky.attempt == 4
    assert flaky.state is RUNNING
    harness.finish(flaky, outputs={"Output": 4})
    harness.finish("echo", outputs={"Output": "never"})
    assert harness.run.state is SUCCEEDED


def test_retry_of_a_terminated_run_runs_what_was_canceled(pipelines: dict[str, Pipeline]) -> None:
    harness = Harness(pipelines["loop-parallelism"])
    harness.settle()
    first, second = harness.named("nap")
    harness.finish(first, outputs={"Output": 1})
    harness.start(second)
    harness.terminate()
    harness.report(second, CANCELED)
    harness.settle()
    assert harness.run.state is CANCELED

    harness.retry()
    assert harness.run.state is RUNNING
    while harness.running():
        harness.finish(harness.running()[0], outputs={"Output": 0})
    assert harness.run.state is SUCCEEDED
    naps = harness.named("nap")
    assert len(naps) == 6
    # The third was queued when the run was terminated: that attempt never started.
    assert [nap.attempt for nap in naps] == [1, 2, 2, 1, 1, 1]
