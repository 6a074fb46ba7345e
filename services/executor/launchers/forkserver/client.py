"""The launcher's side: start a fork server lazily, fork tasks through it, stop it.

`ForkServer.spawn` returns None whenever the task did not start in a fork (the command or
its environment does not qualify, the server cannot start, it died, it refused): nothing
of the task ran then, so the caller runs it as a plain subprocess. Otherwise the returned
`ForkedTask` behaves like an `asyncio.subprocess.Process` to supervise: its `pid` leads the
task's own session and process group, `wait()` gives the raw exit status (-N: signal N).

Servers are restarted as needed: when one has died, and when a directory on its `sys.path`
changed since it imported the task runtime (say, a task's `pip install` replaced kfp): that
one is drained (it finishes its running tasks) and a fresh one takes the next tasks.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import selectors
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from services.executor.launchers.forkserver.eligibility import (
    ServerProfile,
    eligible_task,
    kfp_python_task,
    startup_env,
)
from services.executor.launchers.forkserver.protocol import (
    DRAIN,
    GO,
    FrameDecoder,
    ProtocolError,
    TaskRequest,
    encode,
)

logger = logging.getLogger(__name__)

_SOCKET_PATH_LIMIT = 100
"""Bytes a Unix socket path may have (108 on Linux, 104 on BSDs, minus some margin)."""
_STOP_SECONDS = 5.0
_BOOTSTRAP = Path(__file__).with_name("bootstrap.py")


class ForkServer:
    """Forks KFP lightweight Python tasks from a warm interpreter (see the package docstring)."""

    def __init__(
        self,
        *,
        env: Callable[[], Mapping[str, str]],
        runtime_dir: Path | None = None,
        start_timeout_seconds: float = 30.0,
    ) -> None:
        """
        Args:
            env: the environment to start a server with: a task's, minus the task's own
                variables. Tasks whose interpreter would start differently are not forked.
            runtime_dir: where to create the private directory holding the servers'
                sockets; the system's temporary directory when None (or when paths there
                would be too long for a socket).
            start_timeout_seconds: how long a server may take to import the task runtime.
        """
        self._env = env
        self._runtime_dir = runtime_dir
        self._start_timeout = start_timeout_seconds
        self._lock = threading.Lock()
        self._current: _ServerProcess | None = None
        self._processes: list[_ServerProcess] = []
        self._dirs: list[str] = []
        self._started = 0
        self._unavailable: str | None = None
        self._closed = False
        self._finalizer = weakref.finalize(self, _stop_all, self._lock, self._processes, self._dirs)

    @property
    def unavailable(self) -> str | None:
        """Why tasks are no longer forked (a server could not start), or None."""
        return self._unavailable

    async def spawn(
        self,
        *,
        argv: Sequence[str],
        env: Mapping[str, str],
        cwd: Path,
        log_path: Path,
        note: Callable[[str], None],
    ) -> ForkedTask | None:
        """Start `argv` in a fork when it qualifies; None when it did not start (run it then).

        `note` writes a line of the launcher's own into the task's log.
        """
        if self._closed or self._unavailable is not None or kfp_python_task(argv) is None:
            return None
        for _ in range(2):
            server = await self._server()
            if server is None:
                return None
            task = eligible_task(argv, env, server=server.profile)
            if task is None:
                return None
            request = TaskRequest(
                source=task.source, args=task.args, cwd=str(cwd), env=env, log_path=str(log_path)
            )
            forked = await _fork(server.socket_path, request, note=note)
            if forked is not None or server.alive():
                return forked
        return None

    async def aclose(self) -> None:
        """Stop every server (their running tasks are killed); idempotent."""
        if self._closed:
            return
        self._closed = True
        await asyncio.to_thread(self._finalizer)

    async def _server(self) -> _ServerProcess | None:
        current = self._current
        if current is not None and current.alive() and not current.stale():
            return current
        try:
            return await asyncio.to_thread(self._ensure_server)
        except (_Unavailable, OSError) as error:
            if self._unavailable is None:
                logger.warning("Python tasks will not be forked from a warm interpreter: %s", error)
            self._unavailable = str(error)
            return None

    def _ensure_server(self) -> _ServerProcess:
        """The running server, or a new one (blocking: runs in a worker thread)."""
        with self._lock:
            if self._closed:
                raise _Unavailable("the launcher is closed")
            current = self._current
            if current is not None and current.alive() and not current.stale():
                return current
            if current is not None:
                logger.info("restarting the fork server (%s)", "stale" if current.alive() else "it died")
                current.drain()
            for process in [process for process in self._processes if not process.alive()]:
                process.close()
                self._processes.remove(process)
            self._current = self._start_server()
            self._processes.append(self._current)
            return self._current

    def _start_server(self) -> _ServerProcess:
        env = dict(self._env())
        path = env.get("PATH", os.defpath)
        interpreter, shell = shutil.which("python3", path=path), shutil.which("sh", path=path)
        if interpreter is None or not os.path.isabs(interpreter):
            raise _Unavailable("no python3 with an absolute path on the tasks' PATH")
        if shell is None or os.path.basename(os.path.realpath(shell)) != "dash":
            # `child` reproduces what dash adds to the environment (PWD), not other shells.
            raise _Unavailable(f"the tasks' sh is {shell!r}, not dash")
        self._started += 1
        socket_path = os.path.join(self._socket_dir(), f"server-{self._started}.sock")
        started = time.monotonic()
        popen = subprocess.Popen(
            [interpreter, str(_BOOTSTRAP), "--socket", socket_path],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            cwd="/",
            start_new_session=True,
        )
        try:
            ready = _handshake(popen, env, timeout=self._start_timeout)
        except _Unavailable:
            _kill(popen)
            raise
        profile = ServerProfile(
            interpreter=interpreter,
            shell=shell,
            startup_env=startup_env(env, read_at_import=ready.read_at_import),
            read_at_import=ready.read_at_import,
        )
        process = _ServerProcess(popen=popen, socket_path=socket_path, profile=profile, watched=ready.watched)
        logger.info(
            "fork server %d ready in %.3fs (kfp %s)", popen.pid, time.monotonic() - started, ready.kfp_version
        )
        return process

    def _socket_dir(self) -> str:
        if not self._dirs:
            parent = self._runtime_dir
            if parent is not None:
                parent.mkdir(parents=True, exist_ok=True)
                if len(os.fsencode(os.path.join(parent, "forkserver-XXXXXXXX/server-NNN.sock"))) > (
                    _SOCKET_PATH_LIMIT
                ):
                    parent = None
            self._dirs.append(tempfile.mkdtemp(prefix="forkserver-", dir=parent))
        return self._dirs[0]


class ForkedTask:
    """A task running in a fork: what `LocalLauncher` supervises, like a subprocess."""

    def __init__(self, *, pid: int, connection: _TaskConnection, note: Callable[[str], None]) -> None:
        self._pid = pid
        self._connection = connection
        self._note = note
        self._returncode: int | None = None

    @property
    def pid(self) -> int:
        """The task's pid, which is also its process group and session id."""
        return self._pid

    @property
    def returncode(self) -> int | None:
        """The raw exit status (-N: killed by signal N) once it ended, else None."""
        return self._returncode

    async def wait(self) -> int:
        """Wait until the task ends; its raw exit status.

        When the server dies first, nothing can tell how the task ends: the task's group
        is killed, a note says so in its log, and the status is that of SIGKILL.
        """
        if self._returncode is None:
            status = await asyncio.shield(self._connection.exit)
            if self._returncode is None:
                if status is None:
                    _kill_group(self._pid)
                    self._note("the fork server running this task died; the task was killed")
                    status = -signal.SIGKILL
                self._returncode = status
        return self._returncode


class _Unavailable(Exception):
    """A fork server cannot be started here."""


@dataclass(eq=False)
class _ServerProcess:
    popen: subprocess.Popen[bytes]
    socket_path: str
    profile: ServerProfile
    watched: Mapping[str, int | None]

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stale(self) -> bool:
        """A directory on its `sys.path` changed since it imported the task runtime."""
        return any(_mtime(path) != mtime for path, mtime in self.watched.items())

    def drain(self) -> None:
        """Take no new tasks; leave once the running ones end."""
        with contextlib.suppress(OSError, ValueError):
            assert self.popen.stdin is not None
            self.popen.stdin.write(DRAIN + b"\n")
            self.popen.stdin.flush()

    def stop(self, timeout: float) -> None:
        """Close the control channel (the server kills its tasks and leaves), reap it."""
        _close_pipes(self.popen)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            _kill(self.popen)

    def close(self) -> None:
        """Release what is left of a server that has exited."""
        _close_pipes(self.popen)


class _TaskConnection(asyncio.Protocol):
    """One task's connection: resolves `pid`, then `exit` (None: never started / server lost)."""

    def __init__(self) -> None:
        loop = asyncio.get_running_loop()
        self.pid: asyncio.Future[int | None] = loop.create_future()
        self.exit: asyncio.Future[int | None] = loop.create_future()
        self._decoder = FrameDecoder()
        self._transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        try:
            messages = self._decoder.feed(data)
        except ProtocolError as error:
            logger.warning("bad reply from the fork server: %s", error)
            self.close()
            return
        for message in messages:
            pid, status = message.get("pid"), message.get("exit")
            if isinstance(pid, int) and not self.pid.done():
                self.pid.set_result(pid)
            elif isinstance(status, int):
                self._resolve(status)
                self.close()
            else:
                logger.warning("the fork server refused a task: %s", message.get("error", message))
                self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._resolve(None)

    def write(self, data: bytes) -> None:
        assert isinstance(self._transport, asyncio.WriteTransport)
        self._transport.write(data)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def _resolve(self, status: int | None) -> None:
        if not self.pid.done():
            self.pid.set_result(None)
        if not self.exit.done():
            self.exit.set_result(status)


@dataclass(frozen=True)
class _Ready:
    read_at_import: frozenset[str]
    watched: dict[str, int | None]
    kfp_version: str


def _handshake(popen: subprocess.Popen[bytes], env: Mapping[str, str], *, timeout: float) -> _Ready:
    """Send the server its start environment, read its ready line (or why it cannot run)."""
    assert popen.stdin is not None
    assert popen.stdout is not None
    try:
        popen.stdin.write(json.dumps(env).encode() + b"\n")
        popen.stdin.flush()
        reply = json.loads(_read_line(popen.stdout, timeout=timeout))
    except (OSError, ValueError, TimeoutError) as error:
        raise _Unavailable(f"the fork server did not start: {error}") from None
    finally:
        popen.stdout.close()
    ready = reply.get("ready") if isinstance(reply, dict) else None
    try:
        assert isinstance(ready, dict)
        return _Ready(
            read_at_import=frozenset(ready["read_at_import"]),
            watched=dict(ready["watched"]),
            kfp_version=str(ready["kfp_version"]),
        )
    except (AssertionError, KeyError, TypeError):
        reason = reply.get("error", reply) if isinstance(reply, dict) else reply
        raise _Unavailable(f"the fork server did not start: {reason}") from None


async def _fork(socket_path: str, request: TaskRequest, *, note: Callable[[str], None]) -> ForkedTask | None:
    """Ask the server at `socket_path` to run `request`; None when the task did not start."""
    loop = asyncio.get_running_loop()
    try:
        _, connection = await loop.create_unix_connection(_TaskConnection, socket_path)
    except OSError:
        return None
    try:
        connection.write(encode(request.to_message()))
        pid = await connection.pid
    except BaseException:
        # Closing before the go byte makes the child leave without running anything.
        connection.close()
        raise
    if pid is None:
        connection.close()
        return None
    connection.write(GO)
    return ForkedTask(pid=pid, connection=connection, note=note)


def _read_line(stream: IO[bytes], *, timeout: float) -> bytes:
    """One line from a pipe within `timeout` seconds (TimeoutError), or what came before EOF."""
    deadline = time.monotonic() + timeout
    data = b""
    with selectors.DefaultSelector() as selector:
        selector.register(stream.fileno(), selectors.EVENT_READ)
        while b"\n" not in data:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not selector.select(remaining):
                raise TimeoutError(f"no reply within {timeout:g}s")
            chunk = os.read(stream.fileno(), 65536)
            if not chunk:
                break
            data += chunk
    return data.partition(b"\n")[0]


def _kill(popen: subprocess.Popen[bytes]) -> None:
    popen.kill()
    popen.wait()
    _close_pipes(popen)


def _close_pipes(popen: subprocess.Popen[bytes]) -> None:
    for stream in (popen.stdin, popen.stdout):
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.close()


def _mtime(path: str) -> int | None:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _stop_all(lock: threading.Lock, processes: list[_ServerProcess], dirs: list[str]) -> None:
    """Stop the servers and remove their sockets' directory (also when garbage collected)."""
    with lock:
        for process in processes:
            process.stop(_STOP_SECONDS)
        processes.clear()
        for directory in dirs:
            shutil.rmtree(directory, ignore_errors=True)
        dirs.clear()
