"""The boundary between the public API and the run state machine.

The API layer validates a run and builds its record; the controller owns everything that
follows: storing the run, scheduling its tasks, terminating and retrying it.
"""

from __future__ import annotations

from typing import Protocol

from services.core.store.records import RunRecord


class RunController(Protocol):
    async def start_run(self, run: RunRecord) -> RunRecord:
        """Store a new, validated run and start scheduling it; returns the stored record.

        `run.pipeline_spec` is in the stored form (see `specs.join_pipeline_spec`) and
        `run.parameters` are the resolved runtime parameters. Raises AlreadyExists when
        the run id is taken.
        """
        ...

    async def terminate_run(self, run_id: str) -> None:
        """Cancel a run's active tasks. Raises NotFound; FailedPrecondition when the run
        has finished already."""
        ...

    async def retry_run(self, run_id: str) -> None:
        """Re-run a failed or canceled run from its failed tasks. Raises NotFound;
        FailedPrecondition when the run is not in a retryable state."""
        ...
