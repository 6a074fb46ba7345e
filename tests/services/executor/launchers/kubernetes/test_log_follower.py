"""Following a container's log against the `kmock` emulator, the fake kubelet serving the log."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import pytest

from services.executor.launchers.kubernetes.log_follower import LogFollower
from tests.services.executor.launchers.kubernetes.conftest import NAMESPACE
from tests.services.executor.launchers.kubernetes.fake_kubelet import FakeKubelet, PodLog, eventually

POD = "pod-1"


def follower_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name.startswith("sluice-pod-log-")]


@pytest.fixture
def log_file(tmp_path: Path) -> Iterator[BinaryIO]:
    with (tmp_path / "task.log").open("ab", buffering=0) as file:
        yield file


@pytest.fixture
def pod_log(kubelet: FakeKubelet) -> PodLog:
    log = kubelet.log(POD)
    log.started = True
    return log


def make_follower(kubelet: FakeKubelet, log_file: BinaryIO, **options: Any) -> LogFollower:
    return LogFollower(kubelet.core, pod=POD, namespace=NAMESPACE, container="main", log=log_file, **options)


def appended(log_file: BinaryIO) -> bytes:
    return Path(log_file.name).read_bytes()


async def has_appended(log_file: BinaryIO, data: bytes) -> None:
    async def done() -> bool:
        return appended(log_file) == data

    await eventually(done)


async def test_the_log_is_appended_as_it_comes_and_complete_once_the_stream_ends(
    kubelet: FakeKubelet, pod_log: PodLog, log_file: BinaryIO
) -> None:
    follower = make_follower(kubelet, log_file)
    follower.start()
    pod_log.write(b"one\n")
    await has_appended(log_file, b"one\n")
    pod_log.write(b"two")
    await has_appended(log_file, b"one\ntwo")
    assert not follower.complete

    pod_log.end()
    await asyncio.wait_for(follower.wait(30), 5)
    await follower.aclose()

    assert (follower.complete, follower.written, follower.ends_with_newline) == (True, 7, False)
    assert (pod_log.follows, pod_log.reads) == (1, 0)
    assert follower_threads() == []


async def test_a_log_may_stay_quiet_longer_than_the_wait_for_the_headers(
    kubelet: FakeKubelet, pod_log: PodLog, log_file: BinaryIO
) -> None:
    follower = make_follower(kubelet, log_file, open_timeout=(5.0, 0.2))
    follower.start()
    pod_log.write(b"one\n")
    await has_appended(log_file, b"one\n")

    await asyncio.sleep(0.6)
    pod_log.write(b"two\n")
    await has_appended(log_file, b"one\ntwo\n")
    pod_log.end()
    await asyncio.wait_for(follower.wait(30), 5)
    await follower.aclose()

    assert (follower.complete, pod_log.follows) == (True, 1)


async def test_stop_ends_a_quiet_stream_at_once_and_nothing_is_appended_after_it(
    kubelet: FakeKubelet, pod_log: PodLog, log_file: BinaryIO
) -> None:
    follower = make_follower(kubelet, log_file)
    follower.start()
    pod_log.write(b"working\n")
    await has_appended(log_file, b"working\n")

    await asyncio.wait_for(follower.aclose(), 2)
    pod_log.write(b"more\n")
    await asyncio.sleep(0.1)

    assert appended(log_file) == b"working\n"
    assert (follower.complete, follower.written) == (False, 8)
    assert follower_threads() == []


async def test_a_stream_that_breaks_off_is_not_complete(
    kubelet: FakeKubelet, pod_log: PodLog, log_file: BinaryIO
) -> None:
    follower = make_follower(kubelet, log_file)
    follower.start()
    pod_log.write(b"one\ntw")
    await has_appended(log_file, b"one\ntw")

    pod_log.break_off()
    await asyncio.wait_for(follower.wait(30), 5)
    await follower.aclose()

    assert (follower.complete, follower.written) == (False, 6)


@pytest.mark.parametrize(
    "refusal",
    [{"started": False}, {"refuse_follow": True}],
    ids=["not-started", "refused"],
)
async def test_a_refused_follow_appends_nothing(
    kubelet: FakeKubelet, pod_log: PodLog, log_file: BinaryIO, refusal: dict[str, Any]
) -> None:
    for name, value in refusal.items():
        setattr(pod_log, name, value)
    pod_log.write(b"never followed\n")
    follower = make_follower(kubelet, log_file)
    follower.start()

    await asyncio.wait_for(follower.wait(30), 5)
    await follower.aclose()

    assert (follower.complete, follower.written) == (False, 0)
    assert appended(log_file) == b""


async def test_a_follower_never_started_neither_waits_nor_starts_after_closing(
    kubelet: FakeKubelet, pod_log: PodLog, log_file: BinaryIO
) -> None:
    follower = make_follower(kubelet, log_file)

    await asyncio.wait_for(follower.wait(30), 1)
    await follower.aclose()
    follower.start()

    assert follower_threads() == []
    assert pod_log.follows == 0
