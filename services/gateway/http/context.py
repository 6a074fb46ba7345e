"""What every route needs from the app: the backend, the config, the shutdown signal."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from services.gateway.backend import GatewayBackend
from services.gateway.config import GatewayConfig

API_PREFIX = "/apis/v2beta1"


@dataclass(frozen=True, kw_only=True, slots=True)
class AppContext:
    """Kept in ``app.state.context`` by `create_http_app`."""

    backend: GatewayBackend
    config: GatewayConfig
    stopping: asyncio.Event
    """Set when the gateway shuts down: long-lived streams end so the server can drain."""


def get_context(request: Request) -> AppContext:
    context = request.app.state.context
    assert isinstance(context, AppContext)
    return context


Context = Annotated[AppContext, Depends(get_context)]
