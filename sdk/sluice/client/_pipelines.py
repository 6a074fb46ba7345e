"""Pipelines and their versions: upload (a file or a function), get, list, update, delete."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from sluice.client import _convert, _rpc, errors
from sluice.client._base import ApiBase, list_request
from sluice.client._packages import PipelineSource, load_package
from sluice.client.filters import FilterValue
from sluice.client.models import Page, Pipeline, PipelineVersion


def _upload_fields(
    *, name: str | None, display_name: str | None, description: str, tags: Mapping[str, str] | None
) -> dict[str, Any]:
    fields: dict[str, Any] = {"name": name or "", "display_name": display_name or name or ""}
    if description:
        fields["description"] = description
    if tags:
        fields["tags"] = dict(tags)
    return fields


def _update_request(resource: str, ids: Mapping[str, str], changes: Mapping[str, Any]) -> dict[str, Any]:
    """An Update* request: the `resource` message with its ids and the changes given (None:
    unchanged), and a mask naming those, so that "" and {} clear a field."""
    given = {
        name: dict(value) if isinstance(value, Mapping) else value
        for name, value in changes.items()
        if value is not None
    }
    # A FieldMask in protobuf JSON: lowerCamelCase paths, comma-separated.
    mask = ",".join(re.sub(r"_([a-z])", lambda match: match[1].upper(), name) for name in given)
    return {resource: {**ids, **given}, "update_mask": mask}


class PipelinesApi(ApiBase):
    def upload_pipeline(
        self,
        pipeline: PipelineSource,
        *,
        name: str | None = None,
        display_name: str | None = None,
        description: str = "",
        namespace: str = "",
        tags: Mapping[str, str] | None = None,
    ) -> Pipeline:
        """Upload a pipeline (a package file, or a function compiled here) with its first version.

        `name` defaults to the pipeline's name in the IR.

        Raises:
            AlreadyExists: a pipeline has this name.
            InvalidArgument: the package is not a valid pipeline.
        """
        package = load_package(pipeline)
        fields = _upload_fields(
            name=name or package.name, display_name=display_name, description=description, tags=tags
        )
        if namespace:
            fields["namespace"] = namespace
        data = self._transport.upload_pipeline(
            package.to_yaml(), filename=f"{package.name}.yaml", fields=fields
        )
        return _convert.pipeline(data)

    def upload_pipeline_version(
        self,
        pipeline: PipelineSource,
        *,
        pipeline_id: str,
        name: str | None = None,
        display_name: str | None = None,
        description: str = "",
        tags: Mapping[str, str] | None = None,
    ) -> PipelineVersion:
        """Upload a new version of pipeline `pipeline_id`. Raises NotFound, InvalidArgument."""
        package = load_package(pipeline)
        fields = _upload_fields(name=name, display_name=display_name, description=description, tags=tags)
        data = self._transport.upload_pipeline_version(
            package.to_yaml(), filename=f"{package.name}.yaml", pipeline_id=pipeline_id, fields=fields
        )
        return _convert.pipeline_version(data)

    def get_pipeline(self, pipeline_id: str) -> Pipeline:
        """Raises NotFound."""
        return _convert.pipeline(self._call(_rpc.GET_PIPELINE, {"pipeline_id": pipeline_id}))

    def get_pipeline_by_name(self, name: str, *, namespace: str = "") -> Pipeline:
        """Raises NotFound."""
        request = {"name": name, "namespace": namespace}
        return _convert.pipeline(self._call(_rpc.GET_PIPELINE_BY_NAME, request))

    def list_pipelines(
        self,
        *,
        page_size: int = 0,
        page_token: str = "",
        sort_by: str = "",
        namespace: str = "",
        filter: str | None = None,
        **filters: FilterValue,
    ) -> Page[Pipeline]:
        """A page of pipelines; `filters` as in `sluice.client.filters`."""
        request = list_request(
            page_size=page_size,
            page_token=page_token,
            sort_by=sort_by,
            filter=filter,
            filters=filters,
            namespace=namespace,
        )
        return _convert.page(self._call(_rpc.LIST_PIPELINES, request), "pipelines", _convert.pipeline)

    def update_pipeline(
        self,
        pipeline_id: str,
        *,
        display_name: str | None = None,
        description: str | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> Pipeline:
        """Change a pipeline's display name, description or tags (replaced as a whole); the
        pipeline as it is now. None leaves a field as it is; "" or {} clears it.

        Raises:
            NotFound: no such pipeline.
            InvalidArgument: an empty display name.
        """
        request = _update_request(
            "pipeline",
            {"pipeline_id": pipeline_id},
            {"display_name": display_name, "description": description, "tags": tags},
        )
        return _convert.pipeline(self._call(_rpc.UPDATE_PIPELINE, request))

    def delete_pipeline(self, pipeline_id: str, *, cascade: bool = False) -> None:
        """Delete a pipeline; with `cascade`, its versions too (else it must have none).

        Raises NotFound, FailedPrecondition.
        """
        self._call(_rpc.DELETE_PIPELINE, {"pipeline_id": pipeline_id, "cascade": cascade})

    def get_pipeline_version(self, pipeline_id: str, pipeline_version_id: str) -> PipelineVersion:
        """Raises NotFound."""
        request = {"pipeline_id": pipeline_id, "pipeline_version_id": pipeline_version_id}
        return _convert.pipeline_version(self._call(_rpc.GET_PIPELINE_VERSION, request))

    def list_pipeline_versions(
        self,
        pipeline_id: str,
        *,
        page_size: int = 0,
        page_token: str = "",
        sort_by: str = "",
        filter: str | None = None,
        **filters: FilterValue,
    ) -> Page[PipelineVersion]:
        """A page of the versions of a pipeline."""
        request = list_request(
            page_size=page_size,
            page_token=page_token,
            sort_by=sort_by,
            filter=filter,
            filters=filters,
            pipeline_id=pipeline_id,
        )
        data = self._call(_rpc.LIST_PIPELINE_VERSIONS, request)
        return _convert.page(data, "pipeline_versions", _convert.pipeline_version)

    def update_pipeline_version(
        self,
        pipeline_id: str,
        pipeline_version_id: str,
        *,
        display_name: str | None = None,
        description: str | None = None,
        code_source_url: str | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> PipelineVersion:
        """Change a version's display name, description, code source URL or tags (replaced
        as a whole); the version as it is now. None leaves a field as it is; "" or {}
        clears it. The spec and the name never change: upload a new version instead.

        Raises:
            NotFound: no such version of this pipeline.
            InvalidArgument: an empty display name.
        """
        request = _update_request(
            "pipeline_version",
            {"pipeline_id": pipeline_id, "pipeline_version_id": pipeline_version_id},
            {
                "display_name": display_name,
                "description": description,
                "code_source_url": code_source_url,
                "tags": tags,
            },
        )
        return _convert.pipeline_version(self._call(_rpc.UPDATE_PIPELINE_VERSION, request))

    def delete_pipeline_version(self, pipeline_id: str, pipeline_version_id: str) -> None:
        request = {"pipeline_id": pipeline_id, "pipeline_version_id": pipeline_version_id}
        self._call(_rpc.DELETE_PIPELINE_VERSION, request)

    def _latest_version(self, pipeline_id: str) -> PipelineVersion:
        versions = self.list_pipeline_versions(pipeline_id, page_size=1, sort_by="created_at desc")
        if not versions.items:
            raise errors.NotFound(f"pipeline {pipeline_id!r} has no version")
        return versions.items[0]
