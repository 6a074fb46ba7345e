"""`sluice.v1.RunService`: create, read, list, archive, delete, terminate and retry runs.

A run is validated completely (spec, runtime parameters, experiment) before the
`RunController` sees it; the controller stores it and schedules it. `WatchRun` and
`ReadTaskLog` are served by the gateway, from the run's event stream and the artifact
store, not here.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import grpc
from sluice.v1 import common_pb2, events_pb2, runs_pb2, runs_pb2_grpc

from services.core.errors import SluiceError
from services.core.pipeline.runtime_parameters import resolve_run_parameters
from services.core.store.base import Store
from services.core.store.filters import RUN_FIELDS
from services.core.store.records import ACTIVE_STATES, RunRecord
from services.scheduler.api import convert
from services.scheduler.api.controller import RunController
from services.scheduler.api.listing import list_query
from services.scheduler.api.sources import resolve_experiment, resolve_pipeline_source
from services.scheduler.api.status import Context, translate_errors
from services.scheduler.api.updates import archive, unarchive, update_run

logger = logging.getLogger(__name__)


class RunServicer(runs_pb2_grpc.RunServiceServicer):
    def __init__(self, *, store: Store, controller: RunController) -> None:
        self._store = store
        self._controller = controller

    @translate_errors
    async def CreateRun(self, request: runs_pb2.CreateRunRequest, context: Context) -> runs_pb2.Run:
        given = request.run
        reference = given.pipeline_version_reference
        source = await resolve_pipeline_source(
            self._store,
            inline_spec=convert.from_struct(given.pipeline_spec),
            pipeline_id=reference.pipeline_id,
            pipeline_version_id=reference.pipeline_version_id,
        )
        parameters = resolve_run_parameters(
            source.spec.pipeline, convert.from_value_map(given.runtime_config.parameters)
        )
        experiment = await resolve_experiment(self._store, given.experiment_id or request.experiment_id)
        pipeline = source.spec.pipeline
        now = datetime.now(UTC)
        run = RunRecord(
            run_id=str(uuid.uuid4()),
            experiment_id=experiment.experiment_id,
            display_name=given.display_name.strip() or pipeline.display_name or pipeline.name,
            created_at=now,
            pipeline_spec=source.spec.stored,
            description=given.description,
            namespace=experiment.namespace,
            pipeline_id=source.pipeline_id,
            pipeline_version_id=source.pipeline_version_id,
            parameters=parameters,
            pipeline_root=given.runtime_config.pipeline_root,
            service_account=given.service_account,
            disable_cache=given.disable_cache,
        )
        stored = await self._controller.start_run(run)
        await self._touch_experiment(experiment.experiment_id, now)
        return convert.run_to_proto(stored)

    async def _touch_experiment(self, experiment_id: str, created_at: datetime) -> None:
        """Record the experiment's latest run. The run exists already, so a failure here is
        logged, not reported: a client retrying the call would start the run twice."""
        try:
            # Re-read: experiments have no version to compare-and-set on, so keep the window
            # in which a concurrent archive could be overwritten short.
            experiment = await self._store.get_experiment(experiment_id)
            if experiment.last_run_created_at is None or experiment.last_run_created_at < created_at:
                experiment.last_run_created_at = created_at
                await self._store.update_experiment(experiment)
        except SluiceError:
            logger.warning("cannot update last_run_created_at of experiment %s", experiment_id, exc_info=True)

    @translate_errors
    async def GetRun(self, request: runs_pb2.GetRunRequest, context: Context) -> runs_pb2.Run:
        run = await self._store.get_run(request.run_id)
        tasks = await self._store.list_tasks(run.run_id)
        return convert.run_to_proto(run, tasks=tasks)

    @translate_errors
    async def ListRuns(
        self, request: runs_pb2.ListRunsRequest, context: Context
    ) -> runs_pb2.ListRunsResponse:
        query = list_query(RUN_FIELDS, request)
        page = await self._store.list_runs(
            query, namespace=request.namespace, experiment_id=request.experiment_id
        )
        return runs_pb2.ListRunsResponse(
            runs=[convert.run_to_proto(item) for item in page.items],
            total_size=page.total_size,
            next_page_token=page.next_page_token,
        )

    @translate_errors
    async def ArchiveRun(self, request: runs_pb2.RunIdRequest, context: Context) -> common_pb2.Empty:
        await update_run(self._store, request.run_id, archive)
        return common_pb2.Empty()

    @translate_errors
    async def UnarchiveRun(self, request: runs_pb2.RunIdRequest, context: Context) -> common_pb2.Empty:
        await update_run(self._store, request.run_id, unarchive)
        return common_pb2.Empty()

    @translate_errors
    async def DeleteRun(self, request: runs_pb2.RunIdRequest, context: Context) -> common_pb2.Empty:
        """An active run is terminated first, so its tasks do not outlive its records."""
        run = await self._store.get_run(request.run_id)
        if run.state in ACTIVE_STATES:
            await self._controller.terminate_run(run.run_id)
        await self._store.delete_run(run.run_id)
        return common_pb2.Empty()

    @translate_errors
    async def TerminateRun(self, request: runs_pb2.RunIdRequest, context: Context) -> common_pb2.Empty:
        await self._store.get_run(request.run_id)
        await self._controller.terminate_run(request.run_id)
        return common_pb2.Empty()

    @translate_errors
    async def RetryRun(self, request: runs_pb2.RunIdRequest, context: Context) -> common_pb2.Empty:
        await self._store.get_run(request.run_id)
        await self._controller.retry_run(request.run_id)
        return common_pb2.Empty()

    async def WatchRun(
        self, request: runs_pb2.WatchRunRequest, context: Context
    ) -> AsyncIterator[events_pb2.RunEvent]:
        """Served by the gateway; the scheduler answers UNIMPLEMENTED."""
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "WatchRun is served by the gateway")
        # Never reached (abort raises); the yield makes this the async generator a
        # server-streaming method is.
        yield events_pb2.RunEvent()

    async def ReadTaskLog(
        self, request: runs_pb2.ReadTaskLogRequest, context: Context
    ) -> AsyncIterator[runs_pb2.LogChunk]:
        """Served by the gateway; the scheduler answers UNIMPLEMENTED."""
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "ReadTaskLog is served by the gateway")
        yield runs_pb2.LogChunk()
