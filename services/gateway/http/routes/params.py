"""Query parameters shared by the list routes, and request-body documentation."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query
from pydantic import AfterValidator, BaseModel, Field

from services.core.store.query import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE


def _at_most_max(page_size: int) -> int:
    # KFP serves the largest page for any larger size (the RPC's field is an int32).
    return min(page_size, MAX_PAGE_SIZE)


class PagingParams(BaseModel):
    """KFP's paging."""

    page_token: str = Field("", description="`next_page_token` of the previous page.")
    page_size: Annotated[int, AfterValidator(_at_most_max)] = Field(
        0,
        ge=0,
        description=f"Items per page; 0 for the default ({DEFAULT_PAGE_SIZE}); a larger size than "
        f"{MAX_PAGE_SIZE} gets {MAX_PAGE_SIZE}.",
    )


class PageParams(PagingParams):
    """KFP's paging, sorting and filtering; the scheduler applies them."""

    sort_by: str = Field("", description='"field" or "field desc", e.g. "created_at desc".')
    filter: str = Field(
        "",
        description='URL-encoded JSON: {"predicates": [{"key", "operation", "string_value" | ...}]}.',
    )


class ListParams(PageParams):
    namespace: str = ""


class RunListParams(ListParams):
    experiment_id: str = Field("", description="Only the items of this experiment.")


class ArtifactListParams(PagingParams):
    """ListArtifacts' query: the artifacts of a run, or of one of its tasks, a page at a
    time (no sort_by or filter)."""

    run_id: str = Field("", description="Only the artifacts of this run.")
    task_id: str = Field("", description="Only the artifacts of this task.")


PageQuery = Annotated[PageParams, Query()]
ListQuery = Annotated[ListParams, Query()]
RunListQuery = Annotated[RunListParams, Query()]
ArtifactListQuery = Annotated[ArtifactListParams, Query()]

ExperimentIdQuery = Annotated[str, Query(description="Deprecated in KFP; passed on to the scheduler.")]


def json_body(model: type[BaseModel], *, example: dict[str, Any]) -> dict[str, Any]:
    """``openapi_extra`` documenting a JSON body of ``model``, with an ``example`` the API
    accepts.

    Bodies are parsed by `json_format` (snake_case or camelCase), not by FastAPI, so
    FastAPI cannot document them by itself.
    """
    media = {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}, "example": example}
    return {"requestBody": {"required": True, "content": {"application/json": media}}}
