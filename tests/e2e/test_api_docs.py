"""The OpenAPI document and the docs page, served without any CDN."""

from __future__ import annotations

import httpx

from tests.fixtures.sluice_server import RunningSluice


def test_docs_page_uses_local_swagger_files(sluice_server: RunningSluice) -> None:
    with httpx.Client(base_url=sluice_server.http_url, timeout=10) as client:
        page = client.get("/docs")
        assert page.status_code == 200
        assert "/docs-static/swagger-ui-bundle.js" in page.text
        assert "cdn" not in page.text.lower()
        script = client.get("/docs-static/swagger-ui-bundle.js")
        assert script.status_code == 200
        assert len(script.content) > 100_000
        schema = client.get("/openapi.json").json()
        assert "/apis/v2beta1/runs" in schema["paths"]
        assert "/apis/v2beta1/healthz" in schema["paths"]
