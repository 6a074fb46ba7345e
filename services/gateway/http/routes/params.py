"""Query parameters shared by the list routes, and request-body documentation."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query
from pydantic import BaseModel, Field


class PageParams(BaseModel):
    """KFP's paging, sorting and filtering; the scheduler applies them."""

    page_token: str = Field("", description="`next_page_token` of the previous page.")
    page_size: int = Field(0, ge=0, description="Items per page; 0 for the default (20), at most 200.")
    sort_by: str = Field("", description='"field" or "field desc", e.g. "created_at desc".')
    filter: str = Field(
        "",
        description='URL-encoded JSON: {"predicates": [{"key", "operation", "string_value" | ...}]}.',
    )


class ListParams(PageParams):
    namespace: str = ""


class RunListParams(ListParams):
    experiment_id: str = Field("", description="Only the items of this experiment.")


PageQuery = Annotated[PageParams, Query()]
ListQuery = Annotated[ListParams, Query()]
RunListQuery = Annotated[RunListParams, Query()]

ExperimentIdQuery = Annotated[str, Query(description="Deprecated in KFP; passed on to the scheduler.")]


def json_body(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` documenting a JSON body of ``model``.

    Bodies are parsed by `json_format` (snake_case or camelCase), not by FastAPI, so
    FastAPI cannot document them by itself.
    """
    schema = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}
