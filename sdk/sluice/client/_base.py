"""What every part of `Client` shares: the transport, the default timeout, list queries."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sluice.client._rpc import Rpc
from sluice.client._transport import Json, Transport
from sluice.client.filters import FilterValue, build_filter


class ApiBase:
    _transport: Transport
    _timeout: float | None

    def _call(self, rpc: Rpc, request: Mapping[str, Any]) -> Json:
        return self._transport.call(rpc, request, timeout=self._timeout)


def list_request(
    *,
    page_size: int,
    page_token: str,
    sort_by: str,
    filter: str | None,
    filters: Mapping[str, FilterValue],
    **fields: Any,
) -> dict[str, Any]:
    """A List* request: paging, sorting, and the keyword filters ANDed with a raw `filter`."""
    request: dict[str, Any] = {"page_size": page_size, "page_token": page_token, "sort_by": sort_by, **fields}
    built = build_filter(filters)
    if filter and built:
        import json

        predicates = json.loads(filter).get("predicates", []) + json.loads(built)["predicates"]
        request["filter"] = json.dumps({"predicates": predicates})
    else:
        request["filter"] = filter or built
    return request
