"""Pipelines: the list, upload (a new pipeline or a new version), a pipeline's versions,
a version's page (static graph, inputs, spec), editing a pipeline's name and description,
and deleting versions and pipelines."""

from __future__ import annotations

import asyncio
from pathlib import PurePath

from fastapi import APIRouter, Request, Response
from google.protobuf import field_mask_pb2
from sluice.v1 import pipelines_pb2
from starlette.datastructures import UploadFile

from services.core.errors import InvalidArgument, TooLarge
from services.gateway.ui.context import PAGE_SIZE, Ui, form_text, read_form, see_other, with_query
from services.gateway.ui.data import to_dict
from services.gateway.ui.forms import root_parameters
from services.gateway.ui.pages_runs import graph_markup, parse_collapsed, spec_yaml

MAX_PACKAGE_BYTES = 32 * 1024 * 1024
"""As KFP: a pipeline package of at most 32 MiB."""


async def _package(request: Request) -> tuple[bytes, str, dict[str, str]]:
    async with request.form(max_files=1, max_fields=16) as form:
        upload = form.get("package")
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise InvalidArgument("choose a pipeline file (YAML, JSON, zip or tar.gz) to upload")
        if upload.size is not None and upload.size > MAX_PACKAGE_BYTES:
            raise TooLarge(f"the package exceeds {MAX_PACKAGE_BYTES} bytes", limit_bytes=MAX_PACKAGE_BYTES)
        data = await upload.read()
        fields = {key: value.strip() for key, value in form.multi_items() if isinstance(value, str)}
        return data, upload.filename, fields


def add_routes(router: APIRouter, ui: Ui) -> None:
    data = ui.data
    backend = data.backend
    render = ui.renderer

    @router.get("/pipelines")
    async def pipelines(request: Request) -> Response:
        token = request.query_params.get("page_token", "")
        page = await backend.pipelines.ListPipelines(
            pipelines_pb2.ListPipelinesRequest(
                page_token=token, page_size=PAGE_SIZE, sort_by="created_at desc"
            )
        )
        return render.page(
            "pipelines.html",
            nav="pipelines",
            pipelines=[to_dict(p) for p in page.pipelines],
            total=page.total_size,
            next_url=with_query("/pipelines", [("page_token", page.next_page_token)])
            if page.next_page_token
            else "",
            first_url="/pipelines" if token else "",
        )

    @router.post("/pipelines/upload")
    async def upload(request: Request) -> Response:
        package, filename, fields = await _package(request)
        name = fields.get("name") or PurePath(filename).name.split(".")[0]
        version = await backend.pipelines.UploadPipeline(
            pipelines_pb2.UploadPipelineRequest(
                package=package,
                filename=filename,
                name=name,
                display_name=name,
                description=fields.get("description", ""),
            )
        )
        return see_other(f"/pipelines/{version.pipeline_id}/versions/{version.pipeline_version_id}")

    @router.post("/pipelines/{pipeline_id}/upload")
    async def upload_version(pipeline_id: str, request: Request) -> Response:
        package, filename, fields = await _package(request)
        version = await backend.pipelines.UploadPipeline(
            pipelines_pb2.UploadPipelineRequest(
                package=package,
                filename=filename,
                pipeline_id=pipeline_id,
                name=fields.get("name", ""),
                display_name=fields.get("name", ""),
                description=fields.get("description", ""),
            )
        )
        return see_other(f"/pipelines/{pipeline_id}/versions/{version.pipeline_version_id}")

    @router.post("/pipelines/{pipeline_id}/edit")
    async def edit_pipeline(pipeline_id: str, request: Request) -> Response:
        form = await read_form(request)
        changed = pipelines_pb2.Pipeline(
            pipeline_id=pipeline_id,
            display_name=form_text(form, "display_name").strip(),
            description=form_text(form, "description").strip(),
        )
        # Both named, so that an emptied description is cleared.
        mask = field_mask_pb2.FieldMask(paths=["display_name", "description"])
        await backend.pipelines.UpdatePipeline(
            pipelines_pb2.UpdatePipelineRequest(pipeline=changed, update_mask=mask)
        )
        return see_other(f"/pipelines/{pipeline_id}")

    @router.post("/pipelines/{pipeline_id}/delete")
    async def delete_pipeline(pipeline_id: str) -> Response:
        # With its versions (KFP's `cascade`); runs made from them keep their specs.
        await backend.pipelines.DeletePipeline(
            pipelines_pb2.DeletePipelineRequest(pipeline_id=pipeline_id, cascade=True)
        )
        return see_other("/pipelines")

    @router.post("/pipelines/{pipeline_id}/versions/{version_id}/delete")
    async def delete_version(pipeline_id: str, version_id: str) -> Response:
        request = pipelines_pb2.DeletePipelineVersionRequest(
            pipeline_id=pipeline_id, pipeline_version_id=version_id
        )
        await backend.pipelines.DeletePipelineVersion(request)
        return see_other(f"/pipelines/{pipeline_id}")

    @router.get("/pipelines/{pipeline_id}")
    async def pipeline(pipeline_id: str, request: Request) -> Response:
        token = request.query_params.get("page_token", "")
        found, versions = await asyncio.gather(
            backend.pipelines.GetPipeline(pipelines_pb2.GetPipelineRequest(pipeline_id=pipeline_id)),
            backend.pipelines.ListPipelineVersions(
                pipelines_pb2.ListPipelineVersionsRequest(
                    pipeline_id=pipeline_id, page_token=token, page_size=PAGE_SIZE, sort_by="created_at desc"
                )
            ),
        )
        listed = [to_dict(v) for v in versions.pipeline_versions]
        for version in listed:
            version.pop("pipeline_spec", None)
        path = f"/pipelines/{pipeline_id}"
        return render.page(
            "pipeline.html",
            nav="pipelines",
            pipeline=to_dict(found),
            versions=listed,
            total=versions.total_size,
            next_url=with_query(path, [("page_token", versions.next_page_token)])
            if versions.next_page_token
            else "",
            first_url=path if token else "",
        )

    @router.get("/pipelines/{pipeline_id}/versions/{version_id}")
    async def version(pipeline_id: str, version_id: str) -> Response:
        found, pipeline = await asyncio.gather(
            backend.pipelines.GetPipelineVersion(
                pipelines_pb2.GetPipelineVersionRequest(
                    pipeline_id=pipeline_id, pipeline_version_id=version_id
                )
            ),
            backend.pipelines.GetPipeline(pipelines_pb2.GetPipelineRequest(pipeline_id=pipeline_id)),
        )
        version_data = to_dict(found)
        spec = version_data.pop("pipeline_spec", {})
        return render.page(
            "version.html",
            nav="pipelines",
            pipeline=to_dict(pipeline),
            version=version_data,
            graph=graph_markup(spec, None, None),
            parameters=root_parameters(spec),
            spec_text=spec_yaml(spec),
            description=(spec.get("pipelineInfo") or {}).get("description", ""),
        )

    @router.get("/pipelines/{pipeline_id}/versions/{version_id}/graph")
    async def version_graph(pipeline_id: str, version_id: str, request: Request) -> Response:
        info = await data.version(pipeline_id, version_id)
        spec = info.spec if info else {}
        return render.page("_fragment.html", content=graph_markup(spec, None, parse_collapsed(request)))
