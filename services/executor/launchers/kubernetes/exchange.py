"""The executor's file exchange: task pods fetch their inputs here and send their outputs back.

A small HTTP server (standard library, one thread per connection) in the executor. Each
running attempt opens a session with a random token; its pod's runtime (`pod_runtime`)
calls, with nothing but the standard library:

- `GET  /v1/attempts/<token>/inputs`: a tar of the attempt directory (streamed, chunked),
  the task's working and temporary directories and the launcher's log left out;
- `PUT  /v1/attempts/<token>/outputs`: a tar of what the task wrote (chunked or with a
  Content-Length), unpacked into the attempt directory. Only regular files and directories
  with relative names inside the directory are accepted: the pod runs untrusted code.

So the bytes of artifacts travel the way they do for a local task (the executor's
`ArtifactStager` moves them to and from the artifact store), whatever that store is, and a
task image needs no credentials and no Sluice package. The token is the only credential:
it is unguessable, lives only while the attempt runs, and opens that attempt's files only.
"""

from __future__ import annotations

import asyncio
import io
import logging
import os
import secrets
import shutil
import tarfile
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer, WriteableBuffer

logger = logging.getLogger(__name__)

_CHUNK = 1 << 16
_PREFIX = "/v1/attempts/"


@dataclass
class ExchangeSession:
    """One attempt's files, open to the pod that knows `token`."""

    token: str
    """The secret in the session's URL."""
    url: str
    """The URL the pod runtime is given (`<base>/v1/attempts/<token>`)."""
    attempt_dir: Path
    """The directory served and written to."""
    skip: tuple[Path, ...]
    """Paths under `attempt_dir` that are neither served nor written."""
    inputs_sent: bool = False
    """A pod fetched the inputs completely."""
    outputs_received: bool = False
    """A pod sent its outputs and they were unpacked."""
    closed: bool = False
    """The attempt is over: requests are refused, an upload in progress stops."""
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    """Serialises uploads of this session."""


class ExchangeRejected(Exception):
    """A request the exchange refuses, with the HTTP status to answer."""

    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class FileExchange:
    """Serves attempt directories to task pods; see the module docstring."""

    def __init__(
        self,
        *,
        host: str = "0.0.0.0",
        port: int = 0,
        advertise_url: str = "",
        max_output_bytes: int | None = None,
    ) -> None:
        """
        Args:
            host: the address to listen on.
            port: the port to listen on (0: any free port).
            advertise_url: the base URL pods use to reach this server (e.g. the executor
                pod's IP); `http://<host>:<port>` when empty, which needs a concrete host.
            max_output_bytes: the most bytes one attempt may send back; None for no limit.
        """
        self._host = host
        self._port = port
        self._advertise_url = advertise_url.rstrip("/")
        self._max_output_bytes = max_output_bytes
        self._sessions: dict[str, ExchangeSession] = {}
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The base URL pods reach the exchange at (once started)."""
        if self._server is None:
            raise RuntimeError("the file exchange is not started")
        if self._advertise_url:
            return self._advertise_url
        host = self._server.server_address[0]
        host = host.decode() if isinstance(host, bytes) else host
        return f"http://{host}:{self._server.server_port}"

    async def start(self) -> None:
        if self._server is not None:
            return
        if not self._advertise_url and self._host in ("", "0.0.0.0", "::"):
            raise ValueError("the file exchange listens on every address: give the URL pods reach it at")
        server = _Server((self._host, self._port), _Handler, exchange=self)
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="sluice-file-exchange",
            daemon=True,
        )
        self._thread.start()
        logger.info(
            "file exchange for task pods listening on %s, reached at %s", server.server_address, self.url
        )

    async def aclose(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        with self._lock:
            for session in self._sessions.values():
                session.closed = True
            self._sessions.clear()
        await asyncio.to_thread(server.shutdown)
        server.server_close()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join)

    def open(self, *, attempt_dir: Path, skip: Sequence[Path] = ()) -> ExchangeSession:
        """Open `attempt_dir` to the pod that will be given the session's `url`."""
        token = secrets.token_urlsafe(24)
        session = ExchangeSession(
            token=token,
            url=f"{self.url}{_PREFIX}{token}",
            attempt_dir=attempt_dir,
            skip=tuple(skip),
        )
        with self._lock:
            self._sessions[token] = session
        return session

    def close(self, session: ExchangeSession) -> None:
        """End the session: its URL stops working, an upload in progress is abandoned."""
        with self._lock:
            session.closed = True
            self._sessions.pop(session.token, None)

    def session(self, token: str) -> ExchangeSession:
        with self._lock:
            session = self._sessions.get(token)
        if session is None or session.closed:
            raise ExchangeRejected(
                HTTPStatus.NOT_FOUND, "no such attempt (finished, canceled or never opened)"
            )
        return session

    @property
    def max_output_bytes(self) -> int | None:
        return self._max_output_bytes


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # Many pods may start at once; a refused connection only costs them a retry.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], handler: type[_Handler], *, exchange: FileExchange) -> None:
        self.exchange = exchange
        super().__init__(address, handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    timeout = 300.0  # a pod that stalls mid-transfer does not hold a thread for ever
    _responded = False

    def do_GET(self) -> None:
        self._serve("inputs", self._send_inputs)

    def do_PUT(self) -> None:
        self._serve("outputs", self._receive_outputs)

    def _serve(self, expected: str, action: Callable[[ExchangeSession], None]) -> None:
        self.close_connection = True
        try:
            token, _, what = self.path.removeprefix(_PREFIX).partition("/")
            if not self.path.startswith(_PREFIX) or what != expected:
                raise ExchangeRejected(HTTPStatus.NOT_FOUND, "unknown path")
            action(self.server.exchange.session(token))
        except ExchangeRejected as rejected:
            self._reply(rejected.status, rejected.message)
        except (OSError, tarfile.TarError) as error:
            logger.warning("file exchange: %s %s failed: %s", self.command, expected, error)
            self._reply(HTTPStatus.BAD_REQUEST, f"{type(error).__name__}: {error}")

    def _send_inputs(self, session: ExchangeSession) -> None:
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "application/x-tar")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Connection", "close")
        self.end_headers()
        self._responded = True
        sink = _ChunkedWriter(self.wfile)
        with tarfile.open(fileobj=sink, mode="w|") as archive:
            for path, name in _entries(session.attempt_dir, session.skip):
                if session.closed:
                    # Without the last chunk, the pod sees a truncated response, not an end.
                    return
                archive.add(path, arcname=name, recursive=False)
        # Before the last chunk: once the pod has its inputs, the flag is already set.
        session.inputs_sent = True
        sink.finish()

    def _receive_outputs(self, session: ExchangeSession) -> None:
        body = self._body()
        with session.lock:
            count = _unpack(body, session, limit=self.server.exchange.max_output_bytes)
            session.outputs_received = True
        self._reply(HTTPStatus.OK, f"{count} entries stored")

    def _body(self) -> io.RawIOBase:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return _ChunkedReader(self.rfile)
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            raise ExchangeRejected(
                HTTPStatus.LENGTH_REQUIRED, "send the body chunked or with a Content-Length"
            )
        return _LimitedReader(self.rfile, int(length))

    def _reply(self, status: HTTPStatus, message: str) -> None:
        if self._responded:
            return  # mid-stream: the missing last chunk tells the pod
        self._responded = True
        data = (message + "\n").encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            pass  # the pod hung up; it retries or fails on its side

    def log_message(self, format: str, *args: object) -> None:
        logger.debug("file exchange: " + format, *args)


def _entries(root: Path, skip: tuple[Path, ...]) -> Iterator[tuple[Path, str]]:
    """Directories and regular files under `root`, `skip` left out, parents before children."""
    skipped = {os.path.normpath(path) for path in skip}
    for directory, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(
            name for name in dirnames if os.path.normpath(os.path.join(directory, name)) not in skipped
        )
        for name in dirnames:
            path = Path(directory, name)
            yield path, path.relative_to(root).as_posix()
        for name in sorted(filenames):
            path = Path(directory, name)
            if os.path.normpath(path) not in skipped and path.is_file() and not path.is_symlink():
                yield path, path.relative_to(root).as_posix()


def _unpack(body: io.RawIOBase, session: ExchangeSession, *, limit: int | None) -> int:
    """Unpack the pod's tar into the attempt directory; the number of entries."""
    root = session.attempt_dir
    skipped = {os.path.normpath(path) for path in session.skip}
    count = 0
    written = 0
    with tarfile.open(fileobj=body, mode="r|") as archive:
        for member in archive:
            if session.closed:
                raise ExchangeRejected(HTTPStatus.GONE, "the attempt is over")
            target = _target(root, member)
            if any(str(target) == path or str(target).startswith(path + os.sep) for path in skipped):
                continue
            if member.isdir():
                target.mkdir(parents=True, exist_ok=True)
            else:
                written += member.size
                if limit is not None and written > limit:
                    raise ExchangeRejected(
                        HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"the outputs exceed {limit} bytes"
                    )
                source = archive.extractfile(member)
                assert source is not None  # a regular file, checked by `_target`
                target.parent.mkdir(parents=True, exist_ok=True)
                if target.is_symlink() or target.is_dir():
                    raise ExchangeRejected(
                        HTTPStatus.BAD_REQUEST, f"{member.name!r} would replace a non-file"
                    )
                with target.open("wb") as sink:
                    shutil.copyfileobj(source, sink, _CHUNK)
            count += 1
    return count


def _target(root: Path, member: tarfile.TarInfo) -> Path:
    if not (member.isfile() or member.isdir()):
        raise ExchangeRejected(
            HTTPStatus.BAD_REQUEST, f"{member.name!r}: only files and directories are accepted"
        )
    parts = [part for part in member.name.split("/") if part not in ("", ".")]
    if member.name.startswith("/") or not parts or ".." in parts:
        raise ExchangeRejected(
            HTTPStatus.BAD_REQUEST, f"{member.name!r}: not a relative path inside the attempt"
        )
    target = root.joinpath(*parts)
    # No symbolic link is ever created here, but a path must not leave the root through one.
    if not target.parent.resolve().is_relative_to(root.resolve()):
        raise ExchangeRejected(HTTPStatus.BAD_REQUEST, f"{member.name!r}: leaves the attempt directory")
    return target


class _ChunkedWriter(io.RawIOBase):
    """A write-only stream sending HTTP/1.1 chunks."""

    def __init__(self, raw: io.BufferedIOBase) -> None:
        super().__init__()
        self._raw = raw

    def writable(self) -> bool:
        return True

    def write(self, data: ReadableBuffer) -> int:
        chunk = bytes(data)
        if chunk:
            self._raw.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        return len(chunk)

    def finish(self) -> None:
        self._raw.write(b"0\r\n\r\n")
        self._raw.flush()


class _ChunkedReader(io.RawIOBase):
    """A read-only stream decoding an HTTP/1.1 chunked body."""

    def __init__(self, raw: io.BufferedIOBase) -> None:
        super().__init__()
        self._raw = raw
        self._left = 0
        self._done = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer).cast("B")
        while self._left == 0 and not self._done:
            self._next_chunk()
        if self._done or not len(view):
            return 0
        data = self._raw.read(min(self._left, len(view)))
        if not data:
            raise ExchangeRejected(HTTPStatus.BAD_REQUEST, "the body ended inside a chunk")
        view[: len(data)] = data
        self._left -= len(data)
        if self._left == 0:
            self._raw.readline()  # the CRLF after each chunk
        return len(data)

    def _next_chunk(self) -> None:
        line = self._raw.readline(1024)
        try:
            self._left = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise ExchangeRejected(HTTPStatus.BAD_REQUEST, "a malformed chunk size") from None
        if self._left == 0:
            while self._raw.readline(1024) not in (b"\r\n", b"\n", b""):
                pass  # trailers
            self._done = True


class _LimitedReader(io.RawIOBase):
    """A read-only stream of the next `length` bytes."""

    def __init__(self, raw: io.BufferedIOBase, length: int) -> None:
        super().__init__()
        self._raw = raw
        self._left = length

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer).cast("B")
        take = min(len(view), self._left)
        data = self._raw.read(take) if take else b""
        view[: len(data)] = data
        self._left -= len(data)
        return len(data)
