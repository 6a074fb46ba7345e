"""Sluice errors become gRPC statuses here, once, for every servicer method."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeAlias, TypeVar

import grpc

from services.core.error_mapping import grpc_code
from services.core.errors import SluiceError

logger = logging.getLogger(__name__)

Context: TypeAlias = grpc.aio.ServicerContext[Any, Any]

_Servicer = TypeVar("_Servicer")
_Request = TypeVar("_Request")
_Response = TypeVar("_Response")


def translate_errors(
    method: Callable[[_Servicer, _Request, Context], Awaitable[_Response]],
) -> Callable[[_Servicer, _Request, Context], Coroutine[Any, Any, _Response]]:
    """Abort the call with the status code and message of a `SluiceError`.

    Any other exception is a bug: it is logged with its traceback and reported as
    INTERNAL without details, so no internals leak to callers.
    """

    @functools.wraps(method)
    async def wrapper(self: _Servicer, request: _Request, context: Context) -> _Response:
        try:
            return await method(self, request, context)
        except grpc.aio.AbortError:
            raise
        except SluiceError as error:
            await context.abort(grpc_code(error), error.message)
        except Exception:
            logger.exception("unexpected error in %s", method.__qualname__)
            await context.abort(grpc.StatusCode.INTERNAL, "internal error")

    return wrapper
