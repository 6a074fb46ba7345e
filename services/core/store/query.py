"""List queries: KFP's paging, sorting and filtering, as typed values.

`parse_filter` reads KFP's filter JSON; stores translate `ListQuery` into their own query
language. Page tokens are opaque to callers: stores encode a keyset cursor in them so a
page stays correct while new items arrive.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Generic, TypeAlias, TypeVar

T = TypeVar("T")

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 200


class Operation(StrEnum):
    EQUALS = "EQUALS"
    NOT_EQUALS = "NOT_EQUALS"
    GREATER_THAN = "GREATER_THAN"
    GREATER_THAN_EQUALS = "GREATER_THAN_EQUALS"
    LESS_THAN = "LESS_THAN"
    LESS_THAN_EQUALS = "LESS_THAN_EQUALS"
    IN = "IN"
    IS_SUBSTRING = "IS_SUBSTRING"


FilterValue: TypeAlias = str | int | float | bool | datetime | tuple[str | int, ...]


@dataclass(frozen=True)
class Predicate:
    """`field` is the record attribute name (e.g. "display_name", "state", "created_at")."""

    field: str
    operation: Operation
    value: FilterValue


@dataclass(frozen=True)
class ListQuery:
    page_size: int = DEFAULT_PAGE_SIZE
    page_token: str = ""
    sort_field: str = "created_at"
    sort_descending: bool = False
    predicates: tuple[Predicate, ...] = ()


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T] = field(default_factory=list)
    total_size: int = 0
    next_page_token: str = ""
