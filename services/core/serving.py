"""Run one long-lived service until SIGINT/SIGTERM, then shut it down in order."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable, Mapping

logger = logging.getLogger(__name__)


def configure_logging(level: str) -> None:
    # force: an imported library may have configured the root logger already.
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True
    )


async def serve_until_signal(
    start: Callable[[], Awaitable[None]],
    stop: Callable[[], Awaitable[None]],
    *,
    fatal: Mapping[str, asyncio.Event] | None = None,
) -> int:
    """`start`, wait for SIGINT or SIGTERM, then `stop` (also when `start` fails halfway).

    `fatal` names events after which the service cannot go on (e.g. its event bus is gone
    for good): when one is set, the service stops too. Returns the process's exit status:
    0 after a signal, 1 after a fatal event, so that the service's supervisor (Kubernetes,
    docker compose, systemd) starts it again.
    """
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)
    waits = {asyncio.ensure_future(stopping.wait()): ""}
    for reason, event in (fatal or {}).items():
        waits[asyncio.ensure_future(event.wait())] = reason
    try:
        await start()
        done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiting in waits:
            waiting.cancel()
        await stop()
    reasons = sorted(waits[each] for each in done if waits[each])
    if reasons:
        logger.error("stopping: %s", "; ".join(reasons))
        return 1
    return 0
