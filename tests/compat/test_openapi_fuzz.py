"""Schemathesis fuzzes every operation of the live gateway's `/openapi.json`: no 5xx, and
every response fits the documented schema, status, content type and headers.

Each operation gets random requests, requests naming resources that exist (so the fuzzer
gets past the 404s), and its documented body example, which the API must accept. The
run is derandomized and bounded (a few examples per operation) to stay fast and
repeatable; set SLUICE_FUZZ_RANDOM=1 to explore new inputs. Whatever the fuzzer creates
is deleted afterwards, so the shared server's other tests do not see it.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sluice.compiler import compile_pipeline

from services.gateway.http import examples
from tests.fixtures.sluice_server import RunningSluice
from tests.sdk.client.pipelines import add_pipeline

API = "/apis/v2beta1"
MAX_EXAMPLES = 25
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@dataclass(frozen=True)
class Existing:
    """Ids of resources that exist, by path parameter name."""

    ids: dict[str, str]
    started: datetime


def _ok(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture(scope="module")
def existing(sluice_server: RunningSluice) -> Iterator[Existing]:
    started = datetime.now(UTC)
    with httpx.Client(base_url=sluice_server.http_url + API, timeout=30) as http:
        experiment = _ok(http.post("/experiments", json={"display_name": f"fuzz-{started.timestamp()}"}))
        pipeline = _ok(
            http.post(
                "/pipelines/create",
                json={**examples.PIPELINE_AND_VERSION, "pipeline": {"name": f"fuzz-{started.timestamp()}"}},
            )
        )
        version = _ok(http.get(f"/pipelines/{pipeline['pipeline_id']}/versions"))["pipeline_versions"][0]
        run = _ok(
            http.post(
                "/runs",
                json={**examples.RUN, "experiment_id": experiment["experiment_id"], "disable_cache": True},
            )
        )
        finished = sluice_server.wait_for_run(run["run_id"])
        task = next(t for t in finished["run_details"]["task_details"] if t["display_name"] == "echo")
        # The hello pipeline makes no artifact: a run of one that does.
        measured = _ok(
            http.post(
                "/runs",
                json={
                    "display_name": "fuzz artifacts",
                    "experiment_id": experiment["experiment_id"],
                    "pipeline_spec": compile_pipeline(add_pipeline),
                },
            )
        )
        sluice_server.wait_for_run(measured["run_id"])
        artifacts = _ok(http.get("/artifacts", params={"run_id": measured["run_id"]}))["artifacts"]
        data = next(a for a in artifacts if a["name"] == "data")
        recurring = _ok(
            http.post(
                "/recurringruns",
                json={**examples.RECURRING_RUN, "experiment_id": experiment["experiment_id"]},
            )
        )
        yield Existing(
            ids={
                "experiment_id": experiment["experiment_id"],
                "pipeline_id": pipeline["pipeline_id"],
                "pipeline_version_id": version["pipeline_version_id"],
                "run_id": run["run_id"],
                "task_id": task["task_id"],
                "node_id": task["task_id"],
                "artifact_name": "Output",
                "artifact_id": data["artifact_id"],
                "recurring_run_id": recurring["recurring_run_id"],
                "name": pipeline["name"],
            },
            started=started,
        )
        _delete_created_since(http, started)


def _created_since(http: httpx.Client, path: str, items: str, started: datetime) -> list[dict[str, Any]]:
    after = {"key": "created_at", "operation": "GREATER_THAN_EQUALS", "timestamp_value": started.isoformat()}
    found: list[dict[str, Any]] = []
    token = ""
    while True:
        page = _ok(
            http.get(
                path,
                params={"filter": json.dumps({"predicates": [after]}), "page_size": 200, "page_token": token},
            )
        )
        found += page.get(items, [])
        token = page.get("next_page_token", "")
        if not token:
            return found


def _delete_created_since(http: httpx.Client, started: datetime) -> None:
    for recurring in _created_since(http, "/recurringruns", "recurringRuns", started):
        http.delete(f"/recurringruns/{recurring['recurring_run_id']}")
    for run in _created_since(http, "/runs", "runs", started):
        http.delete(f"/runs/{run['run_id']}")
    for pipeline in _created_since(http, "/pipelines", "pipelines", started):
        http.delete(f"/pipelines/{pipeline['pipeline_id']}", params={"cascade": "true"})
    for experiment in _created_since(http, "/experiments", "experiments", started):
        http.delete(f"/experiments/{experiment['experiment_id']}")


def _body_example(operation: Any) -> dict[str, Any] | None:
    for body in operation.definition.raw.get("requestBody", {}).get("content", {}).values():
        example = body.get("example")
        if isinstance(example, dict):
            return example
    return None


def _operations(schema: Any) -> list[Any]:
    operations = [result.ok() for result in schema.get_all_operations()]
    # Deletions last, so the resources the others are pointed at exist while they run.
    return sorted(operations, key=lambda op: (op.method.upper() == "DELETE", op.label))


def test_every_operation_survives_fuzzing(sluice_server: RunningSluice, existing: Existing) -> None:
    document = httpx.get(f"{sluice_server.http_url}/openapi.json", timeout=30).json()
    schema = schemathesis.openapi.from_dict(document)
    base_url = sluice_server.http_url
    fuzz_settings = settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=not os.environ.get("SLUICE_FUZZ_RANDOM"),
        suppress_health_check=list(HealthCheck),
    )
    started = time.monotonic()
    tested = 0
    for operation in _operations(schema):
        names = {parameter.name for parameter in operation.path_parameters}
        strategies = [operation.as_strategy()]
        if names:
            strategies.append(operation.as_strategy(path_parameters={n: existing.ids[n] for n in names}))
        example = _body_example(operation)
        if example is not None:
            fixed = {n: existing.ids[n] for n in names}
            strategies.append(
                st.just(operation.Case(path_parameters=fixed, body=example, media_type="application/json"))
            )

        _fuzz(strategies, base_url=base_url, using=fuzz_settings)
        if example is not None:
            # The documented example is a request the API accepts as it is.
            accepted = operation.Case(
                path_parameters={n: existing.ids[n] for n in names},
                body=example,
                media_type="application/json",
            ).call(base_url=base_url, timeout=30)
            assert accepted.status_code in (200, 409), f"{operation.label}: {accepted.text}"
        tested += 1
    assert tested == len(document_operations(document))
    print(f"\nfuzzed {tested} operations in {time.monotonic() - started:.1f}s")


def _fuzz(strategies: list[Any], *, base_url: str, using: settings) -> None:
    @using
    @given(case=st.one_of(strategies))
    def fuzz(case: Any) -> None:
        response = case.call_and_validate(base_url=base_url, checks=CHECKS, timeout=30)
        # Every operation is implemented: none may answer 501 UNIMPLEMENTED.
        assert response.status_code != 501, f"{case.operation.label}: {response.text}"

    fuzz()


def document_operations(document: dict[str, Any]) -> list[tuple[str, str]]:
    return [(method, path) for path, operations in document["paths"].items() for method in operations]
