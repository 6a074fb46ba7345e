"""The pod runtime, run as a pod runs it (`python3 -c <source> argv…`) against a real exchange."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.executor.launchers.kubernetes import pod_runtime
from services.executor.launchers.kubernetes.exchange import ExchangeSession, FileExchange
from services.executor.launchers.kubernetes.pod_runtime import (
    ATTEMPT_DIR_ENV,
    CWD_ENV,
    EXCHANGE_URL_ENV,
    EXIT_CANNOT_START,
    EXIT_STAGING_FAILED,
    RETRY_SECONDS_ENV,
    RUNTIME_FAILURE_PREFIX,
    TERMINATION_LOG_ENV,
    TMPDIR_ENV,
    changed,
    snapshot,
    task_env,
)
from tests.services.executor.launchers.kubernetes.fake_kubelet import can_isolate

SOURCE = Path(pod_runtime.__file__).read_text()


@pytest.fixture
async def exchange() -> AsyncIterator[FileExchange]:
    async with _exchange() as exchange:
        yield exchange


class _exchange:
    def __init__(self) -> None:
        self.exchange = FileExchange(host="127.0.0.1", port=0)

    async def __aenter__(self) -> FileExchange:
        await self.exchange.start()
        return self.exchange

    async def __aexit__(self, *exc_info: object) -> None:
        await self.exchange.aclose()


def attempt_in(tmp_path: Path) -> Path:
    root = tmp_path / "attempt"
    (root / "staging/s3/b/in").mkdir(parents=True)
    (root / "staging/s3/b/in/data.txt").write_text("input")
    (root / "staging/s3/b/out").mkdir(parents=True)
    (root / "outputs/parameters").mkdir(parents=True)
    return root


class Pod:
    """The runtime in a process of its own, in a private mount namespace when possible."""

    def __init__(self, tmp_path: Path, session_url: str, root: Path) -> None:
        self.termination_log = tmp_path / "termination-log"
        self.env = {
            "PATH": os.environ["PATH"],
            EXCHANGE_URL_ENV: session_url,
            ATTEMPT_DIR_ENV: str(root),
            CWD_ENV: str(root / "work"),
            TMPDIR_ENV: str(root / "tmp"),
            TERMINATION_LOG_ENV: str(self.termination_log),
            RETRY_SECONDS_ENV: "0.01",
            "GREETING": "hello",
        }
        self.root = root

    def argv(self, *task: str, isolate: bool = True) -> list[str]:
        argv = [sys.executable, "-c", SOURCE, *task]
        if isolate and can_isolate():
            argv = [
                "unshare",
                "-m",
                "sh",
                "-c",
                'mount -t tmpfs tmpfs "$0" && exec "$@"',
                str(self.root),
                *argv,
            ]
        return argv

    async def start(self, *task: str, isolate: bool = True) -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            *self.argv(*task, isolate=isolate),
            env=self.env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )

    async def run(self, *task: str, isolate: bool = True) -> tuple[int, str]:
        process = await self.start(*task, isolate=isolate)
        output, _ = await process.communicate()
        assert process.returncode is not None
        return process.returncode, output.decode()


def open_session(exchange: FileExchange, root: Path) -> ExchangeSession:
    return exchange.open(attempt_dir=root, skip=(root / "work", root / "tmp"))


TASK = """
import os, pathlib, sys
root = pathlib.Path(os.environ['ROOT'] if 'ROOT' in os.environ else sys.argv[1])
data = (root / 'staging/s3/b/in/data.txt').read_text()
(root / 'staging/s3/b/out/result.txt').write_text(data + ' processed')
(root / 'staging/s3/b/out/empty-dir').mkdir()
(root / 'outputs/parameters/n').write_text('7')
pathlib.Path('in-cwd.txt').write_text('private')
hidden = sorted(k for k in os.environ if 'SLUICE' in k)
print(os.getcwd(), os.environ['TMPDIR'], os.environ['GREETING'], hidden)
"""


async def test_inputs_in_task_runs_outputs_back(exchange: FileExchange, tmp_path: Path) -> None:
    root = attempt_in(tmp_path)
    session = open_session(exchange, root)
    code, output = await Pod(tmp_path, session.url, root).run(sys.executable, "-c", TASK, str(root))

    assert code == 0, output
    assert f"{root / 'work'} {root / 'tmp'} hello []\n" in output
    assert (root / "staging/s3/b/out/result.txt").read_text() == "input processed"
    assert (root / "staging/s3/b/out/empty-dir").is_dir()
    assert (root / "outputs/parameters/n").read_text() == "7"
    assert session.inputs_sent
    assert session.outputs_received
    if can_isolate():
        assert not (root / "work").exists()


async def test_a_failed_task_sends_nothing_and_keeps_its_exit_code(
    exchange: FileExchange, tmp_path: Path
) -> None:
    root = attempt_in(tmp_path)
    session = open_session(exchange, root)
    script = (
        "import pathlib, sys; pathlib.Path(sys.argv[1], 'outputs/parameters/n').write_text('1'); sys.exit(5)"
    )
    code, _ = await Pod(tmp_path, session.url, root).run(sys.executable, "-c", script, str(root))

    assert code == 5
    assert session.inputs_sent
    assert not session.outputs_received


@pytest.mark.parametrize("task", [["/no/such/program"], []], ids=["missing", "empty"])
async def test_a_task_that_cannot_start(exchange: FileExchange, tmp_path: Path, task: list[str]) -> None:
    root = attempt_in(tmp_path)
    code, output = await Pod(tmp_path, open_session(exchange, root).url, root).run(*task)

    assert code == EXIT_CANNOT_START
    assert output.startswith("[sluice] ")


async def test_a_signal_to_the_runtime_reaches_the_task(exchange: FileExchange, tmp_path: Path) -> None:
    root = attempt_in(tmp_path)
    script = (
        "import signal, sys, time\n"
        "signal.signal(signal.SIGTERM, lambda *args: sys.exit(42))\n"
        "print('ready', flush=True)\n"
        "time.sleep(30)\n"
    )
    # Not in a namespace: the signal must reach the runtime itself, not `unshare`.
    pod = Pod(tmp_path, open_session(exchange, root).url, root)
    process = await pod.start(sys.executable, "-c", script, isolate=False)
    assert process.stdout is not None
    assert await asyncio.wait_for(process.stdout.readline(), 10) == b"ready\n"
    process.send_signal(signal.SIGTERM)

    assert await asyncio.wait_for(process.wait(), 10) == 42


async def test_an_unreachable_exchange_fails_with_a_termination_message(tmp_path: Path) -> None:
    async with _exchange() as gone:
        base = gone.url
    url = base + "/v1/attempts/token"
    root = attempt_in(tmp_path)
    pod = Pod(tmp_path, url, root)
    code, output = await pod.run("true")

    assert code == EXIT_STAGING_FAILED
    message = pod.termination_log.read_text()
    assert message.startswith(RUNTIME_FAILURE_PREFIX + f"cannot fetch the task's inputs from {base}: ")
    assert "token" not in message
    assert "trying again" in output


async def test_a_closed_session_is_not_retried(exchange: FileExchange, tmp_path: Path) -> None:
    root = attempt_in(tmp_path)
    session = open_session(exchange, root)
    exchange.close(session)
    pod = Pod(tmp_path, session.url, root)
    code, output = await pod.run("true")

    assert code == EXIT_STAGING_FAILED
    assert "HTTP 404" in pod.termination_log.read_text()
    assert "trying again" not in output


def test_only_new_and_changed_files_go_back(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "same").mkdir(parents=True)
    (root / "same/kept.txt").write_text("a")
    (root / "same/edited.txt").write_text("b")
    (root / "work").mkdir()
    before = snapshot(str(root))
    (root / "same/edited.txt").write_text("bb")
    (root / "same/new.txt").write_text("c")
    (root / "newdir/sub").mkdir(parents=True)
    (root / "work/skipped.txt").write_text("d")
    os.symlink(root / "nowhere", root / "same/dangling")

    names = [name for _, name in changed(str(root), before, skip=(str(root / "work"),))]

    assert names == ["newdir", "newdir/sub", "same/edited.txt", "same/new.txt"]


def test_the_task_environment_hides_the_runtime() -> None:
    env = task_env({"A": "1", EXCHANGE_URL_ENV: "secret", "PYTHONUNBUFFERED": "0"}, "/t")

    assert env == {"A": "1", "TMPDIR": "/t", "PYTHONUNBUFFERED": "0"}


def test_the_runtime_parses_on_old_pythons() -> None:
    """Task images may carry Python 3.7: no newer syntax in the shipped source."""
    import ast

    ast.parse(SOURCE, feature_version=(3, 7))
