"""Sluice's event bus: facts on NATS JetStream, behind one small interface.

Import from here, not from the modules: the public names are pinned by
``tests/services/core/events/test_public_api.py``.
"""

from services.core.events.bus import EventBus, StreamMessage, StreamState, Subscription
from services.core.events.config import BusConfig, Storage
from services.core.events.memory import MemoryBroker, MemoryBus
from services.core.events.nats_bus import NatsBus
from services.core.events.nats_server import NatsServer, find_nats_server
from services.core.events.work import WorkItem, WorkQueue

__all__ = [
    "BusConfig",
    "EventBus",
    "MemoryBroker",
    "MemoryBus",
    "NatsBus",
    "NatsServer",
    "Storage",
    "StreamMessage",
    "StreamState",
    "Subscription",
    "WorkItem",
    "WorkQueue",
    "find_nats_server",
]
