from __future__ import annotations

from typing import Any, NoReturn

import grpc
import pytest

from services.core.errors import ConcurrentModification, NotFound, TooLarge
from services.scheduler.api.status import Context, translate_errors


class Aborted(Exception):
    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(details)
        self.code = code
        self.details = details


class FakeContext:
    async def abort(self, code: grpc.StatusCode, details: str = "") -> NoReturn:
        raise Aborted(code, details)


class Servicer:
    def __init__(self, error: Exception | None) -> None:
        self.error = error

    @translate_errors
    async def Method(self, request: str, context: Context) -> str:
        if self.error is not None:
            raise self.error
        return request.upper()


async def _call(error: Exception | None) -> str:
    context: Any = FakeContext()
    return await Servicer(error).Method("ok", context)


async def test_results_pass_through() -> None:
    assert await _call(None) == "OK"


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (NotFound("run", "r1"), grpc.StatusCode.NOT_FOUND),
        (TooLarge("too big", limit_bytes=1), grpc.StatusCode.RESOURCE_EXHAUSTED),
        (ConcurrentModification("lost a race"), grpc.StatusCode.ABORTED),
    ],
)
async def test_sluice_errors_keep_their_code_and_message(error: Exception, code: grpc.StatusCode) -> None:
    with pytest.raises(Aborted) as info:
        await _call(error)
    assert info.value.code == code
    assert info.value.details == str(error)


async def test_bugs_are_internal_without_details(caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(Aborted) as info:
        await _call(KeyError("secret internals"))
    assert info.value.code == grpc.StatusCode.INTERNAL
    assert "secret" not in info.value.details
    assert "Servicer.Method" in caplog.text
