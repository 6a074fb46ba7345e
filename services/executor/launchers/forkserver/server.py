"""The fork server: a warm interpreter that forks one child per KFP task.

Started by `bootstrap.py` (see the package docstring). Its standard streams:

- stdin is the control channel: the first line is the environment it was started with (as
  JSON: what the interpreter changed in it at start is then known), then `drain` asks it
  to stop accepting tasks and leave once its children are gone; end of file (the launcher
  closed it, or died) kills the children's process groups, reports them, and leaves;
- stdout carries one line, `{"ready": {…}}` or `{"error": "…"}`, then points to /dev/null;
- stderr is the launcher's, for the server's own warnings.

Single-threaded on purpose: `fork()` copies only the calling thread, and any lock another
thread held would stay locked in the child forever. SIGCHLD only wakes the selector (via
`signal.set_wakeup_fd`); children are reaped with `waitpid(-1, WNOHANG)` in the loop.
Standard library only, apart from the pre-imported task runtime.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import selectors
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from services.executor.launchers.forkserver.child import Child, Startup
from services.executor.launchers.forkserver.eligibility import EXECUTOR_MODULE
from services.executor.launchers.forkserver.protocol import (
    DRAIN,
    FrameDecoder,
    ProtocolError,
    TaskRequest,
    encode,
    send,
)

logger = logging.getLogger(__name__)

_READ_SIZE = 256 * 1024


def main(*, path_tail: tuple[str, ...]) -> Child | None:
    """Serve until told to stop (returns None), or return the `Child` to run in a fork.

    `path_tail` is `sys.path` as the interpreter built it, without the script's directory.
    """
    parser = argparse.ArgumentParser(description="Sluice's fork server for KFP Python tasks.")
    parser.add_argument("--socket", required=True, help="the Unix socket path to listen on")
    args = parser.parse_args()
    started_env = dict(os.environ)
    control = _Control(fd=0)
    launched_env = json.loads(control.read_line())
    watched = {entry: _mtime(entry) for entry in path_tail}
    try:
        read_at_import = _import_task_runtime()
    except Exception as error:  # any failure just disables the fast path
        _announce({"error": f"cannot import {EXECUTOR_MODULE}: {type(error).__name__}: {error}"})
        return None
    if threading.active_count() != 1:
        _announce({"error": "a thread is running after the imports; forking would be unsafe"})
        return None
    startup = Startup(
        path_tail=path_tail,
        env_changes={
            name: started_env.get(name)
            for name in started_env.keys() | launched_env.keys()
            if started_env.get(name) != launched_env.get(name)
        },
    )
    server = Server(socket_path=args.socket, control=control, startup=startup)
    _announce(
        {
            "ready": {
                "pid": os.getpid(),
                "kfp_version": _kfp_version(),
                "read_at_import": sorted(read_at_import),
                "watched": watched,
            }
        }
    )
    child = server.serve()
    if child is None:
        server.close()
    return child


class Server:
    """The selector loop: accept requests, fork, reap, report."""

    def __init__(self, *, socket_path: str, control: _Control, startup: Startup) -> None:
        self._socket_path = socket_path
        self._control = control
        self._startup = startup
        self._listener: socket.socket | None = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(socket_path)
        self._listener.listen(128)
        self._listener.setblocking(False)
        self._wake_r, self._wake_w = os.pipe()
        for fd in (self._wake_r, self._wake_w):
            os.set_blocking(fd, False)
        self._sigchld = signal.signal(signal.SIGCHLD, _ignore_signal)
        signal.set_wakeup_fd(self._wake_w, warn_on_full_buffer=False)
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._listener, selectors.EVENT_READ, self._accept)
        self._selector.register(control.fd, selectors.EVENT_READ, self._read_control)
        self._selector.register(self._wake_r, selectors.EVENT_READ, self._reap)
        self._incoming: dict[socket.socket, FrameDecoder] = {}
        self._children: dict[int, socket.socket] = {}
        self._child: Child | None = None

    def serve(self) -> Child | None:
        """Run until stopped and the children are gone; in a fork, return its `Child`."""
        while self._listener is not None or self._children:
            for key, _ in self._selector.select():
                callback: Callable[[Any], None] = key.data
                callback(key.fileobj)
                if self._child is not None:
                    return self._child
        return None

    def close(self) -> None:
        """Release what serving used (the server process only)."""
        self._stop_intake()
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, self._sigchld)
        self._selector.close()
        os.close(self._wake_r)
        os.close(self._wake_w)
        if self._control.closed:
            # The launcher is gone (or closing, and removes it too): leave no empty
            # directory behind. A drained server leaves it to the one replacing it.
            with contextlib.suppress(OSError):
                os.rmdir(os.path.dirname(self._socket_path))

    def _accept(self, listener: socket.socket) -> None:
        with contextlib.suppress(BlockingIOError, InterruptedError):
            conn, _ = listener.accept()
            conn.setblocking(False)
            self._incoming[conn] = FrameDecoder()
            self._selector.register(conn, selectors.EVENT_READ, self._receive)

    def _receive(self, conn: socket.socket) -> None:
        try:
            data = conn.recv(_READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        decoder = self._incoming[conn]
        try:
            messages = decoder.feed(data)
            if not data:
                raise ProtocolError("the connection closed before the request was complete")
            if not messages:
                return
            if len(messages) > 1 or decoder.pending:
                raise ProtocolError("more than one request on a connection")
            request = TaskRequest.from_message(messages[0])
        except ProtocolError as error:
            self._drop(conn, error=str(error) if data else None)
            return
        self._selector.unregister(conn)
        del self._incoming[conn]
        conn.setblocking(True)
        self._fork(conn, request)

    def _fork(self, conn: socket.socket, request: TaskRequest) -> None:
        try:
            pid = os.fork()
        except OSError as error:
            logger.warning("fork failed: %s", error)
            with contextlib.suppress(OSError):
                send(conn, {"error": f"fork failed: {error}"})
            conn.close()
            return
        if pid == 0:
            self._forget_in_child(keep=conn)
            self._child = Child(conn=conn, request=request, startup=self._startup)
            return
        self._children[pid] = conn

    def _forget_in_child(self, *, keep: socket.socket) -> None:
        """Close the server's descriptors and undo its signal setup, in a new child."""
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, self._sigchld)
        self._selector.close()
        for fd in (self._wake_r, self._wake_w):
            os.close(fd)
        if self._listener is not None:
            self._listener.close()
        for conn in [*self._incoming, *self._children.values()]:
            if conn is not keep:
                conn.close()

    def _read_control(self, fd: int) -> None:
        for line in self._control.read_available():
            if line == DRAIN:
                self._stop_intake()
        if self._control.closed:
            # The launcher is gone or wants everything stopped: no task outlives it.
            self._selector.unregister(fd)
            self._stop_intake()
            for pid in self._children:
                _kill_group(pid)

    def _reap(self, wake_r: int) -> None:
        with contextlib.suppress(BlockingIOError, InterruptedError):
            while os.read(wake_r, 4096):
                pass
        for pid, status in _reaped():
            conn = self._children.pop(pid, None)
            if conn is None:
                continue
            with contextlib.suppress(OSError):
                send(conn, {"exit": os.waitstatus_to_exitcode(status)})
            conn.close()

    def _stop_intake(self) -> None:
        if self._listener is None:
            return
        self._selector.unregister(self._listener)
        self._listener.close()
        self._listener = None
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._socket_path)
        for conn in list(self._incoming):
            self._drop(conn, error=None)

    def _drop(self, conn: socket.socket, *, error: str | None) -> None:
        if error is not None:
            logger.warning("rejected a request: %s", error)
            with contextlib.suppress(OSError):
                conn.setblocking(True)
                conn.sendall(encode({"error": error}))
        self._selector.unregister(conn)
        del self._incoming[conn]
        conn.close()


@dataclass
class _Control:
    """The control channel on stdin, read with `os.read` (never through `sys.stdin`)."""

    fd: int
    closed: bool = False
    _buffer: bytes = field(default=b"", repr=False)

    def read_line(self) -> bytes:
        """The first line, blocking (the server is not serving yet)."""
        while b"\n" not in self._buffer:
            chunk = os.read(self.fd, _READ_SIZE)
            if not chunk:
                raise SystemExit("the control channel closed before the first line")
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line

    def read_available(self) -> list[bytes]:
        try:
            chunk = os.read(self.fd, _READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return []
        if not chunk:
            self.closed = True
        *lines, self._buffer = (self._buffer + chunk).split(b"\n")
        return [line.strip() for line in lines]


def _import_task_runtime() -> set[str]:
    """Import KFP's executor as a task would (`_KFP_RUNTIME=true`); the variables it read."""
    os.environ["_KFP_RUNTIME"] = "true"
    with _recording_env_reads() as read:
        import kfp.dsl
        import kfp.dsl.executor_main  # the point is the import

    # `-m` runs the module fresh as `__main__`; a loaded copy would make runpy warn.
    del sys.modules[EXECUTOR_MODULE]
    with contextlib.suppress(AttributeError):
        delattr(kfp.dsl, "executor_main")
    read.discard("_KFP_RUNTIME")
    return read


@contextlib.contextmanager
def _recording_env_reads() -> Iterator[set[str]]:
    """Names looked up in `os.environ` meanwhile (`*` when it was iterated whole)."""
    environ_class = type(os.environ)
    get_item, iterate = environ_class.__getitem__, environ_class.__iter__
    read: set[str] = set()

    def recording_get_item(self: Mapping[Any, Any], key: Any) -> Any:
        read.add(key if isinstance(key, str) else os.fsdecode(key))
        return get_item(self, key)  # type: ignore[arg-type]

    def recording_iter(self: Mapping[Any, Any]) -> Iterator[Any]:
        read.add("*")
        return iterate(self)  # type: ignore[arg-type]

    environ_class.__getitem__ = recording_get_item  # type: ignore[method-assign]
    environ_class.__iter__ = recording_iter  # type: ignore[method-assign]
    try:
        yield read
    finally:
        environ_class.__getitem__ = get_item  # type: ignore[method-assign]
        environ_class.__iter__ = iterate  # type: ignore[method-assign]


def _kfp_version() -> str:
    import kfp

    return str(getattr(kfp, "__version__", "unknown"))


def _announce(message: Mapping[str, Any]) -> None:
    """Write the one stdout line, then point stdout at /dev/null (the launcher stops reading)."""
    data = (json.dumps(message) + "\n").encode()
    while data:
        data = data[os.write(1, data) :]
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.close(null)


def _mtime(path: str) -> int | None:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None


def _reaped() -> Iterator[tuple[int, int]]:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        yield pid, status


def _kill_group(pid: int) -> None:
    for kill in (os.killpg, os.kill):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            kill(pid, signal.SIGKILL)


def _ignore_signal(signum: int, frame: object) -> None:
    """SIGCHLD's handler: the wakeup fd does the work."""
