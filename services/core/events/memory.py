"""An in-process event bus with JetStream's semantics, for fast tests of other services.

`MemoryBroker` plays the nats-server: several `MemoryBus` objects on one broker behave like
processes connected to one server (shared work queues, broadcasts reach all of them).
Same behaviour as `NatsBus` where the contract tests look: dedupe by ``msg_id`` within the
duplicate window, each work item to one queue at a time, redelivery after ``ack_wait``
unless ``in_progress`` was called, ``max_deliver``, replay from any sequence.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from services.core.errors import InvalidArgument, NotFound, Unavailable
from services.core.events.bus import EventBus, StreamMessage, StreamState, Subscription
from services.core.events.config import BusConfig
from services.core.events.subjects import (
    CONSUMERS,
    STREAMS,
    ConsumerSpec,
    Retention,
    StreamSpec,
    subject_matches,
)
from services.core.events.work import WorkItem, WorkQueue

logger = logging.getLogger(__name__)

T = TypeVar("T")


class _End:
    """Marks a closed feed's queue."""


_END = _End()


class _Feed(Subscription[T]):
    def __init__(self, pattern: str, registry: set[_Feed[T]], bus: MemoryBus) -> None:
        super().__init__(on_close=bus._forget)
        self.pattern = pattern
        self._registry = registry
        self._queue: asyncio.Queue[T | _End] = asyncio.Queue()

    def push(self, item: T) -> None:
        if not self.closed:
            self._queue.put_nowait(item)

    async def __anext__(self) -> T:
        item = await self._queue.get()
        if isinstance(item, _End):
            self._queue.put_nowait(item)  # for the next reader, if any
            raise StopAsyncIteration
        return item

    async def _release(self) -> None:
        self._registry.discard(self)
        while not self._queue.empty():
            self._queue.get_nowait()
        self._queue.put_nowait(_END)


class _Stream:
    def __init__(self, spec: StreamSpec, config: BusConfig) -> None:
        self.spec = spec
        self.messages: dict[int, StreamMessage] = {}
        self.last_sequence = 0
        self.feeds: set[_Feed[StreamMessage]] = set()
        self.consumers: dict[str, _Consumer] = {}
        self._msg_ids: dict[str, tuple[int, float]] = {}
        self.configure(config)

    def configure(self, config: BusConfig) -> None:
        self.max_age = config.max_age_for(self.spec)
        self.duplicate_window = config.duplicate_window

    def append(self, subject: str, data: bytes, msg_id: str | None) -> int:
        self.prune()
        now = time.monotonic()
        if msg_id is not None and msg_id in self._msg_ids:
            return self._msg_ids[msg_id][0]
        self.last_sequence += 1
        message = StreamMessage(
            subject=subject, data=data, sequence=self.last_sequence, time=datetime.now(UTC)
        )
        self.messages[message.sequence] = message
        if msg_id is not None:
            self._msg_ids[msg_id] = (message.sequence, now)
        for feed in list(self.feeds):
            if subject_matches(feed.pattern, subject):
                feed.push(message)
        for consumer in self.consumers.values():
            consumer.notify()
        return message.sequence

    def remove(self, sequence: int) -> None:
        if self.spec.retention is Retention.WORK_QUEUE:
            self.messages.pop(sequence, None)

    def state(self) -> StreamState:
        self.prune()
        first = next(iter(self.messages), self.last_sequence + 1 if self.last_sequence else 0)
        return StreamState(
            messages=len(self.messages), first_sequence=first, last_sequence=self.last_sequence
        )

    def prune(self) -> None:
        # Both dicts are in insertion order, i.e. oldest first: stop at the first young one.
        horizon = time.monotonic() - self.duplicate_window
        while self._msg_ids and next(iter(self._msg_ids.values()))[1] < horizon:
            del self._msg_ids[next(iter(self._msg_ids))]
        if self.max_age is not None:
            oldest = datetime.now(UTC) - timedelta(seconds=self.max_age)
            while self.messages and next(iter(self.messages.values())).time < oldest:
                del self.messages[next(iter(self.messages))]


@dataclass(slots=True)
class _Pending:
    delivery: int
    deadline: float
    """Monotonic time after which the message is handed out again."""


class _Consumer:
    """A durable pull consumer with explicit acks."""

    def __init__(self, stream: _Stream, spec: ConsumerSpec, config: BusConfig) -> None:
        self.stream = stream
        self.spec = spec
        self._cursor = 1  # the next sequence never delivered
        self._redeliver: list[int] = []  # sorted: JetStream hands redeliveries out first, oldest first
        self._pending: dict[int, _Pending] = {}
        self._deliveries: dict[int, int] = {}
        self._changed = asyncio.Event()
        self.configure(config)

    def configure(self, config: BusConfig) -> None:
        self.ack_wait = config.ack_wait
        self.max_deliver = config.max_deliver

    def take(self, count: int) -> list[tuple[StreamMessage, int]]:
        now = time.monotonic()
        self._expire(now)
        taken: list[tuple[StreamMessage, int]] = []
        while self._redeliver and len(taken) < count:
            message = self.stream.messages.get(self._redeliver.pop(0))
            if message is not None:
                taken.append(self._deliver(message, now))
        while len(taken) < count and self._cursor <= self.stream.last_sequence:
            message = self.stream.messages.get(self._cursor)
            self._cursor += 1
            if message is not None and subject_matches(self.spec.filter_subject, message.subject):
                taken.append(self._deliver(message, now))
        return taken

    def next_deadline(self) -> float | None:
        return min((p.deadline for p in self._pending.values()), default=None)

    async def wait(self, max_wait: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), max_wait)

    def notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def ack(self, sequence: int) -> None:
        # Accepted from a stale delivery too, as JetStream does: the work was done.
        self._pending.pop(sequence, None)
        self._deliveries.pop(sequence, None)
        with contextlib.suppress(ValueError):
            self._redeliver.remove(sequence)
        self.stream.remove(sequence)

    def nak(self, sequence: int, delivery: int, delay: float | None) -> None:
        pending = self._pending.get(sequence)
        if pending is None or pending.delivery != delivery:
            return
        if delay:
            pending.deadline = time.monotonic() + delay
        else:
            del self._pending[sequence]
            self._requeue(sequence)
        self.notify()

    def touch(self, sequence: int, delivery: int) -> None:
        pending = self._pending.get(sequence)
        if pending is not None and pending.delivery == delivery:
            pending.deadline = time.monotonic() + self.ack_wait

    def _deliver(self, message: StreamMessage, now: float) -> tuple[StreamMessage, int]:
        delivery = self._deliveries.get(message.sequence, 0) + 1
        self._deliveries[message.sequence] = delivery
        self._pending[message.sequence] = _Pending(delivery, now + self.ack_wait)
        return message, delivery

    def _expire(self, now: float) -> None:
        for sequence, pending in list(self._pending.items()):
            if pending.deadline <= now:
                del self._pending[sequence]
                self._requeue(sequence)

    def _requeue(self, sequence: int) -> None:
        if self.max_deliver != -1 and self._deliveries.get(sequence, 0) >= self.max_deliver:
            # Like JetStream: no more deliveries, but the message stays in its stream.
            self._deliveries.pop(sequence, None)
            logger.warning(
                "work item %d of %s/%s reached max_deliver=%d; not delivered again",
                sequence,
                self.spec.stream,
                self.spec.name,
                self.max_deliver,
            )
            return
        bisect.insort(self._redeliver, sequence)


class _MemoryWorkItem(WorkItem):
    def __init__(self, consumer: _Consumer, message: StreamMessage, delivery: int, bus: MemoryBus) -> None:
        super().__init__(
            subject=message.subject, data=message.data, sequence=message.sequence, delivery_count=delivery
        )
        self._consumer = consumer
        self._bus = bus

    async def _ack(self) -> None:
        self._bus._require_open()
        self._consumer.ack(self.sequence)

    async def _nak(self, delay: float | None) -> None:
        self._bus._require_open()
        self._consumer.nak(self.sequence, self.delivery_count, delay)

    async def _term(self) -> None:
        self._bus._require_open()
        # A terminated message leaves a work-queue stream, as an acked one does.
        self._consumer.ack(self.sequence)

    async def _in_progress(self) -> None:
        self._bus._require_open()
        self._consumer.touch(self.sequence, self.delivery_count)


class _MemoryWorkQueue(WorkQueue):
    def __init__(self, consumer: _Consumer, *, max_in_flight: int, bus: MemoryBus) -> None:
        super().__init__(
            stream=consumer.spec.stream,
            consumer=consumer.spec.name,
            max_in_flight=max_in_flight,
            on_close=bus._forget,
        )
        self._consumer = consumer
        self._bus = bus

    async def _pull(self, count: int, max_wait: float) -> list[WorkItem]:
        deadline = time.monotonic() + max_wait
        while True:
            self._bus._require_open()
            taken = self._consumer.take(count)
            if taken:
                return [_MemoryWorkItem(self._consumer, m, d, self._bus) for m, d in taken]
            now = time.monotonic()
            if now >= deadline:
                return []
            # Wake for a publish or nak (notify) or for the next ack_wait to run out.
            wake = self._consumer.next_deadline()
            until = deadline if wake is None else min(deadline, wake)
            await self._consumer.wait(max(until - now, 0.0))

    async def _release(self) -> None:
        return None


class MemoryBroker:
    """The state that `MemoryBus` objects share, as processes share one nats-server."""

    def __init__(self) -> None:
        self.streams: dict[str, _Stream] = {}
        self.broadcasts: set[_Feed[bytes]] = set()

    def stream_for(self, subject: str) -> _Stream | None:
        for stream in self.streams.values():
            if any(subject_matches(pattern, subject) for pattern in stream.spec.subjects):
                return stream
        return None


class MemoryBus(EventBus):
    """The in-process `EventBus`; pass one ``broker`` to several buses to share state."""

    def __init__(self, *, config: BusConfig | None = None, broker: MemoryBroker | None = None) -> None:
        super().__init__()
        self.config = config or BusConfig()
        self.broker = broker or MemoryBroker()

    async def ensure_streams(self) -> None:
        self._require_open()
        streams = self.broker.streams
        for spec in STREAMS:
            if spec.name in streams:
                streams[spec.name].configure(self.config)
            else:
                streams[spec.name] = _Stream(spec, self.config)
        for consumer_spec in CONSUMERS:
            stream = streams[consumer_spec.stream]
            if consumer_spec.name in stream.consumers:
                stream.consumers[consumer_spec.name].configure(self.config)
            else:
                stream.consumers[consumer_spec.name] = _Consumer(stream, consumer_spec, self.config)

    async def publish(self, subject: str, data: bytes, *, msg_id: str | None = None) -> int:
        self._require_open()
        stream = self.broker.stream_for(subject)
        if stream is None:
            raise Unavailable(f"no stream accepts subject {subject!r}")
        return stream.append(subject, data, msg_id)

    async def replay(self, subject_filter: str, *, after_sequence: int = 0) -> Subscription[StreamMessage]:
        self._require_open()
        stream = self.broker.stream_for(subject_filter)
        if stream is None:
            raise NotFound("stream for subject", subject_filter)
        if stream.spec.retention is Retention.WORK_QUEUE:
            # As JetStream: a work queue's messages belong to its one consumer.
            raise InvalidArgument(f"cannot replay {subject_filter!r}: {stream.spec.name} is a work queue")
        stream.prune()  # messages past max_age are not replayed
        feed = _Feed(subject_filter, stream.feeds, self)
        for sequence, message in stream.messages.items():
            if sequence > after_sequence and subject_matches(subject_filter, message.subject):
                feed.push(message)
        # No await since the backlog was read: no message can slip in between.
        stream.feeds.add(feed)
        return self._adopt(feed)

    async def work_queue(self, stream: str, consumer: str, *, max_in_flight: int) -> WorkQueue:
        self._require_open()
        known = self.broker.streams.get(stream)
        if known is None or consumer not in known.consumers:
            raise NotFound("consumer", f"{stream}/{consumer}")
        return self._adopt(_MemoryWorkQueue(known.consumers[consumer], max_in_flight=max_in_flight, bus=self))

    async def broadcast(self, subject: str, data: bytes) -> None:
        self._require_open()
        for feed in list(self.broker.broadcasts):
            if subject_matches(feed.pattern, subject):
                feed.push(data)

    async def subscribe_broadcast(self, subject: str) -> Subscription[bytes]:
        self._require_open()
        feed: _Feed[bytes] = _Feed(subject, self.broker.broadcasts, self)
        self.broker.broadcasts.add(feed)
        return self._adopt(feed)

    async def stream_state(self, stream: str) -> StreamState:
        self._require_open()
        known = self.broker.streams.get(stream)
        if known is None:
            raise NotFound("stream", stream)
        return known.state()

    async def _connect(self) -> None:
        return None

    async def _disconnect(self) -> None:
        return None
