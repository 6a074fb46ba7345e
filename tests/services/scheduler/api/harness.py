"""The scheduler API as tests drive it: stubs over a real channel, the store behind it,
and a recording `RunController` standing in for the lead's boundary."""

from __future__ import annotations

from dataclasses import dataclass

from sluice.v1 import (
    experiments_pb2_grpc,
    pipelines_pb2_grpc,
    recurring_runs_pb2_grpc,
    runs_pb2_grpc,
)

from services.core.store.records import RunRecord
from services.core.store.sqlite import SqliteStore


class RecordingController:
    """Stores started runs as the real controller does, and records every call."""

    def __init__(self, store: SqliteStore) -> None:
        self._store = store
        self.started: list[RunRecord] = []
        self.terminated: list[str] = []
        self.retried: list[str] = []

    async def start_run(self, run: RunRecord) -> RunRecord:
        self.started.append(run)
        await self._store.create_run(run)
        return await self._store.get_run(run.run_id)

    async def terminate_run(self, run_id: str) -> None:
        self.terminated.append(run_id)

    async def retry_run(self, run_id: str) -> None:
        self.retried.append(run_id)


@dataclass(frozen=True)
class Api:
    experiments: experiments_pb2_grpc.ExperimentServiceAsyncStub
    pipelines: pipelines_pb2_grpc.PipelineServiceAsyncStub
    runs: runs_pb2_grpc.RunServiceAsyncStub
    recurring_runs: recurring_runs_pb2_grpc.RecurringRunServiceAsyncStub
    store: SqliteStore
    controller: RecordingController
