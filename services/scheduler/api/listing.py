"""KFP list parameters of a List* request → `ListQuery`."""

from __future__ import annotations

from typing import Protocol

from services.core.store.filters import FieldTable, parse_list_query
from services.core.store.query import ListQuery


class ListRequest(Protocol):
    """The paging, sorting and filtering fields every List* request has."""

    @property
    def page_token(self) -> str: ...
    @property
    def page_size(self) -> int: ...
    @property
    def sort_by(self) -> str: ...
    @property
    def filter(self) -> str: ...


def list_query(fields: FieldTable, request: ListRequest) -> ListQuery:
    """Raises InvalidArgument naming a bad page size, sort field or filter."""
    return parse_list_query(
        fields,
        page_size=request.page_size,
        page_token=request.page_token,
        sort_by=request.sort_by,
        filter_json=request.filter,
    )
