"""Composition root of control: builds everything from configuration; nothing else does."""

from __future__ import annotations

from fastapi import FastAPI

from edms_control.api import router
from edms_control.application import ControlApplication
from edms_control.config import ControlSettings
from edms_control.projections import READ_MODEL
from edms_control.publishes import to_contract
from edms_control.reminders import Reminders
from edms_control.stream import policies
from edms_runtime.consumer import TrackingConsumer
from edms_runtime.service import event_sourced_service, serve
from edms_runtime.settings import PlatformSettings


def build_app(platform: PlatformSettings | None = None, settings: ControlSettings | None = None) -> FastAPI:
    platform = platform or PlatformSettings()
    settings = settings or ControlSettings()
    app = event_sourced_service(
        name="control",
        platform=platform,
        application_cls=ControlApplication,
        mapper=to_contract,
        policies=policies,
        read_model=READ_MODEL,
        routers=[router],
        title="EDMS control",
        description="Business calendar, deadline rules, control cards of documents and assignments, reminders, "
        "executive-discipline reports.",
    )
    parts = app.state.parts
    application: ControlApplication = parts.application
    application.due_soon_days = settings.due_soon_days
    app.state.control_settings = settings
    if settings.consumer == "faust":  # the faust worker process consumes (edms_control.worker)
        parts.background = [part for part in parts.background if not isinstance(part, TrackingConsumer)]
    parts.background.append(
        Reminders(
            app=application, pool=parts.pool, database_url=platform.database_url, seconds=settings.reminder_seconds
        )
    )
    return app


def run() -> None:
    settings = ControlSettings()
    platform = PlatformSettings()
    serve(build_app(platform, settings), settings.port, settings.host, platform.log_level)
