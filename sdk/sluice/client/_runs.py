"""Runs: start (from a file, a function or a stored version), get, list, act on, wait for,
watch, and read the logs of their tasks."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

from sluice.client import _convert, _rpc, errors
from sluice.client._base import list_request
from sluice.client._experiments import ExperimentsApi
from sluice.client._packages import PipelineSource, load_package
from sluice.client._pipelines import PipelinesApi
from sluice.client.filters import FilterValue
from sluice.client.models import Experiment, Page, Pipeline, PipelineVersion, Run, RunEvent, Task

RunSource = PipelineSource | Pipeline | PipelineVersion
"""What a run can start from: a pipeline function, a compiled package (file or data), a
stored pipeline version, or a stored pipeline (its latest version)."""

_RECONNECTS = 5
"""Attempts to resume a watch whose stream broke off before the run finished."""


_QUIET_SECONDS = 10.0
"""How long a watch waits for an event before it reads the run to see whether it finished."""

_TASK_POLL_SECONDS = 0.5
"""How often `stream_task_log(follow=True)` looks for a task the run has not made yet."""


def _backoff(attempt: int) -> float:
    return float(min(0.2 * 2**attempt, 3.0))


class _Deadline:
    """An optional overall deadline, cut into windows of at most `_QUIET_SECONDS`."""

    def __init__(self, timeout: float | None) -> None:
        self._timeout = timeout
        self._end = None if timeout is None else time.monotonic() + timeout

    def remaining(self) -> float | None:
        return None if self._end is None else max(self._end - time.monotonic(), 0.0)

    def check(self, run_id: str) -> None:
        """Raises DeadlineExceeded once the deadline has passed."""
        remaining = self.remaining()
        if remaining is not None and remaining <= 0:
            raise errors.DeadlineExceeded(f"run {run_id} did not finish within {self._timeout} s")

    def window(self, run_id: str) -> float:
        """How long the next stream may last. Raises DeadlineExceeded once past the deadline."""
        self.check(run_id)
        remaining = self.remaining()
        return _QUIET_SECONDS if remaining is None else min(remaining, _QUIET_SECONDS)


class RunsApi(ExperimentsApi, PipelinesApi):
    def _source(self, pipeline: RunSource, *, enable_caching: bool | None) -> tuple[dict[str, Any], str]:
        """The source fields of a run or recurring run, and the pipeline's name."""
        if isinstance(pipeline, Pipeline):
            pipeline = self._latest_version(pipeline.pipeline_id)
        if isinstance(pipeline, PipelineVersion):
            reference = {
                "pipeline_id": pipeline.pipeline_id,
                "pipeline_version_id": pipeline.pipeline_version_id,
            }
            return {"pipeline_version_reference": reference}, pipeline.display_name or pipeline.name
        package = load_package(pipeline)
        if enable_caching is not None:
            package = package.with_caching(enable_caching)
        return {"pipeline_spec": package.run_spec()}, package.name

    def run_pipeline(
        self,
        pipeline: RunSource,
        arguments: Mapping[str, Any] | None = None,
        *,
        experiment: str | Experiment | None = None,
        experiment_id: str | None = None,
        run_name: str | None = None,
        description: str = "",
        enable_caching: bool | None = None,
        pipeline_root: str | None = None,
        service_account: str = "",
    ) -> Run:
        """Start a run and return it (as created: PENDING). `wait` or `watch` it next.

        Args:
            pipeline: a `@dsl.pipeline` function (Sluice, or kfp: compiled by kfp's own
                compiler), a component, a compiled package file, a PipelineSpec, or a
                stored `Pipeline` (its latest version) or `PipelineVersion`.
            arguments: the pipeline's parameters.
            experiment: an experiment, or its name (created when missing); the default
                experiment when neither this nor `experiment_id` is given.
            run_name: the run's display name [default: the pipeline's name].
            enable_caching: True or False to switch caching on or off for every task;
                None keeps what the pipeline says. False also disables the cache for the
                whole run (Sluice).
            pipeline_root: where the run's artifacts go [default: the server's].

        Raises:
            InvalidArgument: the pipeline does not compile or the arguments do not fit it.
            NotFound: a stored pipeline, version or experiment id does not exist.
        """
        source, name = self._source(pipeline, enable_caching=enable_caching)
        config: dict[str, Any] = {"parameters": dict(arguments or {})}
        if pipeline_root:
            config["pipeline_root"] = pipeline_root
        run = {
            **source,
            "display_name": run_name or name,
            "description": description,
            "runtime_config": config,
            "service_account": service_account,
            "disable_cache": enable_caching is False,
            "experiment_id": self._experiment_id(experiment, experiment_id),
        }
        return _convert.run(self._call(_rpc.CREATE_RUN, {"run": run}))

    def get_run(self, run_id: str) -> Run:
        """The run with its tasks. Raises NotFound."""
        return _convert.run(self._call(_rpc.GET_RUN, {"run_id": run_id}))

    def list_runs(
        self,
        *,
        experiment_id: str = "",
        page_size: int = 0,
        page_token: str = "",
        sort_by: str = "",
        namespace: str = "",
        filter: str | None = None,
        **filters: FilterValue,
    ) -> Page[Run]:
        """A page of runs (without their tasks' details); `filters` as in
        `sluice.client.filters`, e.g. `state="FAILED"`, `display_name__contains="train"`,
        `created_at__gte=datetime(...)`, `storage_state="AVAILABLE"`."""
        request = list_request(
            page_size=page_size,
            page_token=page_token,
            sort_by=sort_by,
            filter=filter,
            filters=filters,
            namespace=namespace,
            experiment_id=experiment_id,
        )
        return _convert.page(self._call(_rpc.LIST_RUNS, request), "runs", _convert.run)

    def terminate_run(self, run_id: str) -> None:
        """Cancel a run: its running tasks are stopped. Raises NotFound, FailedPrecondition."""
        self._call(_rpc.TERMINATE_RUN, {"run_id": run_id})

    def retry_run(self, run_id: str) -> None:
        """Run a failed or canceled run again from its failed tasks (the rest are kept).

        Raises NotFound, FailedPrecondition (the run is not failed or canceled)."""
        self._call(_rpc.RETRY_RUN, {"run_id": run_id})

    def archive_run(self, run_id: str) -> None:
        self._call(_rpc.ARCHIVE_RUN, {"run_id": run_id})

    def unarchive_run(self, run_id: str) -> None:
        self._call(_rpc.UNARCHIVE_RUN, {"run_id": run_id})

    def delete_run(self, run_id: str) -> None:
        self._call(_rpc.DELETE_RUN, {"run_id": run_id})

    # --- following a run -------------------------------------------------------------------
    #
    # Events drive everything; the run itself is read when the stream is quiet for a while,
    # so that a stalled or lost event feed can delay the end of a watch but never hang it.

    def _has_finished(self, run_id: str) -> bool:
        return self.get_run(run_id).finished

    def watch_sync(
        self, run_id: str, *, after_sequence: int = 0, timeout: float | None = None
    ) -> Iterator[RunEvent]:
        """The run's events, from the start (or after `after_sequence`), live, ending after
        the event that finishes the run. A broken stream is resumed where it stopped.

        Raises:
            NotFound: no such run.
            DeadlineExceeded: the run did not finish within `timeout` seconds.
            Unavailable: the stream could not be resumed.
        """
        deadline = _Deadline(timeout)
        last = after_sequence
        failures = 0
        while True:
            window = deadline.window(run_id)
            try:
                with contextlib.closing(
                    self._transport.events(run_id, after_sequence=last, timeout=window)
                ) as stream:
                    for data in stream:
                        event = _convert.run_event(data)
                        last, failures = max(last, event.sequence), 0
                        yield event
                        if event.finishes_run:
                            return
                problem: errors.SluiceError = errors.Unavailable(
                    f"the event stream of run {run_id} ended before the run finished"
                )
            except errors.DeadlineExceeded:
                deadline.check(run_id)
                if self._has_finished(run_id):
                    return
                continue
            except errors.Unavailable as error:
                problem = error
            failures += 1
            if failures > _RECONNECTS:
                raise problem
            time.sleep(_backoff(failures))

    async def watch(self, run_id: str, *, after_sequence: int = 0) -> AsyncIterator[RunEvent]:
        """`watch_sync` for asyncio code (and notebooks); bound it with `asyncio.timeout`.

        Example::

            async for event in client.watch(run.run_id):
                print(event.display_name, event.state)
        """
        deadline = _Deadline(None)
        last = after_sequence
        failures = 0
        while True:
            window = deadline.window(run_id)
            try:
                stream = self._transport.aevents(run_id, after_sequence=last, window=window)
                async with contextlib.aclosing(stream):
                    async for data in stream:
                        event = _convert.run_event(data)
                        last, failures = max(last, event.sequence), 0
                        yield event
                        if event.finishes_run:
                            return
                problem: errors.SluiceError = errors.Unavailable(
                    f"the event stream of run {run_id} ended before the run finished"
                )
            except errors.DeadlineExceeded:
                deadline.check(run_id)
                if await asyncio.to_thread(self._has_finished, run_id):
                    return
                continue
            except errors.Unavailable as error:
                problem = error
            failures += 1
            if failures > _RECONNECTS:
                raise problem
            await asyncio.sleep(_backoff(failures))

    def wait(self, run_id: str, timeout: float | None = None) -> Run:
        """Block until the run finishes (SUCCEEDED, FAILED, CANCELED or SKIPPED); the final run.

        Follows the run's events rather than polling. A run retried meanwhile is waited for
        until its retry finishes.

        Raises:
            DeadlineExceeded: `timeout` seconds passed first (the run goes on).
            NotFound: no such run.
        """
        deadline = _Deadline(timeout)
        run = self.get_run(run_id)
        last = 0
        while not run.finished:
            try:
                for event in self.watch_sync(run_id, after_sequence=last, timeout=deadline.remaining()):
                    last = event.sequence
            except errors.DeadlineExceeded:
                raise errors.DeadlineExceeded(
                    f"run {run_id} did not finish within {timeout} s; it is {self.get_run(run_id).state}"
                ) from None
            # The stream ends at the run's first finishing event: a retried run goes on.
            run = self.get_run(run_id)
        return run

    # --- task logs ----------------------------------------------------------------------

    def _task(self, run_id: str, task: str) -> Task:
        try:
            return self.get_run(run_id).task(task)
        except KeyError as error:
            raise errors.NotFound(str(error.args[0])) from None

    def stream_task_log(
        self, run_id: str, task: str, *, attempt: int | None = None, follow: bool = False
    ) -> Iterator[bytes]:
        """The log of a task (its id, name or display name): the latest attempt's, or
        `attempt`'s. As stored, or with `follow` as it is written, until the attempt (with no
        `attempt`: the task, through its retries) ends; following waits for a task the run
        has not started yet. Raises NotFound (no such task or attempt, or no log yet when
        not following)."""
        found = self._task_once_started(run_id, task) if follow else self._task(run_id, task)
        return self._transport.task_log(run_id=run_id, task_id=found.task_id, attempt=attempt, follow=follow)

    def _task_once_started(self, run_id: str, task: str) -> Task:
        """The task once the run has made it: NotFound when the run ends without it."""
        while True:
            run = self.get_run(run_id)
            made = any(task in (t.task_id, t.name, t.display_name) for t in run.tasks)
            if made or run.finished:
                try:
                    return run.task(task)
                except KeyError as error:
                    raise errors.NotFound(str(error.args[0])) from None
            time.sleep(_TASK_POLL_SECONDS)

    def read_task_log(self, run_id: str, task: str, *, attempt: int | None = None) -> str:
        """`stream_task_log` as text."""
        return b"".join(self.stream_task_log(run_id, task, attempt=attempt)).decode("utf-8", errors="replace")
