"""Composition root of routing: builds everything from configuration; nothing else does."""

from __future__ import annotations

from fastapi import FastAPI

from edms_routing.api import router
from edms_routing.application import RoutingApplication
from edms_routing.config import RoutingSettings
from edms_routing.domain import use_templates
from edms_routing.projections import READ_MODEL, CalendarSource
from edms_routing.publishes import to_contract
from edms_routing.stream import policies
from edms_routing.templates import load_templates
from edms_runtime.service import event_sourced_service, serve
from edms_runtime.settings import PlatformSettings


def build_app(platform: PlatformSettings | None = None, settings: RoutingSettings | None = None) -> FastAPI:
    settings = settings or RoutingSettings()
    # Validated before anything starts: a bad template stops the service with every error named.
    if settings.templates is not None:
        use_templates(load_templates(settings.templates))

    def configured(app: RoutingApplication) -> RoutingApplication:
        app.timezone = settings.timezone
        return app

    service = event_sourced_service(
        name="routing",
        platform=platform or PlatformSettings(),
        application_cls=RoutingApplication,
        mapper=to_contract,
        policies=lambda app: policies(configured(app)),
        read_model=READ_MODEL,
        routers=[router],
        title="EDMS routing",
        description="Route templates, resolutions, assignments, extensions, approval, signing, distribution, inbox.",
    )
    parts = service.state.parts
    assert isinstance(parts.application, RoutingApplication)
    parts.application.calendar = CalendarSource(parts.pool)
    return service


def run() -> None:
    settings = RoutingSettings()
    platform = PlatformSettings()
    serve(build_app(platform, settings), settings.port, settings.host, platform.log_level)
