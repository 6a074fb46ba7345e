"""Apply what an executor reported about one attempt to the task's record."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from services.core.pipeline.model import JsonValue, RetryPolicy
from services.core.store.records import (
    ArtifactRef,
    AttemptRecord,
    ErrorInfo,
    RuntimeState,
    TaskRecord,
)
from services.scheduler.engine.states import (
    ATTEMPT_BASE,
    ENDED_ATTEMPT_STATES,
    RETRY_AT,
    is_terminal,
    transition,
)


@dataclass(frozen=True)
class AttemptReport:
    task_id: str
    attempt: int
    state: RuntimeState
    time: datetime
    output_parameters: dict[str, JsonValue] = field(default_factory=dict)
    output_artifacts: dict[str, list[ArtifactRef]] = field(default_factory=dict)
    error: ErrorInfo | None = None
    log_uri: str = ""
    exit_code: int | None = None
    executor_id: str = ""
    pod_name: str = ""


def retry_delay(policy: RetryPolicy, failures: int) -> float:
    """Backoff before the attempt after `failures` failed ones (KFP's exponential backoff)."""
    delay = policy.backoff_seconds * (policy.backoff_factor ** max(failures - 1, 0))
    return min(delay, policy.backoff_max_seconds)


def apply_report(
    task: TaskRecord, report: AttemptReport, *, retry: RetryPolicy | None, canceling: bool
) -> bool:
    """Update `task` from `report`; False when the report is stale (an old attempt, or a
    task already final) and nothing changed — so redelivered reports are harmless."""
    if report.attempt != task.attempt or is_terminal(task):
        return False
    attempt = _attempt_record(task, report.attempt)
    if report.state is RuntimeState.RUNNING:
        if attempt.state is not RuntimeState.PENDING:
            return False
        attempt.state = RuntimeState.RUNNING
        attempt.start_time = report.time
        attempt.executor_id = report.executor_id
        # Where the log will be, so that it can be followed while the attempt runs.
        attempt.log_uri = report.log_uri or attempt.log_uri
        task.log_uri = attempt.log_uri or task.log_uri
        task.pod_name = report.pod_name or task.pod_name
        transition(task, RuntimeState.RUNNING, report.time)
        return True
    if attempt.state in ENDED_ATTEMPT_STATES:
        return False
    attempt.state = report.state
    attempt.start_time = attempt.start_time or report.time
    attempt.end_time = report.time
    attempt.error = report.error
    attempt.log_uri = report.log_uri or attempt.log_uri
    attempt.exit_code = report.exit_code
    task.log_uri = attempt.log_uri or task.log_uri
    # The executor learns the pod's name only once it has created it, after RUNNING.
    task.pod_name = report.pod_name or task.pod_name
    if report.state is RuntimeState.SUCCEEDED:
        task.output_parameters = dict(report.output_parameters)
        task.output_artifacts = dict(report.output_artifacts)
        transition(task, RuntimeState.SUCCEEDED, report.time)
        return True
    if report.state is RuntimeState.FAILED and not canceling and retry is not None:
        # Failures before a retry of the whole run do not use up this run's retries.
        base = task.scheduling.get(ATTEMPT_BASE, 0)
        first = base if isinstance(base, int) else 0
        failures = sum(1 for a in task.attempts if a.state is RuntimeState.FAILED and a.attempt > first)
        if failures <= retry.max_retry_count:
            due = report.time + timedelta(seconds=retry_delay(retry, failures))
            task.scheduling[RETRY_AT] = due.isoformat()
            task.error = report.error
            return True
    final = RuntimeState.CANCELED if report.state is RuntimeState.CANCELED else RuntimeState.FAILED
    transition(task, final, report.time, error=report.error)
    return True


def _attempt_record(task: TaskRecord, number: int) -> AttemptRecord:
    for attempt in task.attempts:
        if attempt.attempt == number:
            return attempt
    attempt = AttemptRecord(attempt=number, state=RuntimeState.PENDING)
    task.attempts.append(attempt)
    return attempt
