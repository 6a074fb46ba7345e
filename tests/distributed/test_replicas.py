"""Two schedulers and two executors share the work and never run an attempt twice."""

from __future__ import annotations

from pathlib import Path

from services.core.store.records import RuntimeState
from tests.distributed.cluster import Cluster
from tests.distributed.runs import (
    assert_succeeded,
    container_tasks,
    outputs_by_task,
    read_traces,
    submit,
    wait_for_runs,
)

RUNS = 20


def test_concurrent_runs_on_two_schedulers_and_two_executors(
    healthy_cluster: Cluster, pipelines: dict[str, Path], marker_dir: Path
) -> None:
    cluster = healthy_cluster
    inputs = {
        submit(cluster, pipelines["relay"], {"x": x, "marker_dir": str(marker_dir), "seconds": 0.05}): x
        for x in range(RUNS)
    }

    runs = wait_for_runs(cluster, inputs, timeout=90)

    assert_succeeded(cluster, runs)
    for run_id, x in inputs.items():
        assert _only_steps(outputs_by_task(runs[run_id])) == {
            "step": {"Output": x + 1},
            "step-2": {"Output": x + 11},
            "step-3": {"Output": x + 101},
            "step-4": {"Output": 2 * x + 112},
        }

    # The store: one attempt per task, started once (one RUNNING), by a known executor.
    tasks = container_tasks(cluster, inputs)
    assert len(tasks) == 4 * RUNS
    for task in tasks:
        assert [(a.attempt, a.state) for a in task.attempts] == [(1, RuntimeState.SUCCEEDED)], task
        running = [change for change in task.state_history if change.state is RuntimeState.RUNNING]
        assert len(running) == 1, task.state_history
    assert {task.attempts[0].executor_id for task in tasks} == {"executor-0", "executor-1"}

    # The processes: one execution per attempt, finished, never two at once.
    traces = read_traces(marker_dir)
    assert traces.concurrent == []
    assert len(traces.executions) == 4 * RUNS
    for key, executions in traces.executions.items():
        assert len(executions) == 1, (key, executions)
        assert executions[0].end is not None, executions
    expected = {f"{task.run_id}.{task.task_id}.1" for task in tasks}
    assert set(traces.executions) == expected
    by_executor = {task.task_id: task.attempts[0].executor_id for task in tasks}
    for key, (execution,) in traces.executions.items():
        assert execution.executor == by_executor[key.split(".")[1]]


def _only_steps(outputs: dict[str, object]) -> dict[str, object]:
    return {name: value for name, value in outputs.items() if name.startswith("step")}
