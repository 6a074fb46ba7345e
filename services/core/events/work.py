"""Work items pulled from a durable consumer, and the queue that hands them out.

The accounting that makes ``max_in_flight`` hold lives here, shared by every
implementation; an implementation only says how to pull up to ``n`` items and how to
settle one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial
from types import TracebackType
from typing import Self

from services.core.errors import FailedPrecondition, InvalidArgument, SluiceError

logger = logging.getLogger(__name__)

POLL_INTERVAL = 5.0
"""Seconds one pull waits on the broker while iterating; iteration then simply pulls again."""
_MIN_PULL = 0.05


class WorkItem(ABC):
    """One message of a work queue, held by one worker until it settles it.

    Settle it once: `ack` (done), `nak` (try again) or `term` (never again). Until then it
    takes one of its queue's ``max_in_flight`` slots. An item left unsettled for the
    consumer's ``ack_wait`` since delivery (or since the last `in_progress`) is delivered
    again, perhaps to another replica, with a higher `delivery_count`; acking the older
    delivery still removes the message.
    """

    def __init__(self, *, subject: str, data: bytes, sequence: int, delivery_count: int) -> None:
        self.subject = subject
        self.data = data
        self.sequence = sequence
        """Position in the stream: the same for every delivery of this message."""
        self.delivery_count = delivery_count
        """1 on the first delivery."""
        self._settled = False
        self._on_settle: Callable[[], None] | None = None

    @property
    def settled(self) -> bool:
        return self._settled

    async def ack(self) -> None:
        """Done: remove the message from its work queue.

        Raises:
            FailedPrecondition: the item was settled already.
            Unavailable: the broker did not confirm; the item stays unsettled, ack again.
        """
        await self._settle(self._ack)

    async def nak(self, delay: float | None = None) -> None:
        """Not done: deliver the message again, after ``delay`` seconds if given.

        Raises:
            FailedPrecondition: the item was settled already.
            Unavailable: the bus is not connected (the item comes back after ``ack_wait``).
        """
        await self._settle(partial(self._nak, delay))

    async def term(self) -> None:
        """Never deliver this message again (a poison message); it leaves the work queue.

        Raises:
            FailedPrecondition: the item was settled already.
            Unavailable: the bus is not connected.
        """
        await self._settle(self._term)

    async def in_progress(self) -> None:
        """Still working: restart the ``ack_wait`` clock. Call it well within ``ack_wait``.

        Returns once the broker has the heartbeat; a heartbeat that fails did not restart
        the clock, so the item may go to another worker when ``ack_wait`` has passed since
        the last one that returned.

        Raises:
            FailedPrecondition: the item was settled already.
            Unavailable: the bus is not connected, or the broker did not confirm.
        """
        if self._settled:
            raise FailedPrecondition(f"work item {self.sequence} is settled already")
        await self._in_progress()

    async def _settle(self, action: Callable[[], Awaitable[None]]) -> None:
        if self._settled:
            raise FailedPrecondition(f"work item {self.sequence} is settled already")
        # Marked before the await so that a concurrent second settle fails instead of racing.
        self._settled = True
        try:
            await action()
        except BaseException:
            self._settled = False
            raise
        if self._on_settle is not None:
            self._on_settle()

    @abstractmethod
    async def _ack(self) -> None: ...

    @abstractmethod
    async def _nak(self, delay: float | None) -> None: ...

    @abstractmethod
    async def _term(self) -> None: ...

    @abstractmethod
    async def _in_progress(self) -> None: ...


class WorkQueue(AsyncIterator[WorkItem], ABC):
    """Items of one durable consumer, never more than ``max_in_flight`` unsettled at once.

    ``async for item in queue`` waits for each next item until the queue is closed; it
    pulls as many items as there are free slots and hands them out one by one, so take
    them promptly (their ``ack_wait`` runs from the pull). `fetch` takes what arrives
    within ``max_wait``. Several tasks may iterate or fetch from one queue.
    Closing it (or its bus) ends iteration and hands back items pulled but not yet taken;
    items already taken stay the holder's to settle.
    """

    def __init__(
        self,
        *,
        stream: str,
        consumer: str,
        max_in_flight: int,
        on_close: Callable[[WorkQueue], None] | None = None,
        poll_interval: float = POLL_INTERVAL,
    ) -> None:
        if max_in_flight < 1:
            raise InvalidArgument("max_in_flight must be at least 1", field="max_in_flight")
        self.stream = stream
        self.consumer = consumer
        self.max_in_flight = max_in_flight
        self._poll_interval = poll_interval
        self._on_close = on_close
        self._buffer: deque[WorkItem] = deque()
        self._in_flight = 0
        self._pull_task: asyncio.Task[None] | None = None
        self._pull_error: Exception | None = None
        self._changed = asyncio.Event()
        self._closed = False

    @property
    def in_flight(self) -> int:
        """Items delivered to this queue and not settled yet, taken or not."""
        return self._in_flight

    @property
    def closed(self) -> bool:
        return self._closed

    async def fetch(self, max_items: int | None = None, *, max_wait: float = POLL_INTERVAL) -> list[WorkItem]:
        """Take up to ``max_items`` items (default: as many as free slots allow).

        Returns as soon as at least one item is there; an empty list after ``max_wait``
        seconds, or at once when the queue is closed.

        Raises:
            InvalidArgument: ``max_items`` is below 1.
            Unavailable: the broker cannot be reached.
        """
        if max_items is not None and max_items < 1:
            raise InvalidArgument("max_items must be at least 1", field="max_items")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max_wait
        while not self._buffer and not self._closed:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            # Pull no more than asked: an item left in the buffer ages towards ack_wait.
            await self._fill(remaining, limit=max_items)
        count = len(self._buffer) if max_items is None else min(max_items, len(self._buffer))
        return [self._buffer.popleft() for _ in range(count)]

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> WorkItem:
        """The next item; waits as long as it takes.

        Raises:
            StopAsyncIteration: the queue is closed.
            Unavailable: the broker cannot be reached (iterate again to retry).
        """
        while not self._buffer:
            if self._closed:
                raise StopAsyncIteration
            await self._fill(self._poll_interval)
        return self._buffer.popleft()

    async def aclose(self) -> None:
        """Stop pulling and hand back items not yet taken. Idempotent; never raises."""
        if self._closed:
            return
        self._closed = True
        if self._on_close is not None:
            self._on_close(self)
        task = self._pull_task
        if task is not None:
            task.cancel()
            await asyncio.wait([task])
        untaken = list(self._buffer)
        self._buffer.clear()
        for item in untaken:
            # Handing them back now spares another replica the wait for ack_wait.
            try:
                await item.nak()
            except SluiceError as exc:
                logger.warning("could not hand back work item %d of %s: %s", item.sequence, self.stream, exc)
        await self._release()
        self._notify()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    @abstractmethod
    async def _pull(self, count: int, max_wait: float) -> list[WorkItem]:
        """Up to ``count`` items, as soon as one is there; ``[]`` after ``max_wait`` seconds.

        Raises `SluiceError` subclasses only.
        """

    @abstractmethod
    async def _release(self) -> None:
        """Free the pull machinery; must not raise."""

    async def _fill(self, max_wait: float, *, limit: int | None = None) -> None:
        """Wait up to ``max_wait`` for items to land in the buffer, a slot to free, or close.

        Pulls up to ``limit`` items, or as many as there are free slots.
        """
        task = self._pull_task
        if task is None:
            free = self.max_in_flight - self._in_flight
            if limit is not None:
                free = min(free, limit)
            if free <= 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), max_wait)
                return
            name = f"pull {self.stream}/{self.consumer}"
            task = asyncio.create_task(self._run_pull(free, max_wait), name=name)
            self._pull_task = task
        # asyncio.wait, unlike awaiting the task, leaves the pull running if our caller is
        # cancelled: what it brings lands in the buffer instead of being lost mid-flight.
        await asyncio.wait([task], timeout=max_wait)
        if self._pull_error is not None:
            error, self._pull_error = self._pull_error, None
            raise error

    async def _run_pull(self, count: int, max_wait: float) -> None:
        # Only one pull runs at a time (``_pull_task``), so ``count`` free slots stay free
        # for it: nothing else can take them before it returns.
        items: list[WorkItem] = []
        try:
            items = await self._pull(count, max(max_wait, _MIN_PULL))
        except Exception as exc:
            self._pull_error = exc
        finally:
            self._pull_task = None
        for item in items:
            item._on_settle = self._item_settled
            self._in_flight += 1
        self._buffer.extend(items[:count])
        # A broker may over-deliver (e.g. leftovers of an earlier pull): hand extras back.
        for extra in items[count:]:
            try:
                await extra.nak()
            except SluiceError as exc:
                logger.warning("could not hand back work item %d of %s: %s", extra.sequence, self.stream, exc)
        self._notify()

    def _item_settled(self) -> None:
        self._in_flight -= 1
        self._notify()

    def _notify(self) -> None:
        # A fresh Event per change wakes every current waiter exactly once.
        self._changed.set()
        self._changed = asyncio.Event()
