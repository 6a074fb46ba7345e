"""The JetStream implementation of `EventBus`, on nats-py."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription as NatsSubscription
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)

from services.core.errors import FailedPrecondition, InvalidArgument, NotFound, Unavailable
from services.core.events.bus import EventBus, StreamMessage, StreamState, Subscription
from services.core.events.config import BusConfig
from services.core.events.subjects import CONSUMERS, STREAMS
from services.core.events.work import WorkItem, WorkQueue

logger = logging.getLogger(__name__)

T = TypeVar("T")

_MSG_ID_HEADER = "Nats-Msg-Id"
_STREAM_CONFIG_CONFLICT = 10058  # "stream name already in use with a different configuration"
# A second, short pull tops a batch up with messages already waiting; if another replica
# took them meanwhile, this is all it costs.
_TOP_UP_TIMEOUT = 0.05
# Idle heartbeat of replay feeds; two missed ones make nats-py rebuild the feed (see replay).
_FEED_HEARTBEAT = 1.0
# Pauses between the tries of a publish while the connection is re-established.
_RETRY_PAUSE = 0.1
_RETRY_PAUSE_MAX = 1.0


@contextlib.contextmanager
def _translated(action: str) -> Iterator[None]:
    """Raise nats-py's connection-level failures as `Unavailable`."""
    try:
        yield
    except (nats.errors.Error, OSError, TimeoutError) as exc:
        raise Unavailable(f"{action}: {exc}") from exc


def _stream_message(msg: Msg) -> StreamMessage:
    metadata = msg.metadata
    return StreamMessage(
        subject=msg.subject, data=msg.data, sequence=metadata.sequence.stream, time=metadata.timestamp
    )


def _payload(msg: Msg) -> bytes:
    return msg.data


class _NatsFeed(Subscription[T]):
    def __init__(
        self,
        sub: NatsSubscription,
        convert: Callable[[Msg], T],
        *,
        on_close: Callable[[Subscription[object]], None],
    ) -> None:
        super().__init__(on_close=on_close)
        self._sub = sub
        self._messages = sub.messages
        self._convert = convert

    async def __anext__(self) -> T:
        if self.closed:
            raise StopAsyncIteration
        try:
            msg = await anext(self._messages)
        except StopAsyncIteration:
            if self.closed:
                raise
            # nats-py ends the iterator quietly when its connection closes for good.
            raise Unavailable("the NATS connection behind this subscription closed") from None
        return self._convert(msg)

    async def _release(self) -> None:
        # Fails only when the connection is gone, which removed the subscription anyway.
        with contextlib.suppress(nats.errors.Error):
            await self._sub.unsubscribe()


class _NatsWorkItem(WorkItem):
    def __init__(self, msg: Msg, *, client: Client, ack_timeout: float) -> None:
        metadata = msg.metadata
        super().__init__(
            subject=msg.subject,
            data=msg.data,
            sequence=metadata.sequence.stream,
            delivery_count=metadata.num_delivered,
        )
        self._msg = msg
        self._client = client
        self._ack_timeout = ack_timeout

    async def _ack(self) -> None:
        # Waits for the server's confirmation: "acked" must mean the work will not come back.
        with _translated(f"ack work item {self.sequence}"):
            await self._msg.ack_sync(timeout=self._ack_timeout)

    async def _nak(self, delay: float | None) -> None:
        with _translated(f"nak work item {self.sequence}"):
            await self._msg.nak(delay=delay)

    async def _term(self) -> None:
        with _translated(f"term work item {self.sequence}"):
            await self._msg.term()

    async def _in_progress(self) -> None:
        # A +WPI is a plain publish, which nats-py buffers while it reconnects and which a
        # restarted server may get after it has handed the message to another worker: only
        # a round trip on one unbroken connection proves the server has it.
        client = self._client
        reconnects = client.stats["reconnects"]
        action = f"heartbeat work item {self.sequence}"
        if not client.is_connected:
            raise Unavailable(f"{action}: not connected to NATS")
        with _translated(action):
            await self._msg.in_progress()
            await client.flush(timeout=max(1, math.ceil(self._ack_timeout)))
        if not client.is_connected or client.stats["reconnects"] != reconnects:
            raise Unavailable(f"{action}: the connection to NATS broke meanwhile")


class _NatsWorkQueue(WorkQueue):
    def __init__(
        self,
        js: JetStreamContext,
        *,
        client: Client,
        stream: str,
        consumer: str,
        max_in_flight: int,
        ack_timeout: float,
        on_close: Callable[[WorkQueue], None],
    ) -> None:
        super().__init__(stream=stream, consumer=consumer, max_in_flight=max_in_flight, on_close=on_close)
        self._js = js
        self._client = client
        self._ack_timeout = ack_timeout
        self._sub: JetStreamContext.PullSubscription | None = None

    async def bind(self) -> None:
        with _translated(f"bind to consumer {self.stream}/{self.consumer}"):
            self._sub = await self._js.pull_subscribe_bind(self.consumer, stream=self.stream)

    async def _pull(self, count: int, max_wait: float) -> list[WorkItem]:
        if self._sub is None:
            raise Unavailable(f"work queue {self.stream}/{self.consumer} is not bound")
        with _translated(f"pull from {self.stream}/{self.consumer}"):
            # A batch pull would wait out its whole expiry for a full batch: pull one
            # (returns as soon as one arrives), then top up with what is already waiting.
            try:
                msgs = await self._sub.fetch(1, timeout=max_wait)
            except TimeoutError:
                return []
            backlog = msgs[-1].metadata.num_pending
            if count > 1 and backlog > 0:
                with contextlib.suppress(TimeoutError):
                    msgs += await self._sub.fetch(min(count - 1, backlog), timeout=_TOP_UP_TIMEOUT)
        return [_NatsWorkItem(msg, client=self._client, ack_timeout=self._ack_timeout) for msg in msgs]

    async def _release(self) -> None:
        if self._sub is not None:
            with contextlib.suppress(nats.errors.Error, ValueError):
                await self._sub.unsubscribe()


class NatsBus(EventBus):
    """`EventBus` on NATS JetStream.

    Args:
        servers: ``nats://host:port`` URL(s).
        config: stream and consumer limits applied by `ensure_streams`.
        name: connection name shown by the server's monitoring.
        request_timeout: seconds to wait for a JetStream API answer, publish ack or ack.
        connect_timeout: seconds for one TCP connect attempt.
        reconnect_wait: seconds between two connect attempts. Short: while the bus is
            disconnected, work items get no heartbeat (see `WorkItem.in_progress`).
        max_reconnect_attempts: attempts per server, at start-up and after a lost
            connection, before the bus gives up (its calls then raise `Unavailable`).
        publish_retry_seconds: how long `publish` keeps trying a message that has a
            ``msg_id`` (the stream drops a copy it already has, so another try is safe)
            while the server does not confirm, e.g. during a restart of nats-server;
            0: one try.
    """

    def __init__(
        self,
        servers: str | Sequence[str],
        *,
        config: BusConfig | None = None,
        name: str = "sluice",
        request_timeout: float = 5.0,
        connect_timeout: float = 2.0,
        reconnect_wait: float = 0.5,
        max_reconnect_attempts: int = 240,
        publish_retry_seconds: float = 30.0,
    ) -> None:
        super().__init__()
        self.servers = [servers] if isinstance(servers, str) else list(servers)
        self.config = config or BusConfig()
        self._name = name
        self._request_timeout = request_timeout
        self._connect_timeout = connect_timeout
        self._reconnect_wait = reconnect_wait
        self._max_reconnect_attempts = max_reconnect_attempts
        self._publish_retry = publish_retry_seconds
        self._client: Client | None = None
        self._jetstream: JetStreamContext | None = None

    async def ensure_streams(self) -> None:
        js = self._js()
        for spec in STREAMS:
            stream = StreamConfig(
                name=spec.name,
                description=spec.description,
                subjects=list(spec.subjects),
                retention=RetentionPolicy(spec.retention.value),
                storage=StorageType(self.config.storage.value),
                num_replicas=self.config.replicas,
                duplicate_window=self.config.duplicate_window,
                max_age=self.config.max_age_for(spec),
                discard=DiscardPolicy.OLD,
            )
            await self._put_stream(js, stream)
        for consumer in CONSUMERS:
            durable = ConsumerConfig(
                name=consumer.name,
                durable_name=consumer.name,
                filter_subject=consumer.filter_subject,
                deliver_policy=DeliverPolicy.ALL,
                ack_policy=AckPolicy.EXPLICIT,
                ack_wait=self.config.ack_wait,
                max_deliver=self.config.max_deliver,
            )
            # The server creates the consumer, or updates it in place if it exists.
            with _translated(f"create consumer {consumer.stream}/{consumer.name}"):
                try:
                    await js.add_consumer(consumer.stream, durable)
                except nats.js.errors.BadRequestError as exc:
                    raise FailedPrecondition(
                        f"consumer {consumer.stream}/{consumer.name}: {exc.description}"
                    ) from exc

    async def publish(self, subject: str, data: bytes, *, msg_id: str | None = None) -> int:
        """See `EventBus.publish`; a message with a ``msg_id`` is tried again for up to
        ``publish_retry_seconds`` while the connection is not closed for good."""
        js = self._js()
        headers = None if msg_id is None else {_MSG_ID_HEADER: msg_id}
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (self._publish_retry if msg_id is not None else 0.0)
        pause = _RETRY_PAUSE
        while True:
            try:
                return await self._publish_once(js, subject, data, headers)
            except Unavailable as exc:
                gone = self._closed or self._client is None or self._client.is_closed
                if gone or loop.time() + pause > deadline:
                    raise
                logger.info("publish to %s not confirmed, trying again: %s", subject, exc)
            await asyncio.sleep(pause)
            pause = min(pause * 2, _RETRY_PAUSE_MAX)

    async def _publish_once(
        self, js: JetStreamContext, subject: str, data: bytes, headers: dict[str, str] | None
    ) -> int:
        with _translated(f"publish to {subject}"):
            try:
                ack = await js.publish(subject, data, headers=headers)
            except nats.js.errors.NoStreamResponseError as exc:
                raise Unavailable(f"no stream accepts subject {subject!r} (or JetStream is down)") from exc
        seq: int = ack.seq
        return seq

    async def replay(self, subject_filter: str, *, after_sequence: int = 0) -> Subscription[StreamMessage]:
        js = self._js()
        with _translated(f"replay {subject_filter}"):
            try:
                stream = await js.find_stream_name_by_subject(subject_filter)
            except nats.js.errors.NotFoundError as exc:
                raise NotFound("stream for subject", subject_filter) from exc
            start = ConsumerConfig()
            policy = DeliverPolicy.ALL
            if after_sequence > 0:
                policy = DeliverPolicy.BY_START_SEQUENCE
                start.opt_start_seq = after_sequence + 1
            # Ordered consumer: ephemeral, flow-controlled, and nats-py recreates it from the
            # last sequence seen when it detects a gap or two missed idle heartbeats: the
            # server forgets it on restart, so the heartbeat bounds how long a feed stalls.
            try:
                sub = await js.subscribe(
                    subject_filter,
                    stream=stream,
                    ordered_consumer=True,
                    deliver_policy=policy,
                    config=start,
                    idle_heartbeat=_FEED_HEARTBEAT,
                )
            except nats.js.errors.BadRequestError as exc:
                # E.g. a work-queue stream: its messages belong to its one consumer.
                raise InvalidArgument(f"cannot replay {subject_filter!r}: {exc.description}") from exc
        return self._adopt(_NatsFeed(sub, _stream_message, on_close=self._forget))

    async def work_queue(self, stream: str, consumer: str, *, max_in_flight: int) -> WorkQueue:
        js = self._js()
        queue = _NatsWorkQueue(
            js,
            client=self._nc(),
            stream=stream,
            consumer=consumer,
            max_in_flight=max_in_flight,
            ack_timeout=self._request_timeout,
            on_close=self._forget,
        )
        with _translated(f"look up consumer {stream}/{consumer}"):
            try:
                await js.consumer_info(stream, consumer)
            except nats.js.errors.NotFoundError as exc:
                raise NotFound("consumer", f"{stream}/{consumer}") from exc
        await queue.bind()
        return self._adopt(queue)

    async def broadcast(self, subject: str, data: bytes) -> None:
        client = self._nc()
        with _translated(f"broadcast on {subject}"):
            await client.publish(subject, data)

    async def subscribe_broadcast(self, subject: str) -> Subscription[bytes]:
        client = self._nc()
        with _translated(f"subscribe to {subject}"):
            sub = await client.subscribe(subject)
        feed = self._adopt(_NatsFeed(sub, _payload, on_close=self._forget))
        try:
            # The round trip guarantees the server knows the subscription when we return.
            with _translated(f"subscribe to {subject}"):
                await client.flush(timeout=max(1, math.ceil(self._request_timeout)))
        except Unavailable:
            await feed.aclose()
            raise
        return feed

    async def stream_state(self, stream: str) -> StreamState:
        js = self._js()
        with _translated(f"read the state of stream {stream}"):
            try:
                info = await js.stream_info(stream)
            except nats.js.errors.NotFoundError as exc:
                raise NotFound("stream", stream) from exc
        state = info.state
        return StreamState(
            messages=state.messages, first_sequence=state.first_seq, last_sequence=state.last_seq
        )

    async def _connect(self) -> None:
        try:
            client = await nats.connect(
                servers=self.servers,
                name=self._name,
                allow_reconnect=True,
                connect_timeout=self._connect_timeout,
                reconnect_time_wait=self._reconnect_wait,
                max_reconnect_attempts=self._max_reconnect_attempts,
                error_cb=self._on_error,
                disconnected_cb=self._on_disconnected,
                reconnected_cb=self._on_reconnected,
                closed_cb=self._on_closed,
            )
        except (nats.errors.Error, OSError, TimeoutError) as exc:
            raise Unavailable(f"cannot connect to NATS at {', '.join(self.servers)}: {exc}") from exc
        self._client = client
        self._jetstream = client.jetstream(timeout=self._request_timeout)

    async def _disconnect(self) -> None:
        if self._client is None:
            return
        try:
            await self._client.close()
        except (nats.errors.Error, OSError) as exc:
            logger.warning("closing the NATS connection failed: %s", exc)

    async def _put_stream(self, js: JetStreamContext, stream: StreamConfig) -> None:
        with _translated(f"create stream {stream.name}"):
            try:
                await js.add_stream(stream)
            except nats.js.errors.BadRequestError as exc:
                if exc.err_code != _STREAM_CONFIG_CONFLICT:
                    raise FailedPrecondition(f"stream {stream.name}: {exc.description}") from exc
                try:
                    await js.update_stream(stream)
                except nats.js.errors.ServiceUnavailableError:
                    raise
                except nats.js.errors.APIError as update_exc:
                    # Refusals come as 400 or 500 ("can not change storage type").
                    raise FailedPrecondition(
                        f"stream {stream.name} cannot take the new configuration: {update_exc.description}"
                    ) from update_exc

    def _nc(self) -> Client:
        self._require_open()
        assert self._client is not None  # set by _connect, which start() ran
        return self._client

    def _js(self) -> JetStreamContext:
        self._require_open()
        assert self._jetstream is not None
        return self._jetstream

    async def _on_error(self, exc: Exception) -> None:
        logger.warning("NATS: %s", exc)

    async def _on_disconnected(self) -> None:
        if not self._closed:
            logger.warning("disconnected from NATS; reconnecting")

    async def _on_reconnected(self) -> None:
        logger.info("reconnected to NATS at %s", self._client.connected_url if self._client else "?")

    async def _on_closed(self) -> None:
        if not self._closed:
            logger.error("NATS connection closed for good: reconnect attempts ran out")
            self.lost.set()
