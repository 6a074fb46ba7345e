"""The boundary between `Client` and the wire: one implementation per protocol.

Both speak protobuf JSON (see `_rpc`) and raise `sluice.client.errors` only, so `Client`
never knows which one it talks through.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Generator, Iterator, Mapping
from typing import Any, Protocol

from sluice.client._rpc import Rpc

Json = dict[str, Any]

MiB = 1024 * 1024
MAX_MESSAGE_BYTES = 64 * MiB
"""The largest message either side may send (a run with its spec and every task)."""


class Transport(Protocol):
    """How a `Client` reaches a Sluice server."""

    @property
    def kind(self) -> str:
        """ "grpc" or "http"."""
        ...

    @property
    def address(self) -> str:
        """What this transport dials, for messages."""
        ...

    def call(self, rpc: Rpc, request: Mapping[str, Any], *, timeout: float | None) -> Json:
        """Make a unary call; the response as protobuf JSON.

        Raises:
            SluiceError: the subclass of the status the server (or the connection) gave.
        """
        ...

    def upload_pipeline(self, package: bytes, *, filename: str, fields: Mapping[str, Any]) -> Json:
        """Upload a package as a new pipeline (`fields`: name, display_name, description,
        namespace, tags); the new pipeline."""
        ...

    def upload_pipeline_version(
        self, package: bytes, *, filename: str, pipeline_id: str, fields: Mapping[str, Any]
    ) -> Json:
        """Upload a package as a new version of `pipeline_id`; the new version."""
        ...

    def events(
        self, run_id: str, *, after_sequence: int, timeout: float | None
    ) -> Generator[Json, None, None]:
        """The run's events after `after_sequence`, live; ends after the event that finishes
        the run, or when the server ends the stream early (watch again to resume).

        Raises:
            DeadlineExceeded: `timeout` seconds passed first.
            Unavailable: the stream broke off.
        """
        ...

    def aevents(
        self, run_id: str, *, after_sequence: int, window: float | None
    ) -> AsyncGenerator[Json, None]:
        """`events` for asyncio code, the stream lasting at most `window` seconds."""
        ...

    def download(self, *, artifact_id: str = "", uri: str = "") -> Iterator[bytes]:
        """The bytes of an artifact (by id) or of an object in the artifact store (by URI).

        Raises:
            NotFound: no such artifact or object.
            Unimplemented: a URI over HTTP, which downloads by id only (raised at once, not
                when the bytes are first read).
        """
        ...

    def task_log(self, *, run_id: str, task_id: str, attempt: int | None, follow: bool) -> Iterator[bytes]:
        """The log of a task: its latest attempt's, or `attempt`'s; with `follow`, as it
        grows until the attempt (or, with no `attempt`, the task) ends.

        Raises:
            NotFound: no such run, task or attempt, or no log (yet, when not following).
        """
        ...

    def close(self) -> None:
        """Release connections. Idempotent."""
        ...
