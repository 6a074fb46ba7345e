"""The package reader stops pulling the body as soon as it passes the limit."""

from __future__ import annotations

import pytest
from starlette.requests import Request
from starlette.types import Message

from services.core.errors import TooLarge
from services.gateway.http.upload import read_package

MiB = 1024 * 1024


class _Body:
    """An endless multipart body, 1 MiB per receive, counting what was pulled."""

    def __init__(self) -> None:
        self.pulled = 0

    async def receive(self) -> Message:
        if self.pulled == 0:
            chunk = b'--b\r\nContent-Disposition: form-data; name="uploadfile"; filename="p.yaml"\r\n\r\n'
        else:
            chunk = b"#" * MiB
        self.pulled += 1
        return {"type": "http.request", "body": chunk, "more_body": True}


async def test_an_endless_upload_is_cut_at_the_limit() -> None:
    body = _Body()
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/",
        "headers": [(b"content-type", b"multipart/form-data; boundary=b")],
    }

    with pytest.raises(TooLarge) as raised:
        await read_package(Request(scope, body.receive), limit=2 * MiB)

    assert raised.value.limit_bytes == 2 * MiB
    # The header chunk, two whole MiB, and the one that crossed the limit.
    assert body.pulled == 4
