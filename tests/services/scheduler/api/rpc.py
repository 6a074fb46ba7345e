"""Assertions on gRPC calls."""

from __future__ import annotations

from collections.abc import Awaitable

import grpc
import pytest


async def expect_error(call: Awaitable[object], code: grpc.StatusCode) -> str:
    """Await a call that must fail with `code`; its details (the error message)."""
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call
    assert info.value.code() == code, info.value.details()
    return info.value.details() or ""
