"""The FastAPI shell every service shares: problem-details errors, health, readiness, metrics, lifespan tasks."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, Histogram, generate_latest
from psycopg_pool import ConnectionPool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from edms_runtime import apidocs
from edms_runtime.access import AccessFacts
from edms_runtime.audit import AuditLog, AuditMiddleware
from edms_runtime.auth import Authenticator, bind_access_facts, check_route_permission, issuer_dir
from edms_runtime.availability import DATABASE_ERRORS, DatabaseWatch, connection_lost
from edms_runtime.background import BackgroundPart
from edms_runtime.errors import DomainError, Unavailable
from edms_runtime.eventstore import ServiceApplication
from edms_runtime.faults import is_transient
from edms_runtime.hardening import BodyLimit, SecurityHeaders
from edms_runtime.ratelimit import Buckets
from edms_runtime.settings import PlatformSettings
from edms_runtime.text import NUL, NUL_REASON

log = logging.getLogger(__name__)

PROBLEM_JSON = apidocs.PROBLEM_JSON
REQUEST_SECONDS = Histogram(
    "edms_http_request_seconds", "HTTP request latency", ["service", "method", "route", "status"]
)


TApp = TypeVar("TApp", bound=ServiceApplication)


def application_dependency(cls: type[TApp]) -> Callable[[Request], Awaitable[TApp]]:
    """A FastAPI dependency giving a service's Application (the one its composition root built)."""

    async def dependency(request: Request) -> TApp:
        request.app.state.parts.database.check()
        application = request.app.state.parts.application
        if not isinstance(application, cls):
            raise TypeError(f"this app runs {type(application).__name__}, not {cls.__name__}")
        return application

    return dependency


async def database(request: Request) -> ConnectionPool[Any]:
    """A FastAPI dependency giving the service's connection pool (its schema first on the search path)."""
    request.app.state.parts.database.check()
    pool: ConnectionPool[Any] = request.app.state.parts.pool
    return pool


Database = Annotated[ConnectionPool[Any], Depends(database)]


def problem(
    status_code: int,
    title: str,
    detail: str,
    errors: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"https://edms.example/problems/{status_code}",
        "title": title,
        "status": status_code,
        "detail": detail,
        "errors": errors or [],
    }
    body.update(extra)
    return JSONResponse(body, status_code=status_code, media_type=PROBLEM_JSON, headers=headers)


def _field_name(loc: Sequence[int | str]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    return ".".join(parts) or "<body>"


async def refuse_nul_parameters(request: Request) -> None:
    """No path or query parameter of any route may carry NUL (edms_runtime.text): 422 naming each one that does."""
    errors = [
        {"type": "nul_character", "loc": (where, name), "msg": NUL_REASON, "input": value}
        for where, items in (("path", request.path_params.items()), ("query", request.query_params.multi_items()))
        for name, value in items
        if NUL in f"{name}{value}"
    ]
    if errors:
        raise RequestValidationError(errors)


class RequestTimer:
    """Pure ASGI middleware timing every request (BaseHTTPMiddleware would add a task and a stream per request)."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status_code = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status_code
            if message["type"] == "http.response.start":
                status_code = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            REQUEST_SECONDS.labels(
                self.service, scope["method"], getattr(route, "path", "<unmatched>"), str(status_code)
            ).observe(time.perf_counter() - started)


@dataclass
class ServiceParts:
    """What a service's composition root hands to the HTTP shell."""

    name: str
    settings: PlatformSettings
    pool: ConnectionPool[Any]
    application: ServiceApplication | None = None
    #: The loops run beside the API: relay, consumer, and any other (e.g. search's Elasticsearch indexer).
    background: list[BackgroundPart] = field(default_factory=list)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    #: The service's audit log (edms_runtime.audit); `build_parts` makes it, a bare shell (tests) has none.
    audit: AuditLog | None = None
    #: The facts of the shared read rule and the directory's roles (edms_runtime.access); none in a bare shell.
    access: AccessFacts | None = None
    database: DatabaseWatch = field(init=False)

    def __post_init__(self) -> None:
        # eventsourcing keeps a pool of its own; both hold connections that die with the server
        datastore = getattr(self.application.recorder, "datastore", None) if self.application else None
        pools = [self.pool] + ([datastore.pool] if datastore is not None else [])
        self.database = DatabaseWatch(self.settings.database_url, pools)
        self.background.insert(0, self.database)
        if self.audit is not None:
            self.audit.database_up = self.database.healthy

    def ready(self) -> dict[str, bool]:
        return {part.name: part.healthy() for part in self.background}


def create_app(parts: ServiceParts, routers: Sequence[APIRouter], *, title: str, description: str) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        for background in parts.background:
            parts.tasks.append(asyncio.create_task(background.run(), name=f"{parts.name}-{background.name}"))
        try:
            yield
        finally:
            for part in parts.background:
                part.stop()
            for task in parts.tasks:
                task.cancel()
            await asyncio.gather(*parts.tasks, return_exceptions=True)
            if parts.audit is not None:
                await parts.audit.close()
            if parts.application is not None:
                parts.application.close()
            parts.pool.close()

    app = FastAPI(
        title=title,
        description=description,
        version="0.1.0",
        lifespan=lifespan,
        # the docs pages are the service's own (edms_runtime.apidocs): FastAPI's load from a CDN
        docs_url=None,
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
        dependencies=[Depends(refuse_nul_parameters), Depends(bind_access_facts), Depends(check_route_permission)],
    )
    apidocs.install(app, parts.name)
    app.state.parts = parts
    app.state.service_name = parts.name
    app.state.authenticator = Authenticator(parts.settings)
    app.state.rate_buckets = Buckets()
    settings = parts.settings
    # the last added runs first: CORS, timing, security headers, the audit (which so records a 413), body limits
    app.add_middleware(BodyLimit, small=settings.max_body_bytes, large=settings.max_upload_bytes)
    if parts.audit is not None:
        app.add_middleware(AuditMiddleware, audit=parts.audit)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(RequestTimer, service=parts.name)
    origins = [origin.strip() for origin in settings.cors_origins.split(",") if origin.strip()]
    if origins:  # only the configured desk may call from a browser (it was `*`)
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "X-Correlation-ID"],
            expose_headers=["Location", "Retry-After", "X-Correlation-ID"],
        )

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"field": _field_name(err["loc"]), "reason": err["msg"]} for err in exc.errors()]
        detail = "; ".join(f"{e['field']}: {e['reason']}" for e in errors)
        return problem(status.HTTP_422_UNPROCESSABLE_CONTENT, "Invalid request", detail, errors)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        response = problem(exc.status_code, _title(exc.status_code), str(exc.detail))
        if exc.headers:
            response.headers.update(exc.headers)
        return response

    @app.exception_handler(DomainError)
    async def domain_error(request: Request, exc: DomainError) -> JSONResponse:
        errors = [{"field": field, "reason": reason} for field, reason in exc.errors]
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, Unavailable) else None
        return problem(exc.status, exc.title, exc.detail, errors, headers)

    async def database_error(request: Request, exc: Exception) -> JSONResponse:
        """The database could not serve the request now (down, restarting, a deadlock): 503, the client retries."""
        if not is_transient(exc):
            raise exc  # would fail again the same way: a 500 with its traceback in the log, as any other bug
        if connection_lost(exc):
            parts.database.lost(exc)
            return await domain_error(request, Unavailable("the database does not answer; try again in a moment"))
        log.warning("database error on %s %s: %s", request.method, request.url.path, exc)
        return await domain_error(request, Unavailable("the database could not complete the request; try again"))

    for database_exception in DATABASE_ERRORS:
        app.add_exception_handler(database_exception, database_error)

    @app.get("/health", tags=["operations"], summary="The process is alive")
    async def health() -> dict[str, str]:
        return {"status": "ok", "service": parts.name}

    @app.get(
        "/ready",
        tags=["operations"],
        summary="Database and broker reachable, consumers running",
        responses={
            503: {"description": "Not ready: `checks` says which part is not", "content": {"application/json": {}}}
        },
    )
    async def ready() -> JSONResponse:
        checks = await asyncio.to_thread(parts.ready)
        ok = all(checks.values())
        return JSONResponse(
            {"status": "ready" if ok else "not ready", "service": parts.name, "checks": checks},
            status_code=200 if ok else 503,
        )

    @app.get(
        "/metrics",
        tags=["operations"],
        summary="Prometheus metrics",
        response_class=PlainTextResponse,
        responses={200: {"description": "The Prometheus text exposition format"}},
    )
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/.well-known/jwks.json", tags=["operations"], summary="The development issuer's public keys (JWKS)")
    async def jwks() -> Response:
        """Published so that anything may verify the local stack's tokens as it would a real issuer's (its
        `jwks_uri`); 404 where no development issuer is set up (a real deployment)."""
        path = issuer_dir(parts.settings) / "jwks.json"
        if not path.exists():
            return problem(status.HTTP_404_NOT_FOUND, "Not Found", "no development issuer here")
        return Response(path.read_bytes(), media_type="application/json")

    if parts.audit is not None:
        from edms_runtime.audit_api import router as audit_router

        app.include_router(audit_router)
    for router in routers:
        app.include_router(router)
    return app


def _title(code: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(code).phrase
    except ValueError:
        return "Error"
