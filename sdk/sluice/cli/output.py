"""How the CLI prints results: rich tables for people, `--output json` for scripts.

The JSON is the client's dataclasses with their field names, times in RFC 3339 (UTC, "Z"),
states as their names and a run's `pipeline_spec` left out. Lists print
`{"items": [...], "total_size": N, "next_page_token": "..."}`.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from sluice.client import Experiment, Page, Pipeline, Run, RunState, Task

_LEFT_OUT = frozenset({"pipeline_spec"})

STATE_STYLES: Mapping[RunState, str] = {
    RunState.PENDING: "dim",
    RunState.RUNNING: "yellow",
    RunState.SUCCEEDED: "green",
    RunState.SKIPPED: "dim",
    RunState.FAILED: "bold red",
    RunState.CANCELING: "magenta",
    RunState.CANCELED: "magenta",
    RunState.PAUSED: "cyan",
}

OUTPUT_OPTION = click.option(
    "-o",
    "--output",
    "output",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="table for people, json for scripts.",
)


def to_data(value: Any) -> Any:
    """`value` as plain JSON data."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            field.name: to_data(getattr(value, field.name))
            for field in dataclasses.fields(value)
            if field.name not in _LEFT_OUT
        }
    if isinstance(value, Page):
        return {
            "items": [to_data(item) for item in value.items],
            "total_size": value.total_size,
            "next_page_token": value.next_page_token,
        }
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(key): to_data(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [to_data(item) for item in value]
    return value


def echo_json(value: Any) -> None:
    click.echo(json.dumps(to_data(value), indent=2, sort_keys=True))


def console() -> Console:
    """A console on click's stdout (so tests capture it), as wide as it needs for ids."""
    stream = sys.stdout
    return Console(file=stream, width=None if stream.isatty() else 160, highlight=False)


def state_text(state: RunState) -> Text:
    return Text(state.value, style=STATE_STYLES.get(state, ""))


def when(moment: datetime | None) -> str:
    return "" if moment is None else moment.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def duration(start: datetime | None, end: datetime | None) -> str:
    if start is None:
        return ""
    elapsed = (end or datetime.now(UTC)) - start
    return format_duration(elapsed)


def format_duration(elapsed: timedelta) -> str:
    seconds = max(elapsed.total_seconds(), 0.0)
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, seconds = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{seconds:02d}s" if hours else f"{minutes}m{seconds:02d}s"


def _table(title: str, columns: Sequence[str]) -> Table:
    table = Table(title=title, title_justify="left", header_style="bold")
    for column in columns:
        table.add_column(column, no_wrap=column.endswith("ID"))
    return table


def _print_page(page: Page[Any], table: Table) -> None:
    out = console()
    out.print(table)
    if page.next_page_token:
        # Plain, never wrapped: the token is copied into the next command.
        click.echo(f"{len(page)} of {page.total_size}; next page: --page-token {page.next_page_token}")


def print_runs(page: Page[Run]) -> None:
    table = _table("Runs", ["RUN ID", "NAME", "STATE", "CREATED", "DURATION", "EXPERIMENT ID"])
    for run in page:
        table.add_row(
            run.run_id,
            run.display_name,
            state_text(run.state),
            when(run.created_at),
            duration(run.scheduled_at, run.finished_at),
            run.experiment_id,
        )
    _print_page(page, table)


def print_experiments(page: Page[Experiment]) -> None:
    table = _table("Experiments", ["EXPERIMENT ID", "NAME", "STORAGE", "CREATED", "DESCRIPTION"])
    for experiment in page:
        table.add_row(
            experiment.experiment_id,
            experiment.display_name,
            experiment.storage_state.value,
            when(experiment.created_at),
            experiment.description,
        )
    _print_page(page, table)


def print_pipelines(page: Page[Pipeline]) -> None:
    table = _table("Pipelines", ["PIPELINE ID", "NAME", "CREATED", "DESCRIPTION"])
    for pipeline in page:
        table.add_row(
            pipeline.pipeline_id, pipeline.display_name, when(pipeline.created_at), pipeline.description
        )
    _print_page(page, table)


def _task_note(task: Task) -> str:
    if task.cached:
        return "cached"
    # A DAG's error repeats the error of the task that failed it; of a task's error, the
    # first line (`sluice logs` has the rest).
    if task.error is None or not task.attempts or not task.error.message:
        return ""
    return task.error.message.splitlines()[0]


def print_run(run: Run) -> None:
    out = console()
    out.print(f"[bold]{run.display_name}[/bold]  {run.run_id}")
    out.print(Text.assemble("state: ", state_text(run.state)))
    out.print(f"experiment: {run.experiment_id}")
    out.print(f"created: {when(run.created_at)}  duration: {duration(run.scheduled_at, run.finished_at)}")
    if run.parameters:
        out.print("parameters: " + ", ".join(f"{k}={v!r}" for k, v in sorted(run.parameters.items())))
    if run.outputs:
        out.print("outputs: " + ", ".join(f"{k}={v!r}" for k, v in sorted(run.outputs.items())))
    if run.metrics:
        out.print("metrics: " + ", ".join(f"{k}={v:g}" for k, v in run.metrics.items()))
    if run.error is not None:
        out.print(Text(f"error: {run.error.message}", style="red"))
    table = _table("Tasks", ["TASK ID", "TASK", "KIND", "STATE", "DURATION", "ATTEMPTS", "NOTE"])
    for task in run.tasks:
        table.add_row(
            task.task_id,
            task.display_name or task.name,
            task.kind,
            state_text(task.state),
            duration(task.start_time, task.end_time),
            str(len(task.attempts)) if task.attempts else "",
            _task_note(task),
        )
    out.print(table)


Printer = Callable[[Any], None]


def show(value: Any, *, output: str, printer: Printer) -> None:
    """`value` as JSON or through `printer`."""
    if output == "json":
        echo_json(value)
    else:
        printer(value)
