"""Retrying a finished run from where it failed.

Succeeded tasks keep their records and outputs and do not run again. Every other task
(failed, canceled, skipped) is reset and decided again by the engine as if it were new,
and so is anything downstream of a reset task in the same DAG, even if it succeeded
(an exit handler read the group's old final status). Records are reset rather than
deleted so that attempt numbers keep counting: an attempt is named by its number in
dispatch and result messages, and a number must never be reused.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from services.core.pipeline.model import Component, Pipeline, Task
from services.core.store.records import RunRecord, RuntimeState, StateChange, TaskKind, TaskRecord
from services.scheduler.engine.inputs import upstream_tasks
from services.scheduler.engine.states import (
    ATTEMPT_BASE,
    CANCEL_REQUESTED,
    RERUN,
    RETRY_AT,
    SKIP_REASON,
    is_success,
)

RETRYABLE_STATES = frozenset({RuntimeState.FAILED, RuntimeState.CANCELED})


def reset_for_retry(
    pipeline: Pipeline, run: RunRecord, tasks: Sequence[TaskRecord], now: datetime
) -> list[TaskRecord]:
    """Reset `run` (in RETRYABLE_STATES) to RUNNING and mark the tasks to run again;
    returns the task records that changed."""
    assert run.state in RETRYABLE_STATES, run.state
    return _Reset(pipeline, tasks, now).run(run)


class _Reset:
    def __init__(self, pipeline: Pipeline, tasks: Sequence[TaskRecord], now: datetime) -> None:
        self.pipeline = pipeline
        self.now = now
        self.children: defaultdict[str, dict[str, TaskRecord]] = defaultdict(dict)
        self.root: TaskRecord | None = None
        for task in tasks:
            if task.parent_task_id:
                self.children[task.parent_task_id][task.name] = task
            else:
                self.root = task
        self.changed: list[TaskRecord] = []

    def run(self, run: RunRecord) -> list[TaskRecord]:
        run.state = RuntimeState.RUNNING
        run.error = None
        run.finished_at = None
        run.state_history.append(StateChange(state=RuntimeState.RUNNING, time=self.now))
        if self.root is not None and not is_success(self.root):
            self._reset(self.root)
            self._dag(self.root, self.pipeline.root, forced=False)
        return self.changed

    def _reset(self, record: TaskRecord) -> None:
        record.state = RuntimeState.PENDING
        record.state_history.append(StateChange(state=RuntimeState.PENDING, time=self.now))
        record.error = None
        record.start_time = None
        record.end_time = None
        record.output_parameters = {}
        record.output_artifacts = {}
        record.cached_from_task_id = ""
        for key in (RETRY_AT, SKIP_REASON, CANCEL_REQUESTED):
            record.scheduling.pop(key, None)
        record.scheduling[RERUN] = True
        record.scheduling[ATTEMPT_BASE] = record.attempt
        self.changed.append(record)

    def _dag(self, record: TaskRecord, component: Component, *, forced: bool) -> None:
        """`record` runs again: which of its children do too. `forced`: all of them."""
        assert component.dag is not None
        tasks = component.dag.tasks
        kids = self.children[record.task_id]
        again = {name for name, kid in kids.items() if forced or not is_success(kid)}
        grew = True
        while grew:
            grew = False
            for name in kids.keys() - again:
                spec = tasks.get(name)
                if spec is not None and upstream_tasks(spec) & again:
                    again.add(name)
                    grew = True
        for name in sorted(again):
            kid = kids[name]
            spec = tasks.get(name)
            kid_forced = forced or is_success(kid)
            self._reset(kid)
            if spec is not None:
                self._task(kid, spec, forced=kid_forced)

    def _task(self, record: TaskRecord, spec: Task, *, forced: bool) -> None:
        component = self.pipeline.component(spec.component)
        if component.dag is None:
            return
        if record.kind is not TaskKind.LOOP:
            self._dag(record, component, forced=forced)
            return
        for iteration in self.children[record.task_id].values():
            if forced or not is_success(iteration):
                self._reset(iteration)
                self._dag(iteration, component, forced=forced)
