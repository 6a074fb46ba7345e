"""Where a run (or recurring run) comes from: its pipeline spec and its experiment."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from services.core.errors import AlreadyExists, InvalidArgument
from services.core.pipeline.model import JsonValue
from services.core.store.base import Store
from services.core.store.query import ListQuery, Operation, Predicate
from services.core.store.records import ExperimentRecord
from services.scheduler.api.specs import ValidatedSpec, validate_spec

DEFAULT_EXPERIMENT_NAME = "Default"


@dataclass(frozen=True)
class PipelineSource:
    """A validated spec, and the stored version it came from ("" for an inline spec)."""

    spec: ValidatedSpec
    pipeline_id: str = ""
    pipeline_version_id: str = ""


async def resolve_pipeline_source(
    store: Store,
    *,
    inline_spec: dict[str, JsonValue],
    pipeline_id: str,
    pipeline_version_id: str,
) -> PipelineSource:
    """The spec given inline, or the referenced version's (the pipeline's latest when no
    version id is given). Raises InvalidArgument or NotFound."""
    referenced = bool(pipeline_id or pipeline_version_id)
    if inline_spec and referenced:
        raise InvalidArgument("give either pipeline_spec or pipeline_version_reference, not both")
    if inline_spec:
        return PipelineSource(spec=validate_spec(inline_spec))
    if not referenced:
        raise InvalidArgument("a pipeline_spec or a pipeline_version_reference is required")
    if pipeline_version_id:
        version = await store.get_pipeline_version(pipeline_version_id)
        if pipeline_id and version.pipeline_id != pipeline_id:
            raise InvalidArgument(
                f"pipeline version {pipeline_version_id!r} does not belong to pipeline {pipeline_id!r}",
                field="pipeline_version_reference",
            )
    else:
        await store.get_pipeline(pipeline_id)
        version = await store.latest_pipeline_version(pipeline_id)
    return PipelineSource(
        spec=validate_spec(version.pipeline_spec),
        pipeline_id=version.pipeline_id,
        pipeline_version_id=version.pipeline_version_id,
    )


async def resolve_experiment(store: Store, experiment_id: str, *, namespace: str = "") -> ExperimentRecord:
    """The given experiment (NotFound when it does not exist), or the namespace's default
    experiment when no id is given."""
    if experiment_id:
        return await store.get_experiment(experiment_id)
    return await default_experiment(store, namespace=namespace)


async def default_experiment(store: Store, *, namespace: str = "") -> ExperimentRecord:
    """The experiment named "Default" of a namespace, created on first use."""
    found = await _find_experiment(store, DEFAULT_EXPERIMENT_NAME, namespace=namespace)
    if found is not None:
        return found
    record = ExperimentRecord(
        experiment_id=str(uuid.uuid4()),
        display_name=DEFAULT_EXPERIMENT_NAME,
        created_at=datetime.now(UTC),
        description="Runs created without an experiment.",
        namespace=namespace,
    )
    try:
        await store.create_experiment(record)
    except AlreadyExists:
        # A concurrent request created it first.
        found = await _find_experiment(store, DEFAULT_EXPERIMENT_NAME, namespace=namespace)
        if found is None:
            raise
        return found
    return record


async def _find_experiment(store: Store, display_name: str, *, namespace: str) -> ExperimentRecord | None:
    query = ListQuery(
        page_size=1,
        predicates=(
            Predicate(field="display_name", operation=Operation.EQUALS, value=display_name),
            Predicate(field="namespace", operation=Operation.EQUALS, value=namespace),
        ),
    )
    page = await store.list_experiments(query, namespace=namespace)
    return page.items[0] if page.items else None
