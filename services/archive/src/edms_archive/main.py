"""Composition root of archive: builds everything from configuration; nothing else does."""

from __future__ import annotations

from fastapi import FastAPI

from edms_archive.api import router
from edms_archive.application import ArchiveApplication
from edms_archive.config import ArchiveSettings
from edms_archive.projections import to_contract
from edms_archive.stream import TOPICS, handlers
from edms_runtime.service import event_sourced_service, serve
from edms_runtime.settings import PlatformSettings


def build_app(platform: PlatformSettings | None = None) -> FastAPI:
    return event_sourced_service(
        name="archive",
        platform=platform or PlatformSettings(),
        application_cls=ArchiveApplication,
        mapper=to_contract,
        topics=TOPICS,
        handlers=handlers,
        routers=[router],
        title="EDMS archive",
        description="File plan, cases, retention.",
    )


def run() -> None:
    settings = ArchiveSettings()
    platform = PlatformSettings()
    serve(build_app(platform), settings.port, settings.host, platform.log_level)
