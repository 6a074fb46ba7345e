"""One step of the DAG state machine.

`advance` looks at a run's task records and decides what happens next: which tasks start,
which are skipped, which DAGs and loops are finished, and the run's own state. It does no
I/O; the scheduler's handlers persist the plan, dispatch the launches and call `advance`
again until the plan is empty.

While a run is canceling, nothing new starts except tasks that run whatever happened
upstream (`ALL_UPSTREAM_TASKS_COMPLETED`: exit handlers, `ignore_upstream_failure`) and
what they contain; running attempts are asked to stop (`Plan.cancels`).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from services.core.pipeline.model import (
    ArtifactIterator,
    Component,
    ContainerExecutor,
    ImporterExecutor,
    Pipeline,
    Task,
    TriggerStrategy,
)
from services.core.store.records import (
    TERMINAL_STATES,
    ArtifactRef,
    ErrorInfo,
    RunRecord,
    RuntimeState,
    StateChange,
    TaskKind,
    TaskRecord,
)
from services.scheduler.engine.fingerprint import cache_fingerprint
from services.scheduler.engine.inputs import MissingInput, Scope, resolve_inputs, upstream_tasks
from services.scheduler.engine.items import ItemsError, artifacts_from_json, loop_items
from services.scheduler.engine.plan import Launch, Plan
from services.scheduler.engine.platform import PLATFORM_VALUES, resolve_platform_values
from services.scheduler.engine.selectors import ExpressionError, condition_holds
from services.scheduler.engine.states import (
    CANCEL_REQUESTED,
    RERUN,
    RETRY_AT,
    SKIP_REASON,
    is_success,
    is_terminal,
    transition,
    wants_rerun,
)

ROOT_PATH = "root"
_IDS = uuid.UUID("6a1c2f64-5d55-4e0b-9d7e-51a1ce000000")


def task_id_for(run_id: str, path: str) -> str:
    """Deterministic, so a re-planned step after a crash names the same task."""
    return uuid.uuid5(_IDS, f"{run_id}/{path}").hex


def advance(pipeline: Pipeline, run: RunRecord, tasks: Sequence[TaskRecord], now: datetime) -> Plan:
    return _Step(pipeline, run, tasks, now).run()


def _runs_regardless(task: Task) -> bool:
    """Exit handlers and `ignore_upstream_failure` tasks: they run even when the run is
    being canceled, and so does what they contain."""
    return task.strategy is TriggerStrategy.ALL_UPSTREAM_TASKS_COMPLETED


class _Step:
    def __init__(self, pipeline: Pipeline, run: RunRecord, tasks: Sequence[TaskRecord], now: datetime):
        self.pipeline = pipeline
        self.run_record = run
        self.now = now
        self.plan = Plan()
        self.by_path = {task.path: task for task in tasks}
        self.children: defaultdict[str, dict[str, TaskRecord]] = defaultdict(dict)
        for task in tasks:
            self.children[task.parent_task_id][task.name] = task
        self.canceling = run.state is RuntimeState.CANCELING
        self._created: set[str] = set()
        self._touched: set[str] = set()

    # --- bookkeeping --------------------------------------------------------------------
    def _new_task(
        self, *, parent: TaskRecord | None, name: str, display_name: str, kind: TaskKind
    ) -> TaskRecord:
        path = f"{parent.path}/{name}" if parent else ROOT_PATH
        record = TaskRecord(
            task_id=task_id_for(self.run_record.run_id, path),
            run_id=self.run_record.run_id,
            path=path,
            name=name,
            display_name=display_name or name,
            kind=kind,
            create_time=self.now,
            parent_task_id=parent.task_id if parent else "",
            state_history=[StateChange(state=RuntimeState.PENDING, time=self.now)],
        )
        self.plan.created.append(record)
        self._created.add(record.task_id)
        self.by_path[path] = record
        self.children[record.parent_task_id][name] = record
        return record

    def _reuse(self, record: TaskRecord) -> TaskRecord:
        """A record reset by a retry of the run, decided again from scratch."""
        record.scheduling.pop(RERUN, None)
        self._touch(record)
        return record

    def _touch(self, record: TaskRecord) -> None:
        if record.task_id not in self._created and record.task_id not in self._touched:
            self._touched.add(record.task_id)
            self.plan.updated.append(record)

    def _set(self, record: TaskRecord, state: RuntimeState, *, error: ErrorInfo | None = None) -> None:
        transition(record, state, self.now, error=error)
        self._touch(record)

    def _fail(self, record: TaskRecord, message: str) -> None:
        self._set(record, RuntimeState.FAILED, error=ErrorInfo(message=message))

    # --- the run ------------------------------------------------------------------------
    def run(self) -> Plan:
        root = self.by_path.get(ROOT_PATH)
        if root is None:
            root = self._new_task(
                parent=None, name=ROOT_PATH, display_name=self.pipeline.display_name, kind=TaskKind.DAG
            )
            root.input_parameters = dict(self.run_record.parameters)
            self._set(root, RuntimeState.RUNNING)
        elif wants_rerun(root):
            self._set(self._reuse(root), RuntimeState.RUNNING)
        if not is_terminal(root):
            self._advance_dag(root, self.pipeline.root, canceling=self.canceling)
        self._update_run(root)
        return self.plan

    def _update_run(self, root: TaskRecord) -> None:
        run = self.run_record
        if run.state in TERMINAL_STATES:
            return
        target = run.state
        error = run.error
        if is_terminal(root):
            target = RuntimeState.CANCELED if self.canceling else root.state
            error = root.error if target is RuntimeState.FAILED else None
        elif run.state is RuntimeState.PENDING:
            target = RuntimeState.RUNNING
        if target is run.state:
            return
        run.state = target
        run.error = error
        run.state_history.append(StateChange(state=target, time=self.now, error=error))
        if target in TERMINAL_STATES:
            run.finished_at = self.now
        if target is RuntimeState.RUNNING and run.scheduled_at is None:
            run.scheduled_at = self.now
        self.plan.run = run

    # --- DAGs ---------------------------------------------------------------------------
    def _advance_dag(self, dag_record: TaskRecord, component: Component, *, canceling: bool) -> None:
        assert component.dag is not None
        siblings = self.children[dag_record.task_id]
        for task in component.dag.tasks.values():
            record = siblings.get(task.name)
            task_canceling = canceling and not _runs_regardless(task)
            if record is None or wants_rerun(record):
                self._maybe_start(dag_record, task, siblings, canceling=task_canceling, existing=record)
            elif not is_terminal(record):
                self._advance_task(record, task, canceling=task_canceling)
        if all(name in siblings and is_terminal(siblings[name]) for name in component.dag.tasks):
            self._finish_dag(dag_record, component, siblings)

    def _finish_dag(self, record: TaskRecord, component: Component, children: dict[str, TaskRecord]) -> None:
        assert component.dag is not None
        failed = [child for child in children.values() if child.state is RuntimeState.FAILED]
        if failed:
            first = min(failed, key=lambda child: child.end_time or self.now)
            message = first.error.message if first.error else "failed"
            prefix = "" if message.startswith("task ") else f"task {first.name!r} failed: "
            self._set(record, RuntimeState.FAILED, error=ErrorInfo(message=prefix + message))
            return
        if any(child.state is RuntimeState.CANCELED for child in children.values()):
            self._set(record, RuntimeState.CANCELED)
            return
        for name, parameter_output in component.dag.parameter_outputs.items():
            for source in parameter_output.sources:
                producer = children.get(source.task)
                if producer is not None and is_success(producer) and source.key in producer.output_parameters:
                    record.output_parameters[name] = producer.output_parameters[source.key]
                    break
        for name, artifact_output in component.dag.artifact_outputs.items():
            for source in artifact_output.sources:
                producer = children.get(source.task)
                if producer is not None and is_success(producer) and source.key in producer.output_artifacts:
                    record.output_artifacts[name] = producer.output_artifacts[source.key]
                    break
        self._set(record, RuntimeState.SUCCEEDED)

    def _maybe_start(
        self,
        dag_record: TaskRecord,
        task: Task,
        siblings: dict[str, TaskRecord],
        *,
        canceling: bool,
        existing: TaskRecord | None,
    ) -> None:
        upstream = upstream_tasks(task)
        for name in upstream:
            producer = siblings.get(name)
            if producer is None or not is_terminal(producer):
                return
        component = self.pipeline.component(task.component)
        if existing is not None:
            record = self._reuse(existing)
        else:
            record = self._new_task(
                parent=dag_record,
                name=task.name,
                display_name=task.display_name,
                kind=_kind_of(self.pipeline, task),
            )
        if not _runs_regardless(task):
            blocked = sorted(name for name in upstream if not is_success(siblings[name]))
            if blocked:
                self._skip(
                    record, component, RuntimeState.SKIPPED, f"upstream task {blocked[0]!r} did not succeed"
                )
                return
        if canceling:
            self._skip(record, component, RuntimeState.CANCELED, "the run was terminated")
            return
        try:
            scope = Scope(self.run_record.run_id, dag_record, siblings, inherited=self._loop_of(dag_record))
            inputs = resolve_inputs(scope, task, component)
        except (MissingInput, ExpressionError) as error:
            self._fail(record, str(error))
            return
        record.input_parameters = inputs.parameters
        record.input_artifacts = inputs.artifacts
        if task.condition:
            try:
                triggered = condition_holds(task.condition, inputs.parameters)
            except ExpressionError as error:
                self._fail(record, str(error))
                return
            if not triggered:
                self._skip(record, component, RuntimeState.SKIPPED, "condition not met")
                return
        if component.executor is not None:
            try:
                platform_values = resolve_platform_values(
                    scope, self.pipeline.platform.get(component.executor), task_name=task.name
                )
            except MissingInput as error:
                self._fail(record, str(error))
                return
            record.scheduling.pop(PLATFORM_VALUES, None)
            if platform_values:
                record.scheduling[PLATFORM_VALUES] = platform_values
        self._start(record, task, component, canceling=canceling)

    def _loop_of(self, record: TaskRecord) -> TaskRecord | None:
        """The loop an iteration belongs to (whose inputs its body reads too)."""
        if record.kind is not TaskKind.ITERATION:
            return None
        parent_path = record.path.rpartition("/")[0]
        return self.by_path.get(parent_path)

    def _skip(self, record: TaskRecord, component: Component, state: RuntimeState, reason: str) -> None:
        """End a task that does not run. The tasks of a group (a condition branch, a nested
        pipeline) are shown too, in the same state; a loop's iterations are not known."""
        record.scheduling[SKIP_REASON] = reason
        self._set(record, state)
        if component.dag is None or record.kind is TaskKind.LOOP:
            return
        children = self.children[record.task_id]
        for task in component.dag.tasks.values():
            child = children.get(task.name)
            if child is None:
                if record.kind is TaskKind.ITERATION:
                    continue
                child = self._new_task(
                    parent=record,
                    name=task.name,
                    display_name=task.display_name,
                    kind=_kind_of(self.pipeline, task),
                )
            elif is_terminal(child) and not wants_rerun(child):
                continue
            else:
                child.scheduling.pop(RERUN, None)
            verb = "skipped" if state is RuntimeState.SKIPPED else "canceled"
            self._skip(
                child, self.pipeline.component(task.component), state, f"group {record.name!r} was {verb}"
            )

    def _start(self, record: TaskRecord, task: Task, component: Component, *, canceling: bool) -> None:
        if component.dag is not None:
            if task.iterator is not None:
                self._start_loop(record, task, canceling=canceling)
            else:
                self._set(record, RuntimeState.RUNNING)
                self._advance_dag(record, component, canceling=canceling)
            return
        assert component.executor is not None
        executor = self.pipeline.executors[component.executor]
        if isinstance(executor, ImporterExecutor):
            self._import(record, executor)
            return
        record.fingerprint = ""
        record.cached_from_task_id = ""
        if task.enable_cache and not self.run_record.disable_cache:
            record.fingerprint = cache_fingerprint(
                record=record, task=task, component=component, executor=executor
            )
        self._launch(record, task, component, executor)

    def _launch(
        self, record: TaskRecord, task: Task, component: Component, executor: ContainerExecutor
    ) -> None:
        assert component.executor is not None
        record.attempt += 1
        record.scheduling.pop(RETRY_AT, None)
        self._touch(record)
        self.plan.launches.append(
            Launch(task=record, spec=task, executor_label=component.executor, executor=executor)
        )

    def _import(self, record: TaskRecord, executor: ImporterExecutor) -> None:
        uri = record.input_parameters.get("uri")
        if not isinstance(uri, str) or not uri:
            self._fail(record, f"importer {record.name!r} has no artifact URI")
            return
        artifact = ArtifactRef(
            artifact_id=task_id_for(self.run_record.run_id, f"{record.path}#{uri}"),
            name="artifact",
            uri=uri,
            schema_title=executor.schema_title,
            schema_version=executor.schema_version,
            metadata=dict(executor.metadata),
        )
        record.output_artifacts = {"artifact": [artifact]}
        self.plan.imported.append(record)
        self._set(record, RuntimeState.SUCCEEDED)

    # --- tasks that are under way -------------------------------------------------------
    def _advance_task(self, record: TaskRecord, task: Task, *, canceling: bool) -> None:
        component = self.pipeline.component(task.component)
        if record.kind is TaskKind.LOOP:
            self._advance_loop(record, task, component, canceling=canceling)
        elif record.kind is TaskKind.DAG:
            self._advance_dag(record, component, canceling=canceling)
        elif record.kind is TaskKind.CONTAINER:
            self._advance_container(record, task, component, canceling=canceling)

    def _advance_container(
        self, record: TaskRecord, task: Task, component: Component, *, canceling: bool
    ) -> None:
        retry_at = record.scheduling.get(RETRY_AT)
        if canceling:
            # Not started yet (queued, or waiting for a retry): it never will. Running: the
            # executor stops it and reports CANCELED, so the task ends when its process has.
            if record.state is RuntimeState.PENDING or isinstance(retry_at, str):
                self._set(record, RuntimeState.CANCELED)
                self.plan.cancels.append(record)
            elif not record.scheduling.get(CANCEL_REQUESTED):
                record.scheduling[CANCEL_REQUESTED] = True
                self._touch(record)
                self.plan.cancels.append(record)
            return
        if isinstance(retry_at, str) and datetime.fromisoformat(retry_at) <= self.now:
            assert component.executor is not None
            executor = self.pipeline.executors[component.executor]
            assert isinstance(executor, ContainerExecutor)
            self._launch(record, task, component, executor)

    # --- loops --------------------------------------------------------------------------
    def _start_loop(self, record: TaskRecord, task: Task, *, canceling: bool) -> None:
        record.kind = TaskKind.LOOP
        try:
            items = loop_items(record, task)
        except ItemsError as error:
            self._fail(record, str(error))
            return
        record.scheduling["item_count"] = len(items)
        record.scheduling["items"] = items
        self._set(record, RuntimeState.RUNNING)
        self._advance_loop(record, task, self.pipeline.component(task.component), canceling=canceling)

    def _advance_loop(self, record: TaskRecord, task: Task, component: Component, *, canceling: bool) -> None:
        assert task.iterator is not None
        items = record.scheduling.get("items")
        assert isinstance(items, list)
        iterations = self.children[record.task_id]
        limit = task.parallelism if task.parallelism > 0 else len(items) or 1
        running = sum(1 for child in iterations.values() if not is_terminal(child) and not wants_rerun(child))
        for index, item in enumerate(items):
            iteration = iterations.get(str(index))
            if iteration is not None and not wants_rerun(iteration):
                if not is_terminal(iteration):
                    self._advance_dag(iteration, component, canceling=canceling)
                    if is_terminal(iteration):
                        running -= 1
                continue
            if canceling:
                iteration = self._iteration(record, index, iteration)
                self._skip(iteration, component, RuntimeState.CANCELED, "the run was terminated")
                continue
            if running >= limit:
                continue
            iteration = self._iteration(record, index, iteration)
            if isinstance(task.iterator, ArtifactIterator):
                iteration.input_artifacts = {task.iterator.item_input: artifacts_from_json(item)}
            else:
                iteration.input_parameters = {task.iterator.item_input: item}
            self._set(iteration, RuntimeState.RUNNING)
            running += 1
            self._advance_dag(iteration, component, canceling=canceling)
            if is_terminal(iteration):
                running -= 1
        if len(iterations) == len(items) and all(is_terminal(child) for child in iterations.values()):
            self._finish_loop(record, component, iterations)

    def _iteration(self, loop: TaskRecord, index: int, existing: TaskRecord | None) -> TaskRecord:
        if existing is not None:
            return self._reuse(existing)
        iteration = self._new_task(
            parent=loop,
            name=str(index),
            display_name=f"{loop.display_name} #{index}",
            kind=TaskKind.ITERATION,
        )
        iteration.iteration_index = index
        return iteration

    def _finish_loop(
        self, record: TaskRecord, component: Component, iterations: dict[str, TaskRecord]
    ) -> None:
        ordered = sorted(iterations.values(), key=lambda child: int(child.name))
        failed = [child for child in ordered if child.state is RuntimeState.FAILED]
        if failed:
            error = failed[0].error or ErrorInfo(message="an iteration failed")
            self._set(record, RuntimeState.FAILED, error=error)
            return
        if any(child.state is RuntimeState.CANCELED for child in ordered):
            self._set(record, RuntimeState.CANCELED)
            return
        assert component.dag is not None
        for name in component.dag.parameter_outputs:
            record.output_parameters[name] = [
                child.output_parameters[name] for child in ordered if name in child.output_parameters
            ]
        for name in component.dag.artifact_outputs:
            record.output_artifacts[name] = [
                artifact for child in ordered for artifact in child.output_artifacts.get(name, [])
            ]
        self._set(record, RuntimeState.SUCCEEDED)


def _kind_of(pipeline: Pipeline, task: Task) -> TaskKind:
    component = pipeline.component(task.component)
    if component.dag is not None:
        return TaskKind.LOOP if task.iterator is not None else TaskKind.DAG
    assert component.executor is not None
    if isinstance(pipeline.executors[component.executor], ImporterExecutor):
        return TaskKind.IMPORTER
    return TaskKind.CONTAINER
