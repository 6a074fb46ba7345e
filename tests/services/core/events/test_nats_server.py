"""The nats-server child process: start, readiness, stop, restart, no orphans."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from services.core.errors import FailedPrecondition, Unavailable
from services.core.events import NatsServer, find_nats_server


def processes_using(path: Path) -> list[int]:
    """Pids of live processes whose command line mentions ``path``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue  # exited while we looked
        if str(path).encode() in cmdline and state != "Z":
            found.append(int(entry.name))
    return found


async def greeting(port: int) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        return await asyncio.wait_for(reader.readline(), 2)
    finally:
        writer.close()
        await writer.wait_closed()


async def varz(server: NatsServer) -> dict[str, Any]:
    assert server.monitor_url is not None
    url = f"{server.monitor_url}/varz"

    def get() -> dict[str, Any]:
        with urllib.request.urlopen(url, timeout=2) as response:
            result: dict[str, Any] = json.load(response)
            return result

    return await asyncio.to_thread(get)


def test_the_binary_of_the_wheel_is_preferred() -> None:
    assert find_nats_server() == str(Path(sys.executable).parent / "nats-server")


async def test_starts_on_a_free_port_and_stops_without_an_orphan(tmp_path: Path) -> None:
    store = tmp_path / "nats"
    server = NatsServer(store_dir=store)
    await server.start()
    pid = server.pid
    assert pid is not None
    assert server.url == f"nats://127.0.0.1:{server.port}"
    assert processes_using(store) == [pid]
    assert (await greeting(server.port)).startswith(b"INFO ")

    await server.aclose()
    await server.aclose()  # idempotent
    assert processes_using(store) == []
    assert not server.running
    with pytest.raises(ConnectionRefusedError):
        await greeting(server.port)
    assert "Server Exiting" in server.log_tail()


async def test_two_servers_get_two_ports(tmp_path: Path) -> None:
    async with NatsServer(store_dir=tmp_path / "a") as a, NatsServer(store_dir=tmp_path / "b") as b:
        assert a.port != b.port
        assert (await greeting(a.port)).startswith(b"INFO ")
        assert (await greeting(b.port)).startswith(b"INFO ")


async def test_a_server_that_cannot_start_says_why(nats_server: NatsServer, tmp_path: Path) -> None:
    clash = NatsServer(store_dir=tmp_path / "clash", port=nats_server.port, ready_timeout=5)
    with pytest.raises(Unavailable, match="address already in use"):
        await clash.start()
    assert processes_using(tmp_path / "clash") == []


async def test_a_missing_binary_is_unavailable(tmp_path: Path) -> None:
    server = NatsServer(store_dir=tmp_path / "nats", binary=str(tmp_path / "no-such-nats-server"))
    with pytest.raises(Unavailable):
        await server.start()


async def test_restart_keeps_the_port(nats_server: NatsServer) -> None:
    port, pid = nats_server.port, nats_server.pid
    await nats_server.restart(kill=True)
    assert (nats_server.port, nats_server.running) == (port, True)
    assert nats_server.pid != pid
    assert (await greeting(port)).startswith(b"INFO ")


@pytest.mark.parametrize("sync_always", [False, True])
async def test_sync_always_reaches_the_server(tmp_path: Path, sync_always: bool) -> None:
    async with NatsServer(store_dir=tmp_path / "nats", sync_always=sync_always, monitor_port=0) as server:
        jetstream = (await varz(server))["jetstream"]["config"]
    assert jetstream.get("sync_always", False) is sync_always
    assert Path(jetstream["store_dir"]) == tmp_path / "nats" / "jetstream"


def test_the_url_needs_a_started_server(tmp_path: Path) -> None:
    server = NatsServer(store_dir=tmp_path / "nats")
    with pytest.raises(FailedPrecondition, match="not started"):
        _ = server.url
    assert os.fspath(server.log_path).startswith(os.fspath(tmp_path))
