from __future__ import annotations

from typing import Any

import pytest

from services.core.errors import InvalidArgument
from services.core.events import BusConfig
from services.core.events.subjects import DISPATCH, EVENTS


@pytest.mark.parametrize(
    "bad",
    [
        {"ack_wait": 0},
        {"max_deliver": 0},
        {"max_deliver": -2},
        {"events_max_age": 0},
        {"duplicate_window": 0},
        {"events_max_age": 60, "duplicate_window": 120},
        {"replicas": 2},
    ],
)
def test_inconsistent_settings_are_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(InvalidArgument):
        BusConfig(**bad)


def test_only_the_events_stream_ages_out() -> None:
    config = BusConfig(events_max_age=3600)
    assert config.max_age_for(EVENTS) == 3600
    assert config.max_age_for(DISPATCH) is None
