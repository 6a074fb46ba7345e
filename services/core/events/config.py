"""Settings shared by every event-bus implementation: the streams' and consumers' limits."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from services.core.errors import InvalidArgument
from services.core.events.subjects import Retention, StreamSpec

DAY = 24 * 3600.0


class Storage(StrEnum):
    """Where JetStream keeps a stream."""

    FILE = "file"
    """On disk: survives a restart of nats-server (the default)."""
    MEMORY = "memory"
    """In the server's memory: faster, lost when nats-server stops."""


@dataclass(frozen=True, kw_only=True, slots=True)
class BusConfig:
    """How `EventBus.ensure_streams` shapes the streams and consumers.

    Changing a value and calling ``ensure_streams`` again updates the existing streams and
    consumers in place (JetStream refuses a change of storage; see ``ensure_streams``).
    """

    ack_wait: float = 30.0
    """Seconds a pulled work item may stay unacknowledged (with no ``in_progress``
    heartbeat) before it is handed out again."""
    max_deliver: int = 5
    """Deliveries of one work item before JetStream stops handing it out (``-1``: no
    limit). The item then stays in its stream, undelivered, for an operator to inspect."""
    events_max_age: float = 7 * DAY
    """Seconds a run event stays replayable in ``SLUICE_EVENTS``."""
    duplicate_window: float = 120.0
    """Seconds during which a second publish with the same ``msg_id`` is dropped."""
    storage: Storage = Storage.FILE
    """Where the streams are stored."""
    replicas: int = 1
    """Copies of each stream in a NATS cluster (1, 3 or 5)."""

    def __post_init__(self) -> None:
        if self.ack_wait <= 0:
            raise InvalidArgument("ack_wait must be positive", field="ack_wait")
        if self.max_deliver == 0 or self.max_deliver < -1:
            raise InvalidArgument("max_deliver must be -1 or at least 1", field="max_deliver")
        if self.events_max_age <= 0:
            raise InvalidArgument("events_max_age must be positive", field="events_max_age")
        # JetStream rejects a duplicate window longer than the stream's max age.
        if not 0 < self.duplicate_window <= self.events_max_age:
            raise InvalidArgument(
                "duplicate_window must be positive and at most events_max_age", field="duplicate_window"
            )
        if self.replicas not in (1, 3, 5):
            raise InvalidArgument("replicas must be 1, 3 or 5", field="replicas")

    def max_age_for(self, spec: StreamSpec) -> float | None:
        """The age limit of ``spec``'s messages; ``None`` for no limit.

        Work queues keep an item until it is acknowledged, however long that takes.
        """
        return self.events_max_age if spec.retention is Retention.LIMITS else None
