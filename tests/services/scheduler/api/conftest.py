"""The scheduler's API on a real `grpc.aio` server (loopback, free port) over a real
SQLite store, with a recording `RunController` standing in for the lead's boundary."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from sluice.v1 import (
    experiments_pb2_grpc,
    pipelines_pb2_grpc,
    recurring_runs_pb2_grpc,
    runs_pb2_grpc,
)

from services.core.store.sqlite import SqliteStore
from services.scheduler.api import SERVER_OPTIONS, add_scheduler_servicers
from tests.services.scheduler.api.harness import Api, RecordingController


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    store = SqliteStore(tmp_path / "sluice.db")
    await store.start()
    try:
        yield store
    finally:
        await store.aclose()


@pytest.fixture
async def api(store: SqliteStore) -> AsyncIterator[Api]:
    controller = RecordingController(store)
    server = grpc.aio.server(options=SERVER_OPTIONS)
    add_scheduler_servicers(server, store=store, controller=controller)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}", options=SERVER_OPTIONS)
    try:
        yield Api(
            experiments=experiments_pb2_grpc.ExperimentServiceStub(channel),
            pipelines=pipelines_pb2_grpc.PipelineServiceStub(channel),
            runs=runs_pb2_grpc.RunServiceStub(channel),
            recurring_runs=recurring_runs_pb2_grpc.RecurringRunServiceStub(channel),
            store=store,
            controller=controller,
        )
    finally:
        await channel.close(grace=None)
        await server.stop(grace=None)
