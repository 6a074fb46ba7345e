"""The names on Sluice's event bus: the contract for anyone who subscribes from outside.

Streams (JetStream):

``SLUICE_EVENTS`` (subjects ``sluice.events.>``)
    Run events, one subject per run: ``sluice.events.<run_id>``. Limits retention (messages
    stay until ``events_max_age``, 7 days by default, whoever has read them), file storage,
    a duplicate window so a republished event with the same ``Nats-Msg-Id`` is stored once.
    Read it with an ordered/ephemeral consumer from the first sequence to watch a run from
    its start, e.g. ``nats sub --stream SLUICE_EVENTS 'sluice.events.<run_id>' --all``.
    Durable pull consumer ``webhooks`` (every run's events, explicit ack): the scheduler's
    webhook sender, shared by its replicas, so a run-finished webhook survives a restart.
``SLUICE_DISPATCH`` (subject ``sluice.tasks.dispatch``)
    Task dispatches, work-queue retention: a message is deleted once an executor acks it.
    Durable pull consumer ``executors`` (explicit ack, ``ack_wait``, ``max_deliver``),
    shared by every executor replica.
``SLUICE_RESULTS`` (subject ``sluice.tasks.results``)
    Task results, work-queue retention, durable pull consumer ``scheduler``.

Core NATS (not persisted, fire and forget):

``sluice.tasks.cancel``
    Cancellation requests, broadcast to every executor; one that does not run the task
    ignores it. Executors that are down miss it: the scheduler's reconciliation covers that.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from services.core.errors import InvalidArgument

EVENTS_STREAM = "SLUICE_EVENTS"
EVENTS_SUBJECTS = "sluice.events.>"
"""Filter matching the events of every run."""

DISPATCH_STREAM = "SLUICE_DISPATCH"
DISPATCH_SUBJECT = "sluice.tasks.dispatch"
DISPATCH_CONSUMER = "executors"

RESULTS_STREAM = "SLUICE_RESULTS"
RESULTS_SUBJECT = "sluice.tasks.results"
RESULTS_CONSUMER = "scheduler"

WEBHOOKS_CONSUMER = "webhooks"

CANCEL_SUBJECT = "sluice.tasks.cancel"

# A subject token may not hold NATS's separator or wildcards, nor whitespace (the protocol
# splits on it); anything else in a run id would silently change which subject we hit.
_TOKEN = re.compile(r"[^.*>\s]+")


def run_events_subject(run_id: str) -> str:
    """The subject carrying the events of one run.

    Raises:
        InvalidArgument: ``run_id`` is empty or holds ``.``, ``*``, ``>`` or whitespace.
    """
    if not _TOKEN.fullmatch(run_id):
        raise InvalidArgument(f"run id {run_id!r} cannot be a NATS subject token", field="run_id")
    return f"sluice.events.{run_id}"


class Retention(StrEnum):
    """When a stream forgets a message."""

    LIMITS = "limits"
    """After the stream's age/size limits: any number of readers, replayable."""
    WORK_QUEUE = "workqueue"
    """As soon as its consumer acknowledges it: each message is worked on once."""


@dataclass(frozen=True, slots=True)
class StreamSpec:
    """A stream every Sluice deployment has."""

    name: str
    subjects: tuple[str, ...]
    retention: Retention
    description: str


@dataclass(frozen=True, slots=True)
class ConsumerSpec:
    """A durable pull consumer every Sluice deployment has."""

    stream: str
    name: str
    filter_subject: str


EVENTS = StreamSpec(EVENTS_STREAM, (EVENTS_SUBJECTS,), Retention.LIMITS, "Sluice run events")
DISPATCH = StreamSpec(DISPATCH_STREAM, (DISPATCH_SUBJECT,), Retention.WORK_QUEUE, "Sluice task dispatches")
RESULTS = StreamSpec(RESULTS_STREAM, (RESULTS_SUBJECT,), Retention.WORK_QUEUE, "Sluice task results")
STREAMS: tuple[StreamSpec, ...] = (EVENTS, DISPATCH, RESULTS)

EXECUTORS = ConsumerSpec(DISPATCH_STREAM, DISPATCH_CONSUMER, DISPATCH_SUBJECT)
SCHEDULER = ConsumerSpec(RESULTS_STREAM, RESULTS_CONSUMER, RESULTS_SUBJECT)
WEBHOOKS = ConsumerSpec(EVENTS_STREAM, WEBHOOKS_CONSUMER, EVENTS_SUBJECTS)
CONSUMERS: tuple[ConsumerSpec, ...] = (EXECUTORS, SCHEDULER, WEBHOOKS)


def subject_matches(pattern: str, subject: str) -> bool:
    """Whether ``pattern`` (which may use ``*`` and ``>``) covers ``subject``.

    ``subject`` may itself be a filter with wildcards: the answer is then whether every
    subject it matches is matched by ``pattern`` too (``*`` covers ``*``, only ``>``
    covers ``>``).
    """
    wanted = pattern.split(".")
    tokens = subject.split(".")
    for index, token in enumerate(wanted):
        if token == ">":
            return len(tokens) > index
        if index >= len(tokens):
            return False
        if token == "*":
            if tokens[index] == ">":
                return False
            continue
        if token != tokens[index]:
            return False
    return len(wanted) == len(tokens)
