"""Submitting a pipeline package over the HTTP API and following its run's events."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import yaml

EXIT_USAGE = 2
EXIT_SERVER = 3
TERMINAL_STATES = frozenset({"SUCCEEDED", "FAILED", "CANCELED", "SKIPPED"})


class SubmitError(Exception):
    def __init__(self, message: str, *, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def parse_parameters(pairs: tuple[str, ...]) -> dict[str, Any]:
    """`name=value` pairs; values are sent as text and typed by the server against the
    pipeline's declared parameter types."""
    parameters: dict[str, Any] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise SubmitError(f"parameter {pair!r} is not NAME=VALUE", exit_code=EXIT_USAGE)
        parameters[name] = value
    return parameters


def load_package(path: Path) -> dict[str, Any]:
    """The stored form of a package: the PipelineSpec, or {pipeline_spec, platform_spec}."""
    try:
        documents = [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]
    except (OSError, yaml.YAMLError) as error:
        raise SubmitError(f"cannot read {path}: {error}", exit_code=EXIT_USAGE) from error
    if not documents or not isinstance(documents[0], dict):
        raise SubmitError(f"{path} does not hold a pipeline spec", exit_code=EXIT_USAGE)
    if len(documents) > 1 and isinstance(documents[1], dict):
        return {"pipeline_spec": documents[0], "platform_spec": documents[1]}
    spec: dict[str, Any] = documents[0]
    return spec


def _error_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}: {response.text[:500]}"
    return f"HTTP {response.status_code}: {body.get('message') or body}"


def submit_run(
    host: str,
    package: Path,
    *,
    parameters: dict[str, Any],
    display_name: str | None = None,
    experiment_id: str | None = None,
    disable_cache: bool = False,
) -> str:
    spec = load_package(package)
    inner = spec.get("pipeline_spec", spec)
    name = display_name or (inner.get("pipelineInfo") or {}).get("name") or package.stem
    body: dict[str, Any] = {
        "display_name": name,
        "pipeline_spec": spec,
        "runtime_config": {"parameters": parameters},
        "disable_cache": disable_cache,
    }
    if experiment_id:
        body["experiment_id"] = experiment_id
    try:
        response = httpx.post(f"{host.rstrip('/')}/apis/v2beta1/runs", json=body, timeout=60)
    except httpx.HTTPError as error:
        raise SubmitError(f"cannot reach Sluice at {host}: {error}", exit_code=EXIT_SERVER) from error
    if response.status_code >= 400:
        code = EXIT_USAGE if response.status_code in (400, 404, 409, 413) else EXIT_SERVER
        raise SubmitError(_error_message(response), exit_code=code)
    run_id: str = response.json()["run_id"]
    return run_id


def _events(host: str, run_id: str) -> Iterator[dict[str, Any]]:
    url = f"{host.rstrip('/')}/apis/v2beta1/runs/{run_id}/events"
    with httpx.stream("GET", url, timeout=httpx.Timeout(30.0, read=None)) as response:
        if response.status_code >= 400:
            response.read()
            raise SubmitError(_error_message(response), exit_code=EXIT_SERVER)
        for line in response.iter_lines():
            if line.startswith("data:"):
                yield json.loads(line[5:].strip())


def follow_run(host: str, run_id: str, *, echo: Callable[[str], None]) -> str:
    """Print task progress as events arrive; return the run's final state."""
    try:
        for event in _events(host, run_id):
            state = event.get("state", "")
            if event.get("kind") == "TASK_STATE_CHANGED":
                if event.get("task_name") == "root":
                    continue
                note = " (cached)" if event.get("cached") else ""
                error = (event.get("error") or {}).get("message")
                line = f"  {event.get('display_name') or event.get('task_name')}: {state}{note}"
                echo(line + (f" - {error}" if error and state == "FAILED" else ""))
            elif event.get("kind") == "RUN_STATE_CHANGED" and state in TERMINAL_STATES:
                error = (event.get("error") or {}).get("message")
                if error:
                    echo(f"  error: {error}")
                return str(state)
    except httpx.HTTPError as error:
        raise SubmitError(f"lost the connection to {host}: {error}", exit_code=EXIT_SERVER) from error
    response = httpx.get(f"{host.rstrip('/')}/apis/v2beta1/runs/{run_id}", timeout=30)
    return str(response.json().get("state", "UNKNOWN"))
