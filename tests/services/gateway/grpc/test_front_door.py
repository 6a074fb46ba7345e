"""The gRPC front door forwards every public method and serves WatchRun itself."""

from __future__ import annotations

import asyncio
import importlib
import pkgutil
from collections.abc import AsyncIterator

import grpc
import pytest
import sluice.v1
from sluice.v1 import (
    artifacts_pb2,
    artifacts_pb2_grpc,
    common_pb2,
    events_pb2,
    experiments_pb2,
    experiments_pb2_grpc,
    pipelines_pb2,
    pipelines_pb2_grpc,
    runs_pb2,
    runs_pb2_grpc,
)

from services.gateway import Gateway, GatewayBackend, GrpcFrontDoor, InMemoryRunEventSource
from services.gateway.grpc.forwarding import PUBLIC_SERVICES
from tests.services.gateway.fakes import ClosingSpy, FakeBackends, final_event, sample_run_events


def _event(item: object) -> events_pb2.RunEvent:
    assert isinstance(item, events_pb2.RunEvent)
    return item


@pytest.fixture
async def channel(gateway: Gateway) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(gateway.grpc_address) as channel:
        yield channel


def test_every_service_of_the_generated_package_is_public() -> None:
    generated = {
        service.full_name
        for info in pkgutil.iter_modules(sluice.v1.__path__)
        if info.name.endswith("_pb2")
        for service in importlib.import_module(f"sluice.v1.{info.name}").DESCRIPTOR.services_by_name.values()
    }

    assert {service.full_name for service in PUBLIC_SERVICES} == generated


async def test_unary_call_is_forwarded_with_metadata_and_deadline(
    channel: grpc.aio.Channel, fakes: FakeBackends
) -> None:
    stub = experiments_pb2_grpc.ExperimentServiceStub(channel)

    created = await stub.CreateExperiment(
        experiments_pb2.CreateExperimentRequest(experiment=experiments_pb2.Experiment(display_name="e")),
        metadata=(("x-request-id", "abc"),),
        timeout=30,
    )

    assert (created.experiment_id, created.display_name) == ("exp-1", "e")
    call = fakes.recorder.calls[-1]
    assert call.method == "CreateExperiment"
    assert call.metadata["x-request-id"] == "abc"
    assert call.time_remaining is not None
    assert 0 < call.time_remaining <= 30


async def test_no_deadline_stays_no_deadline(channel: grpc.aio.Channel, fakes: FakeBackends) -> None:
    await pipelines_pb2_grpc.PipelineServiceStub(channel).ListPipelines(pipelines_pb2.ListPipelinesRequest())

    assert fakes.recorder.calls[-1].time_remaining is None


async def test_status_details_and_trailing_metadata_pass_through(channel: grpc.aio.Channel) -> None:
    call = runs_pb2_grpc.RunServiceStub(channel).GetRun(runs_pb2.GetRunRequest(run_id="nope"))

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call

    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    assert raised.value.details() == "run 'nope' not found"
    assert ("x-missing", "nope") in tuple(await call.trailing_metadata())


async def test_server_streaming_download_is_forwarded(channel: grpc.aio.Channel, fakes: FakeBackends) -> None:
    data = bytes(range(256)) * 100
    fakes.artifacts.put("mem://blob", data)

    chunks = [
        chunk.data
        async for chunk in artifacts_pb2_grpc.ArtifactServiceStub(channel).Download(
            artifacts_pb2.DownloadRequest(uri="mem://blob", offset=10)
        )
    ]

    assert len(chunks) > 1
    assert b"".join(chunks) == data[10:]


async def test_a_failing_stream_keeps_its_status(channel: grpc.aio.Channel) -> None:
    call = artifacts_pb2_grpc.ArtifactServiceStub(channel).Download(
        artifacts_pb2.DownloadRequest(uri="mem://none")
    )

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        async for _ in call:
            pass

    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    assert raised.value.details() == "object 'mem://none' not found"


async def test_a_cancelled_stream_is_cancelled_at_the_backend(
    channel: grpc.aio.Channel, fakes: FakeBackends
) -> None:
    call = artifacts_pb2_grpc.ArtifactServiceStub(channel).Download(
        artifacts_pb2.DownloadRequest(uri=fakes.artifacts.endless_uri)
    )
    await call.read()

    call.cancel()

    await asyncio.wait_for(fakes.artifacts.download_cancelled.wait(), timeout=5)


async def test_client_streaming_upload_is_forwarded(channel: grpc.aio.Channel, fakes: FakeBackends) -> None:
    async def chunks() -> AsyncIterator[artifacts_pb2.UploadChunk]:
        yield artifacts_pb2.UploadChunk(uri="mem://up", data=b"one,")
        yield artifacts_pb2.UploadChunk(data=b"two,")
        yield artifacts_pb2.UploadChunk(data=b"three")

    result = await artifacts_pb2_grpc.ArtifactServiceStub(channel).Upload(chunks())

    assert (result.uri, result.size_bytes) == ("mem://up", 13)
    assert fakes.artifacts.objects["mem://up"] == b"one,two,three"


async def test_client_streaming_errors_pass_through(channel: grpc.aio.Channel) -> None:
    async def chunks() -> AsyncIterator[artifacts_pb2.UploadChunk]:
        yield artifacts_pb2.UploadChunk(data=b"nameless")

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await artifacts_pb2_grpc.ArtifactServiceStub(channel).Upload(chunks())

    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_watch_run_streams_until_the_run_finishes(
    channel: grpc.aio.Channel, fakes: FakeBackends, events: InMemoryRunEventSource
) -> None:
    fakes.runs.add(runs_pb2.Run(run_id="r1"))
    for event in sample_run_events("r1"):
        events.publish(event)
    events.publish(final_event("other"))
    call = runs_pb2_grpc.RunServiceStub(channel).WatchRun(runs_pb2.WatchRunRequest(run_id="r1"))

    received = [await call.read() for _ in range(4)]
    last = events.publish(final_event("r1"))
    received.append(await call.read())

    # The stream ended by itself after the final event.
    assert await asyncio.wait_for(call.code(), timeout=5) == grpc.StatusCode.OK
    assert [_event(item).sequence for item in received] == [1, 2, 3, 4, last]
    assert _event(received[-1]).state == common_pb2.SUCCEEDED
    assert "WatchRun" not in fakes.recorder.methods()


async def test_watch_run_resumes_after_a_sequence(
    channel: grpc.aio.Channel, fakes: FakeBackends, events: InMemoryRunEventSource
) -> None:
    fakes.runs.add(runs_pb2.Run(run_id="r1"))
    for event in sample_run_events("r1"):
        events.publish(event)
    last = events.publish(final_event("r1"))

    received = [
        event
        async for event in runs_pb2_grpc.RunServiceStub(channel).WatchRun(
            runs_pb2.WatchRunRequest(run_id="r1", after_sequence=3)
        )
    ]

    assert [event.sequence for event in received] == [4, last]


async def test_watch_of_an_unknown_run_is_not_found(channel: grpc.aio.Channel) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        async for _ in runs_pb2_grpc.RunServiceStub(channel).WatchRun(
            runs_pb2.WatchRunRequest(run_id="nope")
        ):
            pass

    assert raised.value.code() == grpc.StatusCode.NOT_FOUND


async def test_closing_the_front_door_ends_watches_unavailable(
    fakes: FakeBackends, events: InMemoryRunEventSource
) -> None:
    fakes.runs.add(runs_pb2.Run(run_id="r1"))
    sequence = events.publish(next(sample_run_events("r1")))
    backend = GatewayBackend.connect(
        scheduler_address=fakes.scheduler_address, artifacts_address=fakes.artifacts_address, events=events
    )
    front_door = GrpcFrontDoor(backend=backend)
    await front_door.start()
    try:
        async with grpc.aio.insecure_channel(front_door.address) as channel:
            call = runs_pb2_grpc.RunServiceStub(channel).WatchRun(runs_pb2.WatchRunRequest(run_id="r1"))
            assert _event(await call.read()).sequence == sequence

            await front_door.aclose(grace=5)

            with pytest.raises(grpc.aio.AioRpcError) as raised:
                await call.read()
    finally:
        await front_door.aclose()
        await backend.aclose()

    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
    assert raised.value.details() == (
        f"the event feed closed before the run finished; watch again with after_sequence={sequence}"
    )


async def test_a_cancelled_watch_closes_its_feed(fakes: FakeBackends, events: InMemoryRunEventSource) -> None:
    fakes.runs.add(runs_pb2.Run(run_id="r1"))
    events.publish(next(sample_run_events("r1")))
    spy = ClosingSpy(events)
    backend = GatewayBackend.connect(
        scheduler_address=fakes.scheduler_address, artifacts_address=fakes.artifacts_address, events=spy
    )
    async with (
        GrpcFrontDoor(backend=backend) as front_door,
        grpc.aio.insecure_channel(front_door.address) as channel,
    ):
        call = runs_pb2_grpc.RunServiceStub(channel).WatchRun(runs_pb2.WatchRunRequest(run_id="r1"))
        await call.read()
        assert not spy.closed.is_set()

        call.cancel()

        await asyncio.wait_for(spy.closed.wait(), timeout=5)
    await backend.aclose()


async def test_a_taken_port_fails_to_start(fakes: FakeBackends, events: InMemoryRunEventSource) -> None:
    backend = GatewayBackend.connect(
        scheduler_address=fakes.scheduler_address, artifacts_address=fakes.artifacts_address, events=events
    )
    async with GrpcFrontDoor(backend=backend) as first:
        second = GrpcFrontDoor(backend=backend, port=first.port)
        with pytest.raises(RuntimeError):
            await second.start()
        await second.aclose()
    await backend.aclose()


def _run_with_a_running_task(fakes: FakeBackends) -> runs_pb2.PipelineTaskDetail:
    run = fakes.runs.add(runs_pb2.Run(run_id="r1", state=common_pb2.RUNNING))
    task = run.run_details.task_details.add(task_id="t1", log_uri="mem://logs/t1/1", state=common_pb2.RUNNING)
    task.attempts.add(attempt=1, log_uri="mem://logs/t1/1", state=common_pb2.RUNNING)
    return task


async def test_read_task_log_is_served_here_from_the_artifact_store(
    channel: grpc.aio.Channel, fakes: FakeBackends
) -> None:
    _run_with_a_running_task(fakes)
    fakes.artifacts.put("mem://logs/t1/1", b"step 1\n" * 3000)  # several chunks
    stub = runs_pb2_grpc.RunServiceStub(channel)

    chunks = [c async for c in stub.ReadTaskLog(runs_pb2.ReadTaskLogRequest(run_id="r1", task_id="t1"))]

    assert b"".join(c.data for c in chunks) == b"step 1\n" * 3000
    assert "ReadTaskLog" not in fakes.recorder.methods()  # not forwarded to the scheduler


async def test_read_task_log_follows_a_running_task_until_it_ends(
    channel: grpc.aio.Channel, fakes: FakeBackends
) -> None:
    task = _run_with_a_running_task(fakes)
    fakes.artifacts.put("mem://logs/t1/1", b"epoch 1\n")
    stub = runs_pb2_grpc.RunServiceStub(channel)
    call = stub.ReadTaskLog(runs_pb2.ReadTaskLogRequest(run_id="r1", task_id="t1", follow=True))

    async with asyncio.timeout(10):
        first = await call.read()
        assert isinstance(first, runs_pb2.LogChunk)
        fakes.artifacts.put("mem://logs/t1/1", b"epoch 1\nepoch 2\n")
        task.state = task.attempts[0].state = common_pb2.SUCCEEDED
        rest = b""
        # Until the end of the stream (grpc's EOF sentinel is not a LogChunk).
        while isinstance(chunk := await call.read(), runs_pb2.LogChunk):
            rest += chunk.data

    assert first.data + rest == b"epoch 1\nepoch 2\n"


async def test_read_task_log_of_unknown_things_is_not_found(
    channel: grpc.aio.Channel, fakes: FakeBackends
) -> None:
    _run_with_a_running_task(fakes)
    stub = runs_pb2_grpc.RunServiceStub(channel)

    request = runs_pb2.ReadTaskLogRequest
    for asked, message in [
        (request(run_id="nope", task_id="t1"), "run 'nope' not found"),
        (request(run_id="r1", task_id="nope", follow=True), "task 'nope' not found"),
        (request(run_id="r1", task_id="t1", attempt=4), "log of task 't1 attempt 4' not found"),
        (request(run_id="r1", task_id="t1"), "object 'mem://logs/t1/1' not found"),
    ]:
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            [c async for c in stub.ReadTaskLog(asked)]
        assert (raised.value.code(), raised.value.details()) == (grpc.StatusCode.NOT_FOUND, message)
