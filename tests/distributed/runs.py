"""Starting runs through the gateway's HTTP API, waiting for them, and reading what
happened: the task records in MongoDB and the traces the tasks left (`pipelines.step`)."""

from __future__ import annotations

import asyncio
import json
import time
from collections import defaultdict
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from services.core.events import NatsBus
from services.core.events.subjects import run_events_subject
from services.core.store.factory import open_store
from services.core.store.records import ArtifactRecord, TaskKind, TaskRecord
from tests.distributed.cluster import Cluster

TERMINAL = frozenset({"SUCCEEDED", "FAILED", "CANCELED", "SKIPPED"})
Run = dict[str, Any]


def submit(cluster: Cluster, path: Path, parameters: dict[str, Any]) -> str:
    """Start a run of the compiled pipeline at `path` (caching off)."""
    body = {
        "display_name": path.stem,
        "pipeline_spec": yaml.safe_load(path.read_text()),
        "runtime_config": {"parameters": parameters},
        "disable_cache": True,
    }
    response = httpx.post(f"{cluster.http_url}/apis/v2beta1/runs", json=body, timeout=30)
    assert response.status_code == 200, response.text
    run_id: str = response.json()["run_id"]
    return run_id


def submit_all(cluster: Cluster, path: Path, parameter_sets: list[dict[str, Any]]) -> list[str]:
    """Start a run for each parameter set, several requests at once; ids in the same order."""
    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(lambda parameters: submit(cluster, path, parameters), parameter_sets))


def get_run(cluster: Cluster, run_id: str) -> Run | None:
    """The run, or None while the API cannot answer (a scheduler restarting)."""
    try:
        response = httpx.get(f"{cluster.http_url}/apis/v2beta1/runs/{run_id}", timeout=10)
    except httpx.HTTPError:
        return None
    if response.status_code >= 500:
        return None
    assert response.status_code == 200, response.text
    run: Run = response.json()
    return run


def wait_for_runs(cluster: Cluster, run_ids: Iterable[str], *, timeout: float) -> dict[str, Run]:
    """Poll until every run is terminal; the runs by id. Fails with the services' logs."""
    pending = list(run_ids)
    done: dict[str, Run] = {}
    deadline = time.monotonic() + timeout
    while pending:
        for run_id in list(pending):
            run = get_run(cluster, run_id)
            if run is not None and run.get("state") in TERMINAL:
                done[run_id] = run
                pending.remove(run_id)
        if not pending:
            break
        if time.monotonic() > deadline:
            states = {run_id: (get_run(cluster, run_id) or {}).get("state") for run_id in pending}
            raise AssertionError(f"runs not finished after {timeout}s: {states}\n{cluster.logs()}")
        time.sleep(0.2)
    return done


def outputs_by_task(run: Run) -> dict[str, Any]:
    """Each task's display name → its output parameters."""
    return {
        task["display_name"]: task.get("output_parameters") for task in run["run_details"]["task_details"]
    }


def assert_succeeded(cluster: Cluster, runs: dict[str, Run]) -> None:
    failed = {run_id: (run["state"], run.get("error")) for run_id, run in runs.items()}
    failed = {run_id: state for run_id, state in failed.items() if state[0] != "SUCCEEDED"}
    assert not failed, f"runs did not succeed: {failed}\n{cluster.logs()}"


def container_tasks(cluster: Cluster, run_ids: Iterable[str]) -> list[TaskRecord]:
    """The container task records of these runs, read from the store itself."""

    async def read() -> list[TaskRecord]:
        store = open_store(cluster.store_url)
        await store.start()
        try:
            found: list[TaskRecord] = []
            for run_id in run_ids:
                found += [t for t in await store.list_tasks(run_id) if t.kind is TaskKind.CONTAINER]
            return found
        finally:
            await store.aclose()

    return asyncio.run(read())


def artifact_records(cluster: Cluster, run_id: str) -> list[ArtifactRecord]:
    """The artifact records of a run, read from the store itself."""

    async def read() -> list[ArtifactRecord]:
        store = open_store(cluster.store_url)
        await store.start()
        try:
            return list((await store.list_artifacts(run_id=run_id)).items)
        finally:
            await store.aclose()

    return asyncio.run(read())


@dataclass(frozen=True)
class Execution:
    """One process that ran one attempt of a `pipelines.step` task."""

    key: str
    """``<run_id>.<task_id>.<attempt>``."""
    executor: str
    pid: int
    start: float
    end: float | None


@dataclass(frozen=True)
class Traces:
    executions: dict[str, list[Execution]]
    """Per attempt key, in start order."""
    concurrent: list[str]
    """Files left by an execution that found the same attempt running in a live process."""

    def of_run(self, run_id: str) -> dict[str, list[Execution]]:
        return {key: runs for key, runs in self.executions.items() if key.startswith(f"{run_id}.")}


def read_traces(marker_dir: Path) -> Traces:
    starts: dict[tuple[str, int], dict[str, Any]] = {}
    ends: dict[tuple[str, int], float] = {}
    for path in marker_dir.glob("*.start"):
        record = json.loads(path.read_text())
        starts[record["key"], record["pid"]] = record
    for path in marker_dir.glob("*.end"):
        record = json.loads(path.read_text())
        ends[record["key"], record["pid"]] = record["end"]
    executions: defaultdict[str, list[Execution]] = defaultdict(list)
    for (key, pid), record in starts.items():
        executions[key].append(
            Execution(
                key=key, executor=record["executor"], pid=pid, start=record["start"], end=ends.get((key, pid))
            )
        )
    for runs in executions.values():
        runs.sort(key=lambda execution: execution.start)
    concurrent = sorted(path.name for path in marker_dir.glob("*.concurrent"))
    return Traces(executions=dict(executions), concurrent=concurrent)


def read_run_events(cluster: Cluster, run_id: str, *, timeout: float = 30.0) -> list[dict[str, Any]]:
    """A run's events as a new subscriber reads them from the start of the stream: up to
    the run's terminal event, and whatever follows it within a second (nothing should)."""

    async def read() -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        async with (
            NatsBus(cluster.nats.url, name="sluice-test-reader") as bus,
            await bus.replay(run_events_subject(run_id)) as feed,
        ):
            finished = False
            while True:
                wait = 1.0 if finished else deadline - loop.time()
                try:
                    message = await asyncio.wait_for(anext(feed), max(wait, 0.0))
                except TimeoutError:
                    if not finished:
                        raise AssertionError(
                            f"no terminal event of run {run_id} within {timeout}s: {events}"
                        ) from None
                    return events
                event: dict[str, Any] = json.loads(message.data)
                events.append(event)
                if event.get("kind") == "RUN_STATE_CHANGED" and event.get("state") in TERMINAL:
                    finished = True

    return asyncio.run(read())
