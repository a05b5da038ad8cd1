"""Composition root of search. Search has no write side of its own yet: it is a read model of everyone's events."""

from __future__ import annotations

from fastapi import FastAPI

from edms_runtime.http import create_app
from edms_runtime.service import build_parts, serve
from edms_runtime.settings import PlatformSettings
from edms_search.api import router
from edms_search.backend import PostgresSearch
from edms_search.config import SearchSettings
from edms_search.projections import DDL, HANDLERS
from edms_search.stream import TOPICS


def build_app(platform: PlatformSettings | None = None) -> FastAPI:
    platform = platform or PlatformSettings()
    parts = build_parts(name="search", settings=platform, ddl=DDL, topics=TOPICS, handlers=HANDLERS)
    app = create_app(parts, [router], title="EDMS search", description="Full-text and attribute search.")
    app.state.search_backend = PostgresSearch(parts.pool)
    return app


def run() -> None:
    settings = SearchSettings()
    platform = PlatformSettings()
    serve(build_app(platform), settings.port, settings.host, platform.log_level)
