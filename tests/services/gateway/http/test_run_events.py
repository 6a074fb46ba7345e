"""``GET /runs/{run_id}/events``: server-sent events from the event source."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
from sluice.v1 import common_pb2, runs_pb2

from services.gateway import Gateway, GatewayBackend, GatewayConfig, InMemoryRunEventSource
from tests.services.gateway.fakes import (
    CREATED_AT_JSON,
    ClosingSpy,
    FakeBackends,
    final_event,
    sample_run_events,
)

API = "/apis/v2beta1"


async def _sse(lines: AsyncIterator[str]) -> AsyncIterator[tuple[str | None, str | None, list[str]]]:
    """(id, data, comments) per event block of a text/event-stream."""
    event_id: str | None = None
    data: str | None = None
    comments: list[str] = []
    async for line in lines:
        if not line:
            yield event_id, data, comments
            event_id, data, comments = None, None, []
        elif line.startswith(":"):
            comments.append(line[1:].strip())
        else:
            field, _, value = line.partition(":")
            if field == "id":
                event_id = value.strip()
            elif field == "data":
                data = value.strip()


async def _read_events(response: httpx.Response) -> list[tuple[int, dict[str, Any]]]:
    events = []
    async for event_id, data, _ in _sse(response.aiter_lines()):
        if data is not None:
            assert event_id is not None
            events.append((int(event_id), json.loads(data)))
    return events


async def test_events_stream_until_the_run_finishes(
    http: httpx.AsyncClient, fakes: FakeBackends, events: InMemoryRunEventSource
) -> None:
    fakes.runs.add(runs_pb2.Run(run_id="r1"))
    events.publish(final_event("other-run"))
    for event in sample_run_events("r1"):
        events.publish(event)

    async with http.stream("GET", f"{API}/runs/r1/events") as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-cache"
        reading = asyncio.create_task(_read_events(response))
        await asyncio.sleep(0.05)
        assert not reading.done()
        last = events.publish(final_event("r1"))
        received = await asyncio.wait_for(reading, timeout=5)

    assert [sequence for sequence, _ in received] == [2, 3, 4, 5, last]
    kinds_and_states = [(e["kind"], e["state"], e.get("task_id")) for _, e in received]
    assert kinds_and_states == [
        ("RUN_CREATED", "PENDING", None),
        ("RUN_STATE_CHANGED", "RUNNING", None),
        ("TASK_STATE_CHANGED", "RUNNING", "t1"),
        ("TASK_STATE_CHANGED", "SUCCEEDED", "t1"),
        ("RUN_STATE_CHANGED", "SUCCEEDED", None),
    ]
    first = received[0][1]
    assert first == {
        "event_id": first["event_id"],
        "kind": "RUN_CREATED",
        "run_id": "r1",
        "state": "PENDING",
        "time": CREATED_AT_JSON,
        "sequence": "2",
    }


async def test_last_event_id_resumes_after_that_event(
    http: httpx.AsyncClient, fakes: FakeBackends, events: InMemoryRunEventSource
) -> None:
    fakes.runs.add(runs_pb2.Run(run_id="r1"))
    sequences = [events.publish(event) for event in sample_run_events("r1")]
    events.publish(final_event("r1"))

    async with http.stream(
        "GET",
        f"{API}/runs/r1/events",
        headers={"Last-Event-ID": str(sequences[2])},
        params={"after_sequence": 0},
    ) as response:
        received = await asyncio.wait_for(_read_events(response), timeout=5)

    assert [sequence for sequence, _ in received] == [sequences[3], sequences[3] + 1]


async def test_after_sequence_query_parameter(
    http: httpx.AsyncClient, fakes: FakeBackends, events: InMemoryRunEventSource
) -> None:
    fakes.runs.add(runs_pb2.Run(run_id="r1"))
    for event in sample_run_events("r1"):
        events.publish(event)
    last = events.publish(final_event("r1"))

    async with http.stream("GET", f"{API}/runs/r1/events", params={"after_sequence": last - 1}) as response:
        received = await asyncio.wait_for(_read_events(response), timeout=5)

    assert [sequence for sequence, _ in received] == [last]


async def test_an_idle_stream_gets_heartbeats(
    http: httpx.AsyncClient, fakes: FakeBackends, events: InMemoryRunEventSource
) -> None:
    fakes.runs.add(runs_pb2.Run(run_id="r1"))

    async with http.stream("GET", f"{API}/runs/r1/events") as response:
        blocks = _sse(response.aiter_lines())
        event_id, data, comments = await asyncio.wait_for(anext(blocks), timeout=5)
        assert (event_id, data, comments) == (None, None, ["heartbeat"])
        events.publish(final_event("r1"))
        event_id, data, _ = await asyncio.wait_for(anext(blocks), timeout=5)
        assert data is not None
        assert json.loads(data)["state"] == "SUCCEEDED"
        assert await asyncio.wait_for(anext(blocks, None), timeout=5) is None


async def test_events_of_an_unknown_run_are_404(http: httpx.AsyncClient) -> None:
    response = await http.get(f"{API}/runs/nope/events")

    assert response.status_code == 404
    assert response.json()["message"] == "run 'nope' not found"


async def test_a_bad_last_event_id_is_400(http: httpx.AsyncClient, fakes: FakeBackends) -> None:
    fakes.runs.add(runs_pb2.Run(run_id="r1"))

    response = await http.get(f"{API}/runs/r1/events", headers={"Last-Event-ID": "yesterday"})

    assert response.status_code == 400
    assert "Last-Event-ID" in response.json()["message"]


async def test_a_client_leaving_closes_its_watch(fakes: FakeBackends, events: InMemoryRunEventSource) -> None:
    fakes.runs.add(runs_pb2.Run(run_id="r1"))
    events.publish(next(sample_run_events("r1")))
    spy = ClosingSpy(events)
    backend = GatewayBackend.connect(
        scheduler_address=fakes.scheduler_address, artifacts_address=fakes.artifacts_address, events=spy
    )
    async with (
        Gateway(backend=backend, config=GatewayConfig(shutdown_grace_seconds=1)) as gateway,
        httpx.AsyncClient(base_url=gateway.http_url, trust_env=False) as http,
    ):
        async with http.stream("GET", f"{API}/runs/r1/events") as response:
            await asyncio.wait_for(anext(response.aiter_lines()), timeout=5)
            assert not spy.closed.is_set()

        await asyncio.wait_for(spy.closed.wait(), timeout=5)


async def test_a_finished_run_replays_its_events_and_ends(
    http: httpx.AsyncClient, fakes: FakeBackends, events: InMemoryRunEventSource
) -> None:
    fakes.runs.add(runs_pb2.Run(run_id="done", state=common_pb2.SUCCEEDED))
    for event in sample_run_events("done"):
        events.publish(event)
    # The run finished, but its final event is not in the stream: nothing is left to wait for.
    async with http.stream("GET", f"{API}/runs/done/events") as response:
        assert response.status_code == 200
        received = await asyncio.wait_for(_read_events(response), timeout=5)
    assert len(received) == 4

    resumed = await asyncio.wait_for(
        http.get(f"{API}/runs/done/events", headers={"Last-Event-ID": str(received[-1][0])}), timeout=5
    )
    # 204 tells a browser's EventSource to stop reconnecting.
    assert resumed.status_code == 204
    assert resumed.content == b""


async def test_a_sequence_beyond_the_stream_is_refused(http: httpx.AsyncClient, fakes: FakeBackends) -> None:
    fakes.runs.add(runs_pb2.Run(run_id="r9"))
    for headers, params in (({"Last-Event-ID": str(2**64)}, {}), ({}, {"after_sequence": 2**64})):
        response = await http.get(f"{API}/runs/r9/events", headers=headers, params=params)
        assert response.status_code == 400
