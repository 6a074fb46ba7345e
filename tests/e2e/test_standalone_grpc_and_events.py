"""The same engine through the public gRPC API, and its events as a NATS subscriber sees them."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import grpc
import nats
import pytest
from google.protobuf import struct_pb2
from sluice.v1 import common_pb2, events_pb2, runs_pb2, runs_pb2_grpc

from services.core.events.subjects import EVENTS_STREAM, run_events_subject
from tests.e2e.conftest import load_spec, submit
from tests.fixtures.sluice_server import RunningSluice


def _run_over_grpc(server: RunningSluice, path: Path, parameters: dict[str, Any]) -> runs_pb2.Run:
    spec = struct_pb2.Struct()
    spec.update(load_spec(path))
    request = runs_pb2.CreateRunRequest(
        run=runs_pb2.Run(
            display_name="over-grpc", pipeline_spec=spec, runtime_config=runs_pb2.RuntimeConfig()
        )
    )
    for name, value in parameters.items():
        request.run.runtime_config.parameters[name].number_value = value
    with grpc.insecure_channel(server.grpc_address) as channel:
        stub = runs_pb2_grpc.RunServiceStub(channel)
        created = stub.CreateRun(request, timeout=30)
        events = list(stub.WatchRun(runs_pb2.WatchRunRequest(run_id=created.run_id), timeout=60))
        assert events[-1].kind == events_pb2.RunEvent.RUN_STATE_CHANGED
        assert events[-1].state == common_pb2.SUCCEEDED
        run: runs_pb2.Run = stub.GetRun(runs_pb2.GetRunRequest(run_id=created.run_id), timeout=30)
        return run


def test_grpc_create_watch_and_get(sluice_server: RunningSluice, compiled: dict[str, Path]) -> None:
    run = _run_over_grpc(sluice_server, compiled["linear"], {"x": 10})
    assert run.state == common_pb2.SUCCEEDED
    outputs = {
        task.display_name: task.output_parameters["Output"].number_value
        for task in run.run_details.task_details
        if "Output" in task.output_parameters
    }
    assert outputs == {"add": 11, "add-2": 21, "add-3": 121}


def test_grpc_errors_carry_status_codes(sluice_server: RunningSluice) -> None:
    with grpc.insecure_channel(sluice_server.grpc_address) as channel:
        stub = runs_pb2_grpc.RunServiceStub(channel)
        with pytest.raises(grpc.RpcError) as caught:
            stub.GetRun(runs_pb2.GetRunRequest(run_id="no-such-run"), timeout=10)
    error = caught.value
    assert isinstance(error, grpc.Call)
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert "no-such-run" in (error.details() or "")


async def _read_events(nats_url: str, run_id: str) -> list[dict[str, Any]]:
    connection = await nats.connect(nats_url)
    try:
        jetstream = connection.jetstream()
        subscription = await jetstream.subscribe(
            run_events_subject(run_id), stream=EVENTS_STREAM, ordered_consumer=True
        )
        events: list[dict[str, Any]] = []
        async with asyncio.timeout(30):
            while True:
                message = await subscription.next_msg(timeout=10)
                event = json.loads(message.data)
                events.append(event)
                if event["kind"] == "RUN_STATE_CHANGED" and event["state"] in ("SUCCEEDED", "FAILED"):
                    return events
    finally:
        await connection.close()


def test_a_nats_subscriber_sees_the_whole_run_in_order(
    sluice_server: RunningSluice, compiled: dict[str, Path]
) -> None:
    run_id = submit(sluice_server, compiled["diamond"], {"x": 1})
    sluice_server.wait_for_run(run_id)
    events = asyncio.run(_read_events(sluice_server.nats_url, run_id))
    assert events[0]["kind"] == "RUN_CREATED"
    assert events[1]["kind"] == "RUN_STATE_CHANGED"
    assert events[1]["state"] == "RUNNING"
    assert events[-1]["state"] == "SUCCEEDED"
    by_task: dict[str, list[str]] = {}
    for event in events:
        if event["kind"] == "TASK_STATE_CHANGED":
            by_task.setdefault(event["display_name"], []).append(event["state"])
    for name in ("add", "add-2", "add-3", "add-4"):
        assert by_task[name] == ["PENDING", "RUNNING", "SUCCEEDED"], (name, by_task[name])
    order = [
        e["display_name"] for e in events if e["kind"] == "TASK_STATE_CHANGED" and e["state"] == "SUCCEEDED"
    ]
    assert order.index("add") < order.index("add-2") < order.index("add-4")
    assert order.index("add-3") < order.index("add-4")
    assert all(e["run_id"] == run_id for e in events)
