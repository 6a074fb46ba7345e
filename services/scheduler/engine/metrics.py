"""A run's scalar metrics, for run lists: the numbers its tasks logged in Metrics artifacts
(`system.Metrics`), cache hits included — a cached task carries the artifacts it reused."""

from __future__ import annotations

from collections.abc import Iterable

from services.core.store.records import RuntimeState, TaskRecord

METRICS_SCHEMA = "system.Metrics"


def run_metrics(tasks: Iterable[TaskRecord]) -> dict[str, float]:
    """Name → value over the finished tasks in creation order (then path): a name logged by
    several tasks keeps the first task's value. Booleans and non-numbers are left out."""
    done = (t for t in tasks if t.state in (RuntimeState.SUCCEEDED, RuntimeState.SKIPPED))
    metrics: dict[str, float] = {}
    for task in sorted(done, key=lambda t: (t.create_time, t.path)):
        for key in sorted(task.output_artifacts):
            for artifact in task.output_artifacts[key]:
                if artifact.schema_title != METRICS_SCHEMA:
                    continue
                for name, value in artifact.metadata.items():
                    if isinstance(value, int | float) and not isinstance(value, bool):
                        metrics.setdefault(name, float(value))
    return metrics
