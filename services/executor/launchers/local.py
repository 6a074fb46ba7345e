"""The local-process launcher: each task a subprocess on this host, in its own process group.

Stopping a task (timeout, `cancel`, or cancellation of the awaiting coroutine) sends
SIGTERM to the whole group, waits a grace period, then sends SIGKILL; when the main
process ends on its own, whatever it left running in its group is killed too, so a task
never leaves orphans behind.

KFP lightweight Python components that qualify start in a fork of a warm interpreter
instead (`forkserver`), saving the interpreter's start and the runtime's imports; the
supervision above is the same for both, and the subprocess remains the path for anything
the fork server does not take.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import BinaryIO, Protocol

from services.core.errors import FailedPrecondition
from services.executor.kfp_commands import skip_satisfied_pip_install
from services.executor.launchers.base import LaunchOutcome, LaunchRequest
from services.executor.launchers.forkserver import ForkServer

logger = logging.getLogger(__name__)

_CANNOT_START = 127


class _Running(Protocol):
    """A started task: an `asyncio.subprocess.Process` or a `forkserver.ForkedTask`."""

    @property
    def pid(self) -> int: ...

    @property
    def returncode(self) -> int | None: ...

    async def wait(self) -> int: ...


class LocalLauncher:
    """A `Launcher` running tasks as local processes."""

    def __init__(
        self,
        *,
        grace_seconds: float = 10.0,
        skip_satisfied_pip_installs: bool = True,
        base_env: Mapping[str, str] | None = None,
        warm_python_tasks: bool = True,
        runtime_dir: Path | None = None,
    ) -> None:
        """
        Args:
            grace_seconds: how long a stopped task gets between SIGTERM and SIGKILL.
            skip_satisfied_pip_installs: drop KFP's `pip install` prefix when this
                interpreter's environment already satisfies it (see `kfp_commands`).
            base_env: the environment tasks start from; this process's at launch time
                when None.
            warm_python_tasks: fork KFP lightweight Python components that qualify from
                a warm interpreter (see `forkserver`) rather than starting a new one.
            runtime_dir: where the fork server's private socket directory goes; the
                system's temporary directory when None.
        """
        self._grace_seconds = grace_seconds
        self._skip_pip = skip_satisfied_pip_installs
        self._base_env = base_env
        self._running: dict[str, asyncio.Event] = {}
        self._fork_server = (
            ForkServer(env=self._server_env, runtime_dir=runtime_dir) if warm_python_tasks else None
        )

    async def launch(self, request: LaunchRequest) -> LaunchOutcome:
        if request.key in self._running:
            raise FailedPrecondition(f"launch {request.key!r} is already running")
        canceled = asyncio.Event()
        self._running[request.key] = canceled
        try:
            return await self._launch(request, canceled)
        finally:
            del self._running[request.key]

    async def cancel(self, key: str) -> bool:
        event = self._running.get(key)
        if event is None:
            return False
        event.set()
        return True

    async def aclose(self) -> None:
        """Stop the fork server (tasks still running in it are killed); idempotent.

        Without it, the fork server stops when this launcher is garbage collected or this
        process exits.
        """
        if self._fork_server is not None:
            await self._fork_server.aclose()

    async def _launch(self, request: LaunchRequest, canceled: asyncio.Event) -> LaunchOutcome:
        request.cwd.mkdir(parents=True, exist_ok=True)
        request.log_path.parent.mkdir(parents=True, exist_ok=True)
        if request.tmp_dir is not None:
            request.tmp_dir.mkdir(parents=True, exist_ok=True)
        with request.log_path.open("ab", buffering=0) as log:
            _note(log, f"local launcher: running on the host; image {request.image!r} is not used")
            argv = self._argv(request, log)
            env = self._env(request)
            process = await self._start(request, argv, env, log)
            if process is None:
                return LaunchOutcome(exit_code=_CANNOT_START)
            try:
                return await self._supervise(process, request, canceled, log)
            finally:
                # Whatever the task left running in its group dies with it.
                _signal_group(process.pid, signal.SIGKILL)

    async def _start(
        self, request: LaunchRequest, argv: tuple[str, ...], env: dict[str, str], log: BinaryIO
    ) -> _Running | None:
        """The task started in its own session: forked when it qualifies, else a subprocess."""
        if self._fork_server is not None:
            forked = await self._fork_server.spawn(
                argv=argv,
                env=env,
                cwd=request.cwd,
                log_path=request.log_path,
                note=lambda message: _note(log, message),
            )
            if forked is not None:
                logger.debug("forked %s as pid %d", request.key, forked.pid)
                return forked
        try:
            process = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
                cwd=request.cwd,
                env=env,
                start_new_session=True,
            )
        except OSError as error:
            _note(log, f"cannot start {argv[0]!r}: {error}")
            return None
        logger.debug("launched %s as pid %d", request.key, process.pid)
        return process

    def _argv(self, request: LaunchRequest, log: BinaryIO) -> tuple[str, ...]:
        if not self._skip_pip:
            return request.argv
        skipped = skip_satisfied_pip_install(request.argv)
        if skipped is None:
            return request.argv
        _note(log, "pip install skipped, already satisfied here: " + " ".join(skipped.requirements))
        return skipped.argv

    def _env(self, request: LaunchRequest) -> dict[str, str]:
        env = dict(os.environ if self._base_env is None else self._base_env)
        env.setdefault("PYTHONUNBUFFERED", "1")
        if request.tmp_dir is not None:
            env["TMPDIR"] = str(request.tmp_dir)
        env.update(request.env)
        # `python3` in a task must be this interpreter, with its installed packages.
        path = env.get("PATH", os.defpath)
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), path])
        return env

    def _server_env(self) -> dict[str, str]:
        """The environment of a task with no variables of its own: the fork server's."""
        return self._env(LaunchRequest(key="", argv=(), cwd=Path(), log_path=Path()))

    async def _supervise(
        self,
        process: _Running,
        request: LaunchRequest,
        canceled: asyncio.Event,
        log: BinaryIO,
    ) -> LaunchOutcome:
        exited = asyncio.ensure_future(process.wait())
        cancel_requested = asyncio.ensure_future(canceled.wait())
        try:
            await asyncio.wait(
                {exited, cancel_requested},
                timeout=request.timeout_seconds,
                return_when=asyncio.FIRST_COMPLETED,
            )
        except asyncio.CancelledError:
            _note(log, "canceled: stopping the task")
            await self._stop(process)
            raise
        finally:
            exited.cancel()
            cancel_requested.cancel()
        if process.returncode is not None:
            return LaunchOutcome(exit_code=_exit_code(process.returncode))
        if canceled.is_set():
            _note(log, "canceled: stopping the task")
            return LaunchOutcome(exit_code=await self._stop(process), canceled=True)
        _note(log, f"timed out after {request.timeout_seconds:g}s: stopping the task")
        return LaunchOutcome(exit_code=await self._stop(process), timed_out=True)

    async def _stop(self, process: _Running) -> int:
        """SIGTERM to the group, SIGKILL after the grace period; the exit code."""
        try:
            _signal_group(process.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), self._grace_seconds)
            except TimeoutError:
                logger.info("pid %d ignored SIGTERM for %gs, killing it", process.pid, self._grace_seconds)
        finally:
            _signal_group(process.pid, signal.SIGKILL)
        return _exit_code(await process.wait())


def _signal_group(pgid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def _exit_code(returncode: int) -> int:
    return 128 - returncode if returncode < 0 else returncode


def _note(log: BinaryIO, message: str) -> None:
    log.write(f"[sluice] {message}\n".encode())
