"""A real HTTP server on 127.0.0.1 that takes webhook deliveries, for the tests.

Each path answers with the statuses it is told to, in order (200 once the script runs
out), and every request is recorded.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Delivery:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


class Receiver:
    def __init__(self, server: ThreadingHTTPServer) -> None:
        self._server = server
        self._lock = threading.Condition()
        self._scripts: defaultdict[str, deque[int]] = defaultdict(deque)
        self._deliveries: list[Delivery] = []

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def answer(self, path: str, *statuses: int) -> None:
        """Answer the next requests to ``path`` with ``statuses``, then 200."""
        with self._lock:
            self._scripts[path].extend(statuses)

    def deliveries(self, path: str) -> list[Delivery]:
        with self._lock:
            return [d for d in self._deliveries if d.path == path]

    def wait_for(self, path: str, count: int, *, timeout: float = 30.0) -> list[Delivery]:
        """The first ``count`` deliveries to ``path``, waiting up to ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                found = [d for d in self._deliveries if d.path == path]
                if len(found) >= count:
                    return found[:count]
                remaining = deadline - time.monotonic()
                assert remaining > 0, f"{len(found)} of {count} deliveries to {path} within {timeout}s"
                self._lock.wait(remaining)

    def _take(self, delivery: Delivery) -> int:
        with self._lock:
            self._deliveries.append(delivery)
            self._lock.notify_all()
            script = self._scripts[delivery.path]
            return script.popleft() if script else 200


@contextmanager
def webhook_receiver() -> Iterator[Receiver]:
    receiver: Receiver

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            headers = {key.lower(): value for key, value in self.headers.items()}
            status = receiver._take(Delivery(self.path, headers, body, time.monotonic()))
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            """Quiet: the tests assert on what was received."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver = Receiver(server)
    thread = threading.Thread(target=server.serve_forever, name="webhook-receiver", daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
