"""Composition root of the registry: builds everything from configuration; nothing else does."""

from __future__ import annotations

from fastapi import FastAPI

from edms_registry.api import router
from edms_registry.application import RegistryApplication
from edms_registry.attachments_api import router as attachments_router
from edms_registry.config import RegistrySettings
from edms_registry.directory_api import router as directory_router
from edms_registry.extraction import ExtractionWorker
from edms_registry.projections import READ_MODEL
from edms_registry.publishes import to_contract
from edms_registry.stream import policies
from edms_runtime.blobs import open_blobs, sweep_spool
from edms_runtime.service import event_sourced_service, serve
from edms_runtime.settings import PlatformSettings


def build_app(platform: PlatformSettings | None = None, settings: RegistrySettings | None = None) -> FastAPI:
    platform = platform or PlatformSettings()
    settings = settings or RegistrySettings()
    app = event_sourced_service(
        name="registry",
        platform=platform,
        application_cls=RegistryApplication,
        mapper=to_contract,
        policies=policies,
        read_model=READ_MODEL,
        routers=[router, attachments_router, directory_router],
        title="EDMS registry",
        description="Registration cards and drafts, journals and numbers, links, duplicates, attachments.",
    )
    registry: RegistryApplication = app.state.parts.application
    registry.restriction_marks = frozenset(settings.restriction_marks)
    registry.timezone = settings.timezone
    app.state.registry_settings = settings
    app.state.blobs = blobs = open_blobs(settings.blob_url, platform.blob_dir())
    sweep_spool(blobs)  # what uploads cut short by a crash left behind
    app.state.extraction = worker = ExtractionWorker(
        app=registry,
        blobs=blobs,
        pool=app.state.parts.pool,
        database_url=platform.database_url,
        max_chars=settings.extraction_max_chars,
        timeout_seconds=settings.extraction_timeout_seconds,
        memory_bytes=settings.extraction_memory_mb << 20,
    )
    app.state.parts.background.append(worker)
    return app


def run() -> None:
    settings = RegistrySettings()
    platform = PlatformSettings()
    serve(build_app(platform, settings), settings.port, settings.host, platform.log_level)
