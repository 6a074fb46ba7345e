"""The gateway's HTTP API (KFP v2beta1 REST, SSE, OpenAPI docs)."""

from __future__ import annotations

from services.gateway.http.app import create_http_app

__all__ = ["create_http_app"]
