"""`sluice run`'s view of a run: its task tree with states and a progress bar, redrawn as
the run's events arrive (rich Live on a terminal; one line per task change elsewhere)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from sluice.cli.output import STATE_STYLES, format_duration
from sluice.client import TERMINAL_STATES, Client, EventKind, Run, RunEvent, RunState

_ICONS: Mapping[RunState, str] = {
    RunState.PENDING: "○",
    RunState.RUNNING: "●",
    RunState.SUCCEEDED: "✔",
    RunState.SKIPPED: "↷",
    RunState.FAILED: "✘",
    RunState.CANCELING: "⊘",
    RunState.CANCELED: "⊘",
    RunState.PAUSED: "‖",
}


def work_task_names(spec: Mapping[str, Any]) -> Counter[str]:
    """How many tasks of each name the pipeline runs at least (a loop's body counts once):
    the tasks of every DAG whose component runs something (not a sub-DAG)."""
    spec = spec.get("pipeline_spec", spec)
    components: Mapping[str, Any] = spec.get("components") or {}
    counts: Counter[str] = Counter()

    def walk(dag: Mapping[str, Any], depth: int) -> None:
        for name, task in (dag.get("tasks") or {}).items():
            component = components.get((task.get("componentRef") or {}).get("name", ""), {})
            if "dag" in component and depth < 50:
                walk(component["dag"], depth + 1)
            else:
                counts[name] += 1

    walk((spec.get("root") or {}).get("dag") or {}, 0)
    return counts


@dataclass
class TaskView:
    task_id: str
    name: str
    display_name: str
    parent_task_id: str
    state: RunState
    attempt: int
    cached: bool
    started: datetime | None
    ended: datetime | None
    error: str

    @property
    def is_work(self) -> bool:
        """A task that runs something (containers, importers), not a DAG, loop or branch:
        only those have attempts."""
        return self.attempt > 0 or self.cached


class RunProgress:
    """What a run's events say about it so far. Pure: `apply` events, then render."""

    def __init__(self, run: Run) -> None:
        self.run_id = run.run_id
        self.name = run.display_name
        self.state = run.state
        self.error = ""
        self.started = run.created_at
        self.ended: datetime | None = None
        self.tasks: dict[str, TaskView] = {}
        self._expected = work_task_names(run.pipeline_spec) if run.pipeline_spec else Counter()

    def apply(self, event: RunEvent) -> TaskView | None:
        """Take an event in; the task it changed, if any."""
        if event.kind in (EventKind.RUN_CREATED, EventKind.RUN_STATE_CHANGED):
            self.state = event.state
            if event.state in TERMINAL_STATES:
                self.ended = event.time
                self.error = event.error.message if event.error else ""
            return None
        if event.kind is not EventKind.TASK_STATE_CHANGED:
            return None
        task = self.tasks.get(event.task_id)
        if task is None:
            task = TaskView(
                task_id=event.task_id,
                name=event.task_name,
                display_name=event.display_name or event.task_name,
                parent_task_id=event.parent_task_id,
                state=event.state,
                attempt=event.attempt,
                cached=event.cached,
                started=None,
                ended=None,
                error="",
            )
            self.tasks[event.task_id] = task
        task.state, task.attempt, task.cached = event.state, max(task.attempt, event.attempt), event.cached
        if event.state is RunState.RUNNING:
            task.started, task.ended, task.error = event.time, None, ""
        elif event.state in TERMINAL_STATES:
            task.ended = event.time
            task.error = event.error.message if event.error else ""
        return task

    @property
    def total(self) -> int:
        """The tasks the run is expected to run, learning about loop iterations as they come."""
        seen = Counter(task.name for task in self.tasks.values() if task.is_work)
        names = set(seen) | set(self._expected)
        return sum(max(seen[name], self._expected[name]) for name in names)

    @property
    def done(self) -> int:
        return sum(1 for task in self.tasks.values() if task.is_work and task.state in TERMINAL_STATES)

    def describe(self, task: TaskView) -> str | None:
        """One line for a change of a task that runs something; None for the others."""
        if not task.is_work:
            return None
        note = " (cached)" if task.cached else ""
        if task.state is RunState.FAILED and task.error:
            note += f" - {task.error}"
        elif task.attempt > 1 and task.state is RunState.RUNNING:
            note += f" (attempt {task.attempt})"
        return f"  {task.display_name}: {task.state.value}{note}"

    def _label(self, task: TaskView, now: datetime) -> Text:
        style = STATE_STYLES.get(task.state, "")
        label = Text.assemble((_ICONS.get(task.state, "?") + " ", style), task.display_name)
        if task.name == "root" and not task.parent_task_id:
            label = Text.assemble((_ICONS.get(task.state, "?") + " ", style), (self.name, "bold"))
        details = [task.state.value.lower()]
        if task.started is not None:
            details.append(format_duration((task.ended or now) - task.started))
        if task.cached:
            details.append("cached")
        if task.attempt > 1:
            details.append(f"attempt {task.attempt}")
        label.append("  " + " · ".join(details), style=style or "dim")
        if task.error and task.state is RunState.FAILED:
            label.append(f"  {task.error}", style="red")
        return label

    def tree(self, now: datetime | None = None) -> Tree:
        now = now or datetime.now(UTC)
        children: dict[str, list[TaskView]] = {}
        for task in self.tasks.values():
            children.setdefault(task.parent_task_id, []).append(task)
        tree = Tree(Text.assemble((self.name, "bold"), f"  {self.run_id}"), guide_style="dim")

        def add(branch: Tree, parent_id: str, depth: int) -> None:
            for task in children.get(parent_id, []):
                if task.name == "root" and not task.parent_task_id:
                    # The pipeline itself is the tree's top.
                    add(branch, task.task_id, depth)
                    continue
                node = branch.add(self._label(task, now))
                if depth < 50:
                    add(node, task.task_id, depth + 1)

        add(tree, "", 0)
        return tree

    def status_line(self, now: datetime | None = None) -> Table:
        now = now or datetime.now(UTC)
        total = max(self.total, self.done, 1)
        grid = Table.grid(padding=(0, 1))
        grid.add_row(
            ProgressBar(total=total, completed=self.done, width=30),
            Text(f"{self.done}/{self.total} tasks", style="bold"),
            Text(self.state.value, style=STATE_STYLES.get(self.state, "")),
            Text(format_duration((self.ended or now) - self.started) if self.started else ""),
        )
        return grid

    def __rich__(self) -> RenderableType:
        now = datetime.now(UTC)
        parts: list[RenderableType] = [self.tree(now), self.status_line(now)]
        if self.error:
            parts.append(Text(f"error: {self.error}", style="red"))
        return Group(*parts)


def follow(client: Client, run: Run, *, console: Console, timeout: float | None) -> Run:
    """Show the run's progress until it finishes; the finished run.

    Raises:
        DeadlineExceeded: it did not finish within `timeout` seconds.
    """
    progress = RunProgress(run)
    events = client.watch_sync(run.run_id, timeout=timeout)
    if console.is_terminal:
        with Live(progress, console=console, refresh_per_second=8) as live:
            for event in events:
                progress.apply(event)
                live.refresh()
    else:
        for event in events:
            task = progress.apply(event)
            line = progress.describe(task) if task is not None else None
            if line is not None:
                console.print(line, markup=False, highlight=False)
    return client.wait(run.run_id, timeout=timeout)
