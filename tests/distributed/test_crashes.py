"""Crashes: a scheduler or an executor killed with SIGKILL, nats-server restarted or cut
off, while runs are under way. Every run still completes with the right outputs, no run
event is lost, and no attempt runs twice at once (but after a SIGKILL of nats-server: see
`test_a_nats_restart_loses_no_event`)."""

from __future__ import annotations

import asyncio
import os
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from services.core.store.records import RuntimeState, TaskKind
from tests.distributed.cluster import ACK_WAIT_SECONDS, Cluster, wait_until
from tests.distributed.runs import (
    Execution,
    Traces,
    assert_succeeded,
    container_tasks,
    get_run,
    outputs_by_task,
    read_run_events,
    read_traces,
    submit,
    submit_all,
    wait_for_runs,
)

RUNS = 20


def _relay_outputs(x: int) -> dict[str, Any]:
    return {
        "step": {"Output": x + 1},
        "step-2": {"Output": x + 11},
        "step-3": {"Output": x + 101},
        "step-4": {"Output": 2 * x + 112},
    }


def _steps(outputs: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in outputs.items() if name.startswith("step")}


def _assert_once_each(traces: Traces) -> None:
    """Every attempt ran in exactly one process, to its end, and none found a twin."""
    assert traces.concurrent == []
    twice = {key: runs for key, runs in traces.executions.items() if len(runs) != 1}
    assert not twice, twice
    unfinished = [runs[0] for runs in traces.executions.values() if runs[0].end is None]
    assert not unfinished, unfinished


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_a_killed_scheduler_restarts_and_every_run_completes(
    healthy_cluster: Cluster, pipelines: dict[str, Path], marker_dir: Path
) -> None:
    cluster = healthy_cluster
    parameters = [{"x": x, "marker_dir": str(marker_dir), "seconds": 1.0} for x in range(RUNS)]
    inputs = dict(zip(submit_all(cluster, pipelines["relay"], parameters), range(RUNS), strict=True))
    # Under way: some steps have started, most of the work is still ahead.
    wait_until(
        lambda: len(list(marker_dir.glob("*.start"))) >= RUNS // 2,
        timeout=30,
        what="steps started",
        cluster=cluster,
    )
    victim = cluster.schedulers[0]
    victim.kill()
    unfinished = [run_id for run_id in inputs if (get_run(cluster, run_id) or {}).get("state") != "SUCCEEDED"]
    assert len(unfinished) >= RUNS // 2, "the runs finished before the crash: nothing was tested"
    time.sleep(1.0)
    victim.start()
    victim.wait_ready()

    runs = wait_for_runs(cluster, inputs, timeout=90)

    assert_succeeded(cluster, runs)
    for run_id, x in inputs.items():
        assert _steps(outputs_by_task(runs[run_id])) == _relay_outputs(x)
    for task in container_tasks(cluster, inputs):
        assert [(a.attempt, a.state) for a in task.attempts] == [(1, RuntimeState.SUCCEEDED)], task
    _assert_once_each(read_traces(marker_dir))


def test_a_killed_executors_task_is_retried_on_the_other_one(
    healthy_cluster: Cluster, pipelines: dict[str, Path], marker_dir: Path
) -> None:
    cluster = healthy_cluster
    run_id = submit(
        cluster, pipelines["slow-middle"], {"x": 5, "marker_dir": str(marker_dir), "seconds": 6.0}
    )

    def slow_step_started() -> Execution | None:
        run = get_run(cluster, run_id) or {"run_details": {"task_details": []}}
        slow = [t for t in run["run_details"]["task_details"] if t["display_name"] == "step-2"]
        if not slow:
            return None
        executions = read_traces(marker_dir).executions.get(f"{run_id}.{slow[0]['task_id']}.1", [])
        return executions[0] if executions else None

    first: Execution = wait_until(
        slow_step_started, timeout=30, what="the slow step started", cluster=cluster
    )
    victim = next(e for e in cluster.executors if e.env["SLUICE_EXECUTOR_ID"] == first.executor)
    survivor = next(e for e in cluster.executors if e is not victim)
    killed_at = time.time()
    victim.kill()
    # The task dies with its executor: it never runs on beside its retry.
    wait_until(lambda: _gone(first.pid), timeout=5, what=f"task pid {first.pid} gone", cluster=cluster)

    runs = wait_for_runs(cluster, [run_id], timeout=60)

    assert_succeeded(cluster, runs)
    assert _steps(outputs_by_task(runs[run_id])) == {
        "step": {"Output": 6},
        "step-2": {"Output": 16},
        "step-3": {"Output": 116},
    }
    traces = read_traces(marker_dir)
    assert traces.concurrent == []
    slow_key = first.key
    killed, retried = traces.executions[slow_key]
    assert (killed.executor, killed.end) == (first.executor, None)
    assert retried.executor == survivor.env["SLUICE_EXECUTOR_ID"]
    assert retried.end is not None
    # Handed over only once the heartbeats had stopped for the consumer's ack_wait.
    assert retried.start >= killed_at + ACK_WAIT_SECONDS - 0.5
    others = {key: runs for key, runs in traces.executions.items() if key != slow_key}
    assert all(len(runs) == 1 and runs[0].end is not None for runs in others.values()), others
    (slow,) = [t for t in container_tasks(cluster, [run_id]) if t.task_id == slow_key.split(".")[1]]
    assert [(a.attempt, a.state, a.executor_id) for a in slow.attempts] == [
        (1, RuntimeState.SUCCEEDED, retried.executor)
    ]


@pytest.mark.parametrize("crash", [False, True], ids=["restart", "sigkill"])
def test_a_nats_restart_loses_no_event(
    healthy_cluster: Cluster, pipelines: dict[str, Path], marker_dir: Path, crash: bool
) -> None:
    """nats-server stopped and started again on its port and store while tasks run (with
    ``sync_interval: always``, so that a SIGKILL loses nothing acknowledged either)."""
    cluster = healthy_cluster
    parameters = [{"x": x, "marker_dir": str(marker_dir), "seconds": 4.0} for x in range(4)]
    inputs = dict(zip(submit_all(cluster, pipelines["slow-middle"], parameters), range(4), strict=True))
    wait_until(
        lambda: len(list(marker_dir.glob("*.start"))) >= 6,
        timeout=30,
        what="the slow steps started",
        cluster=cluster,
    )
    asyncio.run(cluster.nats.restart(kill=crash))

    runs = wait_for_runs(cluster, inputs, timeout=90)

    assert_succeeded(cluster, runs)
    for run_id, x in inputs.items():
        assert _steps(outputs_by_task(runs[run_id])) == {
            "step": {"Output": x + 1},
            "step-2": {"Output": x + 11},
            "step-3": {"Output": x + 111},
        }
    if not crash:
        # A killed nats-server may forget deliveries it had not written down yet (its
        # consumer state is saved lazily) and hand a dispatch out again: then an attempt
        # can run twice, which only a lease outside the consumer would prevent.
        _assert_once_each(read_traces(marker_dir))
    tasks = container_tasks(cluster, inputs)
    for run_id in inputs:
        events = read_run_events(cluster, run_id)
        assert events[0]["kind"] == "RUN_CREATED"
        run_states = [event["state"] for event in events if event["kind"] == "RUN_STATE_CHANGED"]
        assert run_states[-1] == "SUCCEEDED", run_states
        ids = [event["event_id"] for event in events]
        assert len(ids) == len(set(ids)), "an event was stored twice"
        # Every change of every task. With two schedulers, one retrying a publish through the
        # outage, the stream may hold a task's events out of order: the place in the task's
        # history, in the event id (run/task/attempt/index/state), orders them.
        history: defaultdict[str, list[tuple[int, str]]] = defaultdict(list)
        for event in events:
            if event["kind"] == "TASK_STATE_CHANGED":
                index = int(event["event_id"].split("/")[3])
                history[event["task_id"]].append((index, event["state"]))
        run_tasks = [task for task in tasks if task.run_id == run_id]
        assert len(run_tasks) == 3
        for task in run_tasks:
            assert task.kind is TaskKind.CONTAINER
            announced = [state for _, state in sorted(history[task.task_id])]
            assert announced == ["PENDING", "RUNNING", "SUCCEEDED"], (task.name, events)


def test_an_executor_cut_off_from_nats_stops_its_task_before_it_runs_elsewhere(
    healthy_cluster: Cluster, pipelines: dict[str, Path], marker_dir: Path
) -> None:
    """NATS down for longer than ack_wait: the broker will hand the running attempts out
    again, so their executors stop them first; they run again once NATS is back."""
    cluster = healthy_cluster
    parameters = [{"x": x, "marker_dir": str(marker_dir), "seconds": 6.0} for x in range(2)]
    inputs = dict(zip(submit_all(cluster, pipelines["slow-middle"], parameters), range(2), strict=True))
    wait_until(
        lambda: len(list(marker_dir.glob("*.start"))) >= 4,
        timeout=30,
        what="the slow steps started",
        cluster=cluster,
    )
    slow = {key: runs[0] for key, runs in read_traces(marker_dir).executions.items() if runs[0].end is None}
    assert len(slow) == 2, slow
    asyncio.run(cluster.nats.stop())
    time.sleep(ACK_WAIT_SECONDS + 1.5)
    # Stopped while cut off, before the broker could give their dispatches away.
    assert all(_gone(execution.pid) for execution in slow.values()), slow
    asyncio.run(cluster.nats.start())

    runs = wait_for_runs(cluster, inputs, timeout=60)

    assert_succeeded(cluster, runs)
    for run_id, x in inputs.items():
        assert _steps(outputs_by_task(runs[run_id]))["step-3"] == {"Output": x + 111}
    traces = read_traces(marker_dir)
    assert traces.concurrent == []
    for key, first in slow.items():
        stopped, *again = traces.executions[key]
        assert stopped == first
        assert len(again) == 1, traces.executions[key]
        assert again[0].end is not None, traces.executions[key]
    for run_id in inputs:
        events = read_run_events(cluster, run_id)
        run_states = [event["state"] for event in events if event["kind"] == "RUN_STATE_CHANGED"]
        assert run_states[-1] == "SUCCEEDED", run_states
