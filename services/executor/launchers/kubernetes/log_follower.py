"""Following a container's log into the attempt's log file while its pod runs.

The executor ships the attempt's log file while the attempt runs, so users can follow
it live; the follower keeps that file growing with the container's output. It holds one
follow request (`read_namespaced_pod_log(follow=True)`), which the API server ends once
the container has terminated, in a thread of its own: such a request lasts as long as
the task, and the default executor's threads are for the launcher's short calls.

A follow that ended by itself brought the whole log (`complete`). One that broke off,
was refused or was stopped brought the first `written` bytes of it: the launcher then
reads the log in one go and skips them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from typing import Any, BinaryIO

logger = logging.getLogger(__name__)

_CHUNK = 1 << 16
_OPEN_TIMEOUT = (10.0, 30.0)


class LogFollower:
    """Appends a container's log to `log` as the API server streams it; see the module docstring.

    `start()` once the container has started, then `wait()` for the stream's end or
    `stop()`; always `aclose()`, which leaves no thread behind.
    """

    def __init__(
        self,
        core: Any,
        *,
        pod: str,
        namespace: str,
        container: str,
        log: BinaryIO,
        open_timeout: tuple[float, float] = _OPEN_TIMEOUT,
    ) -> None:
        """
        Args:
            core: a `kubernetes.client.CoreV1Api`.
            pod: the pod's name.
            namespace: the pod's namespace.
            container: the container whose log is followed.
            log: where its log goes, an unbuffered file (the launcher writes notes to it too).
            open_timeout: seconds to connect and to receive the response's headers; once
                they came, the log may stay quiet for as long as the container likes.
        """
        self._core = core
        self._pod = pod
        self._namespace = namespace
        self._container = container
        self._log = log
        self._open_timeout = open_timeout
        self._lock = threading.Lock()
        self._stopping = False
        self._response: Any = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ended = asyncio.Event()
        self._written = 0
        self._ends_with_newline = True
        self._complete = False

    @property
    def written(self) -> int:
        """The bytes of the container's log appended so far."""
        return self._written

    @property
    def ends_with_newline(self) -> bool:
        """What was appended ends with a newline (or nothing was)."""
        return self._ends_with_newline

    @property
    def complete(self) -> bool:
        """The stream ended by itself, as the API server ends it once the container has
        terminated: all of the log was appended."""
        return self._complete

    def start(self) -> None:
        """Start following (once; not after `stop`)."""
        if self._thread is not None or self._stopping:
            return
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._run, name=f"sluice-pod-log-{self._pod}", daemon=True)
        self._thread.start()

    async def wait(self, seconds: float) -> None:
        """Return once the stream has ended, or after `seconds`; at once when never started."""
        if self._thread is None:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ended.wait(), seconds)

    def stop(self) -> None:
        """Stop at once: nothing more is appended once this returns."""
        with self._lock:
            self._stopping = True
            if self._response is not None:
                # Unblocks the thread's read however long the container stays quiet
                # (`shutdown` is urllib3 ≥ 2.3's way; closing is the older, weaker one).
                # It fails when the stream has just ended and its connection gone back to the pool.
                with contextlib.suppress(ValueError, RuntimeError, OSError):
                    getattr(self._response, "shutdown", self._response.close)()

    async def aclose(self) -> None:
        """`stop`, then wait for the thread to end: at once, or, when the response's headers
        have not come yet, within the `open_timeout`."""
        self.stop()
        thread = self._thread
        if thread is None:
            return
        await self._ended.wait()
        thread.join()

    def _run(self) -> None:
        try:
            self._follow()
        except Exception as error:
            # The launcher reads the log in one go instead: a broken follow loses nothing.
            if not self._stopping:
                logger.info("the log of pod %s could not be followed to its end: %s", self._pod, error)
        finally:
            assert self._loop is not None
            self._loop.call_soon_threadsafe(self._ended.set)

    def _follow(self) -> None:
        response = self._core.read_namespaced_pod_log(
            self._pod,
            self._namespace,
            container=self._container,
            follow=True,
            _preload_content=False,
            _request_timeout=self._open_timeout,
        )
        try:
            # The read timeout was for the headers; a task may stay quiet for hours (urllib3
            # sets the timeout again when it reuses the connection).
            sock = getattr(getattr(response, "connection", None), "sock", None)
            if sock is not None:
                sock.settimeout(None)
            with self._lock:
                if self._stopping:
                    return
                self._response = response
            for chunk in response.stream(_CHUNK):
                with self._lock:
                    if self._stopping:
                        return
                    self._log.write(chunk)
                    self._written += len(chunk)
                    self._ends_with_newline = chunk.endswith(b"\n")
            with self._lock:
                # After a `stop`, an end may be the shut socket's.
                self._complete = not self._stopping
        finally:
            with self._lock:
                self._response = None
            response.close()
            response.release_conn()
