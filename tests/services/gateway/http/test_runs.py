from __future__ import annotations

import httpx
import pytest
from google.protobuf import json_format
from sluice.v1 import common_pb2, runs_pb2

from tests.services.gateway.fakes import CREATED_AT_JSON, FakeBackends

API = "/apis/v2beta1"

PIPELINE_SPEC = {
    "pipelineInfo": {"name": "hello"},
    "root": {"dag": {"tasks": {}}},
    "schemaVersion": "2.1.0",
    "sdkVersion": "kfp-2.17.3",
}


async def test_create_run_with_an_inline_spec_and_parameters(
    http: httpx.AsyncClient, fakes: FakeBackends
) -> None:
    response = await http.post(
        f"{API}/runs",
        json={
            "display_name": "r",
            "experiment_id": "exp-9",
            "pipeline_spec": PIPELINE_SPEC,
            "runtime_config": {
                "parameters": {"n": 3, "ratio": 0.5, "names": ["a"]},
                "pipeline_root": "file:///tmp/r",
            },
        },
    )

    assert response.status_code == 200
    run = response.json()
    assert run["run_id"] == "run-1"
    assert run["state"] == "PENDING"
    assert run["storage_state"] == "AVAILABLE"
    assert run["created_at"] == CREATED_AT_JSON
    assert run["pipeline_spec"] == PIPELINE_SPEC
    # Integral numbers come back as KFP's server writes them: 3, not 3.0.
    assert run["runtime_config"] == {
        "parameters": {"n": 3, "ratio": 0.5, "names": ["a"]},
        "pipeline_root": "file:///tmp/r",
    }
    sent = fakes.recorder.last("CreateRun", runs_pb2.CreateRunRequest)
    assert json_format.MessageToDict(sent.run.pipeline_spec) == PIPELINE_SPEC
    assert sent.run.runtime_config.parameters["n"].number_value == 3


async def test_create_run_from_a_pipeline_version(http: httpx.AsyncClient, fakes: FakeBackends) -> None:
    response = await http.post(
        f"{API}/runs",
        params={"experiment_id": "exp-1"},
        json={
            "display_name": "r",
            "pipeline_version_reference": {"pipeline_id": "p", "pipeline_version_id": "v"},
        },
    )

    assert response.status_code == 200
    assert response.json()["pipeline_version_reference"] == {"pipeline_id": "p", "pipeline_version_id": "v"}
    sent = fakes.recorder.last("CreateRun", runs_pb2.CreateRunRequest)
    assert sent.experiment_id == "exp-1"


async def test_get_run_renders_task_details(http: httpx.AsyncClient, fakes: FakeBackends) -> None:
    run = runs_pb2.Run(run_id="r1", state=common_pb2.RUNNING)
    task = run.run_details.task_details.add(task_id="t1", display_name="train", state=common_pb2.SUCCEEDED)
    task.outputs["model"].artifact_ids.append("a1")
    task.start_time.FromJsonString("2024-05-01T12:00:01.500Z")
    fakes.runs.add(run)

    response = await http.get(f"{API}/runs/r1")

    assert response.status_code == 200
    assert response.json() == {
        "run_id": "r1",
        "state": "RUNNING",
        "run_details": {
            "task_details": [
                {
                    "task_id": "t1",
                    "display_name": "train",
                    "state": "SUCCEEDED",
                    "start_time": "2024-05-01T12:00:01.500Z",
                    "outputs": {"model": {"artifact_ids": ["a1"]}},
                }
            ]
        },
    }


async def test_list_runs_passes_every_query_parameter(http: httpx.AsyncClient, fakes: FakeBackends) -> None:
    fakes.runs.add(runs_pb2.Run(run_id="r1", experiment_id="e1"))
    fakes.runs.add(runs_pb2.Run(run_id="r2", experiment_id="e2"))

    response = await http.get(
        f"{API}/runs",
        params={
            "experiment_id": "e1",
            "namespace": "ns",
            "page_token": "tok",
            "page_size": 7,
            "sort_by": "name",
            "filter": "{}",
        },
    )

    assert response.status_code == 200
    assert response.json() == {"runs": [{"run_id": "r1", "experiment_id": "e1"}], "total_size": 1}
    sent = fakes.recorder.last("ListRuns", runs_pb2.ListRunsRequest)
    assert sent == runs_pb2.ListRunsRequest(
        experiment_id="e1", namespace="ns", page_token="tok", page_size=7, sort_by="name", filter="{}"
    )


@pytest.mark.parametrize(
    ("action", "method"),
    [
        (":archive", "ArchiveRun"),
        (":unarchive", "UnarchiveRun"),
        (":terminate", "TerminateRun"),
        (":retry", "RetryRun"),
    ],
)
async def test_run_actions_with_colons(
    http: httpx.AsyncClient, fakes: FakeBackends, action: str, method: str
) -> None:
    fakes.runs.add(runs_pb2.Run(run_id="r1", state=common_pb2.FAILED))

    response = await http.post(f"{API}/runs/r1{action}", params={"experiment_id": "e"})

    assert (response.status_code, response.json()) == (200, {})
    assert fakes.recorder.last(method, runs_pb2.RunIdRequest) == runs_pb2.RunIdRequest(
        run_id="r1", experiment_id="e"
    )


async def test_run_action_on_an_unknown_run_is_404(http: httpx.AsyncClient) -> None:
    response = await http.post(f"{API}/runs/missing:terminate")

    assert response.status_code == 404
    assert response.json()["message"] == "run 'missing' not found"


async def test_delete_run(http: httpx.AsyncClient, fakes: FakeBackends) -> None:
    fakes.runs.add(runs_pb2.Run(run_id="r1"))

    response = await http.delete(f"{API}/runs/r1")

    assert (response.status_code, response.json()) == (200, {})
    assert "r1" not in fakes.runs.runs
