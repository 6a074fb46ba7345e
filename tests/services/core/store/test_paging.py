from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from services.core.errors import InvalidArgument
from services.core.store.paging import (
    Cursor,
    SortValue,
    decode_page_token,
    encode_page_token,
    page_size,
    query_fingerprint,
)
from services.core.store.query import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, ListQuery, Operation, Predicate
from services.core.store.records import RuntimeState

WHEN = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)
QUERY = ListQuery(
    sort_field="created_at",
    predicates=(
        Predicate("state", Operation.IN, (RuntimeState.RUNNING, RuntimeState.PENDING)),
        Predicate("created_at", Operation.GREATER_THAN, WHEN),
    ),
)
FINGERPRINT = query_fingerprint(QUERY, resource="runs", scope={"namespace": "team-a"})


@pytest.mark.parametrize("value", [WHEN, None, "display name ✓", 42, 2.5, True, ""])
def test_cursor_round_trips(value: SortValue) -> None:
    token = encode_page_token(Cursor(sort_value=value, last_id="run-1"), fingerprint=FINGERPRINT)
    assert token.isascii()
    assert not {"=", "+", "/"} & set(token)
    cursor = decode_page_token(token, fingerprint=FINGERPRINT)
    assert cursor == Cursor(sort_value=value, last_id="run-1")
    assert type(cursor.sort_value) is type(value)


def test_datetimes_in_other_zones_come_back_as_the_same_instant() -> None:
    local = WHEN.astimezone(timezone(timedelta(hours=-7)))
    token = encode_page_token(Cursor(sort_value=local, last_id="x"), fingerprint=FINGERPRINT)
    cursor = decode_page_token(token, fingerprint=FINGERPRINT)
    assert cursor is not None
    assert cursor.sort_value == WHEN


def test_no_token_is_the_first_page() -> None:
    assert decode_page_token("", fingerprint=FINGERPRINT) is None


@pytest.mark.parametrize(
    ("query", "resource", "scope"),
    [
        (ListQuery(sort_field="display_name", predicates=QUERY.predicates), "runs", {"namespace": "team-a"}),
        (ListQuery(sort_descending=True, predicates=QUERY.predicates), "runs", {"namespace": "team-a"}),
        (ListQuery(predicates=QUERY.predicates[:1]), "runs", {"namespace": "team-a"}),
        (ListQuery(predicates=QUERY.predicates[::-1]), "runs", {"namespace": "team-a"}),
        (
            ListQuery(
                predicates=(
                    QUERY.predicates[0],
                    Predicate("created_at", Operation.GREATER_THAN, WHEN.replace(microsecond=0)),
                )
            ),
            "runs",
            {"namespace": "team-a"},
        ),
        (QUERY, "recurring_runs", {"namespace": "team-a"}),
        (QUERY, "runs", {}),
        (QUERY, "runs", {"namespace": "team-a", "experiment_id": "e"}),
    ],
)
def test_fingerprint_covers_sort_filter_resource_and_scope(
    query: ListQuery, resource: str, scope: dict[str, str]
) -> None:
    assert query_fingerprint(query, resource=resource, scope=scope) != FINGERPRINT


def test_fingerprint_ignores_paging() -> None:
    paged = ListQuery(page_size=3, page_token="abc", sort_field=QUERY.sort_field, predicates=QUERY.predicates)
    assert query_fingerprint(paged, resource="runs", scope={"namespace": "team-a"}) == FINGERPRINT


def test_token_for_another_query_is_refused() -> None:
    token = encode_page_token(Cursor(sort_value=WHEN, last_id="run-1"), fingerprint=FINGERPRINT)
    with pytest.raises(InvalidArgument) as raised:
        decode_page_token(token, fingerprint=query_fingerprint(ListQuery(), resource="runs"))
    assert "another sort_by, filter or scope" in raised.value.message
    assert raised.value.field == "page_token"


def _reencode(body: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(body).encode()).decode()


def _body(token: str) -> dict[str, object]:
    body = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    assert isinstance(body, dict)
    return body


def test_altered_token_is_refused() -> None:
    token = encode_page_token(Cursor(sort_value="b", last_id="run-1"), fingerprint=FINGERPRINT)
    for change in ({"id": "run-0"}, {"v": "a"}, {"q": "0" * 16}, {"c": "0" * 16}):
        with pytest.raises(InvalidArgument, match="altered"):
            decode_page_token(_reencode({**_body(token), **change}), fingerprint=FINGERPRINT)


@pytest.mark.parametrize(
    "token",
    [
        "not base64 at all!",
        "e30",  # {}
        _reencode([1, 2]),
        _reencode({"v": 1, "id": "x", "q": FINGERPRINT}),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
    ],
)
def test_malformed_token_is_refused(token: str) -> None:
    with pytest.raises(InvalidArgument, match="malformed"):
        decode_page_token(token, fingerprint=FINGERPRINT)


@pytest.mark.parametrize(
    ("size", "expected"),
    [(0, DEFAULT_PAGE_SIZE), (-3, DEFAULT_PAGE_SIZE), (7, 7), (MAX_PAGE_SIZE * 2, MAX_PAGE_SIZE)],
)
def test_page_size(size: int, expected: int) -> None:
    assert page_size(ListQuery(page_size=size)) == expected
