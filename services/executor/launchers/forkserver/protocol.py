"""The fork server's wire format, shared by the server, its children and the launcher.

One Unix stream connection per task::

    launcher → server   frame  TaskRequest
    child    → launcher frame  {"pid": N}        once the child leads its own session
    launcher → child    GO     one byte: run the task (closing instead abandons it)
    server   → launcher frame  {"exit": N}       when the server reaps the child (-N: signal N)

A frame is a 4-byte big-endian length and that many bytes of JSON (ASCII, so lone
surrogates from undecodable arguments or environment values survive the trip). A child
that fails before announcing its pid, or a request the server rejects (`{"error": …}`),
means the task never ran. Standard library only: the server imports this module.
"""

from __future__ import annotations

import json
import socket
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

GO = b"g"
"""The byte that lets a child run its task."""

DRAIN = b"drain"
"""The line on the server's control channel (its stdin) that stops intake: the server
leaves once its children are gone. End of file there kills them and leaves at once."""

MAX_FRAME = 256 * 1024 * 1024
"""The largest frame accepted (a component's embedded files travel in its source)."""

_HEADER = struct.Struct(">I")


class ProtocolError(Exception):
    """A frame or message that does not follow this module's format."""


@dataclass(frozen=True)
class TaskRequest:
    """One KFP component to run in a fresh fork."""

    source: str
    """The component's module source."""
    args: tuple[str, ...]
    """The executor's arguments."""
    cwd: str
    """The task's working directory (exists already)."""
    env: Mapping[str, str]
    """The task's whole environment, as the launcher would have given the `sh` process."""
    log_path: str
    """Where stdout and stderr go (appended to)."""

    def to_message(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "args": list(self.args),
            "cwd": self.cwd,
            "env": dict(self.env),
            "log_path": self.log_path,
        }

    @classmethod
    def from_message(cls, message: Mapping[str, Any]) -> TaskRequest:
        """Raises ProtocolError when a field is missing or has the wrong type."""
        source, args, cwd = message.get("source"), message.get("args"), message.get("cwd")
        env, log_path = message.get("env"), message.get("log_path")
        if not (
            isinstance(source, str)
            and isinstance(args, list)
            and all(isinstance(arg, str) for arg in args)
            and isinstance(cwd, str)
            and isinstance(env, dict)
            and all(isinstance(key, str) and isinstance(value, str) for key, value in env.items())
            and isinstance(log_path, str)
        ):
            raise ProtocolError("malformed task request")
        return cls(source=source, args=tuple(args), cwd=cwd, env=env, log_path=log_path)


def encode(message: Mapping[str, Any]) -> bytes:
    """One frame carrying `message`."""
    body = json.dumps(message, ensure_ascii=True, separators=(",", ":")).encode("ascii")
    if len(body) > MAX_FRAME:
        raise ProtocolError(f"a {len(body)}-byte message exceeds the {MAX_FRAME}-byte frame limit")
    return _HEADER.pack(len(body)) + body


class FrameDecoder:
    """Splits a byte stream into messages, however the bytes arrive."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[dict[str, Any]]:
        """The messages completed by `data`; raises ProtocolError on a bad frame."""
        self._buffer += data
        messages = []
        while len(self._buffer) >= _HEADER.size:
            (length,) = _HEADER.unpack_from(self._buffer)
            if length > MAX_FRAME:
                raise ProtocolError(f"a {length}-byte frame exceeds the {MAX_FRAME}-byte limit")
            end = _HEADER.size + length
            if len(self._buffer) < end:
                break
            body = bytes(self._buffer[_HEADER.size : end])
            del self._buffer[:end]
            try:
                message = json.loads(body)
            except ValueError as error:
                raise ProtocolError(f"a frame is not JSON: {error}") from None
            if not isinstance(message, dict):
                raise ProtocolError("a frame is not a JSON object")
            messages.append(message)
        return messages

    @property
    def pending(self) -> int:
        """Bytes received that do not complete a frame yet."""
        return len(self._buffer)


def send(sock: socket.socket, message: Mapping[str, Any]) -> None:
    """Send one frame on a blocking socket."""
    sock.sendall(encode(message))
