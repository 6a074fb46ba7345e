"""Opaque keyset page tokens, shared by every store.

A token carries the sort value and id of the last item served, so the next page starts
strictly after it in (sort value, id) order: items inserted between requests neither
repeat nor push others off a page. It also carries a fingerprint of the query it
continues (resource, sort, filter, scope) and a checksum; a token used with another
query, or altered, is refused with InvalidArgument. Tokens are URL-safe base64 of JSON.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TypeAlias

from services.core.errors import InvalidArgument
from services.core.pipeline.model import JsonValue
from services.core.store.codec import decode_datetime, encode_datetime
from services.core.store.query import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, FilterValue, ListQuery

SortValue: TypeAlias = str | int | float | bool | datetime | None

_CHECKSUM_SALT = b"sluice-page-token-v1"


@dataclass(frozen=True)
class Cursor:
    """Where the previous page ended."""

    sort_value: SortValue
    last_id: str


def page_size(query: ListQuery) -> int:
    """The query's page size clamped to 1..MAX_PAGE_SIZE (0 or less means the default)."""
    if query.page_size <= 0:
        return DEFAULT_PAGE_SIZE
    return min(query.page_size, MAX_PAGE_SIZE)


def query_fingerprint(query: ListQuery, *, resource: str, scope: Mapping[str, str] | None = None) -> str:
    """What a token must be used with again: everything of the query but paging."""
    shape: dict[str, JsonValue] = {
        "r": resource,
        "s": query.sort_field,
        "d": query.sort_descending,
        "p": [[p.field, str(p.operation), _filter_value(p.value)] for p in query.predicates],
        "x": {key: value for key, value in sorted((scope or {}).items())},
    }
    return _digest(_canonical(shape))


def encode_page_token(cursor: Cursor, *, fingerprint: str) -> str:
    body: dict[str, JsonValue] = {"v": _sort_value(cursor.sort_value), "id": cursor.last_id, "q": fingerprint}
    body["c"] = _digest(_canonical(body))
    return base64.urlsafe_b64encode(_canonical(body).encode()).decode().rstrip("=")


def decode_page_token(token: str, *, fingerprint: str) -> Cursor | None:
    """The cursor in `token` ("" → None, the first page). Raises InvalidArgument when the
    token is malformed or altered, or was issued for another query."""
    if not token:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        body = json.loads(raw)
    except (binascii.Error, ValueError):
        raise InvalidArgument("malformed page_token", field="page_token") from None
    if not isinstance(body, dict) or set(body) != {"v", "id", "q", "c"}:
        raise InvalidArgument("malformed page_token", field="page_token")
    checksum = body.pop("c")
    if checksum != _digest(_canonical(body)) or not isinstance(body["id"], str):
        raise InvalidArgument("page_token was altered", field="page_token")
    if body["q"] != fingerprint:
        raise InvalidArgument(
            "page_token belongs to a list with another sort_by, filter or scope", field="page_token"
        )
    try:
        sort_value = _parse_sort_value(body["v"])
    except (KeyError, TypeError, ValueError):
        raise InvalidArgument("malformed page_token", field="page_token") from None
    return Cursor(sort_value=sort_value, last_id=body["id"])


def _sort_value(value: SortValue) -> JsonValue:
    if isinstance(value, datetime):
        return {"t": encode_datetime(value)}
    return value


def _parse_sort_value(value: object) -> SortValue:
    if isinstance(value, dict):
        return decode_datetime(value["t"])
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise TypeError(f"not a sort value: {value!r}")


def _filter_value(value: FilterValue) -> JsonValue:
    if isinstance(value, tuple):
        return [_filter_value(v) for v in value]
    return _sort_value(value)


def _canonical(value: JsonValue) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _digest(text: str) -> str:
    return hashlib.sha256(_CHECKSUM_SALT + text.encode()).hexdigest()[:16]
