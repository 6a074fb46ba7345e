"""Reading a run's task tree (`run_details.task_details`) in end-to-end tests."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.conftest import load_spec
from tests.fixtures.sluice_server import TERMINAL, RunningSluice

Task = dict[str, Any]


def start_run(
    server: RunningSluice,
    spec: Path | dict[str, Any],
    parameters: dict[str, Any] | None = None,
    *,
    cache: bool = False,
) -> str:
    body = {
        "display_name": spec.stem if isinstance(spec, Path) else "inline",
        "pipeline_spec": load_spec(spec) if isinstance(spec, Path) else spec,
        "runtime_config": {"parameters": parameters or {}},
        "disable_cache": not cache,
    }
    response = httpx.post(f"{server.http_url}/apis/v2beta1/runs", json=body, timeout=30)
    assert response.status_code == 200, response.text
    run_id: str = response.json()["run_id"]
    return run_id


def get_run(server: RunningSluice, run_id: str) -> dict[str, Any]:
    response = httpx.get(f"{server.http_url}/apis/v2beta1/runs/{run_id}", timeout=10)
    assert response.status_code == 200, response.text
    run: dict[str, Any] = response.json()
    return run


def wait_until(condition: Callable[[], bool], *, timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached after {timeout}s")
        time.sleep(0.1)


def when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class RunView:
    """A run's tasks as a tree: loops, iterations and sub-DAGs through `parent_task_id`."""

    def __init__(self, run: dict[str, Any]) -> None:
        self.run = run
        self.state: str = run["state"]
        self.tasks: list[Task] = run.get("run_details", {}).get("task_details", [])
        self.by_id: dict[str, Task] = {task["task_id"]: task for task in self.tasks}

    def named(self, display_name: str) -> list[Task]:
        return [task for task in self.tasks if task["display_name"] == display_name]

    def one(self, display_name: str) -> Task:
        matches = self.named(display_name)
        assert len(matches) == 1, (display_name, [t["display_name"] for t in self.tasks])
        return matches[0]

    def children(self, task: Task) -> list[Task]:
        """Children in order: loop iterations by index, others by creation."""
        ids = [child["task_id"] for child in task.get("child_tasks", [])]
        kids = [self.by_id[child_id] for child_id in ids]
        assert all(kid["parent_task_id"] == task["task_id"] for kid in kids)
        if task.get("kind") == "LOOP":
            kids.sort(key=lambda kid: int(kid["task_name"]))
        return kids

    def child(self, task: Task, display_name: str) -> Task:
        matches = [kid for kid in self.children(task) if kid["display_name"] == display_name]
        assert len(matches) == 1, (display_name, [kid["display_name"] for kid in self.children(task)])
        return matches[0]

    def parent(self, task: Task) -> Task:
        return self.by_id[task["parent_task_id"]]

    def iterations(self, loop_name: str) -> list[Task]:
        loops = self.named(loop_name)
        assert len(loops) == 1, loops
        iterations = self.children(loops[0])
        assert all(iteration["kind"] == "ITERATION" for iteration in iterations)
        return iterations

    def outputs(self, display_name: str, key: str = "Output") -> list[Any]:
        """The outputs of every task with this name, in loop-item order."""
        return [
            task.get("output_parameters", {}).get(key) for task in self._in_order(self.named(display_name))
        ]

    def output(self, display_name: str, key: str = "Output") -> Any:
        return self.one(display_name).get("output_parameters", {}).get(key)

    def states(self, display_name: str) -> list[str]:
        return [task["state"] for task in self._in_order(self.named(display_name))]

    def _in_order(self, tasks: list[Task]) -> list[Task]:
        def position(task: Task) -> tuple[int, ...]:
            indexes: list[int] = []
            current: Task | None = task
            while current is not None:
                if current.get("kind") == "ITERATION":
                    indexes.append(int(current["task_name"]))
                current = self.by_id.get(current.get("parent_task_id", ""))
            return tuple(reversed(indexes))

        return sorted(tasks, key=position)


def run_state(server: RunningSluice, run_id: str) -> str:
    """The run's state, read cheaply: a filtered list carries no task details."""
    predicate = {"key": "run_id", "operation": "EQUALS", "string_value": run_id}
    response = httpx.get(
        f"{server.http_url}/apis/v2beta1/runs",
        params={"filter": json.dumps({"predicates": [predicate]})},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    (run,) = response.json()["runs"]
    state: str = run["state"]
    return state


def finished(server: RunningSluice, run_id: str, *, timeout: float = 90.0) -> RunView:
    """The run once it has ended. Polls the light list view: a wide run's details are
    costly to build, and the server shares its event loop with the engine."""
    wait_until(lambda: run_state(server, run_id) in TERMINAL, timeout=timeout, what=f"run {run_id} ended")
    return RunView(get_run(server, run_id))
