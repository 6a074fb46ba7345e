"""The web UI's routes: `create_ui_router` builds them over a `GatewayBackend`, `mount_ui`
adds them to the gateway's app. Pages live at ``/``, ``/runs``, ``/experiments``,
``/pipelines``, ``/recurring-runs`` and ``/compare``; static files under ``/static``."""

from __future__ import annotations

import logging
import mimetypes
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import grpc
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import FileResponse, RedirectResponse
from fastapi.routing import APIRoute

from services.core.error_mapping import grpc_code, http_status
from services.core.errors import SluiceError
from services.gateway.backend import GatewayBackend
from services.gateway.ui import pages_compare, pages_experiments, pages_pipelines, pages_recurring, pages_runs
from services.gateway.ui.context import Ui
from services.gateway.ui.data import UiData
from services.gateway.ui.rendering import UI_DIR, Renderer

logger = logging.getLogger(__name__)

_STATIC_CACHE = "public, max-age=3600"


def _error_route_class(renderer: Renderer) -> type[APIRoute]:
    """Routes whose errors are HTML pages (the API's handlers answer in JSON)."""

    class UiRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            handler = super().get_route_handler()

            async def handle(request: Request) -> Response:
                try:
                    return await handler(request)
                except grpc.aio.AioRpcError as error:
                    code = error.code()
                    return _error_page(renderer, http_status(code), error.details() or code.name)
                except SluiceError as error:
                    return _error_page(renderer, http_status(grpc_code(error)), error.message)

            return handle

    return UiRoute


def _error_page(renderer: Renderer, status_code: int, message: str) -> Response:
    titles = {400: "That did not work", 404: "Not found", 409: "Already exists", 503: "Unavailable"}
    return renderer.page(
        "error.html",
        status_code=status_code,
        title=titles.get(status_code, "Something went wrong"),
        message=message,
        status_code_number=status_code,
    )


def create_ui_router(backend: GatewayBackend, *, ui_dir: Path = UI_DIR) -> APIRouter:
    """Every page and fragment of the UI, plus its static files, over ``backend``."""
    renderer = Renderer(ui_dir / "templates")
    ui = Ui(data=UiData(backend), renderer=renderer)
    router = APIRouter(route_class=_error_route_class(renderer), include_in_schema=False)
    static_root = (ui_dir / "static").resolve()

    @router.get("/", include_in_schema=False)
    async def home() -> Response:
        return RedirectResponse("/runs", status_code=307)

    @router.get("/static/{path:path}", include_in_schema=False)
    async def static(path: str) -> Response:
        target = (static_root / path).resolve()
        if not target.is_relative_to(static_root) or not target.is_file():
            return _error_page(renderer, 404, f"no static file {path!r}")
        media_type = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        return FileResponse(
            target,
            media_type=media_type,
            headers={"Cache-Control": _STATIC_CACHE, "X-Content-Type-Options": "nosniff"},
        )

    for module in (pages_runs, pages_experiments, pages_pipelines, pages_recurring, pages_compare):
        module.add_routes(router, ui)
    return router


def mount_ui(app: FastAPI, backend: GatewayBackend) -> None:
    """Serve the UI from ``app`` (the gateway's HTTP app) at ``/``. Safe to call after the
    server started: routes are looked up per request."""
    app.include_router(create_ui_router(backend))
