"""Composition helpers every service's main.py uses: build the parts from settings, then serve them."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TypeVar

import uvicorn
from fastapi import APIRouter, FastAPI

from edms_runtime.access import ACCESS_DDL, AccessFacts
from edms_runtime.access import HANDLERS as ACCESS_HANDLERS
from edms_runtime.audit import AUDIT_DDL, AuditLog
from edms_runtime.background import Prewarm
from edms_runtime.consumer import TRACKING_DDL, Handlers, ReadModel, TrackingConsumer
from edms_runtime.db import ensure_schema, make_pool
from edms_runtime.deadletters import DEAD_LETTERS_DDL
from edms_runtime.eventstore import ServiceApplication, build_application
from edms_runtime.http import ServiceParts, create_app
from edms_runtime.relay import RELAY_DDL, ContractMapper, OutboxRelay
from edms_runtime.settings import PlatformSettings

TApp = TypeVar("TApp", bound=ServiceApplication)

#: Tables every service's schema has, whatever it runs: relay position, tracking, dead letters, the audit log, the
#: facts of the shared read rule.
PLUMBING_DDL = RELAY_DDL + TRACKING_DDL + DEAD_LETTERS_DDL + AUDIT_DDL + ACCESS_DDL


def build_parts(
    *,
    name: str,
    settings: PlatformSettings,
    application: ServiceApplication | None = None,
    mapper: ContractMapper | None = None,
    policies: Handlers | None = None,
    read_model: ReadModel | None = None,
) -> ServiceParts:
    """Schema `name` holds the service's event store, relay position, tracking, dead letters and read models."""
    ensure_schema(settings.database_url, name, PLUMBING_DDL + (read_model.ddl if read_model else ""))
    pool = make_pool(settings.database_url, name)
    parts = ServiceParts(
        name=name,
        settings=settings,
        pool=pool,
        application=application,
        audit=AuditLog(
            service=name,
            pool=pool,
            database_url=settings.database_url,
            synchronous_commit=settings.audit_synchronous_commit,
        ),
        access=AccessFacts(pool),
    )
    if application is not None and mapper is not None:
        parts.background.append(OutboxRelay(service=name, app=application, mapper=mapper, pool=pool, settings=settings))
    parts.background.append(
        TrackingConsumer(
            service=name,
            pool=pool,
            settings=settings,
            policies=policies,
            read_model=read_model,
            unit_of_work=application.unit_of_work if application is not None else None,
            access=ACCESS_HANDLERS,
        )
    )
    if read_model is not None and read_model.warm:
        parts.background.append(Prewarm(database_url=settings.database_url, schema=name, tables=read_model.warm))
    return parts


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
    policies: Callable[[TApp], Handlers] | None = None,
    read_model: ReadModel | None = None,
) -> FastAPI:
    """The usual shape: an Application with an outbox relay, a consumer driving it and its read model, an HTTP API."""
    application = application_for(application_cls, name, platform)
    parts = build_parts(
        name=name,
        settings=platform,
        application=application,
        mapper=mapper,
        policies=policies(application) if policies else None,
        read_model=read_model,
    )
    return create_app(parts, routers, title=title, description=description)
