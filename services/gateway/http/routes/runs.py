"""``/apis/v2beta1/runs``: RunService over REST (WatchRun is `run_events`)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from sluice.v1 import runs_pb2

from services.gateway.http import examples, schemas
from services.gateway.http.context import API_PREFIX, Context
from services.gateway.http.protojson import parse_body, proto_response
from services.gateway.http.routes.params import ExperimentIdQuery, RunListQuery, json_body

router = APIRouter(prefix=API_PREFIX, tags=["RunService"])


@router.post(
    "/runs",
    operation_id="RunService_CreateRun",
    response_model=schemas.Run,
    openapi_extra=json_body(schemas.RunInput, example=examples.RUN),
)
async def create_run(request: Request, context: Context, experiment_id: ExperimentIdQuery = "") -> Response:
    run = await parse_body(request, runs_pb2.Run(), limit=context.config.max_request_bytes)
    created = await context.backend.runs.CreateRun(
        runs_pb2.CreateRunRequest(run=run, experiment_id=experiment_id)
    )
    return proto_response(created)


@router.get("/runs", operation_id="RunService_ListRuns", response_model=schemas.ListRunsResponse)
async def list_runs(params: RunListQuery, context: Context) -> Response:
    page = await context.backend.runs.ListRuns(runs_pb2.ListRunsRequest(**params.model_dump()))
    return proto_response(page)


@router.get("/runs/{run_id}", operation_id="RunService_GetRun", response_model=schemas.Run)
async def get_run(run_id: str, context: Context, experiment_id: ExperimentIdQuery = "") -> Response:
    run = await context.backend.runs.GetRun(
        runs_pb2.GetRunRequest(run_id=run_id, experiment_id=experiment_id)
    )
    return proto_response(run)


@router.delete("/runs/{run_id}", operation_id="RunService_DeleteRun", response_model=schemas.Empty)
async def delete_run(run_id: str, context: Context, experiment_id: ExperimentIdQuery = "") -> Response:
    done = await context.backend.runs.DeleteRun(
        runs_pb2.RunIdRequest(run_id=run_id, experiment_id=experiment_id)
    )
    return proto_response(done)


@router.post("/runs/{run_id}:archive", operation_id="RunService_ArchiveRun", response_model=schemas.Empty)
async def archive_run(run_id: str, context: Context, experiment_id: ExperimentIdQuery = "") -> Response:
    done = await context.backend.runs.ArchiveRun(
        runs_pb2.RunIdRequest(run_id=run_id, experiment_id=experiment_id)
    )
    return proto_response(done)


@router.post("/runs/{run_id}:unarchive", operation_id="RunService_UnarchiveRun", response_model=schemas.Empty)
async def unarchive_run(run_id: str, context: Context, experiment_id: ExperimentIdQuery = "") -> Response:
    done = await context.backend.runs.UnarchiveRun(
        runs_pb2.RunIdRequest(run_id=run_id, experiment_id=experiment_id)
    )
    return proto_response(done)


@router.post("/runs/{run_id}:terminate", operation_id="RunService_TerminateRun", response_model=schemas.Empty)
async def terminate_run(run_id: str, context: Context, experiment_id: ExperimentIdQuery = "") -> Response:
    done = await context.backend.runs.TerminateRun(
        runs_pb2.RunIdRequest(run_id=run_id, experiment_id=experiment_id)
    )
    return proto_response(done)


@router.post("/runs/{run_id}:retry", operation_id="RunService_RetryRun", response_model=schemas.Empty)
async def retry_run(run_id: str, context: Context, experiment_id: ExperimentIdQuery = "") -> Response:
    done = await context.backend.runs.RetryRun(
        runs_pb2.RunIdRequest(run_id=run_id, experiment_id=experiment_id)
    )
    return proto_response(done)
