"""The shared part of the "create run" and "create recurring run" forms: which pipeline
version (or cloned run) the run comes from, its experiment and its typed parameters."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from sluice.v1 import experiments_pb2, pipelines_pb2
from starlette.responses import Response

from services.core.errors import InvalidArgument
from services.gateway.ui.context import Ui, equals, filter_json
from services.gateway.ui.data import to_dict
from services.gateway.ui.forms import ParameterField, parameter_fields

CHOICES = 200


@dataclass(slots=True, kw_only=True)
class RunSource:
    """Where a new run's pipeline comes from: a stored version, or a run being cloned
    (whose inline spec is reused)."""

    pipeline_id: str = ""
    version_id: str = ""
    clone_of: str = ""
    spec: dict[str, Any] = field(default_factory=dict)
    title: str = ""
    """The pipeline and version, or the cloned run, in words."""
    values: dict[str, Any] | None = None
    """Parameter values to show instead of the defaults (those of a cloned run)."""
    name: str = ""
    experiment_id: str = ""
    pipeline_root: str = ""


async def resolve_source(ui: Ui, *, pipeline_id: str, version_id: str, clone_of: str) -> RunSource:
    """The source named by the query: a cloned run wins, else the version, else the
    pipeline's latest version. Raises InvalidArgument when nothing names a pipeline."""
    data = ui.data
    source = RunSource(pipeline_id=pipeline_id, version_id=version_id)
    if clone_of:
        run = await data.get_run(clone_of)
        ref = run.get("pipeline_version_reference") or {}
        source.clone_of = clone_of
        source.values = dict((run.get("runtime_config") or {}).get("parameters") or {})
        source.name = f"Clone of {run.get('display_name', '')}"
        source.experiment_id = run.get("experiment_id", "")
        source.pipeline_root = (run.get("runtime_config") or {}).get("pipeline_root", "")
        if ref.get("pipeline_version_id"):
            source.pipeline_id = ref.get("pipeline_id", "")
            source.version_id = ref["pipeline_version_id"]
            source.clone_of = ""
        else:
            source.spec = await data.run_spec(run)
            source.title = f"the pipeline of run {run.get('display_name', '')}"
            return source
    if source.pipeline_id and not source.version_id:
        page = await data.backend.pipelines.ListPipelineVersions(
            pipelines_pb2.ListPipelineVersionsRequest(
                pipeline_id=source.pipeline_id, page_size=1, sort_by="created_at desc"
            )
        )
        if not page.pipeline_versions:
            raise InvalidArgument("this pipeline has no versions yet: upload one first")
        source.version_id = page.pipeline_versions[0].pipeline_version_id
    if not source.version_id:
        raise InvalidArgument("choose a pipeline first")
    info = await data.version(source.pipeline_id, source.version_id)
    if info is None:
        raise InvalidArgument("that pipeline version no longer exists")
    source.pipeline_id = info.pipeline_id
    source.spec = info.spec
    source.title = f"{info.pipeline_name} · {info.version_name}"
    return source


async def choices(ui: Ui, pipeline_id: str) -> dict[str, Any]:
    """Pipelines, the chosen pipeline's versions, and the active experiments to pick from."""
    backend = ui.data.backend
    pipelines_call = backend.pipelines.ListPipelines(
        pipelines_pb2.ListPipelinesRequest(page_size=CHOICES, sort_by="display_name")
    )
    experiments_call = backend.experiments.ListExperiments(
        experiments_pb2.ListExperimentsRequest(
            page_size=CHOICES,
            sort_by="display_name",
            filter=filter_json(equals("storage_state", "AVAILABLE")),
        )
    )
    pipelines, experiments = await asyncio.gather(pipelines_call, experiments_call)
    versions: list[dict[str, Any]] = []
    if pipeline_id:
        page = await backend.pipelines.ListPipelineVersions(
            pipelines_pb2.ListPipelineVersionsRequest(
                pipeline_id=pipeline_id, page_size=CHOICES, sort_by="created_at desc"
            )
        )
        versions = [
            {"pipeline_version_id": v.pipeline_version_id, "display_name": v.display_name or v.name}
            for v in page.pipeline_versions
        ]
    return {
        "pipelines": [
            {"pipeline_id": p.pipeline_id, "display_name": p.display_name or p.name}
            for p in pipelines.pipelines
        ],
        "versions": versions,
        "experiments": [to_dict(e) for e in experiments.experiments],
    }


def fields_for(source: RunSource, errors: list[ParameterField] | None = None) -> list[ParameterField]:
    return errors if errors is not None else parameter_fields(source.spec, values=source.values)


async def render_run_form(
    ui: Ui,
    *,
    recurring: bool,
    pipeline_id: str,
    version_id: str,
    clone_of: str,
    experiment_id: str,
    errors: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    """The "create run" or "create recurring run" form for the source the query names; a
    bad source is shown as a problem on the form, not as an error page. A new run defaults
    to the experiment of the run it clones."""
    picked = await choices(ui, pipeline_id)
    source: RunSource | None = None
    problem = ""
    if pipeline_id or version_id or clone_of:
        try:
            source = await resolve_source(
                ui, pipeline_id=pipeline_id, version_id=version_id, clone_of=clone_of
            )
        except InvalidArgument as error:
            problem = error.message
        if source is not None and source.pipeline_id != pipeline_id:
            picked = await choices(ui, source.pipeline_id)
    errors = errors or {}
    if not recurring and not experiment_id and source is not None:
        experiment_id = source.experiment_id
    return ui.renderer.page(
        "run_form.html",
        status_code=status_code,
        nav="recurring" if recurring else "runs",
        recurring=recurring,
        source=source,
        problem=problem or errors.get("problem", ""),
        fields=fields_for(source, errors.get("fields")) if source else [],
        form=errors.get("form", {}),
        experiment_id=experiment_id,
        **picked,
    )
