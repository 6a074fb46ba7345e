"""`sluice.v1.PipelineService`: pipelines and their versions.

Every spec is parsed into the typed model before anything is stored: a bad spec stores
nothing. Names: a pipeline's `name` defaults to its `display_name` and vice versa; a
pipeline made by an upload is named after the file, and its first version after it.
Updates change the mutable fields below and nothing else (`field_masks`).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sluice.v1 import common_pb2, pipelines_pb2, pipelines_pb2_grpc

from services.core.errors import InvalidArgument, NotFound
from services.core.store.base import Store
from services.core.store.filters import PIPELINE_FIELDS, PIPELINE_VERSION_FIELDS
from services.core.store.records import (
    PipelineRecord,
    PipelineUpdate,
    PipelineVersionRecord,
    PipelineVersionUpdate,
)
from services.scheduler.api import convert
from services.scheduler.api.field_masks import check_unchanged, updated_fields
from services.scheduler.api.listing import list_query
from services.scheduler.api.pipeline_packages import package_stem, read_pipeline_package
from services.scheduler.api.specs import ValidatedSpec, validate_spec
from services.scheduler.api.status import Context, translate_errors

PIPELINE_MUTABLE = frozenset({"display_name", "description", "tags"})
PIPELINE_VERSION_MUTABLE = frozenset({"display_name", "description", "tags", "code_source_url"})


class PipelineServicer(pipelines_pb2_grpc.PipelineServiceServicer):
    def __init__(self, *, store: Store) -> None:
        self._store = store

    # --- pipelines ----------------------------------------------------------------------

    @translate_errors
    async def CreatePipeline(
        self, request: pipelines_pb2.CreatePipelineRequest, context: Context
    ) -> pipelines_pb2.Pipeline:
        pipeline = _new_pipeline(request.pipeline)
        await self._store.create_pipeline(pipeline)
        return convert.pipeline_to_proto(pipeline)

    @translate_errors
    async def CreatePipelineAndVersion(
        self, request: pipelines_pb2.CreatePipelineAndVersionRequest, context: Context
    ) -> pipelines_pb2.Pipeline:
        pipeline = _new_pipeline(request.pipeline)
        spec = _required_spec(request.pipeline_version)
        version = _new_version(
            request.pipeline_version, pipeline_id=pipeline.pipeline_id, spec=spec, default_name=pipeline.name
        )
        await self._store.create_pipeline_with_version(pipeline, version)
        return convert.pipeline_to_proto(pipeline)

    @translate_errors
    async def UploadPipeline(
        self, request: pipelines_pb2.UploadPipelineRequest, context: Context
    ) -> pipelines_pb2.PipelineVersion:
        """Without `pipeline_id`: a new pipeline and its first version; with it: a new
        version of that pipeline."""
        spec = read_pipeline_package(request.package)
        name = (
            request.name.strip()
            or request.display_name.strip()
            or package_stem(request.filename)
            or spec.pipeline.name
        )
        display_name = request.display_name.strip() or name
        description = request.description or spec.pipeline.description
        now = datetime.now(UTC)
        if request.pipeline_id:
            await self._store.get_pipeline(request.pipeline_id)
            pipeline_id = request.pipeline_id
        else:
            pipeline_id = str(uuid.uuid4())
        version = PipelineVersionRecord(
            pipeline_version_id=str(uuid.uuid4()),
            pipeline_id=pipeline_id,
            name=name,
            display_name=display_name,
            created_at=now,
            pipeline_spec=spec.stored,
            description=description,
            tags=dict(request.tags),
        )
        if request.pipeline_id:
            await self._store.create_pipeline_version(version)
        else:
            pipeline = PipelineRecord(
                pipeline_id=pipeline_id,
                name=name,
                display_name=display_name,
                created_at=now,
                description=description,
                namespace=request.namespace,
                tags=dict(request.tags),
            )
            await self._store.create_pipeline_with_version(pipeline, version)
        return convert.pipeline_version_to_proto(version)

    @translate_errors
    async def GetPipeline(
        self, request: pipelines_pb2.GetPipelineRequest, context: Context
    ) -> pipelines_pb2.Pipeline:
        return convert.pipeline_to_proto(await self._store.get_pipeline(request.pipeline_id))

    @translate_errors
    async def GetPipelineByName(
        self, request: pipelines_pb2.GetPipelineByNameRequest, context: Context
    ) -> pipelines_pb2.Pipeline:
        pipeline = await self._store.get_pipeline_by_name(request.name, namespace=request.namespace)
        return convert.pipeline_to_proto(pipeline)

    @translate_errors
    async def ListPipelines(
        self, request: pipelines_pb2.ListPipelinesRequest, context: Context
    ) -> pipelines_pb2.ListPipelinesResponse:
        query = list_query(PIPELINE_FIELDS, request)
        page = await self._store.list_pipelines(query, namespace=request.namespace)
        return pipelines_pb2.ListPipelinesResponse(
            pipelines=[convert.pipeline_to_proto(item) for item in page.items],
            total_size=page.total_size,
            next_page_token=page.next_page_token,
        )

    @translate_errors
    async def UpdatePipeline(
        self, request: pipelines_pb2.UpdatePipelineRequest, context: Context
    ) -> pipelines_pb2.Pipeline:
        given = request.pipeline
        if not given.pipeline_id:
            raise InvalidArgument("pipeline.pipeline_id is required", field="pipeline_id")
        fields = updated_fields(given, request.update_mask, mutable=PIPELINE_MUTABLE)
        update = PipelineUpdate(
            display_name=_display_name(given.display_name) if "display_name" in fields else None,
            description=given.description if "description" in fields else None,
            tags=dict(given.tags) if "tags" in fields else None,
        )
        stored = await self._store.get_pipeline(given.pipeline_id)
        check_unchanged(given, convert.pipeline_to_proto(stored), mutable=PIPELINE_MUTABLE)
        updated = await self._store.update_pipeline(stored.pipeline_id, update)
        return convert.pipeline_to_proto(updated)

    @translate_errors
    async def DeletePipeline(
        self, request: pipelines_pb2.DeletePipelineRequest, context: Context
    ) -> common_pb2.Empty:
        await self._store.delete_pipeline(request.pipeline_id, cascade=request.cascade)
        return common_pb2.Empty()

    # --- versions -----------------------------------------------------------------------

    @translate_errors
    async def CreatePipelineVersion(
        self, request: pipelines_pb2.CreatePipelineVersionRequest, context: Context
    ) -> pipelines_pb2.PipelineVersion:
        given = request.pipeline_version
        pipeline_id = request.pipeline_id or given.pipeline_id
        if not pipeline_id:
            raise InvalidArgument("pipeline_id is required", field="pipeline_id")
        if given.pipeline_id and given.pipeline_id != pipeline_id:
            raise InvalidArgument(
                f"pipeline_version.pipeline_id {given.pipeline_id!r} differs from "
                f"pipeline_id {pipeline_id!r}",
                field="pipeline_id",
            )
        spec = _required_spec(given)
        pipeline = await self._store.get_pipeline(pipeline_id)
        version = _new_version(given, pipeline_id=pipeline.pipeline_id, spec=spec, default_name="")
        await self._store.create_pipeline_version(version)
        return convert.pipeline_version_to_proto(version)

    @translate_errors
    async def GetPipelineVersion(
        self, request: pipelines_pb2.GetPipelineVersionRequest, context: Context
    ) -> pipelines_pb2.PipelineVersion:
        version = await self._version_of(request.pipeline_id, request.pipeline_version_id)
        return convert.pipeline_version_to_proto(version)

    @translate_errors
    async def ListPipelineVersions(
        self, request: pipelines_pb2.ListPipelineVersionsRequest, context: Context
    ) -> pipelines_pb2.ListPipelineVersionsResponse:
        query = list_query(PIPELINE_VERSION_FIELDS, request)
        await self._store.get_pipeline(request.pipeline_id)
        page = await self._store.list_pipeline_versions(request.pipeline_id, query)
        return pipelines_pb2.ListPipelineVersionsResponse(
            pipeline_versions=[convert.pipeline_version_to_proto(item) for item in page.items],
            total_size=page.total_size,
            next_page_token=page.next_page_token,
        )

    @translate_errors
    async def UpdatePipelineVersion(
        self, request: pipelines_pb2.UpdatePipelineVersionRequest, context: Context
    ) -> pipelines_pb2.PipelineVersion:
        given = request.pipeline_version
        for name in ("pipeline_id", "pipeline_version_id"):
            if not getattr(given, name):
                raise InvalidArgument(f"pipeline_version.{name} is required", field=name)
        fields = updated_fields(given, request.update_mask, mutable=PIPELINE_VERSION_MUTABLE)
        update = PipelineVersionUpdate(
            display_name=_display_name(given.display_name) if "display_name" in fields else None,
            description=given.description if "description" in fields else None,
            code_source_url=given.code_source_url if "code_source_url" in fields else None,
            tags=dict(given.tags) if "tags" in fields else None,
        )
        stored = await self._version_of(given.pipeline_id, given.pipeline_version_id)
        check_unchanged(given, convert.pipeline_version_to_proto(stored), mutable=PIPELINE_VERSION_MUTABLE)
        updated = await self._store.update_pipeline_version(
            stored.pipeline_version_id, update, pipeline_id=stored.pipeline_id
        )
        return convert.pipeline_version_to_proto(updated)

    @translate_errors
    async def DeletePipelineVersion(
        self, request: pipelines_pb2.DeletePipelineVersionRequest, context: Context
    ) -> common_pb2.Empty:
        version = await self._version_of(request.pipeline_id, request.pipeline_version_id)
        await self._store.delete_pipeline_version(version.pipeline_version_id)
        return common_pb2.Empty()

    async def _version_of(self, pipeline_id: str, pipeline_version_id: str) -> PipelineVersionRecord:
        """The version, NotFound also when it belongs to another pipeline than the one named."""
        version = await self._store.get_pipeline_version(pipeline_version_id)
        if pipeline_id and version.pipeline_id != pipeline_id:
            raise NotFound("pipeline version", pipeline_version_id)
        return version


def _new_pipeline(given: pipelines_pb2.Pipeline) -> PipelineRecord:
    name = given.name.strip() or given.display_name.strip()
    if not name:
        raise InvalidArgument("a pipeline needs a name or a display_name", field="name")
    return PipelineRecord(
        pipeline_id=str(uuid.uuid4()),
        name=name,
        display_name=given.display_name.strip() or name,
        created_at=datetime.now(UTC),
        description=given.description,
        namespace=given.namespace,
        tags=dict(given.tags),
    )


def _display_name(given: str) -> str:
    display_name = given.strip()
    if not display_name:
        raise InvalidArgument("display_name cannot be empty", field="display_name")
    return display_name


def _required_spec(given: pipelines_pb2.PipelineVersion) -> ValidatedSpec:
    spec = convert.from_struct(given.pipeline_spec)
    if not spec:
        if given.package_url.pipeline_url:
            raise InvalidArgument(
                "creating a version from package_url is not supported: send pipeline_spec "
                "or upload the package",
                field="package_url",
            )
        raise InvalidArgument("pipeline_version.pipeline_spec is required", field="pipeline_spec")
    return validate_spec(spec)


def _new_version(
    given: pipelines_pb2.PipelineVersion, *, pipeline_id: str, spec: ValidatedSpec, default_name: str
) -> PipelineVersionRecord:
    name = given.name.strip() or given.display_name.strip() or default_name
    if not name:
        raise InvalidArgument("a pipeline version needs a name or a display_name", field="name")
    return PipelineVersionRecord(
        pipeline_version_id=str(uuid.uuid4()),
        pipeline_id=pipeline_id,
        name=name,
        display_name=given.display_name.strip() or name,
        created_at=datetime.now(UTC),
        pipeline_spec=spec.stored,
        description=given.description,
        package_url=given.package_url.pipeline_url,
        code_source_url=given.code_source_url,
        tags=dict(given.tags),
    )
