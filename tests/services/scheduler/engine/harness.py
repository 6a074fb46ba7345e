"""Drives the pure engine as the run scheduler does, with the run's records in memory."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from services.core.pipeline.ir import load_pipeline
from services.core.pipeline.model import JsonValue, Pipeline
from services.core.pipeline.runtime_parameters import resolve_run_parameters
from services.core.store.records import ArtifactRef, ErrorInfo, RunRecord, RuntimeState, TaskRecord
from services.scheduler.engine.dag import advance
from services.scheduler.engine.results import AttemptReport, apply_report
from services.scheduler.engine.retry import reset_for_retry
from services.scheduler.runs import task_spec_at

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def compiled(path: Path) -> Pipeline:
    return load_pipeline(path.read_bytes())


class Harness:
    """Applies plans to an in-memory run, as the scheduler's handlers do with the store."""

    def __init__(
        self,
        pipeline: Pipeline,
        parameters: Mapping[str, object] | None = None,
        *,
        disable_cache: bool = False,
    ) -> None:
        self.pipeline = pipeline
        self.run = RunRecord(
            run_id="run-1",
            experiment_id="e",
            display_name="r",
            created_at=NOW,
            pipeline_spec={},
            parameters=resolve_run_parameters(pipeline, dict(parameters or {})),  # type: ignore[arg-type]
            disable_cache=disable_cache,
        )
        self.tasks: dict[str, TaskRecord] = {}
        self.launched: list[str] = []
        self.canceled: list[str] = []
        self.now = NOW

    def settle(self) -> None:
        for _ in range(1000):
            plan = advance(self.pipeline, self.run, list(self.tasks.values()), self.now)
            if plan.empty:
                return
            for task in plan.created + plan.updated:
                self.tasks[task.path] = task
            self.launched.extend(launch.task.path for launch in plan.launches)
            self.canceled.extend(task.path for task in plan.cancels)
            if plan.run is not None:
                self.run = plan.run
        raise AssertionError("did not settle")

    # --- looking things up ---------------------------------------------------------------
    def named(self, name: str) -> list[TaskRecord]:
        """Every record of the IR task `name`, in path order (loop iterations by index)."""
        return sorted(
            (task for task in self.tasks.values() if task.name == name),
            key=lambda task: [
                (int(part), "") if part.isdigit() else (-1, part) for part in task.path.split("/")
            ],
        )

    def task(self, name: str) -> TaskRecord:
        matches = self.named(name)
        assert len(matches) == 1, [t.path for t in matches]
        return matches[0]

    def running(self) -> list[TaskRecord]:
        """Container tasks launched and not finished."""
        return [
            task
            for task in self.tasks.values()
            if task.attempt > 0
            and task.state in (RuntimeState.PENDING, RuntimeState.RUNNING)
            and task.kind.value == "CONTAINER"
        ]

    # --- executor reports ------------------------------------------------------------------
    def report(
        self,
        task: TaskRecord,
        state: RuntimeState,
        *,
        outputs: Mapping[str, JsonValue] | None = None,
        artifacts: Mapping[str, list[ArtifactRef]] | None = None,
        error: str = "",
    ) -> bool:
        spec = task_spec_at(self.pipeline, task.path)
        return apply_report(
            task,
            AttemptReport(
                task_id=task.task_id,
                attempt=task.attempt,
                state=state,
                time=self.now,
                output_parameters=dict(outputs or {}),
                output_artifacts=dict(artifacts or {}),
                error=ErrorInfo(message=error) if error else None,
            ),
            retry=spec.retry if spec else None,
            canceling=self.run.state is RuntimeState.CANCELING,
        )

    def start(self, task: TaskRecord) -> None:
        self.report(task, RuntimeState.RUNNING)

    def finish(
        self, task: TaskRecord | str, *, outputs: Mapping[str, JsonValue] | None = None, fail: str = ""
    ) -> None:
        record = self.task(task) if isinstance(task, str) else task
        if record.state is RuntimeState.PENDING:
            self.start(record)
        self.report(
            record, RuntimeState.FAILED if fail else RuntimeState.SUCCEEDED, outputs=outputs, error=fail
        )
        self.settle()

    # --- run lifecycle -----------------------------------------------------------------------
    def terminate(self) -> None:
        self.run.state = RuntimeState.CANCELING
        self.settle()

    def retry(self) -> list[TaskRecord]:
        changed = reset_for_retry(self.pipeline, self.run, list(self.tasks.values()), self.now)
        self.settle()
        return changed
