from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
from sluice.v1 import artifacts_pb2, common_pb2, runs_pb2

from tests.services.gateway.fakes import FakeBackends

API = "/apis/v2beta1"


def _run_with_task(fakes: FakeBackends) -> runs_pb2.PipelineTaskDetail:
    run = runs_pb2.Run(run_id="r1", state=common_pb2.SUCCEEDED)
    task = run.run_details.task_details.add(
        task_id="t1", display_name="train", log_uri="mem://logs/t1/2", state=common_pb2.SUCCEEDED
    )
    task.attempts.add(attempt=1, log_uri="mem://logs/t1/1", state=common_pb2.FAILED)
    task.attempts.add(attempt=2, log_uri="mem://logs/t1/2", state=common_pb2.SUCCEEDED)
    run.run_details.task_details.add(task_id="t2", state=common_pb2.SUCCEEDED)
    fakes.runs.add(run)
    return task


def _running_task(fakes: FakeBackends) -> runs_pb2.PipelineTaskDetail:
    """A run whose task `t1` runs its first attempt; change the returned message to move it on."""
    run = fakes.runs.add(runs_pb2.Run(run_id="r1", state=common_pb2.RUNNING))
    task = run.run_details.task_details.add(task_id="t1", log_uri="mem://logs/t1/1", state=common_pb2.RUNNING)
    task.attempts.add(attempt=1, log_uri="mem://logs/t1/1", state=common_pb2.RUNNING)
    return task


async def _next_text(chunks: AsyncIterator[str], *, until: str) -> str:
    """Read the stream until `until` has been received (bounded by a timeout)."""
    text = ""
    async with asyncio.timeout(10):
        while until not in text:
            text += await anext(chunks)
    return text


async def test_task_logs_stream_as_text(http: httpx.AsyncClient, fakes: FakeBackends) -> None:
    _run_with_task(fakes)
    log = "".join(f"line {n}\n" for n in range(2000))  # several download chunks
    fakes.artifacts.put("mem://logs/t1/2", log.encode())

    response = await http.get(f"{API}/runs/r1/tasks/t1/logs")

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.text == log
    assert fakes.recorder.last("Download", artifacts_pb2.DownloadRequest).uri == "mem://logs/t1/2"


async def test_logs_of_an_earlier_attempt(http: httpx.AsyncClient, fakes: FakeBackends) -> None:
    _run_with_task(fakes)
    fakes.artifacts.put("mem://logs/t1/1", b"first try\n")

    response = await http.get(f"{API}/runs/r1/tasks/t1/logs", params={"attempt": 1})

    assert (response.status_code, response.text) == (200, "first try\n")


async def test_an_empty_log_is_empty_text(http: httpx.AsyncClient, fakes: FakeBackends) -> None:
    _run_with_task(fakes)
    fakes.artifacts.put("mem://logs/t1/2", b"")

    response = await http.get(f"{API}/runs/r1/tasks/t1/logs")

    assert (response.status_code, response.text) == (200, "")


async def test_missing_logs_are_404(http: httpx.AsyncClient, fakes: FakeBackends) -> None:
    _run_with_task(fakes)

    for path, message in [
        ("runs/nope/tasks/t1/logs", "run 'nope' not found"),
        ("runs/r1/tasks/nope/logs", "task 'nope' not found"),
        ("runs/r1/tasks/t2/logs", "log of task 't2' not found"),
        ("runs/r1/tasks/t1/logs?attempt=7", "log of task 't1 attempt 7' not found"),
        # The task names a log the artifact service does not have.
        ("runs/r1/tasks/t1/logs", "object 'mem://logs/t1/2' not found"),
    ]:
        response = await http.get(f"{API}/{path}")
        assert response.status_code == 404, path
        assert response.json()["message"] == message


async def test_following_a_running_task_streams_its_log_until_it_ends(
    http: httpx.AsyncClient, fakes: FakeBackends
) -> None:
    task = _running_task(fakes)
    fakes.artifacts.put("mem://logs/t1/1", b"epoch 1\n")

    async with http.stream("GET", f"{API}/runs/r1/tasks/t1/logs", params={"follow": "true"}) as response:
        assert response.status_code == 200
        chunks = response.aiter_text()
        first = await _next_text(chunks, until="epoch 1\n")
        # The executor's next copy of the log, then the attempt's end.
        fakes.artifacts.put("mem://logs/t1/1", b"epoch 1\nepoch 2\n")
        second = await _next_text(chunks, until="epoch 2\n")
        fakes.artifacts.put("mem://logs/t1/1", b"epoch 1\nepoch 2\ndone\n")
        task.state = common_pb2.SUCCEEDED
        task.attempts[0].state = common_pb2.SUCCEEDED
        async with asyncio.timeout(10):
            rest = "".join([text async for text in chunks])

    assert first + second + rest == "epoch 1\nepoch 2\ndone\n"
    # Read on from where it was: only the new bytes are downloaded.
    assert fakes.recorder.last("Download", artifacts_pb2.DownloadRequest).offset == len("epoch 1\nepoch 2\n")


async def test_following_waits_for_a_log_not_stored_yet_and_moves_on_to_retries(
    http: httpx.AsyncClient, fakes: FakeBackends
) -> None:
    task = _running_task(fakes)

    async with http.stream("GET", f"{API}/runs/r1/tasks/t1/logs", params={"follow": "true"}) as response:
        chunks = response.aiter_text()
        fakes.artifacts.put("mem://logs/t1/1", b"try 1\n")
        first = await _next_text(chunks, until="try 1\n")
        task.attempts[0].state = common_pb2.FAILED
        task.attempts.add(attempt=2, state=common_pb2.PENDING)  # no log until it runs
        await asyncio.sleep(0.6)
        task.attempts[1].state = common_pb2.RUNNING
        task.attempts[1].log_uri = task.log_uri = "mem://logs/t1/2"
        fakes.artifacts.put("mem://logs/t1/2", b"try 2\n")
        second = await _next_text(chunks, until="try 2\n")
        task.state = task.attempts[1].state = common_pb2.SUCCEEDED
        async with asyncio.timeout(10):
            rest = "".join([text async for text in chunks])

    assert first + second + rest == "try 1\n\n[sluice] attempt 2\ntry 2\n"


async def test_following_an_ended_task_returns_its_log_at_once(
    http: httpx.AsyncClient, fakes: FakeBackends
) -> None:
    _run_with_task(fakes)
    fakes.artifacts.put("mem://logs/t1/1", b"first try\n")
    fakes.artifacts.put("mem://logs/t1/2", b"second try\n")

    async with asyncio.timeout(10):
        latest = await http.get(f"{API}/runs/r1/tasks/t1/logs", params={"follow": "true"})
        first = await http.get(f"{API}/runs/r1/tasks/t1/logs", params={"follow": "true", "attempt": 1})

    assert (latest.status_code, latest.text) == (200, "second try\n")
    assert (first.status_code, first.text) == (200, "first try\n")


async def test_following_an_unknown_task_or_attempt_is_404(
    http: httpx.AsyncClient, fakes: FakeBackends
) -> None:
    _running_task(fakes)

    for path, attempt, message in [
        ("runs/nope/tasks/t1/logs", None, "run 'nope' not found"),
        ("runs/r1/tasks/nope/logs", None, "task 'nope' not found"),
        ("runs/r1/tasks/t1/logs", 3, "log of task 't1 attempt 3' not found"),
    ]:
        params = {"follow": "true"} | ({} if attempt is None else {"attempt": str(attempt)})
        async with asyncio.timeout(10):
            response = await http.get(f"{API}/{path}", params=params)
        assert response.status_code == 404, path
        assert response.json()["message"] == message
