"""The Jinja2 environment of the UI: autoescaped templates from ``ui/templates`` and the
filters they use to show times, durations, states and values."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup, escape
from starlette.responses import HTMLResponse

import ui
from services.gateway.ui.status import RUN_STATES, status_of, status_table
from services.gateway.ui.visualizations import format_number

UI_DIR = ui.UI_DIR
"""The `ui` data package (``ui/`` in the repository): templates and static files."""


def parse_time(value: str | None) -> datetime | None:
    """An RFC 3339 timestamp from protobuf JSON; None when absent or the zero time."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return None if parsed.year <= 1970 else parsed


def format_time(value: str | None) -> Markup:
    """A ``<time>`` element in UTC; the page script shows it in the viewer's time zone."""
    moment = parse_time(value)
    if moment is None:
        return Markup('<span class="muted">—</span>')
    utc = moment.astimezone(UTC)
    return Markup(
        f'<time datetime="{escape(utc.isoformat())}">{escape(utc.strftime("%Y-%m-%d %H:%M:%S"))} UTC</time>'
    )


def seconds_between(start: str | None, end: str | None) -> float | None:
    """Seconds from ``start`` to ``end`` (to now when the end is missing)."""
    began = parse_time(start)
    if began is None:
        return None
    finished = parse_time(end) or datetime.now(UTC)
    return max((finished - began).total_seconds(), 0.0)


def format_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def format_duration(start: str | None, end: str | None) -> str:
    return format_seconds(seconds_between(start, end))


def format_value(value: Any) -> str:
    """A parameter value as JSON, strings bare."""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return format_number(value)
    return json.dumps(value)


def status_badge(state: str | None, cached: bool = False) -> Markup:
    status = status_of(state or "", cached=cached)
    return Markup(
        f'<span class="badge {status.css}" data-state="{escape(state or "")}">'
        f'<span class="icon" aria-hidden="true">{status.icon}</span> '
        f'<span class="badge-text">{escape(status.label)}</span></span>'
    )


def make_environment(template_dir: Path) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(template_dir),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        time=format_time,
        duration=format_duration,
        seconds=format_seconds,
        value=format_value,
        num=format_number,
        tojson_compact=lambda v: json.dumps(v, separators=(",", ":")),
    )
    env.globals.update(
        status_badge=status_badge,
        status_of=status_of,
        status_table=status_table(),
        run_states=RUN_STATES,
    )
    return env


class Renderer:
    """Renders a template to an HTML response."""

    def __init__(self, template_dir: Path) -> None:
        self.env = make_environment(template_dir)

    def render(self, name: str, **context: Any) -> str:
        return self.env.get_template(name).render(**context)

    def page(self, name: str, *, status_code: int = 200, **context: Any) -> HTMLResponse:
        return HTMLResponse(self.render(name, **context), status_code=status_code, headers=SECURITY_HEADERS)


SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'self'; base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
"""Every UI page: scripts only from this server, no inline scripts, nothing from elsewhere."""
