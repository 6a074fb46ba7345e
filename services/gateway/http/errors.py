"""Every HTTP error in KFP's shape: ``{"error", "code", "message", "details"}``.

``code`` is the gRPC status code number and the HTTP status follows from it
(`services.core.error_mapping.http_status`), as KFP's grpc-gateway does.
"""

from __future__ import annotations

from collections.abc import Mapping

import grpc
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from services.core.error_mapping import grpc_code, grpc_code_number, http_status
from services.core.errors import SluiceError

# For errors Starlette raises by HTTP status (no route, wrong method, bad multipart).
_CODE_OF_STATUS: dict[int, grpc.StatusCode] = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
    403: grpc.StatusCode.PERMISSION_DENIED,
    404: grpc.StatusCode.NOT_FOUND,
    405: grpc.StatusCode.UNIMPLEMENTED,
    409: grpc.StatusCode.ALREADY_EXISTS,
    413: grpc.StatusCode.RESOURCE_EXHAUSTED,
    501: grpc.StatusCode.UNIMPLEMENTED,
    503: grpc.StatusCode.UNAVAILABLE,
}


def error_response(
    code: grpc.StatusCode,
    message: str,
    *,
    status_code: int | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """KFP's error body for ``code``; the HTTP status defaults to the one ``code`` maps to."""
    body = {"error": message, "code": grpc_code_number(code), "message": message, "details": []}
    return JSONResponse(body, status_code=status_code or http_status(code), headers=headers)


async def _on_rpc_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, grpc.aio.AioRpcError)
    code = exc.code()
    return error_response(code, exc.details() or code.name)


async def _on_sluice_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SluiceError)
    return error_response(grpc_code(exc), exc.message)


async def _on_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _CODE_OF_STATUS.get(exc.status_code, grpc.StatusCode.UNKNOWN)
    message = f"{exc.detail}: {request.method} {request.url.path}"
    return error_response(code, message, status_code=exc.status_code, headers=exc.headers)


async def _on_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    problems = [
        f"{'.'.join(str(part) for part in error.get('loc', ()))}: {error.get('msg', 'invalid')}"
        for error in exc.errors()
    ]
    return error_response(grpc.StatusCode.INVALID_ARGUMENT, "; ".join(problems) or "invalid request")


async def _on_unexpected(request: Request, exc: Exception) -> Response:
    # Starlette re-raises the error after this response, so the server logs it.
    return error_response(grpc.StatusCode.INTERNAL, "internal error")


def install_error_handlers(app: FastAPI) -> None:
    """Render every error the app can meet in KFP's shape."""
    app.add_exception_handler(grpc.aio.AioRpcError, _on_rpc_error)
    app.add_exception_handler(SluiceError, _on_sluice_error)
    app.add_exception_handler(HTTPException, _on_http_exception)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(Exception, _on_unexpected)
