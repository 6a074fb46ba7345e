"""The run lifecycle on `sluice up` with kfp-compiled pipelines: retries with backoff,
caching (per task and per run), terminate, retry from the failed step, task timeouts,
and a wide loop."""

from __future__ import annotations

import asyncio
import copy
import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import load_spec
from tests.e2e.kfp_control_flow import compile_all
from tests.e2e.run_view import RunView, finished, get_run, start_run, wait_until, when
from tests.e2e.test_standalone_grpc_and_events import _read_events
from tests.fixtures.sluice_server import RunningSluice


@pytest.fixture(scope="module")
def flows(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return compile_all(tmp_path_factory.mktemp("lifecycle"))


def _post(server: RunningSluice, path: str) -> httpx.Response:
    return httpx.post(f"{server.http_url}/apis/v2beta1{path}", timeout=30)


def _log(server: RunningSluice, run_id: str, task_id: str, attempt: int) -> str:
    response = httpx.get(
        f"{server.http_url}/apis/v2beta1/runs/{run_id}/tasks/{task_id}/logs",
        params={"attempt": attempt},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return response.text


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by its parent) counts as stopped.
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(") ")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


# --- retries ----------------------------------------------------------------------------------


def test_retries_back_off_and_keep_every_attempt(
    sluice_server: RunningSluice, flows: dict[str, Path], tmp_path: Path
) -> None:
    run_id = start_run(
        sluice_server, flows["retries"], {"marker_dir": str(tmp_path / "marks"), "failures": 2}
    )
    run = finished(sluice_server, run_id)
    assert run.state == "SUCCEEDED", run.run.get("error")
    flaky = run.one("flaky")
    assert flaky["output_parameters"] == {"Output": 3}
    attempts = flaky["attempts"]
    assert [a["attempt"] for a in attempts] == [1, 2, 3]
    assert [a["state"] for a in attempts] == ["FAILED", "FAILED", "SUCCEEDED"]
    for number, attempt in enumerate(attempts[:2], start=1):
        assert f"attempt {number} fails on purpose" in attempt["error"]["message"]
        assert attempt["log_uri"]
        assert f"RuntimeError: attempt {number} fails on purpose" in _log(
            sluice_server, run_id, flaky["task_id"], number
        )
    assert "fails on purpose" not in _log(sluice_server, run_id, flaky["task_id"], 3)
    # Backoff 1 s, factor 2: the second retry waits twice as long as the first.
    first_gap = when(attempts[1]["start_time"]) - when(attempts[0]["end_time"])
    second_gap = when(attempts[2]["start_time"]) - when(attempts[1]["end_time"])
    assert first_gap.total_seconds() >= 1.0
    assert second_gap.total_seconds() >= 2.0
    assert flaky["state_history"][-1]["state"] == "SUCCEEDED"


def test_exhausted_retries_fail_the_run(
    sluice_server: RunningSluice, flows: dict[str, Path], tmp_path: Path
) -> None:
    run = finished(
        sluice_server,
        start_run(sluice_server, flows["retries-exhausted"], {"marker_dir": str(tmp_path / "m")}),
    )
    assert run.state == "FAILED"
    flaky = run.one("flaky")
    assert flaky["state"] == "FAILED"
    assert [a["state"] for a in flaky["attempts"]] == ["FAILED", "FAILED"]
    assert "attempt 2 fails on purpose" in flaky["error"]["message"]
    assert "attempt 2 fails on purpose" in run.run["error"]["message"]
    assert run.one("echo")["state"] == "SKIPPED"
    assert sorted(os.listdir(tmp_path / "m")) == ["attempt-1", "attempt-2"]


# --- caching ----------------------------------------------------------------------------------


def test_second_identical_run_reuses_outputs_and_switches_are_respected(
    sluice_server: RunningSluice, flows: dict[str, Path]
) -> None:
    salt = uuid.uuid4().hex
    first = finished(sluice_server, start_run(sluice_server, flows["caching"], {"salt": salt}, cache=True))
    assert first.state == "SUCCEEDED", first.run.get("error")
    for name in ("cached", "uncached", "downstream"):
        assert first.one(name)["state"] == "SUCCEEDED"
        assert not first.one(name).get("cached_from_task_id")

    second = finished(sluice_server, start_run(sluice_server, flows["caching"], {"salt": salt}, cache=True))
    assert second.state == "SUCCEEDED", second.run.get("error")
    cached = second.one("cached")
    assert cached["state"] == "SKIPPED"
    assert cached["cached_from_task_id"] == first.one("cached")["task_id"]
    assert cached["output_parameters"] == first.one("cached")["output_parameters"]
    assert not cached.get("attempts")
    downstream = second.one("downstream")
    assert downstream["state"] == "SKIPPED"
    assert downstream["cached_from_task_id"] == first.one("downstream")["task_id"]
    # set_caching_options(False): runs every time.
    uncached = second.one("uncached")
    assert uncached["state"] == "SUCCEEDED"
    assert uncached["output_parameters"] != first.one("uncached")["output_parameters"]

    # The per-run switch, through the HTTP API: nothing is reused.
    third_id = start_run(sluice_server, flows["caching"], {"salt": salt}, cache=False)
    assert get_run(sluice_server, third_id)["disable_cache"] is True
    third = finished(sluice_server, third_id)
    assert third.state == "SUCCEEDED"
    for name in ("cached", "uncached", "downstream"):
        assert third.one(name)["state"] == "SUCCEEDED", name
        assert not third.one(name).get("cached_from_task_id")
    assert third.output("cached") != first.output("cached")


# --- retry from the failed step ---------------------------------------------------------------


def test_retry_reruns_only_what_failed(
    sluice_server: RunningSluice, flows: dict[str, Path], tmp_path: Path
) -> None:
    marker = tmp_path / "seen"
    run_id = start_run(sluice_server, flows["retry-run"], {"marker": str(marker), "salt": uuid.uuid4().hex})
    failed = finished(sluice_server, run_id)
    assert failed.state == "FAILED"
    assert failed.one("fail-first-time")["state"] == "FAILED"
    assert failed.one("after")["state"] == "SKIPPED"
    assert failed.one("in-group")["state"] == "SUCCEEDED"
    assert json.loads(failed.output("exit"))["state"] == "SUCCEEDED"

    assert _post(sluice_server, f"/runs/{run_id}:retry").status_code == 200
    retried = finished(sluice_server, run_id)
    assert retried.state == "SUCCEEDED", retried.run.get("error")
    assert retried.output("after") == "second time lucky"
    flaky = retried.one("fail-first-time")
    assert [a["state"] for a in flaky["attempts"]] == ["FAILED", "SUCCEEDED"]
    assert [a["attempt"] for a in flaky["attempts"]] == [1, 2]
    assert flaky["task_id"] == failed.one("fail-first-time")["task_id"]
    # What had succeeded was not executed again: same outputs, one attempt, same times.
    for name in ("before", "side", "in-group", "exit", "exit-handler-1"):
        old, new = failed.one(name), retried.one(name)
        assert new["state"] == "SUCCEEDED", name
        assert new.get("output_parameters") == old.get("output_parameters"), name
        assert new["end_time"] == old["end_time"], name
        assert len(new.get("attempts", [])) == len(old.get("attempts", [])), name
    states = [change["state"] for change in retried.run["state_history"]]
    assert states[-3:] == ["FAILED", "RUNNING", "SUCCEEDED"]

    again = _post(sluice_server, f"/runs/{run_id}:retry")
    assert again.status_code == 400
    assert "SUCCEEDED" in again.json()["message"]


# --- terminate ----------------------------------------------------------------------------------


def test_terminate_stops_processes_skips_pending_and_runs_the_exit_handler(
    sluice_server: RunningSluice, flows: dict[str, Path], tmp_path: Path
) -> None:
    pid_dir = tmp_path / "pids"
    run_id = start_run(sluice_server, flows["terminate"], {"pid_dir": str(pid_dir)})
    wait_until(
        lambda: pid_dir.is_dir() and len(list(pid_dir.glob("*.pids"))) == 2,
        timeout=60,
        what="two tasks holding",
    )
    pids = [int(pid) for path in pid_dir.glob("*.pids") for pid in path.read_text().split()]
    assert all(_alive(pid) for pid in pids)

    assert _post(sluice_server, f"/runs/{run_id}:terminate").status_code == 200
    assert get_run(sluice_server, run_id)["state"] in ("CANCELING", "CANCELED")
    run = finished(sluice_server, run_id)
    assert run.state == "CANCELED"
    states = [change["state"] for change in run.run["state_history"]]
    assert states[-2:] == ["CANCELING", "CANCELED"]
    wait_until(lambda: not any(_alive(pid) for pid in pids), timeout=15, what="task processes gone")

    holds = run.named("hold")
    assert len(holds) == 2
    for hold in holds:
        assert hold["state"] == "CANCELED"
        assert [a["state"] for a in hold["attempts"]] == ["CANCELED"]
    iterations = run.iterations("for-loop-3")
    assert [it["state"] for it in iterations] == ["CANCELED"] * 4
    for never_started in iterations[2:]:
        assert run.children(never_started) == []
    assert sorted(p.name for p in pid_dir.iterdir()) == ["1.pids", "2.pids"]
    assert run.one("after-loop")["state"] == "SKIPPED"
    assert run.one("exit-handler-1")["state"] == "CANCELED"
    exit_task = run.one("exit")
    assert exit_task["state"] == "SUCCEEDED"
    status = json.loads(exit_task["output_parameters"]["Output"])
    assert status["state"] == "CANCELLED"
    assert status["task"] == "exit-handler-1"
    assert when(exit_task["start_time"]) >= max(when(hold["end_time"]) for hold in holds)

    again = _post(sluice_server, f"/runs/{run_id}:terminate")
    assert again.status_code == 400


# --- timeouts and resources ---------------------------------------------------------------------


def test_task_timeout_from_the_platform_spec(sluice_server: RunningSluice, flows: dict[str, Path]) -> None:
    # What kfp-kubernetes' `kubernetes.set_timeout(task, 1)` writes.
    spec = {
        "pipeline_spec": load_spec(flows["timeout"]),
        "platform_spec": {
            "platforms": {
                "kubernetes": {"deploymentSpec": {"executors": {"exec-nap": {"activeDeadlineSeconds": "1"}}}}
            }
        },
    }
    started = time.monotonic()
    run = finished(sluice_server, start_run(sluice_server, copy.deepcopy(spec)))
    assert time.monotonic() - started < 20
    assert run.state == "FAILED"
    nap = run.one("nap")
    assert nap["state"] == "FAILED"
    assert nap["error"]["code"] == 4
    assert "timed out after 1s" in nap["error"]["message"]


# --- scale and events -----------------------------------------------------------------------------


def test_a_hundred_iterations(sluice_server: RunningSluice, flows: dict[str, Path]) -> None:
    started = time.monotonic()
    run_id = start_run(sluice_server, flows["loop-many"], {"count": 100})
    run = finished(sluice_server, run_id, timeout=180)
    duration = time.monotonic() - started
    print(f"\n100 iterations, parallelism 10: {duration:.1f}s")
    assert run.state == "SUCCEEDED", run.run.get("error")
    assert run.outputs("plus") == list(range(1, 101))
    assert run.output("total") == 5050
    assert len(run.iterations("for-loop-1")) == 100


def test_events_of_a_loop_run_arrive_in_order(sluice_server: RunningSluice, flows: dict[str, Path]) -> None:
    run_id = start_run(sluice_server, flows["loop-raw"])
    finished(sluice_server, run_id)
    events: list[dict[str, Any]] = asyncio.run(_read_events(sluice_server.nats_url, run_id))
    assert events[0]["kind"] == "RUN_CREATED"
    assert events[-1]["state"] == "SUCCEEDED"
    by_task: dict[str, list[str]] = {}
    for event in events:
        if event["kind"] == "TASK_STATE_CHANGED":
            by_task.setdefault(event["task_id"], []).append(event["state"])
    view = RunView(get_run(sluice_server, run_id))
    for task in view.named("square"):
        assert by_task[task["task_id"]] == ["PENDING", "RUNNING", "SUCCEEDED"]
    ended = {
        event["task_id"]: index
        for index, event in enumerate(events)
        if event["kind"] == "TASK_STATE_CHANGED" and event["state"] == "SUCCEEDED"
    }
    loop = view.one("for-loop-2")
    assert all(ended[task["task_id"]] < ended[loop["task_id"]] for task in view.named("square"))
    assert ended[loop["task_id"]] < ended[view.one("total")["task_id"]]
