"""Task state helpers shared by the engine's rules."""

from __future__ import annotations

from datetime import datetime

from services.core.store.records import (
    TERMINAL_STATES,
    ErrorInfo,
    RuntimeState,
    StateChange,
    TaskRecord,
)

ENDED_ATTEMPT_STATES: frozenset[RuntimeState] = frozenset(
    {RuntimeState.SUCCEEDED, RuntimeState.FAILED, RuntimeState.CANCELED}
)
"""States of an attempt whose outcome is stored: reports about it change nothing more."""


def is_success(task: TaskRecord) -> bool:
    """Succeeded, or skipped because its outputs came from the cache."""
    return task.state is RuntimeState.SUCCEEDED or (
        task.state is RuntimeState.SKIPPED and bool(task.cached_from_task_id)
    )


def is_terminal(task: TaskRecord) -> bool:
    return task.state in TERMINAL_STATES


def not_triggered(task: TaskRecord) -> bool:
    """Skipped by a condition or an upstream that did not run (not a cache hit)."""
    return task.state is RuntimeState.SKIPPED and not task.cached_from_task_id


def transition(
    task: TaskRecord, state: RuntimeState, now: datetime, *, error: ErrorInfo | None = None
) -> None:
    """Move a task to `state`, keeping its history and times consistent."""
    if task.state is state and error is None:
        return
    task.state = state
    task.state_history.append(StateChange(state=state, time=now, error=error))
    if error is not None:
        task.error = error
    if state is RuntimeState.RUNNING and task.start_time is None:
        task.start_time = now
    if state in TERMINAL_STATES:
        task.end_time = now
        if task.start_time is None:
            task.start_time = now


# Keys of `TaskRecord.scheduling`, the engine's bookkeeping on a task.
RETRY_AT = "retry_at"
"""ISO time when a failed attempt's retry is due (the task stays RUNNING until then)."""
SKIP_REASON = "skip_reason"
"""Why a task was skipped or canceled without running."""
CANCEL_REQUESTED = "cancel_requested"
"""The run is canceling and the executor was asked to stop this task's attempt."""
RERUN = "rerun"
"""Reset by a retry of the run: the task is decided again as if it were new."""
ATTEMPT_BASE = "attempt_base"
"""The attempt number before a retry of the run; retry policies count failures after it."""


def wants_rerun(task: TaskRecord) -> bool:
    return bool(task.scheduling.get(RERUN))
