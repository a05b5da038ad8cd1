"""Composition root of the registry: builds everything from configuration; nothing else does."""

from __future__ import annotations

from fastapi import FastAPI

from edms_registry.api import router
from edms_registry.application import BlobStore, RegistryApplication
from edms_registry.config import RegistrySettings
from edms_registry.projections import to_contract
from edms_runtime.service import event_sourced_service, serve
from edms_runtime.settings import PlatformSettings


def build_app(platform: PlatformSettings | None = None, settings: RegistrySettings | None = None) -> FastAPI:
    platform = platform or PlatformSettings()
    app = event_sourced_service(
        name="registry",
        platform=platform,
        application_cls=RegistryApplication,
        mapper=to_contract,
        routers=[router],
        title="EDMS registry",
        description="Registration cards, journals and numbers, attachments.",
    )
    app.state.registry_settings = settings or RegistrySettings()
    app.state.blobs = BlobStore(platform.blob_dir())
    return app


def run() -> None:
    settings = RegistrySettings()
    platform = PlatformSettings()
    serve(build_app(platform, settings), settings.port, settings.host, platform.log_level)
