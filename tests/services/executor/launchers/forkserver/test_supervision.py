"""`LocalLauncher` supervises forked tasks as it does subprocesses, and falls back safely."""

from __future__ import annotations

import asyncio
import gc
import os
import signal
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from services.executor.launchers.base import LaunchOutcome, LaunchRequest
from services.executor.launchers.local import LocalLauncher
from tests.services.executor.launchers.forkserver.helpers import alive, kfp_argv, server_pids
from tests.services.executor.waiting import wait_until

F = "def f():\n    pass\n"
# Records the process that started the task's interpreter (the fork server, or `sh`).
RECORD_PARENT = (
    "import os, pathlib\n"
    "pathlib.Path('parent.txt').write_text(open(f'/proc/{os.getppid()}/cmdline').read())\n"
)
# Also starts a `sleep` grandchild in the task's process group and records its pid.
SPAWN_SLEEPER = (
    RECORD_PARENT + "import subprocess\n"
    "sleeper = subprocess.Popen(['sleep', '1000'])\n"
    "pathlib.Path('sleeper.pid').write_text(str(sleeper.pid))\n"
)
SLEEP = "import time\ntime.sleep(1000)\n"


def request(directory: Path, source: str, **overrides: Any) -> LaunchRequest:
    base = LaunchRequest(
        key="run/task/1",
        argv=kfp_argv(source, output_file=directory / "out.json"),
        cwd=directory / "work",
        log_path=directory / "task.log",
        image="img:1",
        tmp_dir=directory / "tmp",
    )
    return replace(base, **overrides)


def forked(directory: Path) -> bool:
    return "bootstrap.py" in (directory / "work" / "parent.txt").read_text()


def sleeper(directory: Path) -> int | None:
    path = directory / "work" / "sleeper.pid"
    text = path.read_text() if path.exists() else ""
    return int(text) if text.strip() else None


def log_of(directory: Path) -> str:
    return (directory / "task.log").read_text()


async def test_a_timeout_kills_the_whole_group(tmp_path: Path, warm: LocalLauncher) -> None:
    outcome = await warm.launch(request(tmp_path, SPAWN_SLEEPER + SLEEP, timeout_seconds=1.0))

    assert outcome == LaunchOutcome(exit_code=128 + 15, timed_out=True)
    assert forked(tmp_path)
    pid = sleeper(tmp_path)
    assert pid is not None
    await wait_until(lambda: not alive(pid))
    assert log_of(tmp_path).endswith("[sluice] timed out after 1s: stopping the task\n")


async def test_cancel_kills_the_whole_group(tmp_path: Path, warm: LocalLauncher) -> None:
    launch = asyncio.create_task(warm.launch(request(tmp_path, SPAWN_SLEEPER + SLEEP)))
    await wait_until(lambda: sleeper(tmp_path))
    pid = sleeper(tmp_path)
    assert pid is not None
    assert alive(pid)

    assert await warm.cancel("run/task/1")
    outcome = await launch

    assert outcome == LaunchOutcome(exit_code=128 + 15, canceled=True)
    assert forked(tmp_path)
    await wait_until(lambda: not alive(pid))
    assert log_of(tmp_path).endswith("[sluice] canceled: stopping the task\n")


async def test_cancelling_the_coroutine_kills_the_whole_group(tmp_path: Path, warm: LocalLauncher) -> None:
    launch = asyncio.create_task(warm.launch(request(tmp_path, SPAWN_SLEEPER + SLEEP)))
    await wait_until(lambda: sleeper(tmp_path))
    pid = sleeper(tmp_path)
    assert pid is not None

    launch.cancel()
    with pytest.raises(asyncio.CancelledError):
        await launch

    await wait_until(lambda: not alive(pid))
    assert forked(tmp_path)


async def test_no_orphans_after_a_normal_exit(tmp_path: Path, warm: LocalLauncher) -> None:
    outcome = await warm.launch(request(tmp_path, SPAWN_SLEEPER + F))

    assert outcome == LaunchOutcome(exit_code=0)
    assert forked(tmp_path)
    pid = sleeper(tmp_path)
    assert pid is not None
    await wait_until(lambda: not alive(pid))


async def test_a_task_ignoring_sigterm_is_killed_as_a_subprocess_would_be(
    tmp_path: Path, warm: LocalLauncher, cold: LocalLauncher
) -> None:
    """`sh` dies of the SIGTERM at once, and its group is then killed: no grace either way."""
    source = (
        RECORD_PARENT + "import signal\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "pathlib.Path('task.pid').write_text(str(os.getpid()))\n" + SLEEP
    )
    outcomes = []
    for name, launcher in (("warm", warm), ("cold", cold)):
        directory = tmp_path / name
        launch = asyncio.create_task(launcher.launch(request(directory, source)))
        await wait_until(lambda: (directory / "work" / "task.pid").exists())  # noqa: B023
        assert await launcher.cancel("run/task/1")
        outcomes.append(await launch)
        task = int((directory / "work" / "task.pid").read_text())
        await wait_until(lambda: not alive(task))  # noqa: B023

    assert outcomes == [LaunchOutcome(exit_code=128 + 15, canceled=True)] * 2
    assert forked(tmp_path / "warm")
    assert not forked(tmp_path / "cold")


async def test_concurrent_tasks_share_one_server(tmp_path: Path, warm: LocalLauncher) -> None:
    requests = [
        LaunchRequest(
            key=f"run/task/{index}",
            argv=kfp_argv(RECORD_PARENT + F, output_file=tmp_path / str(index) / "out.json"),
            cwd=tmp_path / str(index) / "work",
            log_path=tmp_path / str(index) / "task.log",
        )
        for index in range(8)
    ]

    outcomes = await asyncio.gather(*(warm.launch(one) for one in requests))

    assert outcomes == [LaunchOutcome(exit_code=0)] * 8
    assert all(forked(tmp_path / str(index)) for index in range(8))
    assert len(server_pids()) == 1


async def test_a_server_that_dies_under_a_task_takes_the_task_down(
    tmp_path: Path, warm: LocalLauncher
) -> None:
    launch = asyncio.create_task(warm.launch(request(tmp_path / "first", SPAWN_SLEEPER + SLEEP)))
    await wait_until(lambda: sleeper(tmp_path / "first"))
    pid = sleeper(tmp_path / "first")
    assert pid is not None
    (server,) = server_pids()

    os.kill(server, signal.SIGKILL)
    outcome = await launch

    assert outcome == LaunchOutcome(exit_code=128 + 9)
    assert log_of(tmp_path / "first").endswith(
        "[sluice] the fork server running this task died; the task was killed\n"
    )
    await wait_until(lambda: not alive(pid))

    again = await warm.launch(request(tmp_path / "second", RECORD_PARENT + F))

    assert again == LaunchOutcome(exit_code=0)
    assert forked(tmp_path / "second")
    (restarted,) = server_pids()
    assert restarted != server


async def test_a_server_that_died_between_tasks_is_restarted(tmp_path: Path, warm: LocalLauncher) -> None:
    assert await warm.launch(request(tmp_path / "first", RECORD_PARENT + F)) == LaunchOutcome(exit_code=0)
    (server,) = server_pids()
    os.kill(server, signal.SIGKILL)
    await wait_until(lambda: not alive(server))

    assert await warm.launch(request(tmp_path / "second", RECORD_PARENT + F)) == LaunchOutcome(exit_code=0)

    assert forked(tmp_path / "second")
    assert server_pids() not in ([], [server])


async def test_a_change_on_the_servers_sys_path_restarts_it(tmp_path: Path) -> None:
    """Say a task's `pip install` replaced a package the server had imported."""
    library = tmp_path / "lib"
    library.mkdir()
    launcher = LocalLauncher(base_env=os.environ | {"PYTHONPATH": str(library)}, runtime_dir=tmp_path / "run")
    try:
        long_task = asyncio.create_task(launcher.launch(request(tmp_path / "long", RECORD_PARENT + SLEEP)))
        await wait_until(lambda: (tmp_path / "long" / "work" / "parent.txt").exists())
        (first,) = server_pids()
        (library / "new_package.py").write_text("")
        os.utime(library, ns=(0, 0))

        short = request(tmp_path / "short", RECORD_PARENT + "import new_package\n" + F, key="run/task/2")
        assert await launcher.launch(short) == LaunchOutcome(exit_code=0)

        assert forked(tmp_path / "short")
        assert len(server_pids()) == 2
        assert await launcher.cancel("run/task/1")
        assert (await long_task).canceled
        await wait_until(lambda: not alive(first))
    finally:
        await launcher.aclose()


async def test_a_task_whose_interpreter_would_start_differently_runs_as_a_subprocess(
    tmp_path: Path, warm: LocalLauncher
) -> None:
    outcome = await warm.launch(request(tmp_path, RECORD_PARENT + F, env={"PYTHONHASHSEED": "7"}))

    assert outcome == LaunchOutcome(exit_code=0)
    assert not forked(tmp_path)


async def test_without_dash_as_sh_tasks_run_as_subprocesses(tmp_path: Path) -> None:
    shells = tmp_path / "bin"
    shells.mkdir()
    (shells / "sh").symlink_to("/bin/bash")
    launcher = LocalLauncher(
        base_env=os.environ | {"PATH": f"{shells}:{os.environ['PATH']}"}, runtime_dir=tmp_path / "run"
    )
    try:
        outcome = await launcher.launch(request(tmp_path, RECORD_PARENT + F))
    finally:
        await launcher.aclose()

    assert outcome == LaunchOutcome(exit_code=0)
    assert not forked(tmp_path)
    assert server_pids() == []


async def test_other_commands_never_start_a_server(tmp_path: Path, warm: LocalLauncher) -> None:
    plain = LaunchRequest(
        key="k", argv=("sh", "-c", "echo hi"), cwd=tmp_path / "w", log_path=tmp_path / "log"
    )

    assert await warm.launch(plain) == LaunchOutcome(exit_code=0)

    assert server_pids() == []


async def test_aclose_stops_the_server_and_its_tasks(tmp_path: Path) -> None:
    launcher = LocalLauncher(runtime_dir=tmp_path / "run")
    launch = asyncio.create_task(launcher.launch(request(tmp_path, SPAWN_SLEEPER + SLEEP)))
    await wait_until(lambda: sleeper(tmp_path))
    pid = sleeper(tmp_path)
    assert pid is not None
    (server,) = server_pids()

    await launcher.aclose()
    await launcher.aclose()

    assert await launch == LaunchOutcome(exit_code=128 + 9)
    assert not alive(server)
    await wait_until(lambda: not alive(pid))
    assert await launcher.launch(request(tmp_path / "after", RECORD_PARENT + F)) == LaunchOutcome(exit_code=0)
    assert not forked(tmp_path / "after")


async def test_a_forgotten_launcher_stops_its_server(tmp_path: Path) -> None:
    launcher = LocalLauncher(runtime_dir=tmp_path / "run")
    assert await launcher.launch(request(tmp_path, RECORD_PARENT + F)) == LaunchOutcome(exit_code=0)
    (server,) = server_pids()

    del launcher
    gc.collect()

    assert not alive(server)
