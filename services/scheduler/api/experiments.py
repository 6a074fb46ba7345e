"""`sluice.v1.ExperimentService`."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime

from sluice.v1 import common_pb2, experiments_pb2, experiments_pb2_grpc

from services.core.errors import InvalidArgument
from services.core.store.base import Store
from services.core.store.filters import EXPERIMENT_FIELDS, RECURRING_RUN_FIELDS, RUN_FIELDS
from services.core.store.query import MAX_PAGE_SIZE, ListQuery, Operation, Predicate
from services.core.store.records import ExperimentRecord, RecurringRunStatus, StorageState
from services.scheduler.api import convert
from services.scheduler.api.listing import list_query
from services.scheduler.api.status import Context, translate_errors
from services.scheduler.api.updates import archive, disable, update_recurring_run, update_run
from services.scheduler.webhooks import check_webhook_url


class ExperimentServicer(experiments_pb2_grpc.ExperimentServiceServicer):
    def __init__(self, *, store: Store) -> None:
        self._store = store

    @translate_errors
    async def CreateExperiment(
        self, request: experiments_pb2.CreateExperimentRequest, context: Context
    ) -> experiments_pb2.Experiment:
        given = request.experiment
        display_name = given.display_name.strip()
        if not display_name:
            raise InvalidArgument("experiment display_name is required", field="display_name")
        record = ExperimentRecord(
            experiment_id=str(uuid.uuid4()),
            display_name=display_name,
            created_at=datetime.now(UTC),
            description=given.description,
            namespace=given.namespace,
            webhook_url=check_webhook_url(given.webhook_url),
        )
        await self._store.create_experiment(record)
        return convert.experiment_to_proto(record)

    @translate_errors
    async def GetExperiment(
        self, request: experiments_pb2.GetExperimentRequest, context: Context
    ) -> experiments_pb2.Experiment:
        return convert.experiment_to_proto(await self._store.get_experiment(request.experiment_id))

    @translate_errors
    async def ListExperiments(
        self, request: experiments_pb2.ListExperimentsRequest, context: Context
    ) -> experiments_pb2.ListExperimentsResponse:
        query = list_query(EXPERIMENT_FIELDS, request)
        page = await self._store.list_experiments(query, namespace=request.namespace)
        return experiments_pb2.ListExperimentsResponse(
            experiments=[convert.experiment_to_proto(item) for item in page.items],
            total_size=page.total_size,
            next_page_token=page.next_page_token,
        )

    @translate_errors
    async def ArchiveExperiment(
        self, request: experiments_pb2.ArchiveExperimentRequest, context: Context
    ) -> common_pb2.Empty:
        """As KFP: the experiment's runs are archived and its recurring runs disabled."""
        experiment = await self._store.get_experiment(request.experiment_id)
        experiment.storage_state = StorageState.ARCHIVED
        await self._store.update_experiment(experiment)
        await self._archive_runs(experiment.experiment_id)
        await self._disable_recurring_runs(experiment.experiment_id)
        return common_pb2.Empty()

    @translate_errors
    async def UnarchiveExperiment(
        self, request: experiments_pb2.UnarchiveExperimentRequest, context: Context
    ) -> common_pb2.Empty:
        """As KFP: the runs stay archived (each can be restored on its own)."""
        experiment = await self._store.get_experiment(request.experiment_id)
        experiment.storage_state = StorageState.AVAILABLE
        await self._store.update_experiment(experiment)
        return common_pb2.Empty()

    @translate_errors
    async def DeleteExperiment(
        self, request: experiments_pb2.DeleteExperimentRequest, context: Context
    ) -> common_pb2.Empty:
        await self._store.delete_experiment(request.experiment_id)
        return common_pb2.Empty()

    async def _archive_runs(self, experiment_id: str) -> None:
        query = ListQuery(
            page_size=MAX_PAGE_SIZE,
            sort_field=RUN_FIELDS.id_field,
            predicates=(
                Predicate(field="storage_state", operation=Operation.EQUALS, value=StorageState.AVAILABLE),
            ),
        )
        run_ids: list[str] = []
        while True:
            page = await self._store.list_runs(query, experiment_id=experiment_id)
            run_ids.extend(run.run_id for run in page.items)
            if not page.next_page_token:
                break
            query = dataclasses.replace(query, page_token=page.next_page_token)
        for run_id in run_ids:
            await update_run(self._store, run_id, archive)

    async def _disable_recurring_runs(self, experiment_id: str) -> None:
        query = ListQuery(
            page_size=MAX_PAGE_SIZE,
            sort_field=RECURRING_RUN_FIELDS.id_field,
            predicates=(
                Predicate(field="status", operation=Operation.EQUALS, value=RecurringRunStatus.ENABLED),
            ),
        )
        recurring_run_ids: list[str] = []
        while True:
            page = await self._store.list_recurring_runs(query, experiment_id=experiment_id)
            recurring_run_ids.extend(item.recurring_run_id for item in page.items)
            if not page.next_page_token:
                break
            query = dataclasses.replace(query, page_token=page.next_page_token)
        for recurring_run_id in recurring_run_ids:
            await update_recurring_run(self._store, recurring_run_id, disable)
