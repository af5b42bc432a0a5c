"""The interactive API docs (Swagger UI at /docs, ReDoc at /redoc) with every asset served by the
service itself: FastAPI's defaults load them from a public CDN, blank on a closed police network."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, swagger_ui_default_parameters
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

# Swagger UI and ReDoc as released, with their licences, shipped in the fastapi-offline wheel.
ASSETS = Path(fastapi_offline.__file__).resolve().parent / "static"
ASSETS_PATH = "/docs-assets"

# No online validator badge (Swagger UI would ask validator.swagger.io about the description).
_SWAGGER_PARAMETERS: dict[str, Any] = {**swagger_ui_default_parameters, "validatorUrl": None}
# ReDoc draws its "powered by" logo from its vendor's CDN, whatever its options say: the browser is
# told to load images from here (or inline) only, so it asks no one else.
_OWN_IMAGES_ONLY = {"Content-Security-Policy": "img-src 'self' data: blob:"}


def serve_local_docs(app: FastAPI) -> None:
    """Adds /docs, /redoc and their assets to an app made with docs_url=None and redoc_url=None."""
    app.mount(ASSETS_PATH, StaticFiles(directory=ASSETS), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        page = get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{root}{ASSETS_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS_PATH}/favicon.png",
            swagger_ui_parameters=_SWAGGER_PARAMETERS,
        )
        page.headers.update(_OWN_IMAGES_ONLY)
        return page

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        page = get_redoc_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{ASSETS_PATH}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{ASSETS_PATH}/favicon.png",
            with_google_fonts=False,
        )
        page.headers.update(_OWN_IMAGES_ONLY)
        return page
