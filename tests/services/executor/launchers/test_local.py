from __future__ import annotations

import asyncio
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from services.core.errors import FailedPrecondition
from services.executor.launchers.base import Launcher, LaunchOutcome, LaunchRequest
from services.executor.launchers.local import LocalLauncher
from tests.services.executor.waiting import wait_until

# Starts a child `sleep` in the task's process group and records its pid.
SPAWN_CHILD = "sleep 1000 & echo $! > child.pid; "
HEADER = "[sluice] local launcher: running on the host; image 'img:1' is not used"


@pytest.fixture
def launcher() -> LocalLauncher:
    return LocalLauncher(grace_seconds=0.5)


def request(tmp_path: Path, *argv: str, **overrides: Any) -> LaunchRequest:
    base = LaunchRequest(
        key="run/task/1", argv=argv, cwd=tmp_path / "work", log_path=tmp_path / "task.log", image="img:1"
    )
    return replace(base, **overrides)


def alive(pid: int) -> bool:
    """True while `pid` runs (a zombie waiting to be reaped counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def child_pid(tmp_path: Path) -> int | None:
    text = (tmp_path / "work" / "child.pid").read_text() if (tmp_path / "work" / "child.pid").exists() else ""
    return int(text) if text.strip() else None


def log_of(tmp_path: Path) -> str:
    return (tmp_path / "task.log").read_text()


def test_local_launcher_is_a_launcher() -> None:
    launcher: Launcher = LocalLauncher()
    assert launcher is not None


@pytest.mark.parametrize(("script", "exit_code"), [("true", 0), ("exit 3", 3), ("kill -9 $$", 137)])
async def test_exit_codes(tmp_path: Path, launcher: LocalLauncher, script: str, exit_code: int) -> None:
    outcome = await launcher.launch(request(tmp_path, "sh", "-c", script))

    assert outcome == LaunchOutcome(exit_code=exit_code)


async def test_stdout_and_stderr_are_merged_into_the_log(tmp_path: Path, launcher: LocalLauncher) -> None:
    (tmp_path / "task.log").write_text("earlier\n")

    await launcher.launch(request(tmp_path, "sh", "-c", "echo out; echo err >&2; echo out2"))

    assert log_of(tmp_path) == f"earlier\n{HEADER}\nout\nerr\nout2\n"


async def test_environment_and_directories(tmp_path: Path, launcher: LocalLauncher) -> None:
    script = (
        "import os, sys, tempfile; "
        "print(sys.executable, os.getcwd(), tempfile.gettempdir(), os.environ['GREETING'], "
        "os.environ['PYTHONUNBUFFERED'], sep='|')"
    )
    outcome = await launcher.launch(
        request(tmp_path, "python3", "-c", script, env={"GREETING": "hi"}, tmp_dir=tmp_path / "tmp")
    )

    assert outcome.exit_code == 0
    executable, cwd, tmp, greeting, unbuffered = log_of(tmp_path).splitlines()[1].split("|")
    assert Path(executable).parent == Path(sys.executable).parent
    assert (cwd, tmp, greeting, unbuffered) == (str(tmp_path / "work"), str(tmp_path / "tmp"), "hi", "1")


async def test_base_env_replaces_the_process_environment(tmp_path: Path) -> None:
    launcher = LocalLauncher(base_env={"PATH": "/usr/bin:/bin", "ONLY": "this"})

    await launcher.launch(request(tmp_path, "sh", "-c", 'echo "$ONLY:${HOME-unset}:$PATH"'))

    assert log_of(tmp_path).splitlines()[1] == f"this:unset:{Path(sys.executable).parent}:/usr/bin:/bin"


async def test_a_program_that_cannot_start(tmp_path: Path, launcher: LocalLauncher) -> None:
    outcome = await launcher.launch(request(tmp_path, "/nonexistent/program", "arg"))

    assert outcome == LaunchOutcome(exit_code=127)
    assert log_of(tmp_path).splitlines()[1].startswith("[sluice] cannot start '/nonexistent/program': ")


async def test_kfp_pip_install_is_skipped_when_satisfied(tmp_path: Path, launcher: LocalLauncher) -> None:
    install = 'python3 -m pip install --quiet --no-warn-script-location \'packaging\' && "$0" "$@"'

    outcome = await launcher.launch(request(tmp_path, "sh", "-c", install, "sh", "-c", "echo ran"))

    assert outcome.exit_code == 0
    assert log_of(tmp_path).splitlines()[1:] == [
        "[sluice] pip install skipped, already satisfied here: packaging",
        "ran",
    ]


async def test_timeout_kills_the_whole_group(tmp_path: Path, launcher: LocalLauncher) -> None:
    outcome = await launcher.launch(request(tmp_path, "sh", "-c", SPAWN_CHILD + "wait", timeout_seconds=0.5))

    assert outcome == LaunchOutcome(exit_code=128 + 15, timed_out=True)
    pid = child_pid(tmp_path)
    assert pid is not None
    await wait_until(lambda: not alive(pid))
    assert log_of(tmp_path).endswith("[sluice] timed out after 0.5s: stopping the task\n")


async def test_sigterm_ignored_means_sigkill_after_the_grace(tmp_path: Path, launcher: LocalLauncher) -> None:
    script = (
        "import pathlib, signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "pathlib.Path('ready').touch(); time.sleep(1000)"
    )
    launch = asyncio.create_task(launcher.launch(request(tmp_path, "python3", "-c", script)))
    await wait_until(lambda: (tmp_path / "work" / "ready").exists())

    started = time.monotonic()
    assert await launcher.cancel("run/task/1")
    outcome = await launch

    assert outcome == LaunchOutcome(exit_code=128 + 9, canceled=True)
    assert 0.4 < time.monotonic() - started < 3


async def test_cancel_kills_children(tmp_path: Path, launcher: LocalLauncher) -> None:
    launch = asyncio.create_task(launcher.launch(request(tmp_path, "sh", "-c", SPAWN_CHILD + "wait")))
    await wait_until(lambda: child_pid(tmp_path))
    pid = child_pid(tmp_path)
    assert pid is not None
    assert alive(pid)

    assert await launcher.cancel("run/task/1")
    outcome = await launch

    assert outcome == LaunchOutcome(exit_code=128 + 15, canceled=True)
    await wait_until(lambda: not alive(pid))
    assert log_of(tmp_path).endswith("[sluice] canceled: stopping the task\n")
    assert not await launcher.cancel("run/task/1")


async def test_cancelling_the_coroutine_kills_children(tmp_path: Path, launcher: LocalLauncher) -> None:
    launch = asyncio.create_task(launcher.launch(request(tmp_path, "sh", "-c", SPAWN_CHILD + "wait")))
    await wait_until(lambda: child_pid(tmp_path))
    pid = child_pid(tmp_path)
    assert pid is not None

    launch.cancel()
    with pytest.raises(asyncio.CancelledError):
        await launch

    await wait_until(lambda: not alive(pid))
    assert log_of(tmp_path).endswith("[sluice] canceled: stopping the task\n")
    assert not await launcher.cancel("run/task/1")


async def test_no_orphans_after_a_normal_exit(tmp_path: Path, launcher: LocalLauncher) -> None:
    outcome = await launcher.launch(request(tmp_path, "sh", "-c", SPAWN_CHILD + "exit 0"))

    assert outcome == LaunchOutcome(exit_code=0)
    pid = child_pid(tmp_path)
    assert pid is not None
    await wait_until(lambda: not alive(pid))


async def test_keys_are_unique_among_running_launches(tmp_path: Path, launcher: LocalLauncher) -> None:
    launch = asyncio.create_task(launcher.launch(request(tmp_path, "sleep", "1000")))
    await wait_until(lambda: (tmp_path / "task.log").exists())

    with pytest.raises(FailedPrecondition, match="launch 'run/task/1' is already running"):
        await launcher.launch(request(tmp_path / "other", "true"))

    assert await launcher.cancel("run/task/1")
    assert (await launch).canceled
