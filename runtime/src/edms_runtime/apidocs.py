"""What every service says about its API: the OpenAPI with the problem details it really answers, and the docs pages.

OpenAPI (issue 12, item 7): every operation lists the problem-details answers the shell gives — 400, 401, 403, 404,
409, 413, 422 and 503, and 429 on the routes `[limits]` in roles.toml bounds — as `application/problem+json` with
one `ProblemDetails` schema (RFC 9457: `type`, `title`, `status`, `detail`, and `errors`, each naming a `field` and
its `reason`); FastAPI's own 422 (`HTTPValidationError`, `application/json`) is never answered, so it is replaced.
Added in one place, when the document is first built, so no route can forget it; a route that declares its own
answer for one of these statuses (`/ready`'s 503 is its checks, not a problem) keeps it.

Docs pages (issue 12, item 6): Swagger UI at `/docs` and ReDoc at `/redoc` load their scripts and styles from the
service itself (`/docs/assets/…`, the files the `fastapi-offline` package ships), never from a CDN: on a closed
network `/docs` was blank. The page's own start-up script is a file too (`/docs/init.js`), so the pages' content
security policy allows scripts from the service only, no inline script (`edms_runtime.hardening.DOCS_POLICY`).
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

from edms_runtime.roles import table

PROBLEM_JSON = "application/problem+json"
#: The Swagger UI and ReDoc bundles, their styles and icon (fastapi-offline keeps them current with FastAPI's).
ASSETS = Path(fastapi_offline.__file__).parent / "static"
ASSETS_PATH = "/docs/assets"

#: The problem-details answers every operation may give, and when.
PROBLEMS = {
    400: "The request could not be read (a malformed body)",
    401: "No bearer token, or one that is not valid (expired, forged, another audience)",
    403: "The caller's roles do not permit this",
    404: "Not there, or not for the caller's eyes (existence is not revealed)",
    409: "A rule of the domain refuses it in the present state",
    413: "The request body is larger than the limit (refused before it is read)",
    422: "A field or parameter is not valid; `errors` names each one",
    503: "A part the request needs (database, search engine) does not answer now; retry after `Retry-After`",
}
RATE_LIMITED = "More requests than the identity's rate for this route (roles.toml [limits]); retry after `Retry-After`"
RETRY_AFTER = {"description": "Seconds to wait before trying again", "schema": {"type": "integer"}}
HEADERS = {
    401: {"WWW-Authenticate": {"description": "Bearer", "schema": {"type": "string"}}},
    429: {"Retry-After": RETRY_AFTER},
    503: {"Retry-After": RETRY_AFTER},
}

PROBLEM_DETAILS = {
    "title": "ProblemDetails",
    "description": "An error answer (RFC 9457)",
    "type": "object",
    "required": ["type", "title", "status", "detail", "errors"],
    "properties": {
        "type": {"type": "string", "format": "uri", "title": "Type"},
        "title": {"type": "string", "title": "Title"},
        "status": {"type": "integer", "title": "Status"},
        "detail": {"type": "string", "title": "Detail"},
        "errors": {
            "type": "array",
            "title": "Errors",
            "items": {
                "type": "object",
                "title": "FieldError",
                "required": ["field", "reason"],
                "properties": {
                    "field": {"type": "string", "title": "Field"},
                    "reason": {"type": "string", "title": "Reason"},
                },
            },
        },
    },
}
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def problem_answer(description: str) -> dict[str, Any]:
    """An OpenAPI response of problem details, for a route's own `responses=` (e.g. a download's 416)."""
    return {
        "description": description,
        "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/ProblemDetails"}}},
    }


def describe_problems(schema: dict[str, Any], service: str) -> dict[str, Any]:
    """Add the problem-details answers to every operation of an OpenAPI document (in place; returned)."""
    schemas = schema.setdefault("components", {}).setdefault("schemas", {})
    schemas["ProblemDetails"] = PROBLEM_DETAILS
    limits = table()
    for path, item in schema.get("paths", {}).items():
        for method, operation in item.items():
            if method not in METHODS:
                continue
            responses = operation.setdefault("responses", {})
            codes = dict(PROBLEMS)
            if limits.rate_limit(service, method.upper(), path) is not None:
                codes[429] = RATE_LIMITED
            for code, description in codes.items():
                own = responses.get(str(code), {})
                if "content" in own and "HTTPValidationError" not in json.dumps(own):
                    continue  # the route says what it answers with this status (e.g. /ready's 503)
                answer = problem_answer(description)
                if code in HEADERS:
                    answer["headers"] = HEADERS[code]
                responses[str(code)] = answer
            operation["responses"] = dict(sorted(responses.items()))
    if "HTTPValidationError" not in json.dumps(schema.get("paths", {})):
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)
    return schema


def install(app: FastAPI, service: str) -> None:
    """The OpenAPI with its problem details, and the docs pages served from the service (the app is made with
    `docs_url=None, redoc_url=None`: FastAPI's own pages load from a CDN)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = describe_problems(build(), service)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    def page(root: str, head: str, body: str) -> HTMLResponse:
        return HTMLResponse(
            '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f"<title>{html.escape(app.title)}</title>\n"
            f'<link rel="icon" type="image/png" href="{root}{ASSETS_PATH}/favicon.png">\n'
            f"{head}</head>\n<body>\n{body}</body>\n</html>\n"
        )

    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return page(
            root,
            f'<link rel="stylesheet" href="{root}{ASSETS_PATH}/swagger-ui.css">\n',
            '<div id="swagger-ui"></div>\n'
            f'<script src="{root}{ASSETS_PATH}/swagger-ui-bundle.js"></script>\n'
            f'<script src="{root}/docs/init.js"></script>\n',
        )

    async def swagger_init(request: Request) -> Response:
        options = {
            "url": f"{request.scope.get('root_path', '')}{app.openapi_url}",
            "dom_id": "#swagger-ui",
            "layout": "BaseLayout",
            "deepLinking": True,
            "showExtensions": True,
            "showCommonExtensions": True,
        }
        script = (
            f"const options = {json.dumps(options)};\n"
            "options.presets = [SwaggerUIBundle.presets.apis];\n"
            "window.ui = SwaggerUIBundle(options);\n"
        )
        return Response(script, media_type="text/javascript; charset=utf-8")

    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        spec = html.escape(f"{root}{app.openapi_url}")
        return page(
            root,
            "",
            f'<redoc spec-url="{spec}"></redoc>\n<script src="{root}{ASSETS_PATH}/redoc.standalone.js"></script>\n',
        )

    app.add_route("/docs", swagger_ui, include_in_schema=False)
    app.add_route("/docs/init.js", swagger_init, include_in_schema=False)
    app.add_route("/redoc", redoc, include_in_schema=False)
    app.mount(ASSETS_PATH, StaticFiles(directory=ASSETS), name="docs-assets")
