from __future__ import annotations

import services.gateway


def test_public_names_are_pinned() -> None:
    assert sorted(services.gateway.__all__) == [
        "Gateway",
        "GatewayBackend",
        "GatewayConfig",
        "GrpcFrontDoor",
        "InMemoryRunEventSource",
        "RunEventSource",
        "create_http_app",
    ]
    for name in services.gateway.__all__:
        assert getattr(services.gateway, name) is not None
