"""The FastAPI shell every service shares: problem-details errors, health, readiness, metrics, lifespan tasks."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from fastapi import APIRouter, FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, Histogram, generate_latest
from psycopg_pool import ConnectionPool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from edms_runtime.auth import Authenticator
from edms_runtime.consumer import TrackingConsumer
from edms_runtime.db import ping
from edms_runtime.eventstore import ServiceApplication
from edms_runtime.relay import OutboxRelay
from edms_runtime.settings import PlatformSettings

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
REQUEST_SECONDS = Histogram(
    "edms_http_request_seconds", "HTTP request latency", ["service", "method", "route", "status"]
)


class DomainError(Exception):
    """A rule of the domain refused the command; mapped to a problem-details response in one place."""

    status: int = status.HTTP_409_CONFLICT
    title: str = "Conflict with a domain rule"

    def __init__(self, detail: str, *, field: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field


class NotFound(DomainError):
    status = status.HTTP_404_NOT_FOUND
    title = "Not found"


TApp = TypeVar("TApp", bound=ServiceApplication)


def application_dependency(cls: type[TApp]) -> Callable[[Request], Awaitable[TApp]]:
    """A FastAPI dependency giving a service's Application (the one its composition root built)."""

    async def dependency(request: Request) -> TApp:
        application = request.app.state.parts.application
        if not isinstance(application, cls):
            raise TypeError(f"this app runs {type(application).__name__}, not {cls.__name__}")
        return application

    return dependency


def problem(
    status_code: int, title: str, detail: str, errors: list[dict[str, str]] | None = None, **extra: Any
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"https://edms.example/problems/{status_code}",
        "title": title,
        "status": status_code,
        "detail": detail,
        "errors": errors or [],
    }
    body.update(extra)
    return JSONResponse(body, status_code=status_code, media_type=PROBLEM_JSON, headers=extra.pop("headers", None))


def _field_name(loc: Sequence[int | str]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    return ".".join(parts) or "<body>"


class BackgroundPart(Protocol):
    """A loop the HTTP shell runs beside the relay and the consumer (e.g. search's Elasticsearch indexer).

    `run` is started as a lifespan task, `stop` asks it to finish at shutdown (the task is then cancelled), and
    `healthy` is reported by /ready under `name`.
    """

    name: str

    async def run(self) -> None: ...

    def stop(self) -> None: ...

    def healthy(self) -> bool: ...


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
    relay: OutboxRelay | None = None
    consumer: TrackingConsumer | None = None
    background: list[BackgroundPart] = field(default_factory=list)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def ready(self) -> dict[str, bool]:
        checks = {"database": ping(self.pool)}
        if self.relay is not None:
            checks["relay"] = self.relay.connected or self.relay.standby
        if self.consumer is not None:
            checks["consumer"] = self.consumer.running
        for part in self.background:
            checks[part.name] = part.healthy()
        return checks


def create_app(parts: ServiceParts, routers: Sequence[APIRouter], *, title: str, description: str) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if parts.relay is not None:
            parts.tasks.append(asyncio.create_task(parts.relay.run(), name=f"{parts.name}-relay"))
        if parts.consumer is not None:
            parts.tasks.append(asyncio.create_task(parts.consumer.run(), name=f"{parts.name}-consumer"))
        for background in parts.background:
            parts.tasks.append(asyncio.create_task(background.run(), name=f"{parts.name}-{background.name}"))
        try:
            yield
        finally:
            for part in (parts.relay, parts.consumer, *parts.background):
                if part is not None:
                    part.stop()
            for task in parts.tasks:
                task.cancel()
            await asyncio.gather(*parts.tasks, return_exceptions=True)
            if parts.application is not None:
                parts.application.close()
            parts.pool.close()

    app = FastAPI(title=title, description=description, version="0.1.0", lifespan=lifespan)
    app.state.parts = parts
    app.state.authenticator = Authenticator(parts.settings)
    app.add_middleware(RequestTimer, service=parts.name)
    app.add_middleware(
        CORSMiddleware, allow_origins=["*"], allow_methods=["*"], allow_headers=["*"], expose_headers=["*"]
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
        errors = [{"field": exc.field, "reason": exc.detail}] if exc.field else []
        return problem(exc.status, exc.title, exc.detail, errors)

    @app.get("/health", tags=["operations"], summary="The process is alive")
    async def health() -> dict[str, str]:
        return {"status": "ok", "service": parts.name}

    @app.get("/ready", tags=["operations"], summary="Database and broker reachable, consumers running")
    async def ready() -> JSONResponse:
        checks = await asyncio.to_thread(parts.ready)
        ok = all(checks.values())
        return JSONResponse(
            {"status": "ready" if ok else "not ready", "service": parts.name, "checks": checks},
            status_code=200 if ok else 503,
        )

    @app.get("/metrics", tags=["operations"], summary="Prometheus metrics")
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    for router in routers:
        app.include_router(router)
    return app


def _title(code: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(code).phrase
    except ValueError:
        return "Error"
