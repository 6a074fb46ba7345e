"""Recurring runs really fire on a real standalone Sluice, and stop when disabled."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.conftest import load_spec
from tests.fixtures.sluice_server import RunningSluice


def _runs_of(client: httpx.Client, recurring_run_id: str) -> list[dict[str, Any]]:
    response = client.get("/apis/v2beta1/runs", params={"page_size": 200})
    assert response.status_code == 200, response.text
    return [run for run in response.json().get("runs", []) if run.get("recurring_run_id") == recurring_run_id]


def test_periodic_recurring_run_fires_and_stops_when_disabled(
    sluice_server: RunningSluice, compiled: dict[str, Path]
) -> None:
    with httpx.Client(base_url=sluice_server.http_url, timeout=30) as client:
        created = client.post(
            "/apis/v2beta1/recurringruns",
            json={
                "display_name": "every-second",
                "pipeline_spec": load_spec(compiled["linear"]),
                "runtime_config": {"parameters": {"x": 1}},
                "trigger": {"periodic_schedule": {"interval_second": 1}},
                "max_concurrency": 3,
                "mode": "ENABLE",
                "no_catchup": True,
            },
        )
        assert created.status_code == 200, created.text
        recurring = created.json()
        assert recurring["status"] == "ENABLED"
        recurring_id = recurring["recurring_run_id"]
        deadline = time.monotonic() + 30
        while len(_runs_of(client, recurring_id)) < 2:
            assert time.monotonic() < deadline, "the recurring run did not fire twice within 30 s"
            time.sleep(0.2)
        disabled = client.post(f"/apis/v2beta1/recurringruns/{recurring_id}:disable")
        assert disabled.status_code == 200, disabled.text
        fired = _runs_of(client, recurring_id)
        for run in fired:
            assert sluice_server.wait_for_run(run["run_id"])["state"] == "SUCCEEDED"
        time.sleep(2.5)
        assert len(_runs_of(client, recurring_id)) == len(fired)
        status = client.get(f"/apis/v2beta1/recurringruns/{recurring_id}").json()["status"]
        assert status == "DISABLED"
