"""``/apis/v2beta1/recurringruns``: RecurringRunService over REST."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from sluice.v1 import recurring_runs_pb2

from services.gateway.http import examples, schemas
from services.gateway.http.context import API_PREFIX, Context
from services.gateway.http.protojson import parse_body, proto_response
from services.gateway.http.routes.params import RunListQuery, json_body

router = APIRouter(prefix=API_PREFIX, tags=["RecurringRunService"])


def _id(recurring_run_id: str) -> recurring_runs_pb2.RecurringRunIdRequest:
    return recurring_runs_pb2.RecurringRunIdRequest(recurring_run_id=recurring_run_id)


@router.post(
    "/recurringruns",
    operation_id="RecurringRunService_CreateRecurringRun",
    response_model=schemas.RecurringRun,
    openapi_extra=json_body(schemas.RecurringRunInput, example=examples.RECURRING_RUN),
)
async def create_recurring_run(request: Request, context: Context) -> Response:
    recurring_run = await parse_body(
        request, recurring_runs_pb2.RecurringRun(), limit=context.config.max_request_bytes
    )
    created = await context.backend.recurring_runs.CreateRecurringRun(
        recurring_runs_pb2.CreateRecurringRunRequest(recurring_run=recurring_run)
    )
    return proto_response(created)


@router.get(
    "/recurringruns",
    operation_id="RecurringRunService_ListRecurringRuns",
    response_model=schemas.ListRecurringRunsResponse,
)
async def list_recurring_runs(params: RunListQuery, context: Context) -> Response:
    page = await context.backend.recurring_runs.ListRecurringRuns(
        recurring_runs_pb2.ListRecurringRunsRequest(**params.model_dump())
    )
    return proto_response(page)


@router.get(
    "/recurringruns/{recurring_run_id}",
    operation_id="RecurringRunService_GetRecurringRun",
    response_model=schemas.RecurringRun,
)
async def get_recurring_run(recurring_run_id: str, context: Context) -> Response:
    return proto_response(await context.backend.recurring_runs.GetRecurringRun(_id(recurring_run_id)))


@router.delete(
    "/recurringruns/{recurring_run_id}",
    operation_id="RecurringRunService_DeleteRecurringRun",
    response_model=schemas.Empty,
)
async def delete_recurring_run(recurring_run_id: str, context: Context) -> Response:
    return proto_response(await context.backend.recurring_runs.DeleteRecurringRun(_id(recurring_run_id)))


@router.post(
    "/recurringruns/{recurring_run_id}:enable",
    operation_id="RecurringRunService_EnableRecurringRun",
    response_model=schemas.Empty,
)
async def enable_recurring_run(recurring_run_id: str, context: Context) -> Response:
    return proto_response(await context.backend.recurring_runs.EnableRecurringRun(_id(recurring_run_id)))


@router.post(
    "/recurringruns/{recurring_run_id}:disable",
    operation_id="RecurringRunService_DisableRecurringRun",
    response_model=schemas.Empty,
)
async def disable_recurring_run(recurring_run_id: str, context: Context) -> Response:
    return proto_response(await context.backend.recurring_runs.DisableRecurringRun(_id(recurring_run_id)))
