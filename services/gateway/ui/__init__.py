"""Sluice's web UI, served by the gateway: server-rendered pages (Jinja2), htmx, SVG run
graphs drawn by the server, live updates from the run-event stream (SSE)."""

from __future__ import annotations

from services.gateway.ui.router import create_ui_router, mount_ui

__all__ = ["create_ui_router", "mount_ui"]
