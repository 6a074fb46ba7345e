"""kfp-compiled pipelines run on `sluice up` through the HTTP API."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.e2e.conftest import load_spec, submit, tasks_by_name
from tests.fixtures.sluice_server import RunningSluice


def test_linear_pipeline_passes_parameters_down_the_chain(
    sluice_server: RunningSluice, compiled: dict[str, Path]
) -> None:
    run = sluice_server.wait_for_run(submit(sluice_server, compiled["linear"], {"x": 5}))
    assert run["state"] == "SUCCEEDED", run.get("error")
    tasks = tasks_by_name(run)
    assert tasks["add"]["output_parameters"] == {"Output": 6}
    assert tasks["add-2"]["output_parameters"] == {"Output": 16}
    assert tasks["add-3"]["output_parameters"] == {"Output": 116}
    for name in ("add", "add-2", "add-3"):
        task = tasks[name]
        assert task["state"] == "SUCCEEDED"
        assert task["start_time"] <= task["end_time"]
    assert tasks["add"]["end_time"] <= tasks["add-2"]["start_time"]


def test_diamond_and_fan_in_join_their_branches(
    sluice_server: RunningSluice, compiled: dict[str, Path]
) -> None:
    diamond = submit(sluice_server, compiled["diamond"])
    fan_in = submit(sluice_server, compiled["fan-in"])
    diamond_run = sluice_server.wait_for_run(diamond)
    assert diamond_run["state"] == "SUCCEEDED"
    assert tasks_by_name(diamond_run)["add-4"]["output_parameters"] == {"Output": 7}
    fan_in_run = sluice_server.wait_for_run(fan_in)
    assert fan_in_run["state"] == "SUCCEEDED"
    assert tasks_by_name(fan_in_run)["add-5"]["output_parameters"] == {"Output": 12}


def test_every_parameter_type_round_trips(sluice_server: RunningSluice, compiled: dict[str, Path]) -> None:
    parameters = {
        "text": "yo",
        "count": 7,
        "ratio": 3.0,
        "flag": False,
        "items": [2, 3],
        "config": {"k": "v"},
    }
    run = sluice_server.wait_for_run(submit(sluice_server, compiled["all-types"], parameters))
    assert run["state"] == "SUCCEEDED", run.get("error")
    outputs = tasks_by_name(run)["echo-all"]["output_parameters"]
    assert outputs == {
        "text": "yo!",
        "count": 14,
        "ratio": 1.5,
        "flag": True,
        "items": [2, 3, 5],
        "config": {"k": "v", "seen": "yes"},
    }


def test_defaults_apply_when_parameters_are_omitted(
    sluice_server: RunningSluice, compiled: dict[str, Path]
) -> None:
    run = sluice_server.wait_for_run(submit(sluice_server, compiled["all-types"]))
    assert run["state"] == "SUCCEEDED", run.get("error")
    outputs = tasks_by_name(run)["echo-all"]["output_parameters"]
    assert outputs["text"] == "hi!"
    assert outputs["items"] == [1, 4, 5]
    assert outputs["count"] == 6


def test_dataset_and_model_artifacts_flow_between_tasks(
    sluice_server: RunningSluice, compiled: dict[str, Path]
) -> None:
    run = sluice_server.wait_for_run(submit(sluice_server, compiled["artifacts"], {"rows": 4}))
    assert run["state"] == "SUCCEEDED", run.get("error")
    tasks = tasks_by_name(run)
    assert tasks["train"]["output_parameters"] == {"Output": 14 / 6}
    assert tasks["read-model"]["output_parameters"] == {"Output": f"{14 / 6}|handmade"}
    dataset_ids = tasks["make-dataset"]["outputs"]["data"]["artifact_ids"]
    assert len(dataset_ids) == 1
    assert tasks["train"]["inputs"]["data"]["artifact_ids"] == dataset_ids


def test_failing_task_fails_the_run_with_its_error(
    sluice_server: RunningSluice, compiled: dict[str, Path]
) -> None:
    run = sluice_server.wait_for_run(submit(sluice_server, compiled["failing"], {"message": "no luck"}))
    assert run["state"] == "FAILED"
    assert "no luck" in run["error"]["message"]
    tasks = tasks_by_name(run)
    assert tasks["add"]["state"] == "SUCCEEDED"
    assert tasks["fail"]["state"] == "FAILED"
    assert "ValueError: no luck" in tasks["fail"]["error"]["message"]
    assert tasks["add-2"]["state"] == "SKIPPED"
    logs = httpx.get(
        f"{sluice_server.http_url}/apis/v2beta1/runs/{run['run_id']}/tasks/{tasks['fail']['task_id']}/logs",
        timeout=10,
    )
    assert logs.status_code == 200
    assert "ValueError: no luck" in logs.text
    assert "image 'python:3.11' is not used" in logs.text


def test_bad_requests_are_rejected_and_store_nothing(
    sluice_server: RunningSluice, compiled: dict[str, Path]
) -> None:
    url = f"{sluice_server.http_url}/apis/v2beta1/runs"
    before = httpx.get(url, params={"page_size": 200}, timeout=10).json().get("total_size", 0)
    missing = httpx.post(
        url, json={"display_name": "m", "pipeline_spec": load_spec(compiled["required-param"])}, timeout=10
    )
    assert missing.status_code == 400
    assert "'x'" in missing.json()["message"]
    wrong_type = httpx.post(
        url,
        json={
            "display_name": "w",
            "pipeline_spec": load_spec(compiled["required-param"]),
            "runtime_config": {"parameters": {"x": "seven"}},
        },
        timeout=10,
    )
    assert wrong_type.status_code == 400
    assert "x" in wrong_type.json()["message"]
    not_a_spec = httpx.post(url, json={"display_name": "n", "pipeline_spec": {"hello": "world"}}, timeout=10)
    assert not_a_spec.status_code == 400
    assert not_a_spec.json()["code"] == 3
    after = httpx.get(url, params={"page_size": 200}, timeout=10).json().get("total_size", 0)
    assert after == before
