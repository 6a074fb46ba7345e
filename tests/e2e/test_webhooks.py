"""Run-finished webhooks on a real `sluice up`: per experiment and per recurring run,
signed, retried with backoff, delivered by a sender that can stop and start again
without losing a notice.

The shared server's scheduler gets a webhook sender with a known secret and a short
backoff for these tests; the one built from its settings is put back afterwards.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.scheduler.webhooks import WebhookConfig, WebhookSender, WebhookSettings
from tests.e2e.conftest import load_spec
from tests.e2e.webhook_receiver import Delivery, Receiver, webhook_receiver
from tests.fixtures.sluice_server import RunningSluice

API = "/apis/v2beta1"
SECRET = "test-webhook-secret"
CONFIG = WebhookConfig(
    secret=SECRET, max_attempts=4, backoff_seconds=0.2, max_backoff_seconds=1.0, timeout_seconds=5
)


def _replace_sender(server: RunningSluice, config: WebhookConfig | None) -> None:
    """Close the scheduler's webhook sender and start one with ``config`` (None: the one
    its settings make) in its place."""
    scheduler = server.standalone.scheduler
    assert scheduler is not None
    bus = server.standalone.bus
    assert bus is not None

    async def replace() -> None:
        await scheduler.webhooks.aclose()
        sender = WebhookSender(
            store=server.standalone.store,
            bus=bus,
            config=config or WebhookConfig.from_settings(WebhookSettings()),
        )
        await sender.start()
        scheduler.webhooks = sender

    server.call(replace)


@pytest.fixture(scope="module")
def receiver(sluice_server: RunningSluice) -> Iterator[Receiver]:
    with webhook_receiver() as receiver:
        _replace_sender(sluice_server, CONFIG)
        try:
            yield receiver
        finally:
            _replace_sender(sluice_server, None)


@pytest.fixture(scope="module")
def http(sluice_server: RunningSluice) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sluice_server.http_url + API, timeout=30) as client:
        yield client


def _ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _experiment(http: httpx.Client, webhook_url: str = "") -> dict[str, Any]:
    return _ok(
        http.post(
            "/experiments", json={"display_name": f"hooks-{uuid.uuid4().hex[:8]}", "webhook_url": webhook_url}
        )
    )


def _run(
    http: httpx.Client, experiment_id: str, package: Path, parameters: dict[str, Any] | None = None
) -> str:
    body = {
        "display_name": package.stem,
        "experiment_id": experiment_id,
        "pipeline_spec": load_spec(package),
        "runtime_config": {"parameters": parameters or {}},
        "disable_cache": True,
    }
    run_id: str = _ok(http.post("/runs", json=body))["run_id"]
    return run_id


def _verified(delivery: Delivery) -> dict[str, Any]:
    """The notice in a delivery, after checking its signature and headers."""
    expected = "sha256=" + hmac.new(SECRET.encode(), delivery.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(delivery.headers["x-sluice-signature"], expected)
    assert delivery.headers["content-type"] == "application/json"
    assert delivery.headers["x-sluice-event"] == "run.finished"
    notice: dict[str, Any] = json.loads(delivery.body)
    assert delivery.headers["x-sluice-delivery"] == notice["delivery_id"]
    return notice


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_a_finished_run_is_posted_to_its_experiment_signed_and_retried(
    sluice_server: RunningSluice, http: httpx.Client, receiver: Receiver, compiled: dict[str, Path]
) -> None:
    receiver.answer("/experiment", 503)
    experiment = _experiment(http, f"{receiver.url}/experiment")
    assert (
        _ok(http.get(f"/experiments/{experiment['experiment_id']}"))["webhook_url"]
        == f"{receiver.url}/experiment"
    )
    run_id = _run(http, experiment["experiment_id"], compiled["linear"], {"x": 3})
    run = sluice_server.wait_for_run(run_id)

    first, second = receiver.wait_for("/experiment", 2)
    # The first attempt failed (503): the same notice came again after the backoff.
    assert (first.headers["x-sluice-attempt"], second.headers["x-sluice-attempt"]) == ("1", "2")
    assert first.body == second.body
    assert second.at - first.at >= CONFIG.backoff_seconds * 0.9
    notice = _verified(second)
    assert notice["type"] == "run.finished"
    assert notice["run"]["run_id"] == run_id
    assert notice["run"]["display_name"] == "linear"
    assert notice["run"]["state"] == "SUCCEEDED"
    assert notice["run"]["error"] is None
    assert notice["run"]["experiment_id"] == experiment["experiment_id"]
    assert notice["run"]["recurring_run_id"] == ""
    assert notice["experiment"] == {
        "experiment_id": experiment["experiment_id"],
        "display_name": experiment["display_name"],
    }
    assert notice["recurring_run"] is None
    assert _time(notice["run"]["created_at"]) == _time(run["created_at"])
    assert _time(notice["run"]["finished_at"]) == _time(run["finished_at"])
    time.sleep(0.5)
    assert len(receiver.deliveries("/experiment")) == 2


def test_a_failed_run_carries_its_error(
    http: httpx.Client, receiver: Receiver, compiled: dict[str, Path]
) -> None:
    experiment = _experiment(http, f"{receiver.url}/failed")
    run_id = _run(http, experiment["experiment_id"], compiled["failing"], {"message": "bad webhook input"})
    (delivery,) = receiver.wait_for("/failed", 1)
    notice = _verified(delivery)
    assert (notice["run"]["run_id"], notice["run"]["state"]) == (run_id, "FAILED")
    assert "bad webhook input" in notice["run"]["error"]["message"]


def test_a_recurring_run_has_its_own_webhook(
    sluice_server: RunningSluice, http: httpx.Client, receiver: Receiver, compiled: dict[str, Path]
) -> None:
    experiment = _experiment(http)
    recurring = _ok(
        http.post(
            "/recurringruns",
            json={
                "display_name": "hooked",
                "experiment_id": experiment["experiment_id"],
                "pipeline_spec": load_spec(compiled["linear"]),
                "trigger": {"periodic_schedule": {"interval_second": 1}},
                "no_catchup": True,
                "webhook_url": f"{receiver.url}/recurring",
            },
        )
    )
    recurring_id = recurring["recurring_run_id"]
    assert recurring["webhook_url"] == f"{receiver.url}/recurring"
    try:
        (delivery,) = receiver.wait_for("/recurring", 1)
    finally:
        _ok(http.post(f"/recurringruns/{recurring_id}:disable"))
    notice = _verified(delivery)
    assert notice["recurring_run"] == {"recurring_run_id": recurring_id, "display_name": "hooked"}
    assert notice["run"]["recurring_run_id"] == recurring_id
    assert notice["run"]["state"] == "SUCCEEDED"
    fired = {"predicates": [{"key": "recurring_run_id", "operation": "EQUALS", "string_value": recurring_id}]}
    for run in _ok(http.get("/runs", params={"filter": json.dumps(fired)})).get("runs", []):
        sluice_server.wait_for_run(run["run_id"])
    _ok(http.delete(f"/recurringruns/{recurring_id}"))


def test_a_notice_waits_for_a_stopped_sender(
    sluice_server: RunningSluice, http: httpx.Client, receiver: Receiver, compiled: dict[str, Path]
) -> None:
    experiment = _experiment(http, f"{receiver.url}/restart")
    scheduler = sluice_server.standalone.scheduler
    assert scheduler is not None
    sluice_server.call(scheduler.webhooks.aclose)
    # The run finishes while no sender is running: its event waits in the durable consumer.
    run_id = _run(http, experiment["experiment_id"], compiled["linear"])
    sluice_server.wait_for_run(run_id)
    time.sleep(0.3)
    assert receiver.deliveries("/restart") == []

    _replace_sender(sluice_server, CONFIG)
    (delivery,) = receiver.wait_for("/restart", 1)
    assert _verified(delivery)["run"]["run_id"] == run_id
    time.sleep(0.5)
    assert len(receiver.deliveries("/restart")) == 1


def test_a_receiver_that_keeps_failing_gets_a_bounded_number_of_attempts(
    http: httpx.Client, receiver: Receiver, compiled: dict[str, Path]
) -> None:
    receiver.answer("/down", *[500] * 10)
    experiment = _experiment(http, f"{receiver.url}/down")
    _run(http, experiment["experiment_id"], compiled["linear"])
    attempts = receiver.wait_for("/down", CONFIG.max_attempts)
    gaps = [later.at - earlier.at for earlier, later in itertools.pairwise(attempts)]
    # Exponential backoff: each wait at least as long as the one before (capped).
    assert all(gap >= CONFIG.backoff_seconds * 0.9 for gap in gaps)
    assert gaps[-1] >= gaps[0]
    time.sleep(CONFIG.max_backoff_seconds + 0.5)
    assert len(receiver.deliveries("/down")) == CONFIG.max_attempts


def test_webhook_urls_are_validated(http: httpx.Client) -> None:
    for url in (
        "ftp://example.invalid/hook",
        "not a url",
        "http://user:pass@example.invalid/",
        "http:///nohost",
    ):
        response = http.post("/experiments", json={"display_name": uuid.uuid4().hex, "webhook_url": url})
        assert response.status_code == 400, url
        assert response.json()["code"] == 3
