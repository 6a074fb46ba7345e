"""Run-finished webhooks (a Sluice extension to KFP's API).

An experiment and a recurring run may name a ``webhook_url``. When a run reaches a
terminal state, the scheduler POSTs a JSON notice (`notice_body`) to the URL of the run's
experiment and to the URL of the recurring run that started it, signed with HMAC-SHA256
of the body under the shared secret ``SLUICE_WEBHOOK_SECRET``::

    X-Sluice-Signature: sha256=<hex digest>
    X-Sluice-Event: run.finished
    X-Sluice-Delivery: <id, the same for every attempt and redelivery of one notice>

A receiver verifies the signature with `signature(secret, body)` and dedupes on the
delivery id: delivery is at least once.

Design: `WebhookSender` reads the run events from the durable JetStream consumer
``webhooks`` (see `services.core.events.subjects`), so the scheduler never waits for a
receiver, replicas share the work, and a notice not yet delivered when the scheduler
stops is delivered after it restarts. A failed POST (network error or non-2xx answer) is
retried with exponential backoff, `WebhookConfig.max_attempts` times in all; the event is
acknowledged once every URL got its notice or ran out of attempts.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import urllib.parse
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Self, TypeVar

import httpx
from google.protobuf import json_format
from pydantic import Field, SecretStr
from sluice.v1 import common_pb2, events_pb2

from services.core.errors import InvalidArgument, NotFound, SluiceError, Unavailable
from services.core.events.bus import EventBus
from services.core.events.subjects import EVENTS_STREAM, WEBHOOKS_CONSUMER
from services.core.events.work import WorkItem, WorkQueue
from services.core.pipeline.model import JsonValue
from services.core.settings import CommonSettings
from services.core.store.base import Store
from services.core.store.codec import encode_datetime
from services.core.store.records import (
    TERMINAL_STATES,
    ExperimentRecord,
    RecurringRunRecord,
    RunRecord,
    RuntimeState,
)

logger = logging.getLogger(__name__)

R = TypeVar("R")

EVENT_TYPE = "run.finished"
SIGNATURE_HEADER = "X-Sluice-Signature"
EVENT_HEADER = "X-Sluice-Event"
DELIVERY_HEADER = "X-Sluice-Delivery"
ATTEMPT_HEADER = "X-Sluice-Attempt"
MAX_URL_LENGTH = 2048

# In-progress heartbeats while a notice waits between attempts: well within ack_wait.
_HEARTBEAT_SECONDS = 5.0


class WebhookSettings(CommonSettings):
    """The ``SLUICE_WEBHOOK_*`` environment variables."""

    webhook_secret: SecretStr = Field(
        default=SecretStr(""),
        description="Shared secret of the X-Sluice-Signature HMAC; notices go unsigned when empty.",
    )
    webhook_max_attempts: int = Field(default=6, ge=1, description="POSTs per notice and URL, in all.")
    webhook_backoff_seconds: float = Field(
        default=1.0, gt=0, description="Wait before the first retry; doubled for each further one."
    )
    webhook_max_backoff_seconds: float = Field(
        default=60.0, gt=0, description="Longest wait between two tries."
    )
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, description="Time limit of one POST.")
    webhook_max_in_flight: int = Field(default=16, ge=1, description="Run events handled at once.")


@dataclass(frozen=True, kw_only=True)
class WebhookConfig:
    secret: str = ""
    """Key of the HMAC-SHA256 signature; "" sends notices unsigned."""
    max_attempts: int = 6
    """POSTs of one notice to one URL, the first included."""
    backoff_seconds: float = 1.0
    """Wait after the first failed POST; doubled after each further failure."""
    max_backoff_seconds: float = 60.0
    """Longest wait between two POSTs."""
    timeout_seconds: float = 10.0
    """Time limit of one POST, connection included."""
    max_in_flight: int = 16
    """Run events held (being delivered) at once."""
    grace_seconds: float = 2.0
    """On close, how long deliveries in progress may take before they are cancelled (their
    events are then delivered again after a restart)."""

    @classmethod
    def from_settings(cls, settings: WebhookSettings) -> Self:
        return cls(
            secret=settings.webhook_secret.get_secret_value(),
            max_attempts=settings.webhook_max_attempts,
            backoff_seconds=settings.webhook_backoff_seconds,
            max_backoff_seconds=settings.webhook_max_backoff_seconds,
            timeout_seconds=settings.webhook_timeout_seconds,
            max_in_flight=settings.webhook_max_in_flight,
        )

    def backoff(self, failed_attempts: int) -> float:
        """Seconds to wait after ``failed_attempts`` (≥ 1) failed POSTs."""
        return float(min(self.backoff_seconds * 2 ** (failed_attempts - 1), self.max_backoff_seconds))


# --- pure parts -----------------------------------------------------------------------------


def check_webhook_url(url: str, *, field: str = "webhook_url") -> str:
    """The URL stripped ("" stays ""). Raises InvalidArgument unless it is an absolute
    http(s) URL with a host and no credentials."""
    url = url.strip()
    if not url:
        return ""
    if len(url) > MAX_URL_LENGTH:
        raise InvalidArgument(f"{field} is longer than {MAX_URL_LENGTH} characters", field=field)
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise InvalidArgument(f"{field} {url!r} is not a valid URL: {error}", field=field) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidArgument(
            f"{field} must be an absolute http:// or https:// URL, got {url!r}", field=field
        )
    if parts.username is not None or parts.password is not None:
        raise InvalidArgument(f"{field} must not carry credentials", field=field)
    if port == 0 or any(ch.isspace() for ch in url):
        raise InvalidArgument(f"{field} {url!r} is not a valid URL", field=field)
    return url


def signature(secret: str | bytes, body: bytes) -> str:
    """The X-Sluice-Signature value of ``body``: ``sha256=<hex HMAC-SHA256>``."""
    key = secret.encode() if isinstance(secret, str) else secret
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def _time(value: datetime | None) -> str | None:
    if value is None:
        return None
    return encode_datetime(value).replace("+00:00", "Z")


def notice_body(
    *,
    delivery_id: str,
    state: RuntimeState,
    error: common_pb2.Status | None,
    run: RunRecord,
    experiment: ExperimentRecord | None,
    recurring_run: RecurringRunRecord | None,
) -> bytes:
    """The JSON body POSTed for a run that reached ``state``: the same bytes on every
    attempt, so the signature and the delivery id identify one notice."""
    document: dict[str, JsonValue] = {
        "type": EVENT_TYPE,
        "delivery_id": delivery_id,
        "run": {
            "run_id": run.run_id,
            "display_name": run.display_name,
            "description": run.description,
            "state": state.value,
            "error": None if error is None else {"code": error.code, "message": error.message},
            "experiment_id": run.experiment_id,
            "recurring_run_id": run.recurring_run_id,
            "pipeline_id": run.pipeline_id,
            "pipeline_version_id": run.pipeline_version_id,
            "namespace": run.namespace,
            "created_at": _time(run.created_at),
            "scheduled_at": _time(run.scheduled_at),
            "finished_at": _time(run.finished_at),
        },
        "experiment": None
        if experiment is None
        else {"experiment_id": experiment.experiment_id, "display_name": experiment.display_name},
        "recurring_run": None
        if recurring_run is None
        else {
            "recurring_run_id": recurring_run.recurring_run_id,
            "display_name": recurring_run.display_name,
        },
    }
    return json.dumps(document, separators=(",", ":"), sort_keys=True).encode()


def finished_run_event(data: bytes) -> events_pb2.RunEvent | None:
    """The event in a SLUICE_EVENTS message if it says a run reached a terminal state."""
    event = events_pb2.RunEvent()
    try:
        json_format.Parse(data, event, ignore_unknown_fields=True)
    except json_format.ParseError:
        logger.warning("undecodable run event skipped: %r", data[:200])
        return None
    if event.kind != events_pb2.RunEvent.RUN_STATE_CHANGED or not event.run_id:
        return None
    name = common_pb2.RuntimeState.Name(event.state)
    if name not in {state.value for state in TERMINAL_STATES}:
        return None
    return event


@dataclass(frozen=True)
class Notice:
    """One POST to make: a body for a URL."""

    url: str
    body: bytes
    delivery_id: str
    run_id: str


# --- the sender ---------------------------------------------------------------------------


class WebhookSender:
    """Delivers run-finished notices from the ``webhooks`` consumer; see the module docs.

    `start` binds the consumer and starts reading; `aclose` (idempotent) stops reading,
    lets deliveries in progress finish within the grace period and hands the rest back.
    """

    def __init__(
        self,
        *,
        store: Store,
        bus: EventBus,
        config: WebhookConfig | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.config = config or WebhookConfig()
        self._store = store
        self._bus = bus
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        self._queue: WorkQueue | None = None
        self._reader: asyncio.Task[None] | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self._closed = False
        # Said once, when the first webhook goes out: most installations send none.
        self._warned_unsigned = False

    async def start(self) -> None:
        if self._reader is not None or self._closed:
            return
        self._client = httpx.AsyncClient(
            timeout=self.config.timeout_seconds, transport=self._transport, follow_redirects=False
        )
        self._queue = await self._bus.work_queue(
            EVENTS_STREAM, WEBHOOKS_CONSUMER, max_in_flight=self.config.max_in_flight
        )
        self._reader = asyncio.create_task(self._read(self._queue), name="webhooks")

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._queue is not None:
            await self._queue.aclose()
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
        handlers = list(self._handlers)
        if handlers:
            _, pending = await asyncio.wait(handlers, timeout=self.config.grace_seconds)
            for task in pending:
                task.cancel()
            await asyncio.gather(*handlers, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def _read(self, queue: WorkQueue) -> None:
        while not self._closed:
            try:
                item = await anext(queue)
            except StopAsyncIteration:
                return
            except Unavailable as error:
                logger.warning("webhook event queue unavailable: %s", error)
                await asyncio.sleep(1.0)
                continue
            self._spawn(self._handle(item))

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coroutine)
        self._handlers.add(task)
        task.add_done_callback(self._handlers.discard)

    async def _handle(self, item: WorkItem) -> None:
        try:
            event = finished_run_event(item.data)
            notices = [] if event is None else await self._notices(event)
            if notices:
                async with asyncio.TaskGroup() as group:
                    for notice in notices:
                        group.create_task(self._deliver(notice, item))
            await item.ack()
        except asyncio.CancelledError:
            # Closing: hand the event back so the next sender delivers it without waiting.
            with contextlib.suppress(SluiceError):
                await item.nak()
            raise
        except SluiceError as error:
            logger.warning("webhook event %d not handled (%s); it will come again", item.sequence, error)
            with contextlib.suppress(SluiceError):
                await item.nak(delay=self.config.backoff_seconds)
        except Exception:
            logger.exception("webhook event %d not handled; it will come again", item.sequence)
            with contextlib.suppress(SluiceError):
                await item.nak(delay=self.config.backoff_seconds)

    async def _notices(self, event: events_pb2.RunEvent) -> list[Notice]:
        try:
            run = await self._store.get_run(event.run_id)
        except NotFound:
            return []
        experiment = await self._find(self._store.get_experiment, run.experiment_id)
        recurring_run = await self._find(self._store.get_recurring_run, run.recurring_run_id)
        urls = [
            owner.webhook_url
            for owner in (experiment, recurring_run)
            if owner is not None and owner.webhook_url
        ]
        if not urls:
            return []
        body = notice_body(
            delivery_id=event.event_id,
            state=RuntimeState(common_pb2.RuntimeState.Name(event.state)),
            error=event.error if event.HasField("error") else None,
            run=run,
            experiment=experiment,
            recurring_run=recurring_run,
        )
        # One notice per distinct URL: an experiment and its recurring run may share one.
        return [
            Notice(url=url, body=body, delivery_id=event.event_id, run_id=run.run_id)
            for url in dict.fromkeys(urls)
        ]

    @staticmethod
    async def _find(get: Callable[[str], Awaitable[R]], record_id: str) -> R | None:
        if not record_id:
            return None
        try:
            return await get(record_id)
        except NotFound:
            return None

    async def _deliver(self, notice: Notice, item: WorkItem) -> None:
        """POST until a 2xx answer or `max_attempts` failures; never raises for the
        receiver's failures (they are logged)."""
        config = self.config
        for attempt in range(1, config.max_attempts + 1):
            problem = await self._post(notice, attempt)
            if problem is None:
                logger.info(
                    "webhook for run %s delivered to %s (attempt %d)", notice.run_id, notice.url, attempt
                )
                return
            if attempt == config.max_attempts:
                logger.error(
                    "webhook for run %s to %s failed %d times, giving up: %s",
                    notice.run_id,
                    notice.url,
                    attempt,
                    problem,
                )
                return
            delay = config.backoff(attempt)
            logger.warning(
                "webhook for run %s to %s failed (attempt %d: %s); retrying in %.1fs",
                notice.run_id,
                notice.url,
                attempt,
                problem,
                delay,
            )
            await self._wait(delay, item)

    async def _post(self, notice: Notice, attempt: int) -> str | None:
        """None when the receiver took the notice, otherwise what went wrong."""
        assert self._client is not None
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "sluice-webhooks/1",
            EVENT_HEADER: EVENT_TYPE,
            DELIVERY_HEADER: notice.delivery_id,
            ATTEMPT_HEADER: str(attempt),
        }
        if self.config.secret:
            headers[SIGNATURE_HEADER] = signature(self.config.secret, notice.body)
        elif not self._warned_unsigned:
            self._warned_unsigned = True
            logger.warning("SLUICE_WEBHOOK_SECRET is not set: run-finished webhooks go out unsigned")
        try:
            response = await self._client.post(notice.url, content=notice.body, headers=headers)
        except httpx.HTTPError as error:
            return f"{type(error).__name__}: {error}"
        if response.is_success:
            return None
        return f"HTTP {response.status_code}"

    async def _wait(self, delay: float, item: WorkItem) -> None:
        """Sleep ``delay`` seconds, keeping the event ours (in-progress heartbeats)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + delay
        while (remaining := deadline - loop.time()) > 0:
            await asyncio.sleep(min(remaining, _HEARTBEAT_SECONDS))
            with contextlib.suppress(SluiceError):
                await item.in_progress()
