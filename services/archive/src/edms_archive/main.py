"""Composition root of archive: builds everything from configuration; nothing else does."""

from __future__ import annotations

from fastapi import FastAPI

from edms_archive.api import router
from edms_archive.application import ArchiveApplication
from edms_archive.blobs import open_blobs
from edms_archive.chain import install_chain
from edms_archive.config import ArchiveSettings
from edms_archive.projections import READ_MODEL
from edms_archive.publishes import to_contract
from edms_archive.stream import policies
from edms_runtime.service import event_sourced_service, serve
from edms_runtime.settings import PlatformSettings


def build_app(platform: PlatformSettings | None = None, settings: ArchiveSettings | None = None) -> FastAPI:
    platform = platform or PlatformSettings()
    settings = settings or ArchiveSettings()
    app = event_sourced_service(
        name="archive",
        platform=platform,
        application_cls=ArchiveApplication,
        mapper=to_contract,
        policies=policies,
        read_model=READ_MODEL,
        routers=[router],
        title="EDMS archive",
        description="File plan, cases and inventories, retention, transfer packages, disposal acts, integrity.",
    )
    configure(app.state.parts.application, settings)
    install_chain(platform.database_url)  # before the relay and the consumer start: every event gets its entry
    app.state.blobs = open_blobs(settings.blob_url, platform.blob_dir())
    app.state.archive_settings = settings
    return app


def configure(application: ArchiveApplication, settings: ArchiveSettings) -> None:
    today = settings.today
    if today is not None:
        application.clock = lambda: today


def run() -> None:
    settings = ArchiveSettings()
    platform = PlatformSettings()
    serve(build_app(platform, settings), settings.port, settings.host, platform.log_level)
