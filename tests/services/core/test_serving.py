"""`serve_until_signal`: a service stops in order on SIGTERM, and exits with status 1 when
something it cannot do without is gone (its event bus)."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest

from services.core.serving import serve_until_signal


class Service:
    def __init__(self) -> None:
        self.steps: list[str] = []

    async def start(self) -> None:
        self.steps.append("start")

    async def stop(self) -> None:
        self.steps.append("stop")


async def test_sigterm_stops_the_service_and_returns() -> None:
    service, lost = Service(), asyncio.Event()
    serving = asyncio.create_task(serve_until_signal(service.start, service.stop, fatal={"bus lost": lost}))
    await asyncio.sleep(0.05)
    os.kill(os.getpid(), signal.SIGTERM)

    assert await asyncio.wait_for(serving, 5) == 0
    assert service.steps == ["start", "stop"]


async def test_a_fatal_event_stops_the_service_with_status_1(caplog: pytest.LogCaptureFixture) -> None:
    service, lost = Service(), asyncio.Event()
    serving = asyncio.create_task(serve_until_signal(service.start, service.stop, fatal={"bus lost": lost}))
    await asyncio.sleep(0.05)
    assert not serving.done()
    lost.set()

    assert await asyncio.wait_for(serving, 5) == 1
    assert service.steps == ["start", "stop"]
    assert "stopping: bus lost" in caplog.text


async def test_a_failing_start_still_stops() -> None:
    service = Service()

    async def failing_start() -> None:
        service.steps.append("start")
        raise RuntimeError("cannot bind")

    with pytest.raises(RuntimeError, match="cannot bind"):
        await serve_until_signal(failing_start, service.stop)
    assert service.steps == ["start", "stop"]
