"""The metadata store interface. Implementations: `sqlite.SqliteStore` (embedded default)
and a MongoDB one; one contract suite (`tests/contract/store`) runs against each.

Every method may raise `services.core.errors.Unavailable` when the database cannot be
reached. Updates of versioned records (runs, tasks, recurring runs) are compare-and-set
on the record's `version`: the caller passes the record as it read it; the store bumps
`version` and raises `ConcurrentModification` when somebody else wrote first. Pipelines
and their versions are updated field by field instead (`PipelineUpdate`): the store sets
the given fields in one atomic write, so concurrent updates of different fields both stay.

List scoping arguments (`namespace`, `experiment_id`, `run_id`, `task_id`) left empty do
not restrict the list; `get_pipeline_by_name` matches its namespace exactly. What lists may
be sorted and filtered by, and how, is `services.core.store.filters` (one `FieldTable` per
resource); page tokens are `services.core.store.paging` keyset cursors.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence

from services.core.store.query import ListQuery, Page
from services.core.store.records import (
    ArtifactRecord,
    ExperimentRecord,
    PipelineRecord,
    PipelineUpdate,
    PipelineVersionRecord,
    PipelineVersionUpdate,
    RecurringRunRecord,
    RunRecord,
    TaskRecord,
)


class Store(abc.ABC):
    # --- lifecycle --------------------------------------------------------------------
    @abc.abstractmethod
    async def start(self) -> None:
        """Connect and create tables/collections and indexes (idempotent)."""

    @abc.abstractmethod
    async def aclose(self) -> None:
        """Release connections; idempotent."""

    # --- experiments ------------------------------------------------------------------
    @abc.abstractmethod
    async def create_experiment(self, experiment: ExperimentRecord) -> None:
        """Raises AlreadyExists when the display_name is taken in the namespace."""

    @abc.abstractmethod
    async def get_experiment(self, experiment_id: str) -> ExperimentRecord:
        """Raises NotFound."""

    @abc.abstractmethod
    async def list_experiments(self, query: ListQuery, *, namespace: str = "") -> Page[ExperimentRecord]:
        """Raises InvalidArgument for an unknown sort/filter field or a bad page token."""

    @abc.abstractmethod
    async def update_experiment(self, experiment: ExperimentRecord) -> None:
        """Replace the experiment's mutable fields. Raises NotFound."""

    @abc.abstractmethod
    async def delete_experiment(self, experiment_id: str) -> None:
        """Raises NotFound."""

    # --- pipelines and versions -------------------------------------------------------
    @abc.abstractmethod
    async def create_pipeline(self, pipeline: PipelineRecord) -> None:
        """Raises AlreadyExists when the name is taken in the namespace."""

    @abc.abstractmethod
    async def create_pipeline_with_version(
        self, pipeline: PipelineRecord, version: PipelineVersionRecord
    ) -> None:
        """Both or neither. Raises AlreadyExists (pipeline name, or version name)."""

    @abc.abstractmethod
    async def get_pipeline(self, pipeline_id: str) -> PipelineRecord:
        """Raises NotFound."""

    @abc.abstractmethod
    async def get_pipeline_by_name(self, name: str, *, namespace: str = "") -> PipelineRecord:
        """Raises NotFound."""

    @abc.abstractmethod
    async def list_pipelines(self, query: ListQuery, *, namespace: str = "") -> Page[PipelineRecord]: ...

    @abc.abstractmethod
    async def update_pipeline(self, pipeline_id: str, update: PipelineUpdate) -> PipelineRecord:
        """Set the fields `update` gives, atomically; the stored record afterwards (an
        empty update changes nothing). Raises NotFound."""

    @abc.abstractmethod
    async def delete_pipeline(self, pipeline_id: str, *, cascade: bool = False) -> None:
        """Raises NotFound; FailedPrecondition when it has versions and cascade is False."""

    @abc.abstractmethod
    async def create_pipeline_version(self, version: PipelineVersionRecord) -> None:
        """Raises NotFound (pipeline) or AlreadyExists (version name within the pipeline)."""

    @abc.abstractmethod
    async def get_pipeline_version(self, pipeline_version_id: str) -> PipelineVersionRecord:
        """Raises NotFound."""

    @abc.abstractmethod
    async def list_pipeline_versions(
        self, pipeline_id: str, query: ListQuery
    ) -> Page[PipelineVersionRecord]: ...

    @abc.abstractmethod
    async def latest_pipeline_version(self, pipeline_id: str) -> PipelineVersionRecord:
        """The most recently created version. Raises NotFound when there is none."""

    @abc.abstractmethod
    async def update_pipeline_version(
        self, pipeline_version_id: str, update: PipelineVersionUpdate, *, pipeline_id: str
    ) -> PipelineVersionRecord:
        """Set the fields `update` gives, atomically; the stored record afterwards. Raises
        NotFound, also when the version belongs to another pipeline than `pipeline_id`."""

    @abc.abstractmethod
    async def delete_pipeline_version(self, pipeline_version_id: str) -> None:
        """Raises NotFound."""

    # --- runs -------------------------------------------------------------------------
    @abc.abstractmethod
    async def create_run(self, run: RunRecord, tasks: Sequence[TaskRecord] = ()) -> None:
        """Insert a run (and its first task records) atomically. Raises AlreadyExists."""

    @abc.abstractmethod
    async def get_run(self, run_id: str) -> RunRecord:
        """Raises NotFound."""

    @abc.abstractmethod
    async def list_runs(
        self, query: ListQuery, *, namespace: str = "", experiment_id: str = ""
    ) -> Page[RunRecord]:
        """Filterable on run_id, display_name, state, storage_state, created_at, finished_at,
        experiment_id, recurring_run_id, pipeline_version_id."""

    @abc.abstractmethod
    async def update_run(self, run: RunRecord) -> RunRecord:
        """Compare-and-set on `run.version`; returns the stored record with the new version.
        Raises NotFound or ConcurrentModification."""

    @abc.abstractmethod
    async def delete_run(self, run_id: str) -> None:
        """Delete a run and its tasks. Raises NotFound."""

    @abc.abstractmethod
    async def list_active_run_ids(self) -> list[str]:
        """Ids of runs in ACTIVE_STATES, for reconciliation after a restart."""

    @abc.abstractmethod
    async def count_active_runs(self, *, recurring_run_id: str) -> int:
        """Number of runs in ACTIVE_STATES started by one recurring run."""

    # --- tasks ------------------------------------------------------------------------
    @abc.abstractmethod
    async def create_tasks(self, tasks: Sequence[TaskRecord]) -> list[TaskRecord]:
        """Insert task records in one batch. A task whose (run_id, path) exists already is
        not inserted again; the stored record is returned in its place (idempotent)."""

    @abc.abstractmethod
    async def get_task(self, task_id: str) -> TaskRecord:
        """Raises NotFound."""

    @abc.abstractmethod
    async def list_tasks(self, run_id: str) -> list[TaskRecord]:
        """Every task of a run, ordered by create_time then path."""

    @abc.abstractmethod
    async def update_task(self, task: TaskRecord) -> TaskRecord:
        """Compare-and-set on `task.version`. Raises NotFound or ConcurrentModification."""

    @abc.abstractmethod
    async def find_cached_task(self, fingerprint: str) -> TaskRecord | None:
        """The most recent (by create_time) SUCCEEDED task with this fingerprint that ran
        (was not itself a cache hit), or None."""

    # --- recurring runs ---------------------------------------------------------------
    @abc.abstractmethod
    async def create_recurring_run(self, recurring_run: RecurringRunRecord) -> None: ...

    @abc.abstractmethod
    async def get_recurring_run(self, recurring_run_id: str) -> RecurringRunRecord:
        """Raises NotFound."""

    @abc.abstractmethod
    async def list_recurring_runs(
        self, query: ListQuery, *, namespace: str = "", experiment_id: str = ""
    ) -> Page[RecurringRunRecord]: ...

    @abc.abstractmethod
    async def update_recurring_run(self, recurring_run: RecurringRunRecord) -> RecurringRunRecord:
        """Compare-and-set on `version`. Raises NotFound or ConcurrentModification."""

    @abc.abstractmethod
    async def delete_recurring_run(self, recurring_run_id: str) -> None:
        """Raises NotFound."""

    @abc.abstractmethod
    async def list_enabled_recurring_runs(self) -> list[RecurringRunRecord]: ...

    # --- artifacts (owned by the artifact service) -------------------------------------
    @abc.abstractmethod
    async def put_artifacts(self, artifacts: Sequence[ArtifactRecord]) -> None:
        """Insert or replace artifact records by artifact_id."""

    @abc.abstractmethod
    async def get_artifact(self, artifact_id: str) -> ArtifactRecord:
        """Raises NotFound."""

    @abc.abstractmethod
    async def list_artifacts(
        self, *, run_id: str = "", task_id: str = "", query: ListQuery | None = None
    ) -> Page[ArtifactRecord]:
        """Without a query: every matching artifact in one page, oldest first."""
