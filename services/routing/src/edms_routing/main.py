"""Composition root of routing: builds everything from configuration; nothing else does."""

from __future__ import annotations

from fastapi import FastAPI

from edms_routing.api import router
from edms_routing.application import RoutingApplication
from edms_routing.config import RoutingSettings
from edms_routing.projections import to_contract
from edms_routing.stream import TOPICS, handlers
from edms_runtime.service import event_sourced_service, serve
from edms_runtime.settings import PlatformSettings


def build_app(platform: PlatformSettings | None = None) -> FastAPI:
    return event_sourced_service(
        name="routing",
        platform=platform or PlatformSettings(),
        application_cls=RoutingApplication,
        mapper=to_contract,
        topics=TOPICS,
        handlers=handlers,
        routers=[router],
        title="EDMS routing",
        description="Approval routes, resolutions, assignments, distribution.",
    )


def run() -> None:
    settings = RoutingSettings()
    platform = PlatformSettings()
    serve(build_app(platform), settings.port, settings.host, platform.log_level)
