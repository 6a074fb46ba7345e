"""``/apis/v2beta1/pipelines``: PipelineService and KFP's multipart uploads over REST."""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from google.protobuf import field_mask_pb2
from sluice.v1 import pipelines_pb2

from services.core.errors import InvalidArgument
from services.gateway.http import examples, schemas
from services.gateway.http.context import API_PREFIX, Context
from services.gateway.http.protojson import parse_body, proto_response
from services.gateway.http.routes.params import ListQuery, PageQuery, json_body
from services.gateway.http.upload import UPLOAD_FIELD, read_package

router = APIRouter(prefix=API_PREFIX, tags=["PipelineService"])

_MULTIPART_PACKAGE: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        UPLOAD_FIELD: {
                            "type": "string",
                            "format": "binary",
                            "description": "YAML or JSON IR, or a zip/tar.gz holding pipeline.yaml.",
                        }
                    },
                    "required": [UPLOAD_FIELD],
                }
            }
        },
    }
}

TagsQuery = Annotated[str, Query(description='JSON object of string tags, e.g. {"team": "ml"}.')]


def _tags(raw: str) -> dict[str, str]:
    if not raw:
        return {}
    try:
        tags = json.loads(raw)
    except ValueError as error:
        raise InvalidArgument(f"tags must be a JSON object of strings: {error}", field="tags") from error
    if not isinstance(tags, dict) or not all(isinstance(v, str) for v in tags.values()):
        raise InvalidArgument("tags must be a JSON object of strings", field="tags")
    return tags


UpdateMaskQuery = Annotated[
    list[str] | None,
    Query(
        description="The fields to change, comma-separated, snake_case or camelCase (e.g. "
        "`display_name,tags`). Without it, every mutable field the body sets changes; a field "
        'cleared to its default (`""`, `{}`) must be named here.',
    ),
]
_UPPER = re.compile(r"[A-Z]")


def _field_mask(values: list[str] | None) -> field_mask_pb2.FieldMask:
    """`update_mask` as a FieldMask of snake_case paths (the scheduler checks them)."""
    paths = [part.strip() for value in values or () for part in value.split(",")]
    return field_mask_pb2.FieldMask(
        paths=[_UPPER.sub(lambda upper: "_" + upper[0].lower(), path) for path in paths if path]
    )


def _check_path_id(name: str, *, body: str, path: str) -> None:
    if body and body != path:
        raise InvalidArgument(f"{name} {body!r} in the body differs from {path!r} in the path", field=name)


@router.post(
    "/pipelines",
    operation_id="PipelineService_CreatePipeline",
    response_model=schemas.Pipeline,
    openapi_extra=json_body(schemas.PipelineInput, example=examples.PIPELINE),
)
async def create_pipeline(request: Request, context: Context) -> Response:
    pipeline = await parse_body(request, pipelines_pb2.Pipeline(), limit=context.config.max_request_bytes)
    created = await context.backend.pipelines.CreatePipeline(
        pipelines_pb2.CreatePipelineRequest(pipeline=pipeline)
    )
    return proto_response(created)


@router.post(
    "/pipelines/create",
    operation_id="PipelineService_CreatePipelineAndVersion",
    response_model=schemas.Pipeline,
    openapi_extra=json_body(
        schemas.CreatePipelineAndVersionRequestInput, example=examples.PIPELINE_AND_VERSION
    ),
)
async def create_pipeline_and_version(request: Request, context: Context) -> Response:
    body = await parse_body(
        request, pipelines_pb2.CreatePipelineAndVersionRequest(), limit=context.config.max_request_bytes
    )
    created = await context.backend.pipelines.CreatePipelineAndVersion(body)
    return proto_response(created)


@router.post(
    "/pipelines/upload",
    operation_id="PipelineUploadService_UploadPipeline",
    tags=["PipelineUploadService"],
    response_model=schemas.Pipeline,
    openapi_extra=_MULTIPART_PACKAGE,
)
async def upload_pipeline(
    request: Request,
    context: Context,
    name: str = "",
    display_name: str = "",
    description: str = "",
    namespace: str = "",
    tags: TagsQuery = "",
) -> Response:
    package = await read_package(request, limit=context.config.max_upload_bytes)
    version = await context.backend.pipelines.UploadPipeline(
        pipelines_pb2.UploadPipelineRequest(
            package=package.data,
            filename=package.filename,
            name=name,
            display_name=display_name,
            description=description,
            namespace=namespace,
            tags=_tags(tags),
        )
    )
    # KFP answers this upload with the new pipeline, UploadPipeline with its first version.
    pipeline = await context.backend.pipelines.GetPipeline(
        pipelines_pb2.GetPipelineRequest(pipeline_id=version.pipeline_id)
    )
    return proto_response(pipeline)


@router.post(
    "/pipelines/upload_version",
    operation_id="PipelineUploadService_UploadPipelineVersion",
    tags=["PipelineUploadService"],
    response_model=schemas.PipelineVersion,
    openapi_extra=_MULTIPART_PACKAGE,
)
async def upload_pipeline_version(
    request: Request,
    context: Context,
    pipelineid: Annotated[str, Query(description="The pipeline that gets the new version.")],
    name: str = "",
    display_name: str = "",
    description: str = "",
    tags: TagsQuery = "",
) -> Response:
    package = await read_package(request, limit=context.config.max_upload_bytes)
    version = await context.backend.pipelines.UploadPipeline(
        pipelines_pb2.UploadPipelineRequest(
            package=package.data,
            filename=package.filename,
            pipeline_id=pipelineid,
            name=name,
            display_name=display_name,
            description=description,
            tags=_tags(tags),
        )
    )
    return proto_response(version)


@router.get(
    "/pipelines",
    operation_id="PipelineService_ListPipelines",
    response_model=schemas.ListPipelinesResponse,
)
async def list_pipelines(params: ListQuery, context: Context) -> Response:
    page = await context.backend.pipelines.ListPipelines(
        pipelines_pb2.ListPipelinesRequest(**params.model_dump())
    )
    return proto_response(page)


@router.get(
    "/pipelines/names/{name}",
    operation_id="PipelineService_GetPipelineByName",
    response_model=schemas.Pipeline,
)
async def get_pipeline_by_name(name: str, context: Context, namespace: str = "") -> Response:
    pipeline = await context.backend.pipelines.GetPipelineByName(
        pipelines_pb2.GetPipelineByNameRequest(name=name, namespace=namespace)
    )
    return proto_response(pipeline)


@router.get(
    "/pipelines/{pipeline_id}",
    operation_id="PipelineService_GetPipeline",
    response_model=schemas.Pipeline,
)
async def get_pipeline(pipeline_id: str, context: Context) -> Response:
    pipeline = await context.backend.pipelines.GetPipeline(
        pipelines_pb2.GetPipelineRequest(pipeline_id=pipeline_id)
    )
    return proto_response(pipeline)


@router.delete(
    "/pipelines/{pipeline_id}",
    operation_id="PipelineService_DeletePipeline",
    response_model=schemas.Empty,
)
async def delete_pipeline(
    pipeline_id: str,
    context: Context,
    cascade: Annotated[bool, Query(description="Delete the pipeline's versions too.")] = False,
) -> Response:
    done = await context.backend.pipelines.DeletePipeline(
        pipelines_pb2.DeletePipelineRequest(pipeline_id=pipeline_id, cascade=cascade)
    )
    return proto_response(done)


@router.patch(
    "/pipelines/{pipeline_id}",
    operation_id="PipelineService_UpdatePipeline",
    response_model=schemas.Pipeline,
    openapi_extra=json_body(schemas.PipelineUpdateInput, example=examples.PIPELINE_UPDATE),
)
async def update_pipeline(
    pipeline_id: str, request: Request, context: Context, update_mask: UpdateMaskQuery = None
) -> Response:
    pipeline = await parse_body(request, pipelines_pb2.Pipeline(), limit=context.config.max_request_bytes)
    _check_path_id("pipeline_id", body=pipeline.pipeline_id, path=pipeline_id)
    pipeline.pipeline_id = pipeline_id
    updated = await context.backend.pipelines.UpdatePipeline(
        pipelines_pb2.UpdatePipelineRequest(pipeline=pipeline, update_mask=_field_mask(update_mask))
    )
    return proto_response(updated)


@router.post(
    "/pipelines/{pipeline_id}/versions",
    operation_id="PipelineService_CreatePipelineVersion",
    response_model=schemas.PipelineVersion,
    openapi_extra=json_body(schemas.PipelineVersionInput, example=examples.PIPELINE_VERSION),
)
async def create_pipeline_version(pipeline_id: str, request: Request, context: Context) -> Response:
    version = await parse_body(
        request, pipelines_pb2.PipelineVersion(), limit=context.config.max_request_bytes
    )
    created = await context.backend.pipelines.CreatePipelineVersion(
        pipelines_pb2.CreatePipelineVersionRequest(pipeline_id=pipeline_id, pipeline_version=version)
    )
    return proto_response(created)


@router.get(
    "/pipelines/{pipeline_id}/versions",
    operation_id="PipelineService_ListPipelineVersions",
    response_model=schemas.ListPipelineVersionsResponse,
)
async def list_pipeline_versions(pipeline_id: str, params: PageQuery, context: Context) -> Response:
    page = await context.backend.pipelines.ListPipelineVersions(
        pipelines_pb2.ListPipelineVersionsRequest(pipeline_id=pipeline_id, **params.model_dump())
    )
    return proto_response(page)


@router.get(
    "/pipelines/{pipeline_id}/versions/{pipeline_version_id}",
    operation_id="PipelineService_GetPipelineVersion",
    response_model=schemas.PipelineVersion,
)
async def get_pipeline_version(pipeline_id: str, pipeline_version_id: str, context: Context) -> Response:
    version = await context.backend.pipelines.GetPipelineVersion(
        pipelines_pb2.GetPipelineVersionRequest(
            pipeline_id=pipeline_id, pipeline_version_id=pipeline_version_id
        )
    )
    return proto_response(version)


@router.delete(
    "/pipelines/{pipeline_id}/versions/{pipeline_version_id}",
    operation_id="PipelineService_DeletePipelineVersion",
    response_model=schemas.Empty,
)
async def delete_pipeline_version(pipeline_id: str, pipeline_version_id: str, context: Context) -> Response:
    done = await context.backend.pipelines.DeletePipelineVersion(
        pipelines_pb2.DeletePipelineVersionRequest(
            pipeline_id=pipeline_id, pipeline_version_id=pipeline_version_id
        )
    )
    return proto_response(done)


@router.patch(
    "/pipelines/{pipeline_id}/versions/{pipeline_version_id}",
    operation_id="PipelineService_UpdatePipelineVersion",
    response_model=schemas.PipelineVersion,
    openapi_extra=json_body(schemas.PipelineVersionUpdateInput, example=examples.PIPELINE_VERSION_UPDATE),
)
async def update_pipeline_version(
    pipeline_id: str,
    pipeline_version_id: str,
    request: Request,
    context: Context,
    update_mask: UpdateMaskQuery = None,
) -> Response:
    version = await parse_body(
        request, pipelines_pb2.PipelineVersion(), limit=context.config.max_request_bytes
    )
    _check_path_id("pipeline_id", body=version.pipeline_id, path=pipeline_id)
    _check_path_id("pipeline_version_id", body=version.pipeline_version_id, path=pipeline_version_id)
    version.pipeline_id = pipeline_id
    version.pipeline_version_id = pipeline_version_id
    updated = await context.backend.pipelines.UpdatePipelineVersion(
        pipelines_pb2.UpdatePipelineVersionRequest(
            pipeline_version=version, update_mask=_field_mask(update_mask)
        )
    )
    return proto_response(updated)
