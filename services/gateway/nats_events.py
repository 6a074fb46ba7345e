"""Run events read back from the ``SLUICE_EVENTS`` stream of the event bus."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Protocol

from google.protobuf import json_format

from services.core.events.bus import StreamMessage, Subscription
from services.core.events.subjects import run_events_subject
from services.gateway.events import RunEvent

logger = logging.getLogger(__name__)


class _Replayer(Protocol):
    """The part of `services.core.events.bus.EventBus` this source needs."""

    async def replay(
        self, subject_filter: str, *, after_sequence: int = 0
    ) -> Subscription[StreamMessage]: ...


class NatsRunEventSource:
    """`RunEventSource` over the event bus (``NatsBus`` in production, any `EventBus`).

    Each message on ``sluice.events.<run_id>`` is a RunEvent in protobuf JSON; its stream
    sequence becomes the event's ``sequence``. The bus's lifecycle is its owner's.
    """

    def __init__(self, bus: _Replayer) -> None:
        self._bus = bus

    async def watch(self, run_id: str, *, after_sequence: int = 0) -> AsyncIterator[RunEvent]:
        subject = run_events_subject(run_id)
        async with await self._bus.replay(subject, after_sequence=after_sequence) as messages:
            async for message in messages:
                event = RunEvent()
                try:
                    json_format.Parse(message.data, event, ignore_unknown_fields=True)
                except (json_format.ParseError, UnicodeDecodeError) as error:
                    # One bad message must not end every watch of the run.
                    logger.warning(
                        "skipping unreadable run event %d on %s: %s", message.sequence, message.subject, error
                    )
                    continue
                event.sequence = message.sequence
                yield event
