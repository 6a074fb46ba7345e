"""The HTTP app: KFP's v2beta1 REST API over the gRPC services, plus Sluice's extensions."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import FastAPI

from services.gateway.backend import GatewayBackend
from services.gateway.config import GatewayConfig
from services.gateway.http.context import AppContext
from services.gateway.http.docs import install_docs
from services.gateway.http.errors import install_error_handlers
from services.gateway.http.routes import ROUTERS
from services.gateway.http.schemas import EXTRA_MODELS, Error

_DESCRIPTION = """\
Kubeflow Pipelines' REST API v2beta1 (what `kfp.Client` speaks), served over Sluice's
gRPC services, plus Sluice's extensions: live run events as server-sent events, task logs,
and artifacts (records and streamed downloads). Errors have KFP's shape:
`{"error", "code" (gRPC code), "message", "details"}`.
"""


_ERROR_RESPONSE = {
    "description": "An error in KFP's shape; the HTTP status follows from the gRPC code.",
    "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{Error.__name__}"}}},
}


class _SluiceApi(FastAPI):
    def openapi(self) -> dict[str, Any]:
        if self.openapi_schema is None:
            schema = super().openapi()
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            # Bodies are parsed by json_format, so FastAPI has not seen their models.
            for model in EXTRA_MODELS:
                model_schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
                for name, definition in model_schema.pop("$defs", {}).items():
                    components.setdefault(name, definition)
                components.setdefault(model.__name__, model_schema)
            # Invalid requests are 400s in KFP's shape, not FastAPI's 422s.
            for operations in schema.get("paths", {}).values():
                for operation in operations.values():
                    operation["responses"].pop("422", None)
                    operation["responses"]["default"] = _ERROR_RESPONSE
            for name in ("HTTPValidationError", "ValidationError"):
                components.pop(name, None)
        assert self.openapi_schema is not None
        return self.openapi_schema


def create_http_app(
    *,
    backend: GatewayBackend,
    config: GatewayConfig | None = None,
    stopping: asyncio.Event | None = None,
) -> FastAPI:
    """The ASGI app of the gateway's HTTP API.

    ``stopping``, once set, ends the long-lived event streams so a server can drain.
    """
    config = config or GatewayConfig()
    app = _SluiceApi(
        title="Sluice API", version=config.tag_name, description=_DESCRIPTION, redoc_url=None, docs_url=None
    )
    app.state.context = AppContext(backend=backend, config=config, stopping=stopping or asyncio.Event())
    install_error_handlers(app)
    install_docs(app)
    for router in ROUTERS:
        app.include_router(router)
    return app
