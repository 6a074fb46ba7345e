"""The run-finished webhook sender on the in-memory bus, a real SQLite store and a mocked
HTTP transport: what it sends, when it retries, what it acknowledges."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sluice.v1 import common_pb2, events_pb2

from services.core.errors import InvalidArgument
from services.core.events.memory import MemoryBus
from services.core.events.subjects import EVENTS_STREAM, WEBHOOKS_CONSUMER
from services.core.store.records import ExperimentRecord, RecurringRunRecord, RunRecord, RuntimeState
from services.core.store.sqlite import SqliteStore
from services.scheduler.run_events import encode, publish, run_event
from services.scheduler.webhooks import (
    WebhookConfig,
    WebhookSender,
    check_webhook_url,
    finished_run_event,
    notice_body,
    signature,
)

NOW = datetime(2030, 5, 1, 12, 0, tzinfo=UTC)
CONFIG = WebhookConfig(secret="s3cret", max_attempts=3, backoff_seconds=0.01, max_backoff_seconds=0.02)


class Hooks:
    """A mocked receiver: answers with the scripted statuses (then 200), records requests."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.statuses: list[int] = []
        self.arrived = asyncio.Event()

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        self.arrived.set()
        if request.url.host == "unreachable.invalid":
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(self.statuses.pop(0) if self.statuses else 200)

    async def wait_for(self, count: int) -> list[httpx.Request]:
        async with asyncio.timeout(5):
            while len(self.requests) < count:
                self.arrived.clear()
                await self.arrived.wait()
        return self.requests


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    store = SqliteStore(tmp_path / "sluice.db")
    await store.start()
    yield store
    await store.aclose()


@pytest.fixture
async def bus() -> AsyncIterator[MemoryBus]:
    async with MemoryBus() as bus:
        await bus.ensure_streams()
        yield bus


@pytest.fixture
def hooks() -> Hooks:
    return Hooks()


@pytest.fixture
async def sender(store: SqliteStore, bus: MemoryBus, hooks: Hooks) -> AsyncIterator[WebhookSender]:
    async with WebhookSender(
        store=store, bus=bus, config=CONFIG, transport=httpx.MockTransport(hooks.handle)
    ) as sender:
        yield sender


async def _finished_run(
    store: SqliteStore,
    *,
    experiment_url: str = "",
    recurring_url: str = "",
    state: RuntimeState = RuntimeState.SUCCEEDED,
) -> RunRecord:
    experiment = ExperimentRecord(
        experiment_id="e1", display_name="exp", created_at=NOW, webhook_url=experiment_url
    )
    await store.create_experiment(experiment)
    recurring = RecurringRunRecord(
        recurring_run_id="rr1",
        display_name="nightly",
        created_at=NOW,
        updated_at=NOW,
        pipeline_spec={},
        cron="0 0 0 * * *",
        webhook_url=recurring_url,
    )
    await store.create_recurring_run(recurring)
    run = RunRecord(
        run_id="r1",
        experiment_id="e1",
        display_name="run one",
        created_at=NOW,
        pipeline_spec={},
        recurring_run_id="rr1",
        state=state,
        finished_at=NOW,
    )
    await store.create_run(run)
    return run


def test_signature_is_hmac_sha256_of_the_body() -> None:
    body = b'{"a":1}'
    assert signature("key", body) == "sha256=" + hmac.new(b"key", body, hashlib.sha256).hexdigest()


@pytest.mark.parametrize(
    "url", ["", "  ", "http://127.0.0.1:8080/hook", "https://hooks.example.invalid/x?y=1"]
)
def test_valid_webhook_urls(url: str) -> None:
    assert check_webhook_url(url) == url.strip()


@pytest.mark.parametrize(
    "url",
    [
        "ftp://h/x",
        "hooks.example.invalid/x",
        "http://",
        "http://u:p@h/",
        "http://h:0/",
        "http://h:99999/",
        "http://h/a b",
        "http://" + "h" * 3000,
    ],
)
def test_invalid_webhook_urls(url: str) -> None:
    with pytest.raises(InvalidArgument):
        check_webhook_url(url)


def test_backoff_doubles_up_to_the_cap() -> None:
    config = WebhookConfig(backoff_seconds=1, max_backoff_seconds=5)
    assert [config.backoff(n) for n in (1, 2, 3, 4)] == [1, 2, 4, 5]


def test_only_terminal_run_events_count() -> None:
    run = RunRecord(run_id="r", experiment_id="e", display_name="d", created_at=NOW, pipeline_spec={})
    for state, expected in (
        (RuntimeState.RUNNING, False),
        (RuntimeState.FAILED, True),
        (RuntimeState.CANCELED, True),
    ):
        run.state = state
        assert (
            finished_run_event(encode(run_event(run, events_pb2.RunEvent.RUN_STATE_CHANGED))) is not None
        ) is expected
    task_event = events_pb2.RunEvent(
        kind=events_pb2.RunEvent.TASK_STATE_CHANGED, run_id="r", state=common_pb2.SUCCEEDED
    )
    assert finished_run_event(encode(task_event)) is None
    assert finished_run_event(b"not json") is None


def test_the_notice_body_is_stable_json() -> None:
    run = RunRecord(
        run_id="r", experiment_id="e", display_name="d", created_at=NOW, pipeline_spec={}, finished_at=NOW
    )
    body = notice_body(
        delivery_id="r/run/3/FAILED",
        state=RuntimeState.FAILED,
        error=common_pb2.Status(code=2, message="boom"),
        run=run,
        experiment=None,
        recurring_run=None,
    )
    notice = json.loads(body)
    assert notice["run"]["state"] == "FAILED"
    assert notice["run"]["error"] == {"code": 2, "message": "boom"}
    assert notice["run"]["finished_at"] == "2030-05-01T12:00:00.000000Z"
    assert notice["run"]["scheduled_at"] is None
    assert body == notice_body(
        delivery_id="r/run/3/FAILED",
        state=RuntimeState.FAILED,
        error=common_pb2.Status(code=2, message="boom"),
        run=run,
        experiment=None,
        recurring_run=None,
    )


async def test_a_finished_run_goes_to_both_urls_signed(
    store: SqliteStore, bus: MemoryBus, hooks: Hooks, sender: WebhookSender
) -> None:
    run = await _finished_run(
        store, experiment_url="http://hooks.invalid/e", recurring_url="http://hooks.invalid/r"
    )
    await publish(bus, run_event(run, events_pb2.RunEvent.RUN_STATE_CHANGED))

    requests = await hooks.wait_for(2)
    assert sorted(str(r.url) for r in requests) == ["http://hooks.invalid/e", "http://hooks.invalid/r"]
    for request in requests:
        assert request.headers["x-sluice-signature"] == signature("s3cret", request.content)
        notice = json.loads(request.content)
        assert notice["experiment"]["display_name"] == "exp"
        assert notice["recurring_run"]["display_name"] == "nightly"


async def test_one_url_shared_by_experiment_and_recurring_run_gets_one_notice(
    store: SqliteStore, bus: MemoryBus, hooks: Hooks, sender: WebhookSender
) -> None:
    run = await _finished_run(
        store, experiment_url="http://hooks.invalid/same", recurring_url="http://hooks.invalid/same"
    )
    await publish(bus, run_event(run, events_pb2.RunEvent.RUN_STATE_CHANGED))
    await hooks.wait_for(1)
    await asyncio.sleep(0.1)
    assert len(hooks.requests) == 1


async def test_failures_are_retried_then_given_up_and_the_event_acknowledged(
    store: SqliteStore, bus: MemoryBus, hooks: Hooks, sender: WebhookSender
) -> None:
    hooks.statuses = [500] * 10
    run = await _finished_run(
        store, experiment_url="http://hooks.invalid/e", recurring_url="http://unreachable.invalid/r"
    )
    await publish(bus, run_event(run, events_pb2.RunEvent.RUN_STATE_CHANGED))

    requests = await hooks.wait_for(2 * CONFIG.max_attempts)
    await asyncio.sleep(0.2)
    assert len(requests) == 2 * CONFIG.max_attempts
    attempts = sorted(r.headers["x-sluice-attempt"] for r in requests if r.url.host == "hooks.invalid")
    assert attempts == ["1", "2", "3"]
    # Settled: nothing is held any more, so nothing comes back.
    state = await bus.stream_state(EVENTS_STREAM)
    assert state.messages >= 1
    queue = await bus.work_queue(EVENTS_STREAM, WEBHOOKS_CONSUMER, max_in_flight=1)
    assert await queue.fetch(max_wait=0.1) == []
    await queue.aclose()


async def test_runs_without_urls_deleted_runs_and_other_events_are_skipped(
    store: SqliteStore, bus: MemoryBus, hooks: Hooks, sender: WebhookSender
) -> None:
    run = await _finished_run(store)
    await publish(bus, run_event(run, events_pb2.RunEvent.RUN_STATE_CHANGED))
    gone = RunRecord(
        run_id="gone",
        experiment_id="e1",
        display_name="x",
        created_at=NOW,
        pipeline_spec={},
        state=RuntimeState.FAILED,
    )
    await publish(bus, run_event(gone, events_pb2.RunEvent.RUN_STATE_CHANGED))
    await asyncio.sleep(0.2)
    assert hooks.requests == []


async def test_closing_hands_an_undelivered_notice_to_the_next_sender(
    store: SqliteStore, bus: MemoryBus, hooks: Hooks
) -> None:
    slow = WebhookConfig(secret="s3cret", max_attempts=5, backoff_seconds=10, grace_seconds=0.05)
    transport = httpx.MockTransport(hooks.handle)
    hooks.statuses = [503]
    run = await _finished_run(store, experiment_url="http://hooks.invalid/e")
    first = WebhookSender(store=store, bus=bus, config=slow, transport=transport)
    await first.start()
    await publish(bus, run_event(run, events_pb2.RunEvent.RUN_STATE_CHANGED))
    await hooks.wait_for(1)
    # The sender waits 10 s before its retry; closing it gives the event back at once.
    await first.aclose()

    async with WebhookSender(store=store, bus=bus, config=CONFIG, transport=transport):
        requests = await hooks.wait_for(2)
    assert requests[0].content == requests[1].content
    assert requests[1].headers["x-sluice-attempt"] == "1"
