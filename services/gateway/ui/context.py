"""What every page handler shares, and small helpers for forms and redirects."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import RedirectResponse
from starlette.datastructures import FormData

from services.gateway.ui.data import UiData
from services.gateway.ui.rendering import Renderer

PAGE_SIZE = 20


@dataclass(frozen=True, slots=True)
class Ui:
    data: UiData
    renderer: Renderer


def is_fragment(request: Request) -> bool:
    """Whether htmx asked (it wants a part of the page, not a whole page)."""
    return request.headers.get("HX-Request") == "true" and request.headers.get("HX-Boosted") != "true"


def safe_next(target: str | None, default: str) -> str:
    """A local path to go back to after a form; anything else (another site) is ignored."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return default


def see_other(url: str) -> RedirectResponse:
    """After a POST: go to ``url`` with a GET."""
    return RedirectResponse(url, status_code=303)


async def read_form(request: Request) -> FormData:
    """A posted form of text fields (files refused), closed once read."""
    async with request.form(max_files=0, max_fields=1000) as form:
        return form


def form_text(form: FormData, name: str, default: str = "") -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else default


def form_strings(form: FormData) -> dict[str, str]:
    """The text fields of a form (files left out)."""
    return {key: value for key, value in form.multi_items() if isinstance(value, str)}


def filter_json(*predicates: dict[str, Any]) -> str:
    """KFP's list filter of the given predicates ("" for none)."""
    return json.dumps({"predicates": list(predicates)}) if predicates else ""


def equals(key: str, value: str) -> dict[str, Any]:
    return {"key": key, "operation": "EQUALS", "string_value": value}


def substring(key: str, value: str) -> dict[str, Any]:
    return {"key": key, "operation": "IS_SUBSTRING", "string_value": value}


def with_query(path: str, params: Sequence[tuple[str, str]]) -> str:
    kept = [(k, v) for k, v in params if v]
    return f"{path}?{urlencode(kept)}" if kept else path
