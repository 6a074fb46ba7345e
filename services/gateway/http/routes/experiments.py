"""``/apis/v2beta1/experiments``: ExperimentService over REST."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from sluice.v1 import experiments_pb2

from services.gateway.http import examples, schemas
from services.gateway.http.context import API_PREFIX, Context
from services.gateway.http.protojson import parse_body, proto_response
from services.gateway.http.routes.params import ListQuery, json_body

router = APIRouter(prefix=API_PREFIX, tags=["ExperimentService"])


@router.post(
    "/experiments",
    operation_id="ExperimentService_CreateExperiment",
    response_model=schemas.Experiment,
    openapi_extra=json_body(schemas.ExperimentInput, example=examples.EXPERIMENT),
)
async def create_experiment(request: Request, context: Context) -> Response:
    experiment = await parse_body(
        request, experiments_pb2.Experiment(), limit=context.config.max_request_bytes
    )
    created = await context.backend.experiments.CreateExperiment(
        experiments_pb2.CreateExperimentRequest(experiment=experiment)
    )
    return proto_response(created)


@router.get(
    "/experiments",
    operation_id="ExperimentService_ListExperiments",
    response_model=schemas.ListExperimentsResponse,
)
async def list_experiments(params: ListQuery, context: Context) -> Response:
    page = await context.backend.experiments.ListExperiments(
        experiments_pb2.ListExperimentsRequest(**params.model_dump())
    )
    return proto_response(page)


@router.get(
    "/experiments/{experiment_id}",
    operation_id="ExperimentService_GetExperiment",
    response_model=schemas.Experiment,
)
async def get_experiment(experiment_id: str, context: Context) -> Response:
    experiment = await context.backend.experiments.GetExperiment(
        experiments_pb2.GetExperimentRequest(experiment_id=experiment_id)
    )
    return proto_response(experiment)


@router.delete(
    "/experiments/{experiment_id}",
    operation_id="ExperimentService_DeleteExperiment",
    response_model=schemas.Empty,
)
async def delete_experiment(experiment_id: str, context: Context) -> Response:
    done = await context.backend.experiments.DeleteExperiment(
        experiments_pb2.DeleteExperimentRequest(experiment_id=experiment_id)
    )
    return proto_response(done)


@router.post(
    "/experiments/{experiment_id}:archive",
    operation_id="ExperimentService_ArchiveExperiment",
    response_model=schemas.Empty,
)
async def archive_experiment(experiment_id: str, context: Context) -> Response:
    done = await context.backend.experiments.ArchiveExperiment(
        experiments_pb2.ArchiveExperimentRequest(experiment_id=experiment_id)
    )
    return proto_response(done)


@router.post(
    "/experiments/{experiment_id}:unarchive",
    operation_id="ExperimentService_UnarchiveExperiment",
    response_model=schemas.Empty,
)
async def unarchive_experiment(experiment_id: str, context: Context) -> Response:
    done = await context.backend.experiments.UnarchiveExperiment(
        experiments_pb2.UnarchiveExperimentRequest(experiment_id=experiment_id)
    )
    return proto_response(done)
