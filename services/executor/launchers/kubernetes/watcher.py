"""One watch over the executor's pods, waking the launches whose pods changed.

A single thread holds a Kubernetes watch on the pods that carry this executor's label,
however many tasks run, and hands each event to the event loop; a launch waits on its
pod's `PodEvents`. The watch is an accelerator, not the source of truth: a launch also
reads its pod now and then, so a missed event (a reconnect, an expired resource version)
delays it a little and loses nothing.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from typing import Any

from kubernetes.watch.watch import iter_resp_lines
from urllib3.exceptions import ReadTimeoutError

logger = logging.getLogger(__name__)

_GONE = 410
_EVENT_TYPES = frozenset({"ADDED", "MODIFIED", "DELETED"})


class PodEvents:
    """The latest state of one pod as the watch saw it."""

    def __init__(self) -> None:
        self._changed = asyncio.Event()
        self.latest: dict[str, Any] | None = None
        """The pod's JSON in the last event."""
        self.deleted = False
        """The last event was its deletion."""

    def push(self, event_type: str, pod: dict[str, Any]) -> None:
        self.latest = pod
        self.deleted = event_type == "DELETED"
        self._changed.set()

    def wake(self) -> None:
        """End a `wait` without news (e.g. the launch was canceled)."""
        self._changed.set()

    def take(self) -> tuple[dict[str, Any], bool] | None:
        """The latest pod and whether it was deleted, once; None when nothing new came."""
        latest, self.latest = self.latest, None
        return None if latest is None else (latest, self.deleted)

    async def wait(self, seconds: float) -> None:
        """Return on the next event or `wake`, or after `seconds`."""
        try:
            await asyncio.wait_for(self._changed.wait(), seconds)
        except TimeoutError:
            return
        self._changed.clear()


class PodWatcher:
    """Watches the pods matching `label_selector` in `namespace` from one thread."""

    def __init__(
        self,
        core: Any,
        *,
        namespace: str,
        label_selector: str,
        server_timeout_seconds: int = 60,
        read_timeout_seconds: float = 90.0,
        retry_seconds: float = 2.0,
    ) -> None:
        """
        Args:
            core: a `kubernetes.client.CoreV1Api`.
            namespace: where the pods are.
            label_selector: selects this executor's pods.
            server_timeout_seconds: the API server ends each watch request after this long.
            read_timeout_seconds: a watch that sends nothing for this long is reopened.
            retry_seconds: the pause after a failed watch request.
        """
        self._core = core
        self._namespace = namespace
        self._selector = label_selector
        self._server_timeout = server_timeout_seconds
        self._read_timeout = read_timeout_seconds
        self._retry = retry_seconds
        self._subscribers: dict[str, PodEvents] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._response_lock = threading.Lock()
        self._response: Any = None

    async def start(self) -> None:
        if self._thread is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._run, name="sluice-pod-watch", daemon=True)
        self._thread.start()

    async def aclose(self) -> None:
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stopping.set()
        with self._response_lock:
            if self._response is not None:
                # Unblocks the thread's read at once, however long the watch would stay idle
                # (`shutdown` is urllib3 ≥ 2.3's way; closing is the older, weaker one).
                getattr(self._response, "shutdown", self._response.close)()
        await asyncio.to_thread(thread.join)

    def subscribe(self, name: str) -> PodEvents:
        """The events of pod `name` from now on, until `unsubscribe`."""
        events = PodEvents()
        self._subscribers[name] = events
        return events

    def unsubscribe(self, name: str) -> None:
        self._subscribers.pop(name, None)

    def _deliver(self, event_type: str, pod: dict[str, Any]) -> None:
        # The API server honours the label selector; an emulator may not: match by name.
        events = self._subscribers.get(str((pod.get("metadata") or {}).get("name")))
        if events is not None:
            events.push(event_type, pod)

    def _run(self) -> None:
        resource_version: str | None = None
        while not self._stopping.is_set():
            try:
                resource_version = self._watch_once(resource_version)
            except ReadTimeoutError:
                continue  # an idle watch: reopen it
            except Exception as error:
                if self._stopping.is_set():
                    break
                logger.warning("pod watch failed, reopening in %gs: %s", self._retry, error)
                self._stopping.wait(self._retry)

    def _watch_once(self, resource_version: str | None) -> str | None:
        """Stream one watch request; the resource version to resume from."""
        response = self._core.list_namespaced_pod(
            self._namespace,
            label_selector=self._selector,
            # Lowercase as kubectl sends it: the API server parses either, some emulators only this.
            watch="true",
            allow_watch_bookmarks=True,
            resource_version=resource_version,
            timeout_seconds=self._server_timeout,
            _preload_content=False,
            _request_timeout=(10.0, self._read_timeout),
        )
        with self._response_lock:
            if self._stopping.is_set():
                response.close()
                return resource_version
            self._response = response
        try:
            for line in iter_resp_lines(response):
                event = json.loads(line)
                event_type = str(event.get("type"))
                pod = event.get("object") or {}
                if event_type == "ERROR":
                    if pod.get("code") == _GONE:
                        return None  # the resource version expired: start from the current state
                    raise RuntimeError(f"watch error: {pod.get('reason')}: {pod.get('message')}")
                resource_version = (pod.get("metadata") or {}).get("resourceVersion") or resource_version
                if event_type in _EVENT_TYPES and self._loop is not None:
                    self._loop.call_soon_threadsafe(self._deliver, event_type, pod)
                if self._stopping.is_set():
                    break
        finally:
            with self._response_lock:
                self._response = None
            response.close()
        return resource_version
