from __future__ import annotations

import pytest

from services.core.errors import InvalidArgument
from services.core.events.subjects import (
    CONSUMERS,
    EVENTS_SUBJECTS,
    STREAMS,
    Retention,
    run_events_subject,
    subject_matches,
)


def test_run_events_subject() -> None:
    assert run_events_subject("3f2a-91") == "sluice.events.3f2a-91"
    assert subject_matches(EVENTS_SUBJECTS, run_events_subject("r"))


@pytest.mark.parametrize("run_id", ["", "a.b", "a*", "a>", "a b", "a\tb"])
def test_run_ids_that_would_change_the_subject_are_refused(run_id: str) -> None:
    with pytest.raises(InvalidArgument):
        run_events_subject(run_id)


@pytest.mark.parametrize(
    ("pattern", "subject", "expected"),
    [
        ("a.b", "a.b", True),
        ("a.b", "a.c", False),
        ("a.b", "a.b.c", False),
        ("a.*", "a.b", True),
        ("a.*", "a.b.c", False),
        ("a.*", "a", False),
        ("a.>", "a.b.c", True),
        ("a.>", "a", False),
        (">", "a", True),
        ("a.*", "a.*", True),
        ("a.>", "a.*", True),
        ("a.*", "a.>", False),
        ("a.b", "a.*", False),
    ],
)
def test_subject_matches(pattern: str, subject: str, expected: bool) -> None:
    assert subject_matches(pattern, subject) is expected


def test_every_consumer_reads_a_stream_it_belongs_to() -> None:
    streams = {spec.name: spec for spec in STREAMS}
    for consumer in CONSUMERS:
        stream = streams[consumer.stream]
        assert any(subject_matches(s, consumer.filter_subject) for s in stream.subjects)


def test_a_work_queue_stream_has_one_consumer() -> None:
    # A work queue hands each message to one consumer; a second one would never see it.
    for stream in STREAMS:
        readers = [consumer for consumer in CONSUMERS if consumer.stream == stream.name]
        if stream.retention is Retention.WORK_QUEUE:
            assert len(readers) == 1, stream.name
