"""`sluice.v1.RecurringRunService`. The timer that fires recurring runs lives elsewhere;
this layer validates and stores them, and enables or disables them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from croniter import croniter
from sluice.v1 import common_pb2, recurring_runs_pb2, recurring_runs_pb2_grpc

from services.core.errors import InvalidArgument
from services.core.pipeline.runtime_parameters import resolve_run_parameters
from services.core.store.base import Store
from services.core.store.filters import RECURRING_RUN_FIELDS
from services.core.store.records import RecurringRunRecord
from services.scheduler.api import convert
from services.scheduler.api.listing import list_query
from services.scheduler.api.sources import resolve_experiment, resolve_pipeline_source
from services.scheduler.api.status import Context, translate_errors
from services.scheduler.api.updates import disable, enable, update_recurring_run
from services.scheduler.webhooks import check_webhook_url

MAX_CONCURRENCY = 10
CRON_FIELDS = 6


class RecurringRunServicer(recurring_runs_pb2_grpc.RecurringRunServiceServicer):
    def __init__(self, *, store: Store) -> None:
        self._store = store

    @translate_errors
    async def CreateRecurringRun(
        self, request: recurring_runs_pb2.CreateRecurringRunRequest, context: Context
    ) -> recurring_runs_pb2.RecurringRun:
        given = request.recurring_run
        record = convert.recurring_run_from_proto(given)
        check_trigger(given.trigger, record)
        record.max_concurrency = check_max_concurrency(given.max_concurrency)
        record.webhook_url = check_webhook_url(record.webhook_url)
        source = await resolve_pipeline_source(
            self._store,
            inline_spec=record.pipeline_spec,
            pipeline_id=record.pipeline_id,
            pipeline_version_id=record.pipeline_version_id,
        )
        parameters = resolve_run_parameters(source.spec.pipeline, record.parameters)
        experiment = await resolve_experiment(self._store, given.experiment_id, namespace=given.namespace)
        pipeline = source.spec.pipeline
        now = datetime.now(UTC)
        record.recurring_run_id = str(uuid.uuid4())
        record.display_name = given.display_name.strip() or pipeline.display_name or pipeline.name
        record.created_at = record.updated_at = now
        record.pipeline_spec = source.spec.stored
        record.pipeline_id = source.pipeline_id
        record.pipeline_version_id = source.pipeline_version_id
        record.parameters = parameters
        record.experiment_id = experiment.experiment_id
        record.namespace = experiment.namespace
        await self._store.create_recurring_run(record)
        return convert.recurring_run_to_proto(record)

    @translate_errors
    async def GetRecurringRun(
        self, request: recurring_runs_pb2.RecurringRunIdRequest, context: Context
    ) -> recurring_runs_pb2.RecurringRun:
        record = await self._store.get_recurring_run(request.recurring_run_id)
        return convert.recurring_run_to_proto(record)

    @translate_errors
    async def ListRecurringRuns(
        self, request: recurring_runs_pb2.ListRecurringRunsRequest, context: Context
    ) -> recurring_runs_pb2.ListRecurringRunsResponse:
        query = list_query(RECURRING_RUN_FIELDS, request)
        page = await self._store.list_recurring_runs(
            query, namespace=request.namespace, experiment_id=request.experiment_id
        )
        return recurring_runs_pb2.ListRecurringRunsResponse(
            recurringRuns=[convert.recurring_run_to_proto(item) for item in page.items],
            total_size=page.total_size,
            next_page_token=page.next_page_token,
        )

    @translate_errors
    async def EnableRecurringRun(
        self, request: recurring_runs_pb2.RecurringRunIdRequest, context: Context
    ) -> common_pb2.Empty:
        await update_recurring_run(self._store, request.recurring_run_id, enable)
        return common_pb2.Empty()

    @translate_errors
    async def DisableRecurringRun(
        self, request: recurring_runs_pb2.RecurringRunIdRequest, context: Context
    ) -> common_pb2.Empty:
        await update_recurring_run(self._store, request.recurring_run_id, disable)
        return common_pb2.Empty()

    @translate_errors
    async def DeleteRecurringRun(
        self, request: recurring_runs_pb2.RecurringRunIdRequest, context: Context
    ) -> common_pb2.Empty:
        await self._store.delete_recurring_run(request.recurring_run_id)
        return common_pb2.Empty()


def check_trigger(trigger: recurring_runs_pb2.Trigger, record: RecurringRunRecord) -> None:
    """Exactly one trigger, well formed, with its window in order. Raises InvalidArgument.

    (The `oneof` makes two triggers unrepresentable in protobuf; JSON parsing of a body
    naming both fails before it gets here.)"""
    which = trigger.WhichOneof("trigger")
    if which is None:
        raise InvalidArgument(
            "a recurring run needs a trigger: cron_schedule or periodic_schedule", field="trigger"
        )
    if which == "cron_schedule":
        check_cron(record.cron)
    elif record.interval_seconds < 1:
        raise InvalidArgument(
            f"periodic_schedule.interval_second must be at least 1, got {record.interval_seconds}",
            field="trigger.periodic_schedule.interval_second",
        )
    if record.start_time and record.end_time and record.end_time <= record.start_time:
        raise InvalidArgument(
            f"the trigger's end_time {record.end_time.isoformat()} is not after its start_time "
            f"{record.start_time.isoformat()}",
            field="trigger",
        )


def check_cron(cron: str) -> None:
    """A 6-field cron expression, seconds first, as KFP takes. Raises InvalidArgument."""
    fields = cron.split()
    if len(fields) != CRON_FIELDS:
        raise InvalidArgument(
            f"cron schedule {cron!r} must have {CRON_FIELDS} fields (seconds first), got {len(fields)}",
            field="trigger.cron_schedule.cron",
        )
    if not croniter.is_valid(cron, second_at_beginning=True):
        raise InvalidArgument(f"cron schedule {cron!r} is not valid", field="trigger.cron_schedule.cron")


def check_max_concurrency(max_concurrency: int) -> int:
    """1..10; 0 (unset) means 1. Raises InvalidArgument."""
    if max_concurrency == 0:
        return 1
    if not 1 <= max_concurrency <= MAX_CONCURRENCY:
        raise InvalidArgument(
            f"max_concurrency must be between 1 and {MAX_CONCURRENCY}, got {max_concurrency}",
            field="max_concurrency",
        )
    return max_concurrency
