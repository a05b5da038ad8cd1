"""Composition helpers every service's main.py uses: build the parts from settings, then serve them."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar

import uvicorn
from fastapi import APIRouter, FastAPI

from edms_runtime.consumer import TRACKING_DDL, Handler, TrackingConsumer
from edms_runtime.db import ensure_schema, make_pool
from edms_runtime.eventstore import ServiceApplication, build_application
from edms_runtime.http import ServiceParts, create_app
from edms_runtime.relay import RELAY_DDL, ContractMapper, OutboxRelay
from edms_runtime.settings import PlatformSettings

TApp = TypeVar("TApp", bound=ServiceApplication)


def build_parts(
    *,
    name: str,
    settings: PlatformSettings,
    ddl: str = "",
    application: ServiceApplication | None = None,
    mapper: ContractMapper | None = None,
    topics: tuple[str, ...] = (),
    handlers: Mapping[str, Handler] | None = None,
) -> ServiceParts:
    """Schema `name` holds the service's event store, relay position, tracking and read models."""
    ensure_schema(settings.database_url, name, RELAY_DDL + TRACKING_DDL + ddl)
    pool = make_pool(settings.database_url, name)
    relay = None
    if application is not None and mapper is not None:
        relay = OutboxRelay(name=name, app=application, mapper=mapper, pool=pool, settings=settings)
    consumer = None
    if topics:
        consumer = TrackingConsumer(
            name=name,
            topics=topics,
            handlers=handlers or {},
            pool=pool,
            settings=settings,
            unit_of_work=application.unit_of_work if application is not None else None,
        )
    return ServiceParts(
        name=name, settings=settings, pool=pool, application=application, relay=relay, consumer=consumer
    )


def application_for(cls: type[TApp], name: str, settings: PlatformSettings, **env: str) -> TApp:
    return build_application(cls, settings.database_url, name, **env)


def serve(app: FastAPI, port: int, host: str = "127.0.0.1", log_level: str = "info") -> None:
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    uvicorn.run(app, host=host, port=port, log_level=log_level.lower(), access_log=False)


def event_sourced_service(
    *,
    name: str,
    platform: PlatformSettings,
    application_cls: type[TApp],
    mapper: ContractMapper,
    routers: Sequence[APIRouter],
    title: str,
    description: str,
    topics: tuple[str, ...] = (),
    handlers: Callable[[TApp], Mapping[str, Handler]] | None = None,
) -> FastAPI:
    """The usual shape: an Application with an outbox relay, optionally a consumer driving it, and an HTTP API."""
    application = application_for(application_cls, name, platform)
    parts = build_parts(
        name=name,
        settings=platform,
        application=application,
        mapper=mapper,
        topics=topics,
        handlers=handlers(application) if handlers else None,
    )
    return create_app(parts, routers, title=title, description=description)
