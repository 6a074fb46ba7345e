"""The artifact backend interface: where artifact bytes live.

Implementations: `local.LocalBackend` (a directory, the embedded default) and an
S3-compatible one. One contract suite (`tests/contract/artifacts`) runs against each.
Every method that takes a key validates it first (`services.artifacts.keys.validate_key`)
and raises InvalidArgument, touching nothing, when it is unsafe.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

DEFAULT_CHUNK_SIZE = 1024 * 1024


@dataclass(frozen=True)
class ObjectInfo:
    """What a backend knows about one stored object."""

    uri: str
    """The object's URI, as `ArtifactBackend.uri_for` spells it."""
    size_bytes: int
    """The object's length in bytes."""


class ArtifactBackend(Protocol):
    def uri_for(self, key: str) -> str:
        """The URI of the object `key` in this store. Raises InvalidArgument."""
        ...

    def key_for(self, uri: str) -> str:
        """The key of the object a URI names. Raises InvalidArgument when the URI is malformed
        or outside this store."""
        ...

    async def put(self, key: str, chunks: AsyncIterable[bytes], *, max_bytes: int | None = None) -> int:
        """Store the bytes of `chunks` under `key`, replacing any previous object, and return
        the object's size. All or nothing: when the chunks fail, the limit is exceeded
        (TooLarge) or the caller is cancelled, the previous object (if any) is untouched and
        no partial one is visible."""
        ...

    def get(
        self, key: str, *, offset: int = 0, chunk_size: int = DEFAULT_CHUNK_SIZE
    ) -> AsyncGenerator[bytes, None]:
        """The object's bytes from `offset` on, in chunks of at most `chunk_size` bytes. An
        offset at or past the end yields nothing. Raises NotFound (when iteration starts) or
        InvalidArgument (bad key, negative offset, chunk_size < 1). A generator, so a caller
        that stops early can close it (`contextlib.aclosing`) and free the file or connection."""
        ...

    async def stat(self, key: str) -> ObjectInfo | None:
        """The object's info, or None when there is no object under `key`."""
        ...

    async def delete(self, key: str) -> None:
        """Remove the object; deleting a missing object is not an error (as in S3)."""
        ...

    def local_path(self, key: str) -> Path | None:
        """The file holding the object when the store is a local directory, so a local
        executor can read and write it in place; None for remote stores."""
        ...

    async def aclose(self) -> None:
        """Release connections; idempotent."""
        ...
