"""The event-bus interface every Sluice service uses, and the messages it moves.

The bus moves bytes; what they mean (JSON-encoded events from ``events.proto``) is the
caller's business. Two implementations share one contract test suite:
`services.core.events.nats_bus.NatsBus` (JetStream) and
`services.core.events.memory.MemoryBus` (in-process, for fast unit tests).
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Self, TypeVar

from services.core.errors import FailedPrecondition, Unavailable
from services.core.events.config import BusConfig
from services.core.events.work import WorkQueue

T_co = TypeVar("T_co", covariant=True)
_Child = TypeVar("_Child", bound="Subscription[object] | WorkQueue")


@dataclass(frozen=True, slots=True)
class StreamMessage:
    """A message read back from a stream."""

    subject: str
    data: bytes
    sequence: int
    """Position in its stream: increasing, unique per stream, with gaps under a filter."""
    time: datetime
    """When the stream stored it (UTC)."""


@dataclass(frozen=True, slots=True)
class StreamState:
    """What a stream holds right now."""

    messages: int
    first_sequence: int
    """Sequence of the oldest message kept; 0 while the stream never held one."""
    last_sequence: int
    """Sequence of the newest message ever stored (kept or not); 0 if none."""


class Subscription(AsyncIterator[T_co], ABC):
    """A live feed: ``async for`` waits for each next message until the feed is closed.

    Close it with `aclose` or ``async with``; closing the bus closes it too. Iteration then
    ends (``StopAsyncIteration``) at once, dropping messages not yet read. If the connection
    behind it is lost for good, iteration raises `Unavailable` instead of ending quietly, so
    a reader never mistakes a dead connection for the end of a stream.
    """

    def __init__(self, *, on_close: Callable[[Subscription[object]], None] | None = None) -> None:
        self._closed = False
        self._on_close = on_close

    @property
    def closed(self) -> bool:
        return self._closed

    async def aclose(self) -> None:
        """Stop the feed and release it on the server. Idempotent; never raises."""
        if self._closed:
            return
        self._closed = True
        if self._on_close is not None:
            self._on_close(self)
        await self._release()

    @abstractmethod
    async def _release(self) -> None:
        """Free what the feed holds; must not raise."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()


class EventBus(ABC):
    """Publish facts, replay them, share work, broadcast signals.

    Lifecycle: `start` (or ``async with``), then `aclose`, which closes every subscription
    and work queue the bus handed out. A closed bus cannot be started again. Every method
    but `start` and `aclose` raises `Unavailable` when the bus is not started or closed.
    """

    config: BusConfig
    """Limits of the streams and consumers `ensure_streams` sets up."""

    def __init__(self) -> None:
        self._started = False
        self._closed = False
        self._children: set[Subscription[object] | WorkQueue] = set()
        self.lost = asyncio.Event()
        """Set when the connection to the broker is gone for good (its reconnect attempts
        ran out) without `aclose`: the service cannot go on, and should exit."""

    async def start(self) -> None:
        """Connect. Idempotent.

        Raises:
            Unavailable: the broker cannot be reached.
            FailedPrecondition: the bus was closed.
        """
        if self._closed:
            raise FailedPrecondition("a closed event bus cannot be started again")
        if self._started:
            return
        await self._connect()
        self._started = True

    async def aclose(self) -> None:
        """Close every subscription and work queue, then disconnect. Idempotent; never raises."""
        if self._closed:
            return
        self._closed = True
        # Children first: their aclose() unsubscribes, which needs the live connection.
        for child in list(self._children):
            await child.aclose()
        if self._started:
            await self._disconnect()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    @abstractmethod
    async def ensure_streams(self) -> None:
        """Create or update the streams and consumers of `subjects` (STREAMS, CONSUMERS).

        Idempotent and safe to run from several replicas at once.

        Raises:
            FailedPrecondition: a stream exists with a setting that cannot change in place
                (storage, retention).
            Unavailable: the broker cannot be reached.
        """

    @abstractmethod
    async def publish(self, subject: str, data: bytes, *, msg_id: str | None = None) -> int:
        """Store ``data`` in the stream that owns ``subject``; return its stream sequence.

        A second publish with the same ``msg_id`` within the duplicate window stores
        nothing and returns the sequence of the first: retry a publish with its ``msg_id``.

        Raises:
            Unavailable: no stream owns ``subject`` (run `ensure_streams`), the broker did
                not confirm in time, or the bus is not connected. The message may or may
                not be stored: retry with the same ``msg_id``.
        """

    @abstractmethod
    async def replay(self, subject_filter: str, *, after_sequence: int = 0) -> Subscription[StreamMessage]:
        """Feed the stored messages matching ``subject_filter``, oldest first, then new ones.

        Starts after ``after_sequence`` (0: from the start); resume a broken feed with the
        last sequence seen. Meant for limits-retention streams (``SLUICE_EVENTS``).

        Raises:
            NotFound: no stream owns ``subject_filter``.
            InvalidArgument: the stream is a work queue.
            Unavailable: the broker cannot be reached.
        """

    @abstractmethod
    async def work_queue(self, stream: str, consumer: str, *, max_in_flight: int) -> WorkQueue:
        """Pull work from the durable ``consumer`` of ``stream``.

        Several queues on one consumer, in one process or many, share its messages: each
        message goes to one of them at a time.

        Raises:
            NotFound: the consumer does not exist (run `ensure_streams`).
            InvalidArgument: ``max_in_flight`` is below 1.
            Unavailable: the broker cannot be reached.
        """

    @abstractmethod
    async def broadcast(self, subject: str, data: bytes) -> None:
        """Send ``data`` to every current subscriber of ``subject``; nothing is stored.

        Raises:
            Unavailable: the bus is not connected.
        """

    @abstractmethod
    async def subscribe_broadcast(self, subject: str) -> Subscription[bytes]:
        """Receive broadcasts on ``subject`` (wildcards allowed) from now on.

        The subscription is registered with the broker when this returns.

        Raises:
            Unavailable: the broker cannot be reached.
        """

    @abstractmethod
    async def stream_state(self, stream: str) -> StreamState:
        """Count what ``stream`` holds (e.g. a work queue's backlog).

        Raises:
            NotFound: no such stream.
            Unavailable: the broker cannot be reached.
        """

    @abstractmethod
    async def _connect(self) -> None: ...

    @abstractmethod
    async def _disconnect(self) -> None:
        """Release the connection; must not raise."""

    def _require_open(self) -> None:
        if self._closed:
            raise Unavailable("the event bus is closed")
        if not self._started:
            raise Unavailable("the event bus is not started")

    def _adopt(self, child: _Child) -> _Child:
        """Keep ``child`` to close it with the bus; it must have been built with
        ``on_close=self._forget``."""
        self._children.add(child)
        return child

    def _forget(self, child: Subscription[object] | WorkQueue) -> None:
        self._children.discard(child)
