"""Composition root of control: builds everything from configuration; nothing else does."""

from __future__ import annotations

from fastapi import FastAPI

from edms_control.api import router
from edms_control.application import ControlApplication
from edms_control.config import ControlSettings
from edms_control.projections import to_contract
from edms_control.stream import TOPICS, handlers
from edms_runtime.service import event_sourced_service, serve
from edms_runtime.settings import PlatformSettings


def build_app(platform: PlatformSettings | None = None) -> FastAPI:
    return event_sourced_service(
        name="control",
        platform=platform or PlatformSettings(),
        application_cls=ControlApplication,
        mapper=to_contract,
        topics=TOPICS,
        handlers=handlers,
        routers=[router],
        title="EDMS control",
        description="Business calendar, deadlines, control cards.",
    )


def run() -> None:
    settings = ControlSettings()
    platform = PlatformSettings()
    serve(build_app(platform), settings.port, settings.host, platform.log_level)
