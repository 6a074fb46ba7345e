"""How a run's or a task's state is shown: a word, an icon and a colour class, so that
status never rests on colour alone. The browser script gets the same table as JSON."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True, slots=True)
class Status:
    label: str
    icon: str
    css: str
    """The ``state-…`` class; colours live in the stylesheet."""


_STATUSES: dict[str, Status] = {
    "": Status("Not started", "·", "state-none"),
    "RUNTIME_STATE_UNSPECIFIED": Status("Unknown", "?", "state-none"),
    "PENDING": Status("Pending", "○", "state-pending"),
    "RUNNING": Status("Running", "◔", "state-running"),
    "SUCCEEDED": Status("Succeeded", "✓", "state-succeeded"),
    "SKIPPED": Status("Skipped", "↷", "state-skipped"),
    "FAILED": Status("Failed", "✕", "state-failed"),
    "CANCELING": Status("Canceling", "⊘", "state-canceling"),
    "CANCELED": Status("Canceled", "⊘", "state-canceled"),
    "PAUSED": Status("Paused", "‖", "state-paused"),
}
_CACHED = Status("Cached", "⚡", "state-cached")

ACTIVE_STATES = frozenset({"PENDING", "RUNNING", "CANCELING", "PAUSED"})
TERMINAL_STATES = frozenset({"SUCCEEDED", "SKIPPED", "FAILED", "CANCELED"})
RUN_STATES = ("PENDING", "RUNNING", "SUCCEEDED", "SKIPPED", "FAILED", "CANCELING", "CANCELED", "PAUSED")
"""The states a run list can be filtered by, in the order offered."""


def status_of(state: str, *, cached: bool = False) -> Status:
    """The presentation of ``state`` (a RuntimeState name); a cache hit has its own."""
    if cached:
        return _CACHED
    return _STATUSES.get(state, _STATUSES["RUNTIME_STATE_UNSPECIFIED"])


def status_table() -> dict[str, dict[str, str]]:
    """Every state's presentation, plus ``CACHED``, for the browser script."""
    table = {state: asdict(status) for state, status in _STATUSES.items() if state}
    table["CACHED"] = asdict(_CACHED)
    return table
