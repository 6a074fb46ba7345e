"""`sluice run`'s live view: what the events make of the run, and how it draws it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from rich.console import Console
from sluice.cli.live import RunProgress, work_task_names
from sluice.client import EventKind, Run, RunEvent, RunState, StorageState
from sluice.client.models import ErrorInfo
from sluice.compiler import compile_pipeline

from tests.samples.parity_pipeline import parity

START = datetime(2026, 1, 1, tzinfo=UTC)


def make_run(spec: dict[str, object]) -> Run:
    return Run(
        run_id="run-1",
        experiment_id="",
        display_name="parity",
        description="",
        state=RunState.PENDING,
        storage_state=StorageState.AVAILABLE,
        error=None,
        created_at=START,
        scheduled_at=None,
        finished_at=None,
        parameters={},
        pipeline_root="",
        pipeline_version_reference=None,
        recurring_run_id="",
        disable_cache=False,
        metrics={},
        tasks=(),
        pipeline_spec=spec,
    )


def event(
    kind: EventKind,
    state: RunState,
    *,
    second: float,
    task: tuple[str, str, str] = ("", "", ""),
    attempt: int = 0,
    cached: bool = False,
    error: str = "",
) -> RunEvent:
    task_id, name, parent = task
    return RunEvent(
        kind=kind,
        run_id="run-1",
        task_id=task_id,
        task_name=name,
        display_name=name,
        parent_task_id=parent,
        state=state,
        attempt=attempt,
        time=START + timedelta(seconds=second),
        error=ErrorInfo(1, error) if error else None,
        output_parameters={},
        sequence=int(second * 10),
        experiment_id="",
        cached=cached,
    )


TASK = EventKind.TASK_STATE_CHANGED


def test_the_expected_tasks_come_from_the_spec_with_a_loop_body_once() -> None:
    assert work_task_names(compile_pipeline(parity)) == {
        "make-numbers": 1,
        "scale": 1,
        "power": 1,
        "add-all": 1,
        "describe": 1,
    }


def test_progress_follows_the_events_and_learns_loop_iterations() -> None:
    progress = RunProgress(make_run(compile_pipeline(parity)))
    assert (progress.done, progress.total) == (0, 5)

    progress.apply(event(EventKind.RUN_STATE_CHANGED, RunState.RUNNING, second=0))
    progress.apply(event(TASK, RunState.RUNNING, second=0, task=("r", "root", "")))
    progress.apply(event(TASK, RunState.RUNNING, second=0.1, task=("m", "make-numbers", "r"), attempt=1))
    progress.apply(event(TASK, RunState.SUCCEEDED, second=1.1, task=("m", "make-numbers", "r"), attempt=1))
    progress.apply(event(TASK, RunState.RUNNING, second=1.2, task=("l", "for-loop-1", "r")))
    for index in range(3):
        progress.apply(event(TASK, RunState.RUNNING, second=1.3, task=(f"i{index}", str(index), "l")))
        progress.apply(
            event(TASK, RunState.PENDING, second=1.3, task=(f"p{index}", "power", f"i{index}"), attempt=1)
        )
    progress.apply(
        event(TASK, RunState.SUCCEEDED, second=2, task=("p0", "power", "i0"), attempt=1, cached=True)
    )
    failed = progress.apply(
        event(TASK, RunState.FAILED, second=2.5, task=("p1", "power", "i1"), attempt=1, error="bad power")
    )

    assert (progress.done, progress.total) == (3, 7)
    assert failed is not None
    assert progress.describe(failed) == "  power: FAILED - bad power"
    loop = progress.tasks["l"]
    assert progress.describe(loop) is None

    progress.apply(event(EventKind.RUN_STATE_CHANGED, RunState.FAILED, second=3, error="power failed"))
    console = Console(record=True, width=100, color_system=None)
    console.print(progress)
    text = console.export_text()

    assert "parity  run-1" in text
    assert "✔ make-numbers  succeeded · 1.0s" in text
    assert "✔ power  succeeded · cached" in text
    assert "✘ power  failed  bad power" in text
    assert "3/7 tasks" in text
    assert "FAILED" in text
    assert "error: power failed" in text
    # The loop's iterations hang under the loop, their tasks under the iterations.
    lines = text.splitlines()
    loop_line = next(i for i, line in enumerate(lines) if "for-loop-1" in line)
    assert "0  running" in lines[loop_line + 1]
    assert "power" in lines[loop_line + 2]
