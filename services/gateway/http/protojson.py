"""Protobuf messages in and out of HTTP as KFP's REST API has them.

Out: protobuf JSON with the protos' snake_case names, enums as names, RFC 3339 times,
and integral numbers without a fraction (``3``, not ``3.0``), as KFP's Go server writes
them. In: protobuf JSON with snake_case or camelCase names; unknown fields are ignored.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from typing import Any, TypeVar

from fastapi import Request
from fastapi.responses import JSONResponse
from google.protobuf import json_format
from google.protobuf.message import Message

from services.core.errors import InvalidArgument, TooLarge

M = TypeVar("M", bound=Message)

# Doubles beyond 2**53 are not integers exactly; leave them as they are.
_EXACT_INTEGERS = float(2**53)


def _integral_as_int(value: Any) -> Any:
    if isinstance(value, float):
        return int(value) if value.is_integer() and abs(value) <= _EXACT_INTEGERS else value
    if isinstance(value, dict):
        return {key: _integral_as_int(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_integral_as_int(item) for item in value]
    return value


def to_json(message: Message) -> Any:
    """``message`` as the JSON value KFP's REST API returns for it."""
    return _integral_as_int(json_format.MessageToDict(message, preserving_proto_field_name=True))


def proto_response(message: Message) -> JSONResponse:
    return JSONResponse(to_json(message))


async def bounded_stream(request: Request, *, limit: int) -> AsyncGenerator[bytes, None]:
    """The request body chunk by chunk, failing as soon as it passes ``limit`` bytes.

    Raises:
        TooLarge: the declared or the received length passes ``limit``.
    """
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise TooLarge(
            f"the request body of {declared} bytes exceeds the limit of {limit} bytes", limit_bytes=limit
        )
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > limit:
            raise TooLarge(f"the request body exceeds the limit of {limit} bytes", limit_bytes=limit)
        yield chunk


async def parse_body(request: Request, message: M, *, limit: int) -> M:
    """Fill ``message`` from the request's JSON body; an empty body leaves it empty.

    Raises:
        InvalidArgument: the body is not a JSON object or does not fit ``message``.
        TooLarge: the body passes ``limit`` bytes.
    """
    body = b"".join([chunk async for chunk in bounded_stream(request, limit=limit)])
    if not body.strip():
        return message
    try:
        data = json.loads(body)
    except ValueError as error:
        raise InvalidArgument(f"the request body is not valid JSON: {error}") from error
    if not isinstance(data, dict):
        raise InvalidArgument("the request body must be a JSON object")
    try:
        json_format.ParseDict(data, message, ignore_unknown_fields=True)
    except json_format.ParseError as error:
        raise InvalidArgument(f"the request body does not fit {message.DESCRIPTOR.name}: {error}") from error
    return message
