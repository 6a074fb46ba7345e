from __future__ import annotations

import json
import socket
import struct

import pytest

from services.executor.launchers.forkserver import protocol
from services.executor.launchers.forkserver.protocol import FrameDecoder, ProtocolError, TaskRequest, encode

REQUEST = TaskRequest(
    source="def f():\n    return 'é'\n",
    args=("--executor_input", '{"a": 1}', "--function_to_execute", "f"),
    cwd="/work",
    env={"PATH": "/bin", "UNDECODABLE": "caf\udce9"},
    log_path="/work/task.log",
)


def test_a_request_survives_the_trip_byte_by_byte() -> None:
    decoder = FrameDecoder()
    messages = []

    for byte in encode(REQUEST.to_message()):
        messages += decoder.feed(bytes([byte]))

    assert [TaskRequest.from_message(message) for message in messages] == [REQUEST]
    assert decoder.pending == 0


def test_frames_are_ascii_even_for_lone_surrogates() -> None:
    frame = encode(REQUEST.to_message())

    assert frame[4:].decode("ascii")


def test_several_frames_in_one_chunk_and_a_partial_one() -> None:
    data = encode({"pid": 7}) + encode({"exit": -9}) + encode({"pid": 8})[:5]
    decoder = FrameDecoder()

    assert decoder.feed(data) == [{"pid": 7}, {"exit": -9}]
    assert decoder.pending == 5


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (struct.pack(">I", protocol.MAX_FRAME + 1), "exceeds"),
        (struct.pack(">I", 3) + b"{x}", "not JSON"),
        (struct.pack(">I", 2) + b"[]", "not a JSON object"),
    ],
)
def test_bad_frames(data: bytes, error: str) -> None:
    with pytest.raises(ProtocolError, match=error):
        FrameDecoder().feed(data)


@pytest.mark.parametrize(
    "changes",
    [
        {"source": None},
        {"args": "--executor_input"},
        {"args": ["ok", 1]},
        {"env": {"A": 1}},
        {"env": ["A=1"]},
        {"cwd": 3},
        {"log_path": None},
    ],
)
def test_malformed_requests(changes: dict[str, object]) -> None:
    with pytest.raises(ProtocolError, match="malformed task request"):
        TaskRequest.from_message(REQUEST.to_message() | changes)


def test_send_writes_one_frame() -> None:
    left, right = socket.socketpair()
    with left, right:
        protocol.send(left, {"exit": 0})
        data = right.recv(100)

    assert json.loads(data[4:]) == {"exit": 0}
    assert struct.unpack(">I", data[:4]) == (len(data) - 4,)
