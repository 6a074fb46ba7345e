from __future__ import annotations

import httpx
from sluice.v1 import recurring_runs_pb2

from tests.services.gateway.fakes import CREATED_AT_JSON, FakeBackends

API = "/apis/v2beta1"


async def test_create_recurring_run_with_a_cron_trigger(http: httpx.AsyncClient, fakes: FakeBackends) -> None:
    response = await http.post(
        f"{API}/recurringruns",
        json={
            "display_name": "nightly",
            "pipeline_version_reference": {"pipeline_id": "p", "pipeline_version_id": "v"},
            "trigger": {"cron_schedule": {"cron": "0 0 2 * * *", "start_time": "2024-06-01T00:00:00Z"}},
            "max_concurrency": "2",
            "mode": "ENABLE",
            "no_catchup": True,
        },
    )

    assert response.status_code == 200
    body = response.json()
    assert body["recurring_run_id"] == "recurring-1"
    assert body["trigger"] == {"cron_schedule": {"cron": "0 0 2 * * *", "start_time": "2024-06-01T00:00:00Z"}}
    assert body["max_concurrency"] == "2"
    assert (body["mode"], body["status"], body["no_catchup"]) == ("ENABLE", "ENABLED", True)
    assert body["created_at"] == CREATED_AT_JSON
    sent = fakes.recorder.last("CreateRecurringRun", recurring_runs_pb2.CreateRecurringRunRequest)
    assert sent.recurring_run.max_concurrency == 2


async def test_list_recurring_runs_uses_kfps_recurringRuns_key(
    http: httpx.AsyncClient, fakes: FakeBackends
) -> None:
    await http.post(f"{API}/recurringruns", json={"display_name": "a", "trigger": {"periodic_schedule": {}}})

    response = await http.get(f"{API}/recurringruns", params={"experiment_id": "e", "namespace": "ns"})

    assert response.status_code == 200
    body = response.json()
    assert list(body) == ["recurringRuns", "total_size"]
    assert body["recurringRuns"][0]["display_name"] == "a"
    sent = fakes.recorder.last("ListRecurringRuns", recurring_runs_pb2.ListRecurringRunsRequest)
    assert (sent.experiment_id, sent.namespace) == ("e", "ns")


async def test_get_enable_disable_delete_recurring_run(http: httpx.AsyncClient) -> None:
    created = (await http.post(f"{API}/recurringruns", json={"display_name": "a", "mode": "DISABLE"})).json()
    path = f"{API}/recurringruns/{created['recurring_run_id']}"
    assert (await http.get(path)).json()["status"] == "DISABLED"

    assert (await http.post(f"{path}:enable")).json() == {}
    assert (await http.get(path)).json()["status"] == "ENABLED"
    assert (await http.post(f"{path}:disable")).json() == {}
    assert (await http.get(path)).json()["status"] == "DISABLED"

    assert (await http.delete(path)).json() == {}
    assert (await http.get(path)).status_code == 404
