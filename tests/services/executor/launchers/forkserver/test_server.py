"""The fork server and its client, below `LocalLauncher`: start, protocol, refusals."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from services.executor.launchers.forkserver import ForkedTask, ForkServer
from services.executor.launchers.forkserver.protocol import FrameDecoder, TaskRequest, encode
from tests.services.executor.launchers.forkserver.helpers import alive, kfp_argv, server_pids
from tests.services.executor.waiting import wait_until

F = "def f():\n    pass\n"
MARK = "open('ran', 'w').close()\n" + F


def task_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("PYTHONUNBUFFERED", "1")
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", os.defpath)])
    return env


@pytest.fixture
def runtime_dir() -> Iterator[Path]:
    """Short enough for socket paths (pytest's own temporary paths may not be)."""
    directory = Path(tempfile.mkdtemp(prefix="fs-test-"))
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
async def fork_server(runtime_dir: Path) -> AsyncIterator[ForkServer]:
    server = ForkServer(env=task_env, runtime_dir=runtime_dir)
    yield server
    await server.aclose()


async def spawn(
    server: ForkServer, directory: Path, source: str, notes: list[str] | None = None
) -> ForkedTask | None:
    (directory / "work").mkdir(parents=True, exist_ok=True)
    return await server.spawn(
        argv=kfp_argv(source, output_file=directory / "out.json"),
        env=task_env() | {"TMPDIR": str(directory)},
        cwd=directory / "work",
        log_path=directory / "task.log",
        note=(notes if notes is not None else []).append,
    )


def socket_path(runtime_dir: Path) -> str:
    (path,) = runtime_dir.glob("forkserver-*/server-*.sock")
    return str(path)


def request_frame(directory: Path, source: str) -> bytes:
    argv = kfp_argv(source, output_file=directory / "out.json")
    (directory / "work").mkdir(parents=True, exist_ok=True)
    request = TaskRequest(
        source=argv[3],
        args=argv[4:],
        cwd=str(directory / "work"),
        env=task_env() | {"TMPDIR": str(directory)},
        log_path=str(directory / "task.log"),
    )
    return encode(request.to_message())


def replies(sock: socket.socket) -> list[dict[str, object]]:
    """Every message until the server closes the connection."""
    decoder, messages = FrameDecoder(), []
    while data := sock.recv(65536):
        messages += decoder.feed(data)
    return messages


async def test_a_task_reports_its_pid_then_its_exit_status(tmp_path: Path, fork_server: ForkServer) -> None:
    task = await spawn(fork_server, tmp_path, "import os\nos._exit(7)\n")

    assert task is not None
    assert task.returncode is None
    assert await task.wait() == 7
    assert task.returncode == 7
    assert not alive(task.pid)


async def test_a_signal_is_reported_as_the_shell_reports_it(tmp_path: Path, fork_server: ForkServer) -> None:
    task = await spawn(fork_server, tmp_path, "import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)\n")

    assert task is not None
    assert await task.wait() == 128 + 11
    assert (tmp_path / "task.log").read_text().endswith("\nSegmentation fault\n")


async def test_the_group_signalled_reports_the_signal(tmp_path: Path, fork_server: ForkServer) -> None:
    task = await spawn(fork_server, tmp_path, "open('ready', 'w').close()\nimport time\ntime.sleep(1000)\n")
    assert task is not None
    await wait_until(lambda: (tmp_path / "work" / "ready").exists())

    os.killpg(task.pid, 15)

    assert await task.wait() == -15


async def test_a_request_that_does_not_qualify_is_not_started(
    tmp_path: Path, fork_server: ForkServer
) -> None:
    task = await fork_server.spawn(
        argv=("sh", "-c", "touch ran"),
        env=task_env(),
        cwd=tmp_path,
        log_path=tmp_path / "task.log",
        note=print,
    )

    assert task is None
    assert server_pids() == []


async def test_a_task_whose_setup_fails_never_runs(tmp_path: Path, fork_server: ForkServer) -> None:
    """Say its working directory vanished: the child dies before announcing itself."""
    task = await fork_server.spawn(
        argv=kfp_argv(MARK, output_file=tmp_path / "out.json"),
        env=task_env(),
        cwd=tmp_path / "missing",
        log_path=tmp_path / "task.log",
        note=print,
    )

    assert task is None
    assert not (tmp_path / "missing").exists()
    assert await spawn(fork_server, tmp_path / "next", F) is not None


async def test_a_child_without_the_go_leaves_without_running(
    tmp_path: Path, fork_server: ForkServer, runtime_dir: Path
) -> None:
    assert await spawn(fork_server, tmp_path / "warm-up", F) is not None
    with socket.socket(socket.AF_UNIX) as sock:
        sock.connect(socket_path(runtime_dir))
        sock.sendall(request_frame(tmp_path, MARK))
        decoder = FrameDecoder()
        (announced,) = decoder.feed(sock.recv(65536))

    pid = announced["pid"]
    assert isinstance(pid, int)
    await wait_until(lambda: not alive(pid))
    assert not (tmp_path / "work" / "ran").exists()


@pytest.mark.parametrize("frame", [encode({"source": 1}), b"\x00\x00\x00\x02[]", encode({"pid": 1}) * 2])
async def test_malformed_requests_are_refused_and_the_server_carries_on(
    tmp_path: Path, fork_server: ForkServer, runtime_dir: Path, frame: bytes
) -> None:
    assert await spawn(fork_server, tmp_path / "warm-up", F) is not None
    with socket.socket(socket.AF_UNIX) as sock:
        sock.connect(socket_path(runtime_dir))
        sock.sendall(frame)
        refused = await asyncio.to_thread(replies, sock)

    assert len(refused) == 1
    assert "error" in refused[0]
    task = await spawn(fork_server, tmp_path / "next", F)
    assert task is not None
    assert await task.wait() == 0


async def test_a_server_that_cannot_start_turns_the_fast_path_off(tmp_path: Path, runtime_dir: Path) -> None:
    fork_server = ForkServer(env=task_env, runtime_dir=runtime_dir, start_timeout_seconds=0)
    try:
        assert await spawn(fork_server, tmp_path, F) is None
        assert fork_server.unavailable is not None
        assert "did not start" in fork_server.unavailable
        assert server_pids() == []
        assert await spawn(fork_server, tmp_path, F) is None
    finally:
        await fork_server.aclose()


async def test_a_server_that_cannot_import_kfp_turns_the_fast_path_off(
    tmp_path: Path, runtime_dir: Path
) -> None:
    shadow = tmp_path / "shadow" / "kfp"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('no kfp here')\n")
    fork_server = ForkServer(
        env=lambda: task_env() | {"PYTHONPATH": str(shadow.parent)}, runtime_dir=runtime_dir
    )
    try:
        assert await spawn(fork_server, tmp_path, F) is None
    finally:
        await fork_server.aclose()

    assert fork_server.unavailable is not None
    assert "cannot import kfp.dsl.executor_main: ImportError: no kfp here" in fork_server.unavailable


LAUNCHER_SCRIPT = """
import asyncio, os, sys
from pathlib import Path
from services.executor.launchers.local import LocalLauncher
from services.executor.launchers.base import LaunchRequest
from tests.services.executor.launchers.forkserver.helpers import kfp_argv

directory, runtime_dir = Path(sys.argv[1]), Path(sys.argv[2])
source = (
    "import pathlib, os, time\\n"
    "pathlib.Path('task.pid').write_text(str(os.getpid()))\\n"
    "time.sleep(1000)\\n"
)
launcher = LocalLauncher(runtime_dir=runtime_dir)
request = LaunchRequest(
    key="k", argv=kfp_argv(source, output_file=directory / "out.json"),
    cwd=directory / "work", log_path=directory / "task.log",
)
asyncio.run(launcher.launch(request))
"""


async def test_when_the_launcher_dies_its_server_and_tasks_go_too(tmp_path: Path, runtime_dir: Path) -> None:
    launcher = await asyncio.create_subprocess_exec(
        sys.executable, "-c", LAUNCHER_SCRIPT, str(tmp_path), str(runtime_dir), cwd=Path.cwd()
    )
    try:
        await wait_until(lambda: (tmp_path / "work" / "task.pid").exists(), within=30)
        task = int((tmp_path / "work" / "task.pid").read_text())
        (socket_dir,) = runtime_dir.iterdir()  # noqa: ASYNC240
    finally:
        launcher.kill()
        await launcher.wait()

    await wait_until(lambda: not alive(task))
    await wait_until(lambda: not socket_dir.exists())
