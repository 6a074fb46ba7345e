from __future__ import annotations

import services.core.events as events


def test_public_names_are_pinned() -> None:
    assert sorted(events.__all__) == [
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
    for name in events.__all__:
        assert getattr(events, name).__module__.startswith("services.core.events.")
