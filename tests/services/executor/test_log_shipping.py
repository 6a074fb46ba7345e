"""The live copy of a running attempt's log: uploaded while it grows, not when it does not,
never a stale file left by an earlier run of the attempt."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from services.core.errors import Unavailable
from services.executor.log_shipping import LogShipper
from tests.services.executor.waiting import wait_until

URI = "mem://logs/task-1.log"


class Store:
    """Keeps what was uploaded, as the artifact service would; fails while `down`."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.uploads = 0
        self.down = False

    async def upload_file(self, path: Path | str, uri: str) -> int:
        if self.down:
            raise Unavailable("the artifact service is down")
        data = await asyncio.to_thread(Path(path).read_bytes)
        self.objects[uri] = data
        self.uploads += 1
        return len(data)


def _append(path: Path, text: str) -> None:
    with path.open("a") as log:
        log.write(text)


async def test_a_growing_log_is_copied_as_it_grows(tmp_path: Path) -> None:
    log, store = tmp_path / "task.log", Store()
    shipper = LogShipper(store, log, URI, interval=0.05)
    shipper.start()
    try:
        await asyncio.sleep(0.15)
        assert store.uploads == 0  # no file yet
        _append(log, "epoch 1\n")
        await wait_until(lambda: store.objects.get(URI) == b"epoch 1\n")
        _append(log, "epoch 2\n")
        await wait_until(lambda: store.objects.get(URI) == b"epoch 1\nepoch 2\n")
        uploads = store.uploads
        await asyncio.sleep(0.3)
        assert store.uploads == uploads  # unchanged: not uploaded again
    finally:
        await shipper.aclose()
    _append(log, "after the end\n")
    await asyncio.sleep(0.2)
    assert store.objects[URI] == b"epoch 1\nepoch 2\n"


async def test_a_failed_upload_is_tried_again(tmp_path: Path) -> None:
    log, store = tmp_path / "task.log", Store()
    store.down = True
    _append(log, "line\n")
    shipper = LogShipper(store, log, URI, interval=0.05)
    shipper.start()
    try:
        await asyncio.sleep(0.2)
        assert URI not in store.objects
        store.down = False
        await wait_until(lambda: store.objects.get(URI) == b"line\n")
    finally:
        await shipper.aclose()


async def test_a_log_left_by_an_earlier_run_is_not_copied(tmp_path: Path) -> None:
    log, store = tmp_path / "task.log", Store()
    _append(log, "an old attempt's log\n")
    an_hour_ago = log.stat().st_mtime - 3600
    os.utime(log, (an_hour_ago, an_hour_ago))
    shipper = LogShipper(store, log, URI, interval=0.05)
    shipper.start()
    try:
        await asyncio.sleep(0.3)
        assert store.uploads == 0
        log.write_text("this attempt\n")  # the attempt starts afresh
        await wait_until(lambda: store.objects.get(URI) == b"this attempt\n")
    finally:
        await shipper.aclose()


async def test_an_interval_of_zero_copies_nothing(tmp_path: Path) -> None:
    log, store = tmp_path / "task.log", Store()
    _append(log, "line\n")
    shipper = LogShipper(store, log, URI, interval=0)
    shipper.start()
    await asyncio.sleep(0.2)
    await shipper.aclose()
    assert store.uploads == 0
