"""`samples/parallel_execution.py` on the live server, downloading from a local HTTP server."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sluice.client import Client

from samples.parallel_execution import parallel_execution

TEXTS = {
    "/first.txt": "To be, or not to be, that is the question.",
    "/second.txt": "All the world's a stage.",
}


@dataclass
class TextServer:
    url: str
    # Each request waits here for the other: both are answered only if they are in flight at once.
    meeting: threading.Barrier = field(default_factory=lambda: threading.Barrier(2, timeout=20))
    paths: list[str] = field(default_factory=list)


@pytest.fixture
def text_server() -> Iterator[TextServer]:
    server_state: list[TextServer] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state = server_state[0]
            state.paths.append(self.path)
            with contextlib.suppress(threading.BrokenBarrierError):
                state.meeting.wait()
            body = TEXTS.get(self.path, "").encode()
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            """Quiet."""

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server_state.append(TextServer(url=f"http://127.0.0.1:{httpd.server_address[1]}"))
    thread = threading.Thread(target=httpd.serve_forever, name="texts", daemon=True)
    thread.start()
    try:
        yield server_state[0]
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


def test_two_downloads_run_in_parallel_then_the_join_prints_both(
    client: Client, text_server: TextServer
) -> None:
    arguments = {"url1": f"{text_server.url}/first.txt", "url2": f"{text_server.url}/second.txt"}

    run = client.wait(
        client.run_pipeline(parallel_execution, arguments, enable_caching=False).run_id, timeout=90
    )

    assert run.succeeded, run.error
    first, second = TEXTS["/first.txt"], TEXTS["/second.txt"]
    assert run.outputs == {"Output": f"{first}\n{second}"}
    assert sorted(text_server.paths) == ["/first.txt", "/second.txt"]
    assert not text_server.meeting.broken, "the downloads did not run at the same time"
    downloads = [run.task("download 1"), run.task("download 2")]
    assert {task.output_parameters["Output"] for task in downloads} == {first, second}
    starts = [task.start_time for task in downloads]
    ends = [task.end_time for task in downloads]
    assert all(starts)
    assert all(ends)
    assert max(s for s in starts if s) < min(e for e in ends if e), "the download tasks did not overlap"
    log = client.read_task_log(run.run_id, "echo")
    assert first in log
    assert second in log
